"""Reconcile: make the vector index hold exactly the catalog's current products.

The catalog is the source of truth. Each product's point carries the ``content_hash`` it was
built from, so comparing the index (read first, with ``scroll``) with the catalog finds:

- missing: a product without a point (a load interrupted between SQL and vectors);
- stale: a point built from other content than the catalog's (``content_hash`` changed;
  also a product the catalog says is pending whose point predates hashes in payloads);
- orphans: a point whose product is no longer in the catalog;
- unmarked: a point that is current while the catalog still says pending (a crash after the
  write and before the mark), which needs only the mark.

``reconcile`` repairs them (or only reports, ``dry_run``): a worker may call it periodically,
``vitrine reconcile`` runs it once, ``vitrine reindex`` uses it to catch up with writes that
landed while it built a new collection version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import service as catalog
from backend.catalog.db import session_scope
from backend.index.port import VectorIndex, point_id, scroll
from backend.settings import Settings
from loaders.pipeline import Encoders, batched, opened

SAMPLE = 5  # skus shown per kind of repair


@dataclass
class ReconcileReport:
    """What reconcile found (skus) and, unless a dry run, repaired."""

    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # the sku in the point, else its id
    unmarked: list[str] = field(default_factory=list)
    dry_run: bool = False
    points: int = 0  # points in the index before the repairs
    products: int = 0  # products in the catalog

    @property
    def clean(self) -> bool:
        """True when the catalog and the index agreed."""
        return not (self.missing or self.stale or self.orphans or self.unmarked)

    @property
    def repaired(self) -> int:
        """How many products and points were (or, in a dry run, would be) repaired."""
        return len(self.missing) + len(self.stale) + len(self.orphans) + len(self.unmarked)

    def details(self, sample: int = SAMPLE) -> list[str]:
        """One line per kind of repair, with a few skus."""
        lines = []
        for label, skus in (
            ("missing from the index", self.missing),
            ("stale vectors", self.stale),
            ("orphan points", self.orphans),
            ("indexed but not marked", self.unmarked),
        ):
            if skus:
                shown = ", ".join(skus[:sample]) + (", …" if len(skus) > sample else "")
                lines.append(f"{label}: {len(skus)} ({shown})")
        return lines

    def line(self) -> str:
        """One-line summary for the command line."""
        if self.clean:
            return f"{self.products} products, {self.points} points: catalog and index agree"
        verb = "would repair" if self.dry_run else "repaired"
        return (
            f"{self.products} products, {self.points} points: {verb} {len(self.missing)} "
            f"missing, {len(self.stale)} stale, {len(self.orphans)} orphans, "
            f"{len(self.unmarked)} unmarked"
        )


def report_json(report: ReconcileReport) -> dict[str, Any]:
    """The report as the admin API answers it."""
    return {
        "dry_run": report.dry_run,
        "clean": report.clean,
        "products": report.products,
        "points": report.points,
        "missing": report.missing,
        "stale": report.stale,
        "orphans": report.orphans,
        "unmarked": report.unmarked,
        "summary": report.line(),
    }


def reconcile(
    *,
    sessions: sessionmaker[Session],
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    dry_run: bool = False,
    mark_catalog: bool = True,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
) -> ReconcileReport:
    """Compare the index with the catalog and repair what differs (see module doc).

    ``mark_catalog=False`` leaves the catalog's indexed marks alone (a collection version
    that does not serve yet); encoders are loaded only if something must be encoded.
    """
    # The index is read before the catalog: a product created in between then looks missing
    # (written twice, harmless), never like an orphan (deleted wrongly).
    stored: dict[str, tuple[object, object]] = {  # id -> (sku, content_hash) it holds
        p.id: (p.payload.get("sku"), p.payload.get("content_hash"))
        for p in scroll(index, payload=("sku", "content_hash"), page_size=1000)
    }
    with session_scope(sessions) as session:
        states = catalog.index_states(session=session)
    report = ReconcileReport(dry_run=dry_run, points=len(stored), products=len(states))
    expected = set()
    for sku in sorted(states):
        content, indexed = states[sku]
        pid = point_id(sku)
        expected.add(pid)
        if pid not in stored:
            report.missing.append(sku)
            continue
        held = stored[pid][1]
        if held is None:  # a point written before payloads carried the hash
            if indexed != content:
                report.stale.append(sku)
        elif held != content:
            report.stale.append(sku)
        elif indexed != content and mark_catalog:
            report.unmarked.append(sku)
    orphan_ids = sorted(pid for pid in stored if pid not in expected)
    report.orphans = [str(stored[pid][0] or pid) for pid in orphan_ids]
    if dry_run:
        return report

    index.delete(orphan_ids)
    if report.unmarked:
        with session_scope(sessions) as session:
            catalog.mark_indexed(
                session=session, hashes={sku: states[sku][0] for sku in report.unmarked}
            )
    for batch in batched(report.missing + report.stale, batch_size):
        with session_scope(sessions) as session:
            write_products(
                session,
                batch,
                index=index,
                encoders=encoders,
                settings=settings,
                mark_catalog=mark_catalog,
            )
        if progress is not None:
            progress(len(batch))
    return report


def write_products(
    session: Session,
    skus: Sequence[str],
    *,
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    mark_catalog: bool = True,
) -> dict[str, str]:
    """Encode these products as the catalog has them now and upsert their points.

    Returns the content hash written per sku; the catalog marks them indexed unless
    ``mark_catalog`` is False. Skus no longer in the catalog are skipped.
    """
    products = list(catalog.get_products(session=session, skus=skus).values())
    if not products:
        return {}
    assert settings.media_dir is not None
    index.upsert(encoders.points(products, media_dir=settings.media_dir))
    hashes = {p.sku: p.content_hash for p in products}
    if mark_catalog:
        catalog.mark_indexed(session=session, hashes=hashes)
    return hashes


def reconcile_deployment(
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
) -> ReconcileReport:
    """Open the deployment from settings, reconcile it, close it (``vitrine reconcile``)."""
    with opened(settings, check_collection=not dry_run) as deployment:
        if deployment.index.info() is None:  # dry run on a deployment never loaded
            with session_scope(deployment.sessions) as session:
                states = catalog.index_states(session=session)
            return ReconcileReport(missing=sorted(states), dry_run=True, products=len(states))
        report = reconcile(
            sessions=deployment.sessions,
            index=deployment.index,
            encoders=deployment.encoders,
            settings=settings,
            dry_run=dry_run,
            progress=progress,
        )
        if not dry_run and (report.missing or report.stale):
            deployment.index.optimize()
        return report
