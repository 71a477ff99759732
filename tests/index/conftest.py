"""A small catalog and an ``index`` fixture that runs every test on both adapters.

Vectors are seeded random (8-d "text", 4-d "image"); keyword vectors come from the titles,
categories and brands through a tiny fixed vocabulary, so tests can name tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from backend.index.edge import RECORD_FILE, EdgeIndex
from backend.index.edge_versions import read_pointer
from backend.index.port import (
    CollectionSpec,
    Filters,
    Point,
    SparseVector,
    VectorIndex,
    point_id,
)
from backend.index.qdrant import METADATA_KEY, QdrantIndex

BACKENDS = ["edge", "qdrant_local"]
COLLECTION = "products"

SPEC = CollectionSpec(
    dense={"text": 8, "image": 4},
    encoders={"text": "minilm", "image": "efficientnet-lite0"},
    sparse=("keywords",),
)


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    category: str
    brand: str | None
    price: float | None
    in_stock: bool

    @property
    def id(self) -> str:
        return point_id(self.sku)

    @property
    def tokens(self) -> list[str]:
        words = [*self.title.lower().split(), self.category]
        return words + ([self.brand] if self.brand else [])

    def payload(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "sku": self.sku,
            "title": self.title,
            "category": self.category,
            "in_stock": self.in_stock,
        }
        if self.brand is not None:
            payload["brand"] = self.brand
        if self.price is not None:
            payload["price"] = self.price
        return payload


PRODUCTS = [
    Product("tee-red", "Red shirt", "apparel", "acme", 19.0, True),
    Product("tee-blue", "Blue shirt", "apparel", "bolt", 25.0, False),
    Product("shoe-run", "Running shoe", "shoes", "acme", 89.0, True),
    Product("boot", "Hiking boot", "shoes", "cobalt", 120.0, True),
    Product("mug", "Coffee mug", "kitchen", "acme", 9.5, True),
    Product("kettle", "Steel kettle", "kitchen", "bolt", 45.0, False),
    Product("lamp", "Desk lamp", "home", "cobalt", None, True),  # no price
    Product("socks", "Wool socks", "apparel", "cobalt", 12.0, True),
    Product("cap", "Baseball cap", "apparel", "acme", 19.0, False),
    Product("teapot", "Teapot", "kitchen", None, 30.0, True),  # no brand
]
BY_SKU = {p.sku: p for p in PRODUCTS}
VOCAB = {token: i for i, token in enumerate(sorted({t for p in PRODUCTS for t in p.tokens}))}

_rng = np.random.default_rng(20261124)
TEXT = {p.sku: _rng.normal(size=8).astype(np.float32) for p in PRODUCTS}
IMAGE = {p.sku: _rng.normal(size=4).astype(np.float32) for p in PRODUCTS}


def sparse(tokens: Sequence[str]) -> SparseVector:
    """A keyword vector with weight 1 per distinct token."""
    ids = sorted({VOCAB[t] for t in tokens})
    return SparseVector(indices=ids, values=[1.0] * len(ids))


def to_point(product: Product) -> Point:
    return Point(
        id=product.id,
        vectors={"text": TEXT[product.sku], "image": IMAGE[product.sku]},
        sparse={"keywords": sparse(product.tokens)},
        payload=product.payload(),
    )


def matches(product: Product, filters: Filters) -> bool:
    """The filter semantics the port promises, in plain Python."""
    if filters.categories and product.category not in filters.categories:
        return False
    if filters.brands and product.brand not in filters.brands:
        return False
    if filters.price_min is not None or filters.price_max is not None:
        if product.price is None:
            return False
        if filters.price_min is not None and product.price < filters.price_min:
            return False
        if filters.price_max is not None and product.price > filters.price_max:
            return False
    if filters.in_stock is not None and product.in_stock != filters.in_stock:
        return False
    return product.id not in filters.exclude_ids


def open_backend(kind: str, root: Path) -> VectorIndex:
    """Open adapter ``kind`` on its folder under ``root`` (the same folder every time)."""
    if kind == "edge":
        return EdgeIndex(root / "edge")
    if kind == "qdrant_local":
        return QdrantIndex.local_mode(root / "qdrant-local", COLLECTION)
    raise ValueError(kind)


def forget_record(kind: str, root: Path) -> None:
    """Drop what Vitrine recorded with the (closed) collection, as a foreign one would lack."""
    if kind == "edge":
        (root / "edge" / str(read_pointer(root / "edge")) / RECORD_FILE).unlink()
    elif kind == "qdrant_local":
        client = QdrantClient(path=str(root / "qdrant-local"))
        try:
            client.update_collection(COLLECTION, metadata={METADATA_KEY: None})
        finally:
            client.close()
    else:
        raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_index(backend: str, tmp_path: Path) -> Iterator[VectorIndex]:
    """An index with the collection created and no points."""
    index = open_backend(backend, tmp_path)
    index.ensure_collection(SPEC)
    yield index
    index.close()


@pytest.fixture
def index(empty_index: VectorIndex) -> VectorIndex:
    """An index holding the small catalog."""
    empty_index.upsert([to_point(p) for p in PRODUCTS])
    return empty_index
