"""Training the fusion head on a catalog's own pairs: no labels beyond the catalog itself.

Every product gives text views (title, titles in other languages, its rarer keywords) and
image views (its picture under random crops, turns, colour and blur), encoded once by the
deployment's encoders. A picture's views depend only on the picture and the seed, and their
features are kept in the model cache (``fusion-views*.npz``), so retraining after products
were added encodes only the new pictures. A small torch module with the parameter names of
``backend.encoders.fusion`` then learns, by InfoNCE with in-batch negatives, to put each view
next to its product's fused vector; the numpy head in the backend serves the result.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import service as catalog
from backend.catalog.db import session_scope
from backend.catalog.models import Product
from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FUSED_DIM, HIDDEN, FusionHead, save_head
from backend.encoders.preprocess import to_rgb, trim_to_content
from backend.errors import VitrineError
from backend.indexing import primary_image, product_text_vectors
from backend.search.definitions import Dictionary
from backend.search.translate import Glossary

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MAX_KEYWORD_SHARE = 3  # a keyword of more products than this says too little to train on
# Names the view cache's files: change it whenever ``augment`` changes, so that views drawn
# the old way are not read back as the new way's.
VIEWS_VERSION = 1


class NotEnoughData(VitrineError):
    """The catalog has too few products with pictures to train a head on."""

    status = 422
    code = "not_enough_data"


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of one training run (the defaults train the shipped head)."""

    epochs: int = 150
    batch_size: int = 128
    image_views: int = 16
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    temperature: float = 0.05
    image_dropout: float = 0.1  # share of products shown without picture (catalogs have some)
    seed: int = 0
    # Larger catalogs train on a seeded sample: encoding the views is the slow part
    # (about 100 pictures/s on two cores).
    max_products: int = 5000


@dataclass
class Features:
    """Encoder features of a catalog's products and of their training views."""

    skus: list[str]
    text: NDArray[np.float32]  # (n, text_dim): each product's text vector
    image: NDArray[np.float32]  # (n, image_dim): its picture (zeros without one)
    has_image: NDArray[np.bool_]  # (n,)
    text_views: NDArray[np.float32]  # (m, text_dim)
    text_view_owner: NDArray[np.int64]  # (m,): product row of each text view
    image_views: NDArray[np.float32]  # (n, image_views, image_dim); zeros without picture
    encode_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def augment(picture: Image.Image, rng: random.Random) -> Image.Image:
    """Another drawing of the same thing, roughly: crop, turn, flip, colour, blur, greyscale."""
    image = to_rgb(trim_to_content(picture))
    width, height = image.size
    scale = rng.uniform(0.65, 1.0)
    w, h = max(8, int(width * scale)), max(8, int(height * scale))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = image.crop((left, top, left + w, top + h))
    # Shrink or pad: other vendors frame their drawings with more or less margin.
    pad = int(max(w, h) * rng.uniform(0.0, 0.3))
    if pad:
        image = ImageOps.expand(image, border=pad, fill=(255, 255, 255))
    image = image.rotate(rng.uniform(-20, 20), Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.5, 1.5))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < 0.3:
        hsv = np.asarray(image.convert("HSV"), np.int16)
        hsv[..., 0] = (hsv[..., 0] + rng.randint(-20, 20)) % 256
        image = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.1:
        image = ImageOps.grayscale(image).convert("RGB")
    return image


def text_views(
    products: Sequence[Product], *, glossary: Glossary | None = None
) -> list[tuple[int, str]]:
    """(product row, text) pairs a shopper might type: names, other-language names, rare tags.

    With the glossary search uses, Chinese names are seen as search sees them: glossed.
    """
    share = Counter(k.lower() for p in products for k in set(p.keywords))
    views: list[tuple[int, str]] = []
    for row, product in enumerate(products):
        names = list(product.titles.values())
        if glossary is not None:
            names = [glossary.english(name) or name for name in names]
        texts = [product.title, *names]
        texts += [k for k in product.keywords if share[k.lower()] <= MAX_KEYWORD_SHARE]
        if product.category:
            texts.append(f"{product.title} {product.category}")
        views.extend((row, text) for text in dict.fromkeys(t.strip() for t in texts if t.strip()))
    return views


class ViewCache:
    """Encoded picture views by picture (its content-addressed media path), in one ``.npz``
    per image encoder, number of views and seed (float16: 46 KiB a picture with 16 views of
    1392-d features); a missing or unreadable file is an empty cache. Each picture's row holds
    its own features, then its views'."""

    def __init__(self, path: Path | None, rows: dict[str, NDArray[np.float32]]) -> None:
        self.path = path
        self._rows = rows
        self._changed = False

    @classmethod
    def open(cls, folder: Path | None, *, image: ImageEncoder, config: TrainingConfig) -> ViewCache:
        if folder is None:
            return cls(None, {})
        name = (
            f"fusion-views{VIEWS_VERSION}-{image.name}-{config.image_views}v-seed{config.seed}.npz"
        )
        path = Path(folder) / name.replace("/", "_").replace(":", "_")
        rows: dict[str, NDArray[np.float32]] = {}
        try:
            with np.load(path, allow_pickle=False) as stored:
                keys, features = stored["keys"], stored["features"]
                if features.shape[1:] == (config.image_views + 1, image.dim):
                    rows = {str(k): features[j].astype(np.float32) for j, k in enumerate(keys)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the unreadable picture-view cache %s: %s", path, exc)
        return cls(path, rows)

    def get(self, key: str) -> NDArray[np.float32] | None:
        return self._rows.get(key)

    def put(self, key: str, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """Keep a picture's features, rounded to float16 as the file stores them (so a run that
        encodes them trains on what a run that reads them back gets); returns them rounded."""
        rounded = np.asarray(np.asarray(features, np.float16), np.float32)
        self._rows[key] = rounded
        self._changed = True
        return rounded

    def save(self, *, keep: set[str]) -> None:
        """Write the pictures of ``keep`` (the catalog's), if anything changed."""
        dropped = set(self._rows) - keep
        if self.path is None or not (self._changed or dropped):
            return
        keys = sorted(set(self._rows) & keep)
        tmp = self.path.with_name(f".{self.path.name}.tmp.npz")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        features = np.stack([self._rows[k] for k in keys]).astype(np.float16)
        np.savez(tmp, keys=np.asarray(keys), features=features)
        tmp.replace(self.path)


def catalog_features(
    sessions: sessionmaker[Session],
    *,
    text: TextEncoder,
    image: ImageEncoder,
    media_dir: Path,
    config: TrainingConfig,
    glossary: Glossary | None = None,
    dictionary: Dictionary | None = None,
    progress: Callable[[int], object] | None = None,
    cache_dir: Path | None = None,
) -> Features:
    """Encode every product of the catalog and its training views (pictures' views from the
    cache in ``cache_dir`` where it has them)."""
    with session_scope(sessions) as session:
        products = catalog.list_products(session=session, limit=None)
        if len(products) > config.max_products:
            products = random.Random(config.seed).sample(products, config.max_products)
        started = time.perf_counter()
        pictures = [primary_image(p, media_dir) for p in products]
        # The content-addressed media path names a picture in the view cache.
        picture_keys = [p.images[0].path if p.images else "" for p in products]
        skus = [p.sku for p in products]
        text_rows = product_text_vectors(products, text, dictionary)
        views = text_views(products, glossary=glossary)
    with_picture = [i for i, picture in enumerate(pictures) if picture is not None]
    if len(with_picture) < 8:
        raise NotEnoughData(
            f"the catalog has {len(with_picture)} products with pictures; the fusion head "
            "needs at least 8 to learn from"
        )
    cache = ViewCache.open(cache_dir, image=image, config=config)
    image_rows = np.zeros((len(products), image.dim), np.float32)
    image_views = np.zeros((len(products), config.image_views, image.dim), np.float32)
    encoded = 0
    for i in with_picture:
        picture, key = pictures[i], picture_keys[i]
        assert picture is not None
        found = cache.get(key)
        if found is None:
            rng = random.Random(f"{config.seed}:{key}")
            batch = [picture] + [augment(picture, rng) for _ in range(config.image_views)]
            found = cache.put(key, image.encode(batch))
            encoded += 1
        image_rows[i], image_views[i] = found[0], found[1:]
        if progress is not None:
            progress(1)
    cache.save(keep={picture_keys[i] for i in with_picture})
    view_rows = text.encode([t for _, t in views])
    return Features(
        skus=skus,
        text=text_rows,
        image=image_rows,
        has_image=np.isin(np.arange(len(products)), with_picture),
        text_views=view_rows,
        text_view_owner=np.asarray([row for row, _ in views], np.int64),
        image_views=image_views,
        encode_seconds=time.perf_counter() - started,
        counts={
            "products": len(products),
            "with_picture": len(with_picture),
            "text_views": len(views),
            "image_views": len(with_picture) * config.image_views,
            "pictures_encoded": encoded,
        },
    )


def _fusion_net(text_dim: int, image_dim: int) -> Any:
    """The trainable head: the parameter names and the maths of ``FusionHead``."""
    import torch
    from torch import nn

    def mlp(width: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(width, HIDDEN), nn.GELU(approximate="tanh"), nn.Linear(HIDDEN, FUSED_DIM)
        )

    class FusionNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.text_proj = nn.Linear(text_dim, FUSED_DIM)
            self.image_proj = nn.Linear(image_dim, FUSED_DIM)
            self.fm_text = nn.Linear(text_dim, FUSED_DIM)
            self.fm_image = nn.Linear(image_dim, FUSED_DIM)
            self.product_mlp = mlp(2 * FUSED_DIM)
            self.text_query = mlp(FUSED_DIM)
            self.image_query = mlp(FUSED_DIM)

        def product(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            e_t, e_v = self.text_proj(t), self.image_proj(v)
            fm = self.fm_text(t) * self.fm_image(v)
            mlp = self.product_mlp(torch.cat([e_t, e_v], dim=1))
            return nn.functional.normalize(e_t + e_v + mlp + fm, dim=1)

        def query_text(self, t: torch.Tensor) -> torch.Tensor:
            e = self.text_proj(t)
            return nn.functional.normalize(e + self.text_query(e), dim=1)

        def query_image(self, v: torch.Tensor) -> torch.Tensor:
            e = self.image_proj(v)
            return nn.functional.normalize(e + self.image_query(e), dim=1)

    return FusionNet()


@dataclass(frozen=True)
class TrainingResult:
    """What training produced: float32 weights by parameter name and the loss per epoch."""

    weights: dict[str, NDArray[np.float32]]
    losses: list[float]
    seconds: float


def train(
    features: Features,
    config: TrainingConfig,
    *,
    on_epoch: Callable[[int, float], object] | None = None,
) -> TrainingResult:
    """Contrastive training of a head on ``features``; deterministic for a seed."""
    import torch

    from backend.encoders.device import limit_torch_threads

    limit_torch_threads()
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    net = _fusion_net(features.text.shape[1], features.image.shape[1])
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, math.ceil(len(features.skus) / config.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    text = torch.from_numpy(features.text)
    image = torch.from_numpy(features.image)
    has_image = torch.from_numpy(features.has_image)
    image_views = torch.from_numpy(features.image_views)
    by_owner = np.argsort(features.text_view_owner, kind="stable")
    bounds = np.searchsorted(features.text_view_owner[by_owner], np.arange(len(features.skus) + 1))
    views_of = [by_owner[bounds[row] : bounds[row + 1]] for row in range(len(features.skus))]
    text_views = torch.from_numpy(features.text_views)
    pictured = np.flatnonzero(features.has_image)
    scale = 1.0 / config.temperature
    losses: list[float] = []
    started = time.perf_counter()

    def contrast(queries: torch.Tensor, products: torch.Tensor) -> torch.Tensor:
        logits = queries @ products.T * scale
        target = torch.arange(len(queries))
        return (
            torch.nn.functional.cross_entropy(logits, target)
            + torch.nn.functional.cross_entropy(logits.T, target)
        ) / 2

    net.train()
    for epoch in range(config.epochs):
        order = generator.permutation(len(features.skus))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            rows_t = torch.from_numpy(rows)
            # Product side: its own picture, or a view of it; some shown without one.
            view_pick = torch.from_numpy(generator.integers(0, image_views.shape[1], len(rows)))
            own_or_view = torch.from_numpy(generator.random(len(rows)) < 0.5)[:, None]
            picture = torch.where(own_or_view, image[rows_t], image_views[rows_t, view_pick])
            dropped = torch.from_numpy(generator.random(len(rows)) < config.image_dropout)
            picture = picture * (~dropped & has_image[rows_t])[:, None]
            products = net.product(text[rows_t], picture)
            text_pick = torch.from_numpy(
                np.asarray([generator.choice(views_of[r]) for r in rows], np.int64)
            )
            loss = contrast(net.query_text(text_views[text_pick]), products)
            with_picture = np.isin(rows, pictured)
            if with_picture.sum() > 1:
                keep = torch.from_numpy(with_picture)
                query_pick = torch.from_numpy(
                    generator.integers(0, image_views.shape[1], int(with_picture.sum()))
                )
                queries = net.query_image(image_views[rows_t[keep], query_pick])
                loss = loss + contrast(queries, products[keep])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(rows)
        losses.append(total / len(order))
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    weights = {
        name: value.detach().numpy().astype(np.float32) for name, value in net.state_dict().items()
    }
    return TrainingResult(weights=weights, losses=losses, seconds=time.perf_counter() - started)


def train_head(
    sessions: sessionmaker[Session],
    out: Path,
    *,
    text: TextEncoder,
    image: ImageEncoder,
    media_dir: Path,
    config: TrainingConfig,
    glossary: Glossary | None = None,
    dictionary: Dictionary | None = None,
    progress: Callable[[int], object] | None = None,
    on_epoch: Callable[[int, float], object] | None = None,
    cache_dir: Path | None = None,
) -> FusionHead:
    """Encode the catalog (pictures' views from the cache in ``cache_dir`` where it has them),
    train, and write the checkpoint to ``out``."""
    features = catalog_features(
        sessions,
        text=text,
        image=image,
        media_dir=media_dir,
        config=config,
        glossary=glossary,
        dictionary=dictionary,
        progress=progress,
        cache_dir=cache_dir,
    )
    result = train(features, config, on_epoch=on_epoch)
    trained: dict[str, Any] = {
        **features.counts,
        "epochs": config.epochs,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "temperature": config.temperature,
        "first_loss": round(result.losses[0], 4),
        "last_loss": round(result.losses[-1], 4),
        "encode_seconds": round(features.encode_seconds, 1),
        "train_seconds": round(result.seconds, 1),
        "definitions": dictionary.name if dictionary is not None else None,
    }
    return save_head(
        out,
        result.weights,
        text_encoder=text.name,
        image_encoder=image.name,
        trained=trained,
        products=features.skus,
    )
