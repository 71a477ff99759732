"""Products encoded in a child process, for the upload jobs of a serving process.

A serving process that encoded its uploads on a thread of its own shared the GIL and the
cores with its searches, and kept what the encoding loaded (the multilingual passage model,
WordNet) for good: about 500 MiB after the first upload (docs/benchmarks.md). Here a
child process, started on the first batch, loads the same encoders from the same settings
and builds the points; the parent only stores them. The child runs at a lower CPU priority
(``job_encoder_nice``) and exits once idle for ``job_encoder_idle_s``, which gives its
memory back; the next batch starts another (a few seconds: the models load again).

The child is started with ``spawn``, not ``fork``: the serving process runs threads (and
ONNX Runtime's pools), which a forked child would inherit in whatever state they were.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from backend.catalog.models import Product
from backend.errors import ConfigurationError, VitrineError
from backend.index.port import CollectionSpec, Point
from backend.settings import Settings

if TYPE_CHECKING:
    from loaders.pipeline import Encoders

log = logging.getLogger(__name__)

# The settings that decide which encoders a child loads: processes are shared by these.
_ENCODER_FIELDS = (
    "text_encoder",
    "image_encoder",
    "text_runtime",
    "image_runtime",
    "fusion_head",
    "device",
    "encode_batch_size",
    "model_cache_dir",
    "definitions",
    "multilingual",
    "multilingual_runtime",
    "job_encoder_idle_s",
    "job_encoder_nice",
)


class EncodingProcess:
    """Builds products' points in a child process started on demand, stopped when idle."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._spec: CollectionSpec | None = None  # what the child's encoders produce
        self._busy = 0
        self._timer: threading.Timer | None = None

    def points(
        self, products: Sequence[Product], *, media_dir: Path, spec: CollectionSpec
    ) -> list[Point]:
        """The products' points, built in the child by encoders that produce ``spec``
        (the collection the caller writes to); ConfigurationError if they do not.

        A child that died (killed while idle, out of memory) is replaced once; VitrineError
        if the new one dies too."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._busy += 1
        try:
            try:
                return self._encode(products, media_dir, spec)
            except BrokenProcessPool:
                log.warning("the encoding process died: starting another")
                return self._encode(products, media_dir, spec)
        except BrokenProcessPool as exc:
            raise VitrineError(
                f"the process encoding the products stopped ({exc}); they stay pending and "
                "the next upload or `vitrine reconcile` indexes them"
            ) from exc
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0 and self._pool is not None:
                    self._timer = threading.Timer(
                        self._settings.job_encoder_idle_s, self._close_if_idle
                    )
                    self._timer.daemon = True
                    self._timer.start()

    def _encode(
        self, products: Sequence[Product], media_dir: Path, spec: CollectionSpec
    ) -> list[Point]:
        with self._lock:
            pool = self._pool
            if pool is None:
                pool = self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(self._settings, os.getpid()),
                )
                self._spec = None
        try:
            if self._spec is None:
                self._spec = pool.submit(_child_spec).result()
            if self._spec != spec:
                raise ConfigurationError(
                    "the encoding process's encoders do not produce the collection this "
                    f"server writes to ({self._spec.encoders} vs {spec.encoders}): did the "
                    "fusion head's file change while it served? Restart the server"
                )
            return pool.submit(_encode, list(products), media_dir).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._busy or self._pool is None:
                return
            pool, self._pool, self._timer = self._pool, None, None
        log.info("the encoding process was idle: stopped")
        pool.shutdown(wait=True)

    def close(self) -> None:
        """Stop the child now (it finishes the batch it encodes)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            pool, self._pool, self._timer = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True)


_processes: dict[tuple[object, ...], EncodingProcess] = {}
_processes_lock = threading.Lock()


def encoding_process(settings: Settings) -> EncodingProcess:
    """The process that encodes for these settings' encoders, shared in this process (the
    apps of one process with the same encoders use one child)."""
    key = tuple(getattr(settings, name) for name in _ENCODER_FIELDS)
    with _processes_lock:
        found = _processes.get(key)
        if found is None:
            found = _processes[key] = EncodingProcess(settings)
        return found


@atexit.register
def _close_all() -> None:
    with _processes_lock:
        processes = list(_processes.values())
    for process in processes:
        process.close()


# In the child: its encoders, loaded once when it starts.
_child: list[Encoders] = []


def _start_child(settings: Settings, parent: int) -> None:
    from backend.encoders.registry import (
        dictionary_from_settings,
        encoders_from_settings,
        fusion_from_settings,
        multilingual_from_settings,
    )
    from loaders.pipeline import Encoders

    os.nice(settings.job_encoder_nice)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    text, image = encoders_from_settings(settings)
    fusion = fusion_from_settings(settings, text, image)
    dictionary = dictionary_from_settings(settings)
    multilingual = multilingual_from_settings(settings)
    _child.append(Encoders(lambda: (text, image), fusion, dictionary, multilingual))


def _exit_with(parent: int) -> None:
    """End the child when the serving process is gone (killed, it could not say so)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _child_spec() -> CollectionSpec:
    return _child[0].spec()


def _encode(products: list[Product], media_dir: Path) -> list[Point]:
    return _child[0].points(products, media_dir=media_dir)
