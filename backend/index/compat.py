"""What a collection was built with, recorded beside it, and the checks made when it is used.

Both adapters store the same small record (vector names, sizes, encoder names) with their
collection, compare it with the settings' ``CollectionSpec`` on ``ensure_collection``, check
vectors against it, and word the same messages for a mismatch or a folder held elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.errors import IndexConfigMismatch
from backend.index.port import CollectionSpec, SparseVector, Vector

RECORD_VERSION = 1

# Vector names whose encoder the user picks with an environment variable.
_ENCODER_SETTINGS = {"text": "VITRINE_TEXT_ENCODER", "image": "VITRINE_IMAGE_ENCODER"}


def spec_record(spec: CollectionSpec) -> dict[str, Any]:
    """The JSON-able record of ``spec`` kept with the collection."""
    return {
        "version": RECORD_VERSION,
        "dense": {name: int(size) for name, size in sorted(spec.dense.items())},
        "encoders": {name: str(enc) for name, enc in sorted(spec.encoders.items())},
        "sparse": sorted(spec.sparse),
        "multi": sorted(spec.multi),
    }


def spec_from_record(record: Mapping[str, Any]) -> CollectionSpec:
    """The spec a stored record describes (inverse of ``spec_record``)."""
    return CollectionSpec(
        dense={str(k): int(v) for k, v in dict(record.get("dense", {})).items()},
        encoders={str(k): str(v) for k, v in dict(record.get("encoders", {})).items()},
        sparse=tuple(str(s) for s in record.get("sparse", ())),
        multi=frozenset(str(m) for m in record.get("multi", ())),
    )


def describe(spec: CollectionSpec) -> str:
    """``text=minilm (384-d), image=efficientnet-lite0 (1280-d); sparse: keywords``."""
    names = sorted(set(spec.dense) | set(spec.encoders))
    parts = []
    for name in names:
        encoder = spec.encoders.get(name, "?")
        size = spec.dense.get(name)
        shape = f"{size}-d rows" if name in spec.multi else f"{size}-d"
        parts.append(f"{name}={encoder} ({shape})" if size is not None else f"{name}={encoder}")
    text = ", ".join(parts) or "no dense vectors"
    if spec.sparse:
        text += "; sparse: " + ", ".join(sorted(spec.sparse))
    return text


def check_compatible(stored: CollectionSpec, wanted: CollectionSpec, *, where: str) -> None:
    """Raise ``IndexConfigMismatch`` unless the stored collection serves ``wanted`` as is."""
    if (
        dict(stored.dense) == dict(wanted.dense)
        and dict(stored.encoders) == dict(wanted.encoders)
        and set(stored.sparse) == set(wanted.sparse)
        and set(stored.multi) == set(wanted.multi)
    ):
        return
    raise IndexConfigMismatch(mismatch_message(stored, wanted, where=where))


def mismatch_message(stored: CollectionSpec, wanted: CollectionSpec, *, where: str) -> str:
    """The message naming what the collection has, what settings ask for and what to do."""
    hints = [
        f"set {_ENCODER_SETTINGS[name]}={encoder}"
        for name, encoder in sorted(stored.encoders.items())
        if name in _ENCODER_SETTINGS and wanted.encoders.get(name) != encoder
    ]
    advice = "run `vitrine reindex` to rebuild it for the current settings"
    if hints:
        advice += ", or " + " and ".join(hints) + " to use it as it is"
    return (
        f"the vector index {where} was built with {describe(stored)}, "
        f"but the settings ask for {describe(wanted)}: {advice}"
    )


def missing_record_message(where: str, wanted: CollectionSpec) -> str:
    """The message for a collection that carries no Vitrine record at all."""
    return (
        f"the vector index {where} exists but has no record of the encoders that built it "
        f"(not created by Vitrine, or by a Qdrant server older than 1.16 that drops collection "
        f"metadata); the settings ask for {describe(wanted)}: run `vitrine reindex` to rebuild it"
    )


def dense_values(vector: Vector, name: str, spec: CollectionSpec | None) -> list[float]:
    """``vector`` as plain floats, after checking it fits the collection's vector ``name``.

    Raises ValueError for an unknown name or a wrong size, the same on both engines.
    """
    values: NDArray[np.float32] = np.asarray(vector, dtype=np.float32).ravel()
    if spec is not None:
        if name not in spec.dense:
            raise ValueError(f"the collection has no dense vector named {name!r}")
        if values.shape != (spec.dense[name],):
            raise ValueError(
                f"vector {name!r} has {values.size} dimensions, "
                f"the collection expects {spec.dense[name]}"
            )
    return [float(x) for x in values]


def vector_values(
    vector: Vector | NDArray[np.float32], name: str, spec: CollectionSpec | None
) -> list[float] | list[list[float]]:
    """``vector`` as the engine takes it for the vector ``name``: plain floats, or for a
    ``multi`` vector one list per row (a single vector, such as a query, is one row).

    Raises ValueError as ``dense_values`` does, and for a multi vector without rows.
    """
    if spec is None or name not in spec.multi:
        return dense_values(vector, name, spec)
    rows: NDArray[np.float32] = np.asarray(vector, dtype=np.float32)
    rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
    if rows.ndim != 2 or not len(rows):
        raise ValueError(f"vector {name!r} takes one or more rows of {spec.dense.get(name)} values")
    return [dense_values(row, name, spec) for row in rows]


def folder_in_use_message(path: Path | str) -> str:
    """The plain message for an index folder that another process holds."""
    return (
        f"the index at {path} is in use by another process (is `vitrine serve` running?): "
        "stop it, or send the catalog through the running server (admin upload)"
    )


def named_sparse(stored: Any, names: Sequence[str]) -> dict[str, SparseVector]:
    """The sparse vectors among an engine's stored vectors (both engines give objects with
    ``indices`` and ``values``), by name, for the names asked for."""
    if not names or not isinstance(stored, Mapping):
        return {}
    found: dict[str, Any] = {name: stored.get(name) for name in names}
    return {
        name: SparseVector(indices=list(v.indices), values=list(v.values))
        for name, v in found.items()
        if hasattr(v, "indices") and hasattr(v, "values")
    }
