"""Catalog ↔ index consistency: the check that refuses to serve a lost index, and the
comparison ``/health`` reports.

The SQL catalog is the source of truth and marks each product whose vectors the index holds.
An index that holds nothing while the catalog marks products indexed was deleted or emptied:
creating an empty collection there would answer every search with nothing, so it is refused
(``IndexMissing``, hence 503) until ``vitrine index repair`` rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.errors import REPAIR_HINT, IndexMissing
from backend.index.port import VectorIndex


def check_not_lost(index: VectorIndex, *, indexed: int, where: str) -> None:
    """IndexMissing when the catalog marks ``indexed`` products indexed and ``index`` (at
    ``where``) has no collection or no points; call it before ``ensure_collection``."""
    if indexed <= 0:
        return
    info = index.info()
    if info is None or info.points == 0:
        held = "has no collection" if info is None else "holds no points"
        raise IndexMissing(
            f"the vector index {where} {held}, but the catalog has {indexed} products marked "
            f"indexed: the index was deleted or emptied; {REPAIR_HINT}"
        )


@dataclass(frozen=True)
class Consistency:
    """How the catalog and the index compare, as ``/health`` reports it."""

    products: int  # rows in the catalog
    indexed: int  # of them, marked as having current vectors in the index
    points: int  # points the index holds
    loading: bool = False  # an upload job is queued or running (pending rows are expected)
    repairing: bool = False  # the server is indexing products a failed load left behind
    problems: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """Products in the catalog that search cannot find yet."""
        return self.products - self.indexed

    @classmethod
    def compare(
        cls, *, products: int, indexed: int, points: int, loading: bool, repairing: bool
    ) -> Consistency:
        """The figures and, unless a load or repair explains them, what differs."""
        problems = []
        busy = loading or repairing
        if indexed < products and not busy:
            problems.append(
                f"{products - indexed} of {products} products have no current vectors, so "
                "search cannot find them (a load failed or was interrupted): "
                "`vitrine reconcile` indexes them"
            )
        elif points != products and not busy:
            problems.append(
                f"the index holds {points} points for {products} products in the catalog "
                "(points lost, or left by deleted products): `vitrine reconcile` repairs it"
            )
        return cls(
            products=products,
            indexed=indexed,
            points=points,
            loading=loading,
            repairing=repairing,
            problems=problems,
        )
