"""Catalog sources: CSV and JSONL files as (line number, raw row) pairs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backend.errors import InvalidRequest

RawRow = dict[str, Any]


class RowFormatError(Exception):
    """A line that is not a row at all (bad JSON); carries its line number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def read_catalog(path: Path) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    """Rows of a .csv (header line 1) or .jsonl/.ndjson file, numbered by their first line."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    raise InvalidRequest(
        f"{path.name}: a catalog must be .csv or .jsonl, not {suffix or 'no suffix'}"
    )


def _read_csv(path: Path) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise InvalidRequest(f"{path.name}: the CSV has no header line")
        line = reader.line_num + 1
        try:
            for row in reader:
                extra = row.pop(None, None)
                if extra:
                    yield RowFormatError(line, f"{len(extra)} more values than header columns")
                else:
                    yield line, {k.strip(): v for k, v in row.items() if k is not None}
                line = reader.line_num + 1
        except csv.Error as exc:  # the reader cannot go on (a field over csv's size limit)
            yield RowFormatError(line, f"{exc}; the rows after it were not read")


def _read_jsonl(path: Path) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowFormatError(line, f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(row, dict):
                yield RowFormatError(line, "a JSONL row must be a JSON object")
                continue
            yield line, row
