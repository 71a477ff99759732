"""Re-index without downtime: build a new collection version from the catalog, then switch.

The serving version keeps answering while the new one is filled (Edge: a new version folder,
which a running server does not hold; qdrant-client: a new collection behind the alias).
Products written during the build are caught up by reconciling the new version with the
catalog (content hashes) before the switch; after it, the catalog's indexed marks describe
the new version, so anything changed in the last instant shows as pending and a final
reconcile (here, or in the server's worker when it holds the folder) writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import service as catalog
from backend.catalog.db import session_scope
from backend.errors import IndexUnavailable
from backend.index.port import VectorIndex, scroll
from backend.settings import Settings
from loaders.pipeline import Encoders, batched, opened
from loaders.reconcile import reconcile, write_products

log = logging.getLogger(__name__)
CATCH_UP_PASSES = 3


@dataclass(frozen=True)
class ReindexSummary:
    """What a rebuild did."""

    indexed: int  # products written into the new version
    version: str | None  # the version now serving
    old_removed: bool  # False: another process still holds the old version (it removes it)
    caught_up: int = 0  # products re-written because they changed during the build
    pending: int = 0  # products still pending after the switch (written by a reconcile later)

    def line(self) -> str:
        """One-line summary for the command line."""
        text = f"{self.indexed} products indexed into version {self.version}"
        if self.caught_up:
            text += f" ({self.caught_up} caught up after changing during the build)"
        text += (
            "; old version removed"
            if self.old_removed
            else (
                "; the old version is still open in another process, which removes it when it "
                "switches (a `vitrine serve` started with other encoders switches on restart)"
            )
        )
        if self.pending:
            text += (
                f"; {self.pending} products changed during the switch are pending: "
                "`vitrine reconcile` (or the server's worker) writes them"
            )
        return text


@dataclass(frozen=True)
class Switched:
    """A new collection version filled, caught up with the catalog and serving."""

    indexed: int  # products the fill wrote
    version: str | None
    old_removed: bool
    caught_up: int
    pending: int


def fill_and_switch(
    fill: Callable[[VectorIndex], int],
    *,
    sessions: sessionmaker[Session],
    index: VectorIndex,
    version: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    batch_size: int = 64,
    release_timeout: float = 30.0,
) -> Switched:
    """Fill ``version`` (``fill`` writes it, returning how many products), write again what
    changed in the catalog meanwhile (content hashes), switch ``index`` to it and mark the
    catalog indexed by it; the version is dropped if anything before the switch fails.

    ``encoders`` must produce ``version``'s collection (the catch-up encodes with them)."""
    try:
        indexed = fill(version)
        caught_up = 0
        for _ in range(CATCH_UP_PASSES):
            report = reconcile(
                sessions=sessions,
                index=version,
                encoders=encoders,
                settings=settings,
                mark_catalog=False,
                batch_size=batch_size,
            )
            caught_up += report.repaired
            if report.clean:
                break
        version.optimize()
        held = {
            str(p.payload["sku"]): str(p.payload["content_hash"])
            for p in scroll(version, payload=("sku", "content_hash"))
            if "sku" in p.payload and "content_hash" in p.payload
        }
        name = version.info()
    except BaseException:
        version.drop()
        version.close()
        raise
    removed = index.switch_to(version, release_timeout=release_timeout)
    with session_scope(sessions) as session:
        catalog.set_indexed_hashes(session=session, hashes=held)
    pending = _final_pass(sessions, index, encoders, settings, batch_size=batch_size)
    return Switched(
        indexed=indexed,
        version=name.version if name is not None else None,
        old_removed=removed,
        caught_up=caught_up,
        pending=pending,
    )


def rebuild(
    settings: Settings,
    *,
    batch_size: int = 64,
    release_timeout: float = 30.0,
    progress: Callable[[int], object] | None = None,
    on_start: Callable[[int], object] | None = None,
) -> ReindexSummary:
    """Build a new collection version for the settings' encoders, switch to it, drop the old.

    ``release_timeout``: how long to wait for a server holding the old version (embedded
    mode) to follow the switch before leaving the old folder to it.
    """
    with opened(settings, check_collection=False, open_current=False) as deployment:
        encoders = deployment.encoders

        def fill(version: VectorIndex) -> int:
            with session_scope(deployment.sessions) as session:
                skus = sorted(catalog.index_states(session=session))
            if on_start is not None:
                on_start(len(skus))
            indexed = 0
            for batch in batched(skus, batch_size):
                with session_scope(deployment.sessions) as session:
                    indexed += len(
                        write_products(
                            session,
                            batch,
                            index=version,
                            encoders=encoders,
                            settings=settings,
                            mark_catalog=False,
                        )
                    )
                if progress is not None:
                    progress(len(batch))
            return indexed

        switched = fill_and_switch(
            fill,
            sessions=deployment.sessions,
            index=deployment.index,
            version=deployment.index.new_version(deployment.spec),
            encoders=encoders,
            settings=settings,
            batch_size=batch_size,
            release_timeout=release_timeout,
        )
        return ReindexSummary(
            indexed=switched.indexed,
            version=switched.version,
            old_removed=switched.old_removed,
            caught_up=switched.caught_up,
            pending=switched.pending,
        )


def _final_pass(
    sessions: sessionmaker[Session],
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    *,
    batch_size: int,
) -> int:
    """Reconcile the now-serving version if this process can open it; how many stay pending."""
    try:
        reconcile(
            sessions=sessions,
            index=index,
            encoders=encoders,
            settings=settings,
            batch_size=batch_size,
        )
    except IndexUnavailable as exc:  # a running server holds it: its worker reconciles
        log.info("final reconcile left to the serving process: %s", exc.message)
        with session_scope(sessions) as session:
            total = catalog.count_products(session=session)
            return total - catalog.count_indexed(session=session)
    return 0
