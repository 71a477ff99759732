"""Catalog rows to the JSON the API returns."""

from __future__ import annotations

from typing import Any

from flask import url_for

from backend.catalog.models import Product


def product_json(product: Product) -> dict[str, Any]:
    """A product as ``GET /api/products/<sku>`` shows it, image URLs served by the app."""
    return {
        "sku": product.sku,
        "title": product.title,
        "titles": dict(product.titles),
        "description": product.description,
        "category": product.category,
        "brand": product.brand,
        "price": None if product.price is None else float(product.price),
        "currency": product.currency,
        "in_stock": product.in_stock,
        "stock": product.stock,
        "keywords": list(product.keywords),
        "attributes": dict(product.attributes),
        "source_id": product.source_id,
        "images": [url_for("system.media", name=image.path) for image in product.images],
    }
