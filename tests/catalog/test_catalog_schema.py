"""The content hash decides whether a reloaded row changed anything."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from backend.catalog.schema import row_error
from backend.errors import InvalidCatalogRow
from tests.catalog.factories import image, product


def test_same_content_gives_the_same_hash():
    assert product().content_hash() == product().content_hash()
    assert len(product().content_hash()) == 64


def test_price_with_trailing_zero_is_the_same_price():
    assert product(price=Decimal("10.5")).content_hash() == (
        product(price=Decimal("10.50")).content_hash()
    )


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Tee"},
        {"titles": {"zh": "短袖"}},
        {"titles": {}},
        {"description": ""},
        {"category": None},
        {"brand": "Other"},
        {"price": Decimal("19.98")},
        {"price": None},
        {"currency": "EUR"},
        {"in_stock": False},
        {"stock": 0},
        {"keywords": ["shirt", "t-shirt"]},
        {"attributes": {"size": "L", "colour": "blue"}},
        {"source_id": None},
        {"images": [image("tee-back"), image("tee-front")]},
        {"images": [image("tee-front")]},
        {"images": []},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_gives_another_hash(change):
    assert product(**change).content_hash() != product().content_hash()


def test_where_an_image_came_from_does_not_matter():
    moved = [replace(img, source=f"https://cdn.example/{img.sha256}") for img in product().images]
    assert product(images=moved).content_hash() == product().content_hash()


def test_row_error_reports_line_sku_and_reason():
    exc = InvalidCatalogRow("title is required", line=7, sku="tee-9")
    assert row_error(exc) == {"line": 7, "sku": "tee-9", "reason": "title is required"}
