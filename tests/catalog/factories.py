"""Product data as a loader would hand it to the catalog."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal
from typing import Any

from backend.catalog.schema import ImageData, ProductData


def image(name: str) -> ImageData:
    """A stored image whose content is identified by ``name``."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return ImageData(
        source=f"images/{name}.png",
        path=f"{digest}.png",
        sha256=digest,
        width=72,
        height=72,
        content_type="image/png",
    )


def product(sku: str = "tee-1", **changes: Any) -> ProductData:
    """A T-shirt, with any field changed."""
    data = ProductData(
        sku=sku,
        title="T-shirt",
        titles={"zh": "T恤"},
        description="A plain cotton T-shirt.",
        category="clothing",
        brand="Acme",
        price=Decimal("19.99"),
        currency="USD",
        in_stock=True,
        stock=12,
        keywords=["t-shirt", "shirt"],
        attributes={"size": "M", "colour": "blue"},
        source_id="1F455",
        images=[image("tee-front"), image("tee-back")],
    )
    return replace(data, **changes)
