"""Plain data that loaders produce and the catalog service stores.

A ``ProductData`` is one validated catalog row with its images already saved to the media
folder; its ``content_hash`` decides whether a reload changed anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict

from backend.errors import InvalidCatalogRow

# Spreadsheets run cells starting with these as formulas (CSV injection): a sku may not start
# with one, and every CSV the app writes defuses them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ImageData:
    """One product image: the reference the row gave and the stored file it became."""

    source: str  # what the catalog row said: a path inside the zip or folder, or a URL
    path: str  # file name under the media folder, e.g. "<sha256>.png"
    sha256: str
    width: int
    height: int
    content_type: str


@dataclass(kw_only=True)
class ProductData:
    """One product as a catalog row describes it (after validation)."""

    sku: str
    title: str
    titles: dict[str, str] = field(default_factory=dict)  # language -> title, e.g. {"zh": "T恤"}
    description: str = ""
    category: str | None = None
    brand: str | None = None
    price: Decimal | None = None
    currency: str
    in_stock: bool = True
    stock: int | None = None
    keywords: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    images: list[ImageData] = field(default_factory=list)

    def content_hash(self) -> str:
        """sha256 hex of the canonical content: equal content, equal hash; any change, another."""
        canonical = {
            "sku": self.sku,
            "title": self.title,
            "titles": self.titles,
            "description": self.description,
            "category": self.category,
            "brand": self.brand,
            # Decimal("10.5") and Decimal("10.50") are one price; the column keeps 2 places.
            "price": None if self.price is None else f"{self.price:.2f}",
            "currency": self.currency,
            "in_stock": self.in_stock,
            "stock": self.stock,
            "keywords": self.keywords,
            "attributes": self.attributes,
            "source_id": self.source_id,
            # The picture matters, not where it came from or what the file is called.
            "images": [[position, image.sha256] for position, image in enumerate(self.images)],
        }
        text = json.dumps(
            canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RowError(TypedDict):
    """One rejected catalog row as a load job reports it."""

    line: int | None
    sku: str | None
    reason: str


def row_error(exc: InvalidCatalogRow) -> RowError:
    """The job report entry for a rejected row."""
    return {"line": exc.line, "sku": exc.sku, "reason": exc.message}
