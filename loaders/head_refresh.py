"""A fusion head that keeps up with the catalog: retrained after uploads, swapped in whole.

Searches that choose their own signals use the fused vector only while the head was trained
on every indexed product (``HEAD_COVERAGE`` in ``backend/search/service.py``): an upload that
adds products the head never saw leaves the fused signal out of hybrid search for the whole
catalog. Where the head was trained on the rest of the catalog, with
``VITRINE_FUSION_HEAD=auto`` and ``VITRINE_HEAD_REFRESH=auto``, the serving process that runs
the upload jobs (embedded mode) then trains a new head on the whole catalog in a child
process at a lower CPU priority (pictures' augmented views come from the model cache, so only new
pictures are encoded), writes every product's fused vector again from the text and image
vectors the index already holds into a new collection version, switches to it and serves
the new head. Searches go on meanwhile with the old head (fused left out of hybrid, as
before); nothing is encoded again but what changed during the copy.

Heads live in ``<var_dir>/heads`` as ``<head name>.npz``; ``current.json`` names the one the
index was last switched to, which ``auto`` serves after a restart.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from backend.encoders.fusion import FusionHead, load_head, set_catalog_head
from backend.errors import VitrineError
from backend.index.port import CollectionSpec, Point, VectorIndex
from backend.indexing import FUSED_VECTOR, IMAGE_VECTOR, TEXT_VECTOR
from backend.settings import Settings
from loaders.pipeline import Encoders
from loaders.reindex import Switched, fill_and_switch

log = logging.getLogger(__name__)
COPY_BATCH = 256  # points read and written again a batch at a time
POLL_S = 0.5  # how often a training wait looks at its stop event


class HeadRefreshFailed(VitrineError):
    """Training a new head did not finish (the old head keeps serving)."""


@dataclass(frozen=True)
class Refreshed:
    """A new head, and the index version fused by it that now serves."""

    head: FusionHead
    spec: CollectionSpec  # the collection of the version that now serves
    switched: Switched

    def line(self) -> str:
        """One line for the log."""
        trained = self.head.trained
        return (
            f"fusion head {self.head.name} trained on {trained.get('products')} products "
            f"({trained.get('encode_seconds')} s encoding, {trained.get('train_seconds')} s "
            f"training); {self.switched.indexed} fused vectors written again into version "
            f"{self.switched.version}"
        )


def refreshes(settings: Settings) -> bool:
    """Whether the deployment picks its own head (``auto``) and refreshes it (``auto``)."""
    return (settings.fusion_head, settings.head_refresh) == ("auto", "auto")


def is_stale(settings: Settings, index: VectorIndex, head: FusionHead | None) -> bool:
    """Whether a refresh applies: ``refreshes(settings)``, and the served head was trained
    on some of the indexed products but not all of them.

    A head that knows none of them (the shipped head on another shop's catalog) is not
    replaced: on the Luma catalog a head trained on it cost hybrid search 0.038 nDCG@10 on
    shopper queries (docs/benchmarks.md), so a new catalog gets one by `vitrine train-fusion`
    where it is measured to help, not by default."""
    from backend.search.service import HeadCoverage

    if not refreshes(settings) or head is None:
        return False
    coverage = HeadCoverage(recheck_seconds=0).of(index, head)
    return coverage is not None and 0 < coverage.known < coverage.points


def head_file(settings: Settings, head: FusionHead) -> Path:
    """Where a head trained on this deployment's catalog is kept."""
    return settings.heads_dir / f"{head.name}.npz"


def pinned(settings: Settings, head: FusionHead | None) -> Settings:
    """Settings whose encoders load exactly ``head`` where it is one trained on this catalog
    (a child encoding process started after a refresh must not load another), else as they
    are."""
    if head is None or not head_file(settings, head).exists():
        return settings
    return settings.with_(fusion_head=str(head_file(settings, head)))


def train_in_child(settings: Settings, *, stop: threading.Event | None = None) -> FusionHead | None:
    """Train a head on the catalog in a child process; None if ``stop`` was set first.

    HeadRefreshFailed with the child's message when it fails (too few pictures, say)."""
    settings.heads_dir.mkdir(parents=True, exist_ok=True)
    out = settings.heads_dir / f".training-{os.getpid()}.npz"
    error = out.with_suffix(".error")
    error.unlink(missing_ok=True)
    child = multiprocessing.get_context("spawn").Process(
        target=_train, args=(settings, out, error), name="vitrine-head-training", daemon=True
    )
    child.start()
    try:
        while child.is_alive():
            if stop is not None and stop.is_set():
                child.terminate()
                child.join()
                return None
            child.join(POLL_S)
        if child.exitcode != 0 or not out.exists():
            reason = error.read_text(encoding="utf-8") if error.exists() else ""
            raise HeadRefreshFailed(
                f"training a fusion head on the catalog failed "
                f"({reason or f'the training process exited with {child.exitcode}'})"
            )
        head = load_head(out)
        out.replace(head_file(settings, head))
        return load_head(head_file(settings, head))
    finally:
        if child.is_alive():
            child.terminate()
        out.unlink(missing_ok=True)
        error.unlink(missing_ok=True)


def _train(settings: Settings, out: Path, error: Path) -> None:
    """The child: train on the catalog the settings name and write the checkpoint."""
    from backend.catalog import db
    from backend.encoders.registry import (
        dictionary_from_settings,
        encoders_from_settings,
        glossary_from_settings,
    )
    from loaders.fusion_training import TrainingConfig, train_head

    os.nice(settings.job_encoder_nice)
    try:
        text, image = encoders_from_settings(settings)
        engine = db.make_engine(settings.database_url)
        try:
            assert settings.media_dir is not None
            train_head(
                db.make_sessionmaker(engine),
                out,
                text=text,
                image=image,
                media_dir=settings.media_dir,
                config=TrainingConfig(),
                glossary=glossary_from_settings(settings, text),
                dictionary=dictionary_from_settings(settings),
                cache_dir=settings.model_cache_dir,
            )
        finally:
            engine.dispose()
    except VitrineError as exc:
        error.write_text(exc.message, encoding="utf-8")
        raise SystemExit(1) from exc


def refused(index: VectorIndex, head: FusionHead, names: list[str]) -> Iterator[list[Point]]:
    """Every point of ``index`` with its fused vector made again by ``head`` from the text and
    image vectors it holds (zeros for a product without a picture, as at ingest)."""
    after: str | None = None
    while True:
        page, after = index.page(limit=COPY_BATCH, after=after, payload=())
        stored = index.retrieve([p.id for p in page], vectors=names)
        if stored:
            text = np.stack([np.asarray(p.vectors[TEXT_VECTOR], np.float32) for p in stored])
            image = np.zeros((len(stored), head.image_dim), np.float32)
            for row, point in enumerate(stored):
                if IMAGE_VECTOR in point.vectors:
                    image[row] = point.vectors[IMAGE_VECTOR]
            fused = head.product(text, image)
            yield [
                Point(
                    id=point.id,
                    vectors={**point.vectors, FUSED_VECTOR: fused[row]},
                    sparse=point.sparse,
                    payload=point.payload,
                )
                for row, point in enumerate(stored)
            ]
        if after is None:
            return


def refresh_head(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    index: VectorIndex,
    encoders: Encoders,
    stop: threading.Event | None = None,
) -> Refreshed | None:
    """Train a head on the catalog, build a version of ``index`` fused by it, switch to it
    and record the head as the catalog's; None if ``stop`` interrupted the training.

    ``encoders``: the deployment's, with the old head (the new one replaces it)."""
    head = train_in_child(settings, stop=stop)
    if head is None:
        return None
    process = encoders.process
    if process is not None:  # a child that loads exactly this head
        from loaders.encoding import encoding_process

        process = encoding_process(pinned(settings, head))
    fused_by = replace(encoders, fusion=head, process=process)
    spec = fused_by.spec()
    names = [name for name in (*spec.dense, *spec.sparse) if name != FUSED_VECTOR]

    def fill(version: VectorIndex) -> int:
        written = 0
        for points in refused(index, head, names):
            version.upsert(points)
            written += len(points)
        return written

    switched = fill_and_switch(
        fill,
        sessions=sessions,
        index=index,
        version=index.new_version(spec),
        encoders=fused_by,
        settings=settings,
    )
    set_catalog_head(settings.heads_dir, head_file(settings, head))
    return Refreshed(head=head, spec=spec, switched=switched)
