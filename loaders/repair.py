"""``vitrine index repair``: rebuild a lost or unreadable index from the SQL catalog.

The catalog is the source of truth, so an index can always be made again from it. A folder
that cannot be read (a garbled pointer, segment or WAL) is moved aside, never deleted, so
that it can be examined; the rebuild then writes a fresh version and makes it current, which
a running server (answering 503 meanwhile) opens on its next request. An index that reads
fine is reconciled instead: what differs from the catalog is written, nothing is rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backend.catalog import service as catalog
from backend.catalog.db import make_engine, make_sessionmaker, session_scope
from backend.errors import IndexCorrupt, IndexMissing
from backend.index.consistency import check_not_lost
from backend.index.factory import index_location, open_index
from backend.settings import Settings
from loaders.reconcile import ReconcileReport, reconcile_deployment
from loaders.reindex import ReindexSummary, rebuild

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairSummary:
    """What a repair found and did."""

    problem: str | None  # why the index could not serve (None: it was readable)
    set_aside: Path | None = None  # where the unreadable folder went
    rebuilt: ReindexSummary | None = None
    reconciled: ReconcileReport | None = None

    def lines(self) -> list[str]:
        """The report for the command line."""
        if self.problem is None:
            assert self.reconciled is not None
            return ["the index is readable; reconciled it with the catalog", self.reconciled.line()]
        out = [f"the index could not serve: {self.problem}"]
        if self.set_aside is not None:
            out.append(f"moved the unreadable folder aside to {self.set_aside}")
        if self.rebuilt is not None:
            out.append(f"rebuilt from the catalog: {self.rebuilt.line()}")
        return out


def diagnose(settings: Settings) -> IndexMissing | IndexCorrupt | None:
    """Why the settings' index cannot serve, or None when it reads fine.

    Any other IndexUnavailable (a folder in use, a server down) propagates: that index may be
    perfectly good, and rebuilding beside it would hide the real problem.
    """
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            indexed = catalog.count_indexed(session=session)
    finally:
        engine.dispose()
    try:
        index = open_index(settings)
    except (IndexMissing, IndexCorrupt) as exc:
        return exc
    try:
        check_not_lost(index, indexed=indexed, where=index_location(settings))
        index.info()
    except (IndexMissing, IndexCorrupt) as exc:
        return exc
    finally:
        index.close()
    return None


def set_aside(folder: Path) -> Path | None:
    """Rename ``folder`` to ``<name>.corrupt-<UTC time>`` beside it; None if it is gone."""
    if not folder.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder.with_name(f"{folder.name}.corrupt-{stamp}")
    folder.rename(target)
    log.warning("moved the unreadable index folder %s aside to %s", folder, target)
    return target


def repair(
    settings: Settings,
    *,
    progress: Callable[[int], object] | None = None,
    on_start: Callable[[int], object] | None = None,
) -> RepairSummary:
    """Rebuild a missing or unreadable index from the catalog, or reconcile a readable one."""
    problem = diagnose(settings)
    if problem is None:
        return RepairSummary(None, reconciled=reconcile_deployment(settings, progress=progress))
    aside = None
    if isinstance(problem, IndexCorrupt) and settings.qdrant_path and not settings.qdrant_url:
        aside = set_aside(settings.qdrant_path)  # a server's files are the server's
    summary = rebuild(settings, progress=progress, on_start=on_start)
    return RepairSummary(problem.message, set_aside=aside, rebuilt=summary)
