"""Raw catalog rows to validated product data, or an InvalidCatalogRow saying why not.

Column names follow DESIGN.md: sku, title, description, category, brand, price, currency,
in_stock or stock, image (``|``-separated), title_<lang>, attributes (JSON) or attr_<name>,
keywords (``|``-separated, or a JSON list in JSONL), source_id.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.catalog.schema import FORMULA_STARTS, ProductData
from backend.errors import InvalidCatalogRow
from loaders.currencies import ISO_4217

SKU_MAX = 128
TITLE_MAX = 512
NAME_MAX = 128
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_PRICE_MAX = Decimal("9999999999.99")


@dataclass(frozen=True)
class ParsedRow:
    """A valid row: its line, the product (images not yet read) and its image references."""

    line: int
    product: ProductData
    image_refs: list[str]


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ValueError(f"{key} must be text")
    return unicodedata.normalize("NFC", str(value)).strip()


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [str(v) for v in value]
    elif value is None:
        items = []
    else:
        items = str(value).split("|")
    return list(dict.fromkeys(s.strip() for s in items if s.strip()))


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"in_stock must be true or false, not {raw!r}")


def _price(raw: Any) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        price = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"price must be a number, not {raw!r}") from None
    if not price.is_finite() or price < 0 or price > _PRICE_MAX:
        raise ValueError(f"price must be between 0 and {_PRICE_MAX}, not {raw!r}")
    return price.quantize(Decimal("0.01"))


def _stock(raw: Any) -> int | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        stock = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"stock must be a whole number, not {raw!r}") from None
    if stock < 0:
        raise ValueError(f"stock must not be negative, not {stock}")
    return stock


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("attributes")
    attributes: dict[str, Any] = {}
    if isinstance(raw, dict):
        attributes.update(raw)
    elif raw is not None and str(raw).strip():
        try:
            parsed = json.loads(str(raw))
        except json.JSONDecodeError:
            raise ValueError("attributes must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ValueError("attributes must be a JSON object")
        attributes.update(parsed)
    for key, value in row.items():
        if key.startswith("attr_") and len(key) > 5 and value not in (None, ""):
            attributes[key[5:]] = value
    return attributes


def _titles(row: dict[str, Any]) -> dict[str, str]:
    titles = {}
    for key in sorted(row):
        if key.startswith("title_"):
            lang = key[6:].lower().replace("_", "-")
            if not _LANG.match(lang):
                raise ValueError(f"column {key}: {lang!r} is not a language code")
            value = _text(row, key)
            if value:
                titles[lang] = value[:TITLE_MAX]
    return titles


def _source_id(row: dict[str, Any]) -> str | None:
    source_id = _text(row, "source_id") or None
    if source_id is not None and len(source_id) > NAME_MAX:
        raise ValueError(f"source_id is longer than {NAME_MAX} characters")
    return source_id


def parse_row(line: int, row: dict[str, Any], *, default_currency: str) -> ParsedRow:
    """Validate one raw row; raise InvalidCatalogRow with its line and the reason."""
    sku = None
    try:
        sku = _text(row, "sku") or None
        if sku is None:
            raise ValueError("sku is required")
        if len(sku) > SKU_MAX or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in sku):
            raise ValueError(f"sku must be at most {SKU_MAX} printable characters")
        if sku.startswith(FORMULA_STARTS):
            raise ValueError(
                f"sku must not start with {sku[0]!r}: a spreadsheet opening an export would "
                "run it as a formula"
            )
        title = _text(row, "title")
        if not title:
            raise ValueError("title is required")
        if len(title) > TITLE_MAX:
            raise ValueError(f"title is longer than {TITLE_MAX} characters")
        currency = (_text(row, "currency") or default_currency).upper()
        if not _CURRENCY.match(currency):
            raise ValueError(f"currency must be a 3-letter ISO 4217 code, not {currency!r}")
        if currency not in ISO_4217:
            raise ValueError(f"unknown currency {currency!r}: not an ISO 4217 code")
        stock = _stock(row.get("stock"))
        raw_in_stock = row.get("in_stock")
        if raw_in_stock is not None and str(raw_in_stock).strip() != "":
            in_stock = _bool(raw_in_stock)
        else:
            in_stock = stock is None or stock > 0
        category = _text(row, "category")[:NAME_MAX] or None
        brand = _text(row, "brand")[:NAME_MAX] or None
        product = ProductData(
            sku=sku,
            title=title,
            titles=_titles(row),
            description=_text(row, "description"),
            category=category,
            brand=brand,
            price=_price(row.get("price")),
            currency=currency,
            in_stock=in_stock,
            stock=stock,
            keywords=_split(row.get("keywords")),
            attributes=_attributes(row),
            source_id=_source_id(row),
            images=[],
        )
        return ParsedRow(line=line, product=product, image_refs=_split(row.get("image")))
    except ValueError as exc:
        raise InvalidCatalogRow(str(exc), line=line, sku=sku) from None
