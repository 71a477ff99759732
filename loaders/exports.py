"""Shop platforms' product exports (Magento 2, Shopify) as native catalog rows.

``read_catalog`` sends a CSV here when its header is one of theirs. Each product becomes one
native row (DESIGN.md's columns), numbered by the file line of its first row, and checked
by ``parse_row`` like any other:

- A **Magento 2** product export (System > Export, entity "Products") lists a configurable
  product's variants as rows of their own and names them in the parent's
  ``configurable_variations``. The parent becomes the product; its variants' skus, options
  (colour, size), prices, stock and pictures go to ``attributes["variants"]``, each option's
  values to ``attributes[option]``. ``categories`` paths lose the root category ("Default
  Category/Men/Tops" is "Men > Tops"); the first is the product's category, all of them are
  ``attributes["categories"]``. ``additional_attributes`` become attributes. Image paths are
  relative to Magento's ``pub/media/catalog/product`` folder, which ``--images`` names.
  Store-view rows (``store_view_code`` set) translate a product for one store and are
  skipped; a disabled product (``product_online`` 0) is reported, not loaded.
- A **Shopify** products export has one row per variant and per extra picture, grouped by
  ``Handle``: the handle is the product's sku, Title / Body (HTML) / Vendor / Type / Tags
  its title, description, brand, category and keywords; each variant (Variant SKU, Option
  values, Variant Price, inventory) goes to ``attributes["variants"]``. A draft or archived
  product, or one not published, is reported, not loaded.

HTML descriptions become plain text with inscriptis.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from inscriptis import get_text

from loaders.rows import RawRow, RowFormatError

Rows = Iterable[tuple[int, RawRow] | RowFormatError]

MAGENTO_COLUMNS = frozenset({"sku", "name", "product_type"})
SHOPIFY_COLUMNS = frozenset({"Handle", "Title", "Body (HTML)"})
# Magento's bookkeeping flags among additional_attributes, not facts about the product.
_MAGENTO_INTERNAL = frozenset({"has_options", "required_options", "quantity_and_stock_status"})
_CATEGORY_SEPARATOR = " > "


def export_format(columns: Iterable[str]) -> str | None:
    """'magento' or 'shopify' when a CSV header is that platform's product export, else None."""
    names = set(columns)
    if MAGENTO_COLUMNS <= names and "title" not in names:
        return "magento"
    if SHOPIFY_COLUMNS <= names:
        return "shopify"
    return None


def html_text(html: str | None) -> str:
    """The text a shopper reads in an HTML fragment: tags gone, entities decoded, one
    paragraph or list item a line, runs of spaces collapsed."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return html.strip()
    lines = (" ".join(line.split()) for line in get_text(html).splitlines())
    return "\n".join(line for line in lines if line)


def native_rows(kind: str, rows: Rows) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    """The native rows of an export's rows (``export_format``'s kind)."""
    if kind == "magento":
        return _magento(rows)
    if kind == "shopify":
        return _shopify(rows)
    raise ValueError(f"unknown export format {kind!r}")


# Magento 2 -------------------------------------------------------------------------------


def _magento(rows: Rows) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    # A parent may come before or after its variants: read them all, then group.
    items: list[tuple[int, RawRow] | RowFormatError] = []
    by_sku: dict[str, tuple[int, RawRow]] = {}
    for item in rows:
        if isinstance(item, RowFormatError):
            items.append(item)
            continue
        line, row = item
        if _value(row, "store_view_code"):
            continue  # one store view's translation of a product listed on its own row
        items.append(item)
        sku = _value(row, "sku")
        if sku:
            by_sku.setdefault(sku, item)
    variants_of: dict[int, list[tuple[str, dict[str, str]]]] = {}
    claimed: set[str] = set()
    for item in items:
        if isinstance(item, RowFormatError):
            continue
        line, row = item
        if _value(row, "product_type") == "configurable":
            named = _magento_variations(_value(row, "configurable_variations"))
            variants_of[line] = named
            claimed.update(sku for sku, _ in named if sku in by_sku)
    for item in items:
        if isinstance(item, RowFormatError):
            yield item
            continue
        line, row = item
        if _value(row, "sku") in claimed and line not in variants_of:
            continue  # a variant, folded into its parent's row
        if _value(row, "product_online") == "0":
            yield RowFormatError(
                line,
                "the product is disabled in Magento (product_online is 0): not loaded",
                sku=_value(row, "sku") or None,
            )
            continue
        variants: list[tuple[str, dict[str, str], RawRow]] = [
            (sku, options, by_sku.get(sku, (0, {}))[1])
            for sku, options in variants_of.get(line, [])
        ]
        missing = [sku for sku, _, child in variants if not child]
        if missing:
            yield RowFormatError(
                line,
                f"configurable_variations names {len(missing)} sku(s) with no row in the file "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})",
                sku=_value(row, "sku") or None,
            )
            continue
        yield line, _magento_product(row, variants)


def _magento_variations(raw: str) -> list[tuple[str, dict[str, str]]]:
    """``sku=MH01-XS-Black,size=XS,color=Black|sku=...`` as (sku, {option: value}) pairs."""
    variants = []
    for part in raw.split("|"):
        pairs = _pairs(part)
        sku = pairs.pop("sku", "")
        if sku:
            variants.append((sku, pairs))
    return variants


def _pairs(raw: str) -> dict[str, str]:
    """``a=1,b=2`` as a dict (a value may hold ``=``, not ``,``)."""
    pairs = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


def _magento_product(row: RawRow, variants: list[tuple[str, dict[str, str], RawRow]]) -> RawRow:
    attributes: dict[str, Any] = {}
    for key, value in _pairs(_value(row, "additional_attributes")).items():
        if key not in _MAGENTO_INTERNAL and value:
            # Magento keeps option labels HTML-escaped ("CoolTech&trade;").
            value = html.unescape(value)
            attributes[key] = value.split("|") if "|" in value else value
    brand = attributes.pop("brand", None) or attributes.pop("manufacturer", None)
    paths = _magento_categories(_value(row, "categories"))
    if paths:
        attributes["categories"] = paths
    if country := _value(row, "country_of_manufacture"):
        attributes["country_of_manufacture"] = country
    images = _magento_images(row)
    in_stock = _value(row, "is_in_stock") != "0"
    stock = _whole(_value(row, "qty")) if _value(row, "manage_stock") != "0" else None
    if variants:
        listed = []
        counts = []
        for sku, options, child in variants:
            child_stock = _whole(_value(child, "qty"))
            counts.append(child_stock)
            child_in_stock = _value(child, "is_in_stock") != "0" and child_stock != 0
            entry: dict[str, Any] = {"sku": sku, **options, "in_stock": child_in_stock}
            if price := _value(child, "price"):
                entry["price"] = price
            child_images = _magento_images(child)
            if child_images:
                entry["image"] = child_images[0]
            images.extend(child_images)
            listed.append(entry)
            _add_options(attributes, options)
        attributes["variants"] = listed
        in_stock = in_stock and any(entry["in_stock"] for entry in listed)
        stock = (
            sum(c for c in counts if c is not None) if any(c is not None for c in counts) else None
        )
    return {
        "sku": _value(row, "sku"),
        # Magento keeps names HTML-escaped too ("Cobalt CoolTech&trade; Fitness Short").
        "title": html.unescape(_value(row, "name")),
        "description": _joined(
            html_text(_value(row, "short_description")), html_text(_value(row, "description"))
        ),
        "category": paths[0] if paths else "",
        "brand": brand if isinstance(brand, str) else "",
        "price": _value(row, "price"),
        "in_stock": "true" if in_stock else "false",
        "stock": "" if stock is None else str(stock),
        "keywords": "|".join(k.strip() for k in _value(row, "meta_keywords").split(",")),
        "image": "|".join(dict.fromkeys(images)),
        "attributes": attributes,
        "source_id": _value(row, "url_key"),
    }


def _magento_categories(raw: str) -> list[str]:
    """Category paths without the root ("Default Category/Men/Tops" is "Men > Tops"), each once,
    in the export's order."""
    paths = []
    for path in raw.split(","):
        names = [name.strip() for name in path.split("/") if name.strip()][1:]
        if names:
            paths.append(_CATEGORY_SEPARATOR.join(names))
    return list(dict.fromkeys(paths))


def _magento_images(row: RawRow) -> list[str]:
    """The row's pictures, base image first, as paths inside ``pub/media/catalog/product``."""
    refs = [_value(row, "base_image"), *_value(row, "additional_images").split(",")]
    refs += [_value(row, "small_image"), _value(row, "thumbnail_image")]
    return list(dict.fromkeys(ref.strip().lstrip("/") for ref in refs if ref.strip()))


# Shopify ---------------------------------------------------------------------------------

_SHOPIFY_OPTIONS = (1, 2, 3)


def _shopify(rows: Rows) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    groups: dict[str, list[tuple[int, RawRow]]] = {}
    for item in rows:
        if isinstance(item, RowFormatError):
            yield item
            continue
        handle = _value(item[1], "Handle")
        if not handle:
            yield RowFormatError(item[0], "Handle is required")
            continue
        groups.setdefault(handle, []).append(item)
    for handle, group in groups.items():
        titled = [(line, row) for line, row in group if _value(row, "Title")]
        line = titled[0][0] if titled else group[0][0]
        if not titled:
            yield RowFormatError(line, f"no row of handle {handle!r} has a Title", sku=handle)
            continue
        first = titled[0][1]
        status = _value(first, "Status").lower()
        if status in ("draft", "archived"):
            yield RowFormatError(
                line, f"the product is {status} in Shopify: not loaded", sku=handle
            )
            continue
        if _value(first, "Published").lower() == "false":
            yield RowFormatError(
                line, "the product is not published in Shopify: not loaded", sku=handle
            )
            continue
        yield line, _shopify_product(handle, first, group)


def _shopify_product(handle: str, first: RawRow, group: list[tuple[int, RawRow]]) -> RawRow:
    # Option number -> its name, as the attribute it becomes ("Size" -> "size").
    names = {
        n: name.casefold() for n in _SHOPIFY_OPTIONS if (name := _value(first, f"Option{n} Name"))
    }
    attributes: dict[str, Any] = {}
    variants = []
    pictures: list[tuple[int, str]] = []
    for _, row in group:
        if src := _value(row, "Image Src"):
            position = _whole(_value(row, "Image Position"))
            pictures.append((position if position is not None else 10**6 + len(pictures), src))
        if not (
            _value(row, "Variant SKU")
            or _value(row, "Variant Price")
            or _value(row, "Option1 Value")
        ):
            continue  # a row that only adds a picture
        given = {option: _value(row, f"Option{n} Value") for n, option in names.items()}
        options = {option: v for option, v in given.items() if v and v != "Default Title"}
        _add_options(attributes, options)
        quantity = _whole(_value(row, "Variant Inventory Qty"))
        tracked = bool(_value(row, "Variant Inventory Tracker"))
        sells_out = _value(row, "Variant Inventory Policy").lower() != "continue"
        entry: dict[str, Any] = {
            **({"sku": sku} if (sku := _value(row, "Variant SKU")) else {}),
            **options,
            "in_stock": not (tracked and sells_out and quantity is not None and quantity <= 0),
        }
        for key, column in (("price", "Variant Price"), ("barcode", "Variant Barcode")):
            if value := _value(row, column):
                entry[key] = value
        if image := _value(row, "Variant Image"):
            entry["image"] = image
        variants.append((entry, quantity if tracked else None))
    if len(variants) > 1 or any(len(entry) > 1 + ("sku" in entry) for entry, _ in variants):
        attributes["variants"] = [entry for entry, _ in variants]
    if taxonomy := _value(first, "Product Category"):
        attributes["product_category"] = taxonomy
    raw_prices = [entry["price"] for entry, _ in variants if "price" in entry]
    prices = [p for raw in raw_prices if (p := _number(raw)) is not None]
    not_numbers = [raw for raw in raw_prices if _number(raw) is None]
    counted = [q for _, q in variants if q is not None]
    images = [src for _, src in sorted(pictures, key=lambda p: p[0])]
    images += [entry["image"] for entry, _ in variants if "image" in entry]
    category = _value(first, "Type") or _value(first, "Product Type") or taxonomy
    return {
        "sku": handle,
        "title": _value(first, "Title"),
        "description": html_text(_value(first, "Body (HTML)")),
        "category": category.rsplit(_CATEGORY_SEPARATOR, 1)[-1] if category else "",
        "brand": _value(first, "Vendor"),
        # A price that is not a number goes on as it is, for the row check to name it.
        "price": not_numbers[0] if not_numbers else f"{min(prices):.2f}" if prices else "",
        "in_stock": "true" if not variants or any(e["in_stock"] for e, _ in variants) else "false",
        "stock": str(sum(max(q, 0) for q in counted)) if counted else "",
        "keywords": "|".join(t.strip() for t in _value(first, "Tags").split(",")),
        "image": "|".join(dict.fromkeys(images)),
        "attributes": attributes,
        "source_id": "",
    }


# Shared ----------------------------------------------------------------------------------


def _add_options(attributes: dict[str, Any], options: Mapping[str, str]) -> None:
    """Each variant option's values, once each in order: ``attributes["color"]`` lists
    ["Black", "Gray"]."""
    for option, value in options.items():
        values = attributes.setdefault(option, [])
        if isinstance(values, list) and value not in values:
            values.append(value)


def _value(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _whole(raw: str) -> int | None:
    """A quantity ("100", "100.0000") as a whole number, or None when blank or not a number."""
    number = _number(raw)
    return None if number is None else int(number)


def _number(raw: Any) -> float | None:
    try:
        return float(str(raw).strip()) if raw not in (None, "") else None
    except ValueError:
        return None


def _joined(*parts: str) -> str:
    """Texts, each once, a blank line apart (a short description often opens the long one)."""
    kept: list[str] = []
    for part in parts:
        if part and not any(part in other for other in kept):
            kept.append(part)
    return "\n\n".join(kept)
