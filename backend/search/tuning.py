"""Fitted fusion: per-signal weights learnt for one catalog (``vitrine tune``).

A query falls in one ``bucket`` by features of its text (script, whether the English encoder
reads it, length) and by whether the best keyword match carries half of its terms, and each
bucket has its own weights and fusion: the hand rules that chose signals per query become
features whose weights the catalog's own queries decide.
The fitted weights are stored beside the index with the collection they were fitted on; a
search uses them only while that collection is the one it searches (``Tuning.fits``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.index.port import FUSIONS, dbsf_weight
from backend.search import keywords
from backend.search.translate import Glossary
from backend.settings import Settings

log = logging.getLogger(__name__)

TUNING_VERSION = 1
BASES = ("cjk", "foreign", "long", "short")
BUCKETS = (*BASES, *(f"{b}+named" for b in BASES))
# A query of this many words or more describes a product rather than naming it...
LONG_QUERY_WORDS = 6
# ...and one whose typed terms the best keyword match carries at least this share names it.
NAMING_COVERAGE = 0.5


def tuning_path(settings: Settings) -> Path:
    """Where the deployment keeps its fitted weights: ``<var_dir>/tuning.json``."""
    return Path(settings.var_dir) / "tuning.json"


def bucket(q: str, glossary: Glossary | None, coverage: float) -> str:
    """The query's bucket: ``cjk`` (Chinese, Japanese or Korean characters), ``foreign``
    (words most of which the English encoder does not know), ``long`` (LONG_QUERY_WORDS words
    or more) or ``short``; with ``+named`` when the best keyword match carries NAMING_COVERAGE
    of its typed terms (``coverage``)."""
    named = "+named" if coverage >= NAMING_COVERAGE else ""
    if keywords.has_cjk(q):
        return "cjk" + named
    if glossary is not None and not glossary.reads_english(q):
        return "foreign" + named
    return ("long" if len(q.split()) >= LONG_QUERY_WORDS else "short") + named


@dataclass(frozen=True)
class Tuning:
    """Per-bucket signal weights and fusion (RRF or DBSF), fitted on one collection."""

    weights: Mapping[str, Mapping[str, float]]  # bucket -> signal -> weight (0: left out)
    collection: Mapping[str, Any]  # the spec record of the collection it was fitted on
    fusions: Mapping[str, str] = field(default_factory=dict)  # bucket -> fusion (default rrf)
    fitted_on: Mapping[str, Any] = field(default_factory=dict)  # queries, scores: for people

    def for_bucket(self, name: str) -> Mapping[str, float] | None:
        """The bucket's weights, or None when it keeps the rules."""
        return self.weights.get(name)

    def fusion(self, name: str) -> str:
        """The fusion the bucket's weights were fitted for."""
        return self.fusions.get(name, "rrf")

    def fits(self, collection: Mapping[str, Any]) -> bool:
        """Whether it was fitted on a collection of this shape and these encoders; a fusion
        head retrained on the grown catalog (another head name) still fits."""
        return _shape(self.collection) == _shape(collection)

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "version": TUNING_VERSION,
            "weights": {b: dict(w) for b, w in self.weights.items()},
            "fusions": dict(self.fusions),
            "collection": dict(self.collection),
            "fitted_on": dict(self.fitted_on),
        }


def _shape(record: Mapping[str, Any]) -> dict[str, Any]:
    encoders = {k: v for k, v in dict(record.get("encoders", {})).items() if k != "fused"}
    return {**dict(record), "encoders": encoders}


class TuningFile:
    """The tuning stored at ``path``, read again when the file changes (``vitrine tune`` may
    write it while the server runs): one ``stat`` a search."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._tuning: Tuning | None = None
        self._lock = threading.Lock()

    def current(self) -> Tuning | None:
        """The stored tuning, or None when there is none."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        seen = (stat.st_mtime, stat.st_size)
        with self._lock:
            if seen != self._seen:
                self._tuning, self._seen = load_tuning(self.path), seen
            return self._tuning


def save_tuning(path: Path, tuning: Tuning) -> None:
    """Write the tuning (a temporary file renamed, so a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(tuning.to_json(), indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def load_tuning(path: Path) -> Tuning | None:
    """The stored tuning, or None when there is none, it is of another version or it cannot
    be read (logged: searches then keep the rules rather than fail). A bucket whose weights its
    fusion cannot take (negative, or not whole numbers up to DBSF_MAX_WEIGHT for DBSF) is
    left out."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("tuning %s is unreadable (%s): hybrid search keeps the rules", path, exc)
        return None
    try:
        return _parsed(raw, path)
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("tuning %s is malformed (%s): hybrid search keeps the rules", path, exc)
        return None


def _parsed(raw: Any, path: Path) -> Tuning | None:
    if not isinstance(raw, dict) or raw.get("version") != TUNING_VERSION:
        return None
    fusions = {str(b): str(f) for b, f in dict(raw.get("fusions", {})).items()}
    weights = {}
    for name, listed in dict(raw.get("weights", {})).items():
        chosen = {str(s): float(w) for s, w in dict(listed).items()}
        fusion = fusions.get(name, "rrf")
        takes = fusion in FUSIONS and all(
            math.isfinite(w) and w >= 0 and (fusion == "rrf" or dbsf_weight(w))
            for w in chosen.values()
        )
        if name in BUCKETS and takes and any(chosen.values()):
            weights[str(name)] = chosen
        else:
            log.warning(
                "tuning %s: bucket %r left out (weights %s for %s)", path, name, chosen, fusion
            )
    return Tuning(
        weights=weights,
        fusions={b: f for b, f in fusions.items() if b in weights},
        collection=dict(raw.get("collection", {})),
        fitted_on=dict(raw.get("fitted_on", {})),
    )
