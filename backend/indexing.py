"""Catalog products to index points: the text each is embedded from, its payload, its vectors.

Loaders (and later re-indexing) call ``build_points`` on batches of stored products; the
collection's shape follows from the encoders (``collection_spec``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.catalog.models import Product
from backend.encoders.base import ImageEncoder, TextEncoder, l2_normalize
from backend.encoders.fusion import FusionHead
from backend.encoders.multilingual import MultilingualEncoder
from backend.index.port import CollectionSpec, Point, SparseVector, point_id
from backend.search import keywords
from backend.search.definitions import Dictionary

TEXT_VECTOR = "text"
IMAGE_VECTOR = "image"
FUSED_VECTOR = "fused"
MULTILINGUAL_VECTOR = "multilingual"
NAMES_VECTOR = "names"
KEYWORDS_VECTOR = "keywords"
DESCRIPTION_WORDS = 40
ATTRIBUTE_WORDS = 40
# Attributes that are no words about the product: its variants (their options are attributes
# of their own) and the category paths, whose leaves ``attribute_texts`` names instead.
_NOT_DESCRIPTIVE = frozenset({"variants", "categories"})
# Flags, as exports write them (a "0" or "1" may be a size or a count, so it is a value).
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})


def collection_spec(
    text: TextEncoder,
    image: ImageEncoder,
    fusion: FusionHead | None = None,
    dictionary: Dictionary | None = None,
    multilingual: MultilingualEncoder | None = None,
) -> CollectionSpec:
    """The collection the encoders (and the fusion head and multilingual encoder, if any)
    produce vectors for.

    The text vector's recipe is recorded with its encoder (``minilm+wordnet-3.0``), so an
    index built with other definitions, or none, is found out and rebuilt.
    """
    dense = {TEXT_VECTOR: text.dim, IMAGE_VECTOR: image.dim}
    text_name = f"{text.name}+{dictionary.name}" if dictionary is not None else text.name
    encoders = {TEXT_VECTOR: text_name, IMAGE_VECTOR: image.name}
    if fusion is not None:
        dense[FUSED_VECTOR] = fusion.dim
        encoders[FUSED_VECTOR] = fusion.name
    on_disk = set()
    multi = set()
    if multilingual is not None:
        for name in (MULTILINGUAL_VECTOR, NAMES_VECTOR):
            dense[name] = multilingual.dim
            encoders[name] = multilingual.name
            # Read only for the queries hybrid sends to them: kept on disk, out of RAM.
            on_disk.add(name)
        multi.add(NAMES_VECTOR)
    return CollectionSpec(
        dense=dense,
        encoders=encoders,
        sparse=(KEYWORDS_VECTOR,),
        on_disk=frozenset(on_disk),
        multi=frozenset(multi),
    )


def product_text(product: Product) -> str:
    """What the text vector of a product is computed from.

    Title, keywords, category, brand, attributes (``attribute_texts``) and the start of the
    description: what shoppers' words are compared with. Other-language titles are left to
    the keyword vector, as the default encoder reads English only, and long descriptions are
    cut, as encoding time grows with length while the first sentences say what the product
    is.
    """
    parts = [product.title]
    if product.keywords:
        parts.append(", ".join(product.keywords))
    parts.extend(p for p in (product.category, product.brand) if p)
    described = " ".join(". ".join(attribute_texts(product)).split()[:ATTRIBUTE_WORDS])
    if described:
        parts.append(described)
    if product.description:
        parts.append(" ".join(product.description.split()[:DESCRIPTION_WORDS]))
    return ". ".join(parts)


def attribute_texts(product: Product) -> list[str]:
    """The product's attributes as words: "Material: Wool, Fleece" for a value or a list of
    them, the attribute's name for a flag that is set ("Eco collection"; one that is not
    set says nothing), and the last step of each further category path ("Eco Friendly" of
    "Collections > Eco Friendly"). Variants and nested values are left out."""
    attributes = product.attributes or {}
    texts = []
    for key, value in attributes.items():
        if key in _NOT_DESCRIPTIVE:
            continue
        name = key.replace("_", " ").strip().capitalize()
        values = value if isinstance(value, list) else [value]
        words = [str(v).strip() for v in values if isinstance(v, str | int | float)]
        words = [w for w in words if w]
        if not words:
            continue
        if len(words) == 1 and words[0].casefold() in _YES | _NO:
            if words[0].casefold() in _YES:
                texts.append(name)
            continue
        texts.append(f"{name}: {', '.join(words)}")
    paths = attributes.get("categories")
    if isinstance(paths, list):
        further = (p for p in paths if isinstance(p, str) and p != product.category)
        leaves = (p.rsplit(">", 1)[-1].strip() for p in further)
        texts.extend(dict.fromkeys(leaf for leaf in leaves if leaf))
    return texts


def product_text_vectors(
    products: Sequence[Product], text: TextEncoder, dictionary: Dictionary | None = None
) -> NDArray[np.float32]:
    """The text vectors of products: the mean of the named title's vector and the whole
    product text's (``product_text``), normalised.

    The named title is the title followed by the dictionary's definition of it ("Gloves:
    handwear: covers the hand and wrist"), or the title alone when the dictionary has none or
    there is no dictionary: it names the thing, and says what it is for in the words a
    shopper's description uses; the whole text adds keywords, category and description. On
    the team's English shopper phrasings the mean ranks the right product better than either
    alone (docs/benchmarks.md).
    """
    whole = text.encode([product_text(p) for p in products])
    names = [p.title for p in products]
    if dictionary is not None:
        defined = dictionary.define(names, whole, text)
        names = [f"{n}: {d}" if d else n for n, d in zip(names, defined, strict=True)]
    titles = text.encode(names)
    mean = whole + titles
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = (mean / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


def product_multilingual_vectors(
    products: Sequence[Product], encoder: MultilingualEncoder
) -> NDArray[np.float32]:
    """The multilingual vectors of products: the normalised mean of the whole product text's
    vector (``product_text``) and that of its names in every language the catalog carries
    ("Gloves. 手套"), both as e5 passages.

    The names let a query in a language the catalog carries meet the product's own name; the
    whole text lets one in any other language meet its English words. On the held-out names
    in Japanese, Spanish, French and German the mean ranked the right product better than
    either alone (docs/benchmarks.md).
    """
    whole = encoder.passages([product_text(p) for p in products])
    names = encoder.passages([". ".join([p.title, *p.titles.values()]) for p in products])
    return l2_normalize(whole + names)


def product_names(product: Product) -> list[str]:
    """What a product is called: its title, its titles in other languages and its keywords,
    each once (the first spelling of names that differ only in case)."""
    names: dict[str, str] = {}
    for name in (product.title, *product.titles.values(), *product.keywords):
        name = " ".join(name.split())
        if name:
            names.setdefault(name.casefold(), name)
    return list(names.values())


class _NameRows:
    """Names' e5 passages, kept between batches: keywords recur across a catalog ("food",
    "clothing"), so a load encodes each once (the 2,000 products of the ingest bench have
    13,185 names, 3,501 different). At most ``MAX_CACHED_NAMES`` are kept per process."""

    MAX_CACHED_NAMES = 20_000  # 1.5 KiB each at 384-d

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def get(
        self, encoder: MultilingualEncoder, names: Sequence[str]
    ) -> dict[str, NDArray[np.float32]]:
        """The rows of ``names`` by name, encoding those not kept yet."""
        key = (encoder.name, encoder.runtime)
        with self._lock:
            found = {n: row for n in names if (row := self._rows.get((*key, n))) is not None}
        missing = [n for n in dict.fromkeys(names) if n not in found]
        if missing:
            found.update(zip(missing, encoder.passages(missing), strict=True))
            with self._lock:
                if len(self._rows) + len(missing) > self.MAX_CACHED_NAMES:
                    self._rows.clear()
                self._rows.update({(*key, n): found[n] for n in missing})
        return found


_NAME_ROWS = _NameRows()


def product_name_vectors(
    products: Sequence[Product], encoder: MultilingualEncoder
) -> list[NDArray[np.float32]]:
    """The names vectors of products: one e5 passage row per name (``product_names``).

    A name or tag in any language is compared with each of them and scores by the nearest
    (MaxSim), so "パーティー" meets the products tagged "party" without the rest of their text
    diluting it, as it does in the multilingual vector (docs/benchmarks.md).
    """
    names = [product_names(p) for p in products]
    known = _NAME_ROWS.get(encoder, [n for product in names for n in product])
    return [np.stack([known[n] for n in product]) for product in names]


def keyword_fields(product: Product) -> dict[str, list[str]]:
    """The product's texts that keyword search matches, by field (see FIELD_WEIGHTS)."""
    return {
        "title": [product.title],
        "titles": list(product.titles.values()),
        "brand": [product.brand] if product.brand else [],
        "keywords": list(product.keywords),
        "category": [product.category] if product.category else [],
        "attributes": attribute_texts(product),
        "description": [product.description] if product.description else [],
        "skus": [product.sku, *variant_skus(product)],
    }


def variant_skus(product: Product) -> list[str]:
    """The skus of a product's variants (``attributes["variants"]``, as the Magento and
    Shopify importers write them), each once."""
    variants = (product.attributes or {}).get("variants")
    if not isinstance(variants, list):
        return []
    skus = (v.get("sku") for v in variants if isinstance(v, dict))
    return list(dict.fromkeys(s.strip() for s in skus if isinstance(s, str) and s.strip()))


def product_keywords(product: Product) -> SparseVector:
    """The sparse keyword vector of a product."""
    return keywords.document_vector(keyword_fields(product))


def product_payload(product: Product) -> dict[str, Any]:
    """The filterable and displayable fields stored with the point."""
    payload: dict[str, Any] = {
        "sku": product.sku,
        "title": product.title,
        "in_stock": product.in_stock,
        "currency": product.currency,
        "content_hash": product.content_hash,
    }
    if product.category is not None:
        payload["category"] = product.category
    if product.brand is not None:
        payload["brand"] = product.brand
    if product.price is not None:
        payload["price"] = float(product.price)
    return payload


def primary_image(product: Product, media_dir: Path) -> Image.Image | None:
    """The product's first image, read from the media folder, or None if it has none."""
    if not product.images:
        return None
    with Image.open(media_dir / product.images[0].path) as img:
        img.load()
        return img


def build_points(
    products: Sequence[Product],
    *,
    text: TextEncoder,
    image: ImageEncoder,
    media_dir: Path,
    fusion: FusionHead | None = None,
    dictionary: Dictionary | None = None,
    multilingual: MultilingualEncoder | None = None,
) -> list[Point]:
    """Encode a batch of products (texts and primary images in one pass each) into points."""
    text_vectors = product_text_vectors(products, text, dictionary)
    multilingual_vectors = name_vectors = None
    if multilingual is not None:
        multilingual_vectors = product_multilingual_vectors(products, multilingual)
        name_vectors = product_name_vectors(products, multilingual)
    pictures = {i: pic for i, p in enumerate(products) if (pic := primary_image(p, media_dir))}
    image_vectors = image.encode(list(pictures.values())) if pictures else None
    image_rows = {i: row for row, i in enumerate(pictures)}
    fused_vectors = None
    if fusion is not None:
        # Products without a picture are fused with an all-zero image row.
        aligned = np.zeros((len(products), image.dim), np.float32)
        if image_vectors is not None:
            aligned[list(image_rows)] = image_vectors[list(image_rows.values())]
        fused_vectors = fusion.product(text_vectors, aligned)

    points = []
    for i, product in enumerate(products):
        vectors: dict[str, np.ndarray] = {TEXT_VECTOR: text_vectors[i]}
        if image_vectors is not None and i in image_rows:
            vectors[IMAGE_VECTOR] = image_vectors[image_rows[i]]
        if fused_vectors is not None:
            vectors[FUSED_VECTOR] = fused_vectors[i]
        if multilingual_vectors is not None:
            vectors[MULTILINGUAL_VECTOR] = multilingual_vectors[i]
        if name_vectors is not None:
            vectors[NAMES_VECTOR] = name_vectors[i]
        points.append(
            Point(
                id=point_id(product.sku),
                vectors=vectors,
                sparse={KEYWORDS_VECTOR: product_keywords(product)},
                payload=product_payload(product),
            )
        )
    return points
