"""Catalog sources: CSV and JSONL files as (line number, raw row) pairs.

A CSV exported by Magento 2 or Shopify is read as native rows (``loaders.exports``).

Every row of a file is yielded, as a row or as a ``RowFormatError`` with its line: a byte
that is not UTF-8, a control character or a stray quote is that row's error, and the rows
after it are read as usual.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from backend.errors import InvalidRequest
from loaders import exports
from loaders.rows import RawRow, RowFormatError

# A description may be long (csv's default limit is 128 KiB, past which it stops reading);
# uploads are bounded by their own size limit long before this.
FIELD_MAX = 64 * 2**20
csv.field_size_limit(FIELD_MAX)
# Surrogates (bytes that are not UTF-8, as ``errors="surrogateescape"`` reads them, or a
# JSON ``\udXXX`` escape) and control characters other than tab and line breaks: a row holding
# either is reported, not stored.
_NOT_UNICODE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    # strict: a stray quote is that row's error, not a field that swallows the rows after it.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle, strict=True)
        columns = _header(path, reader)
        rows = _csv_rows(reader, columns)
        kind = exports.export_format(columns)
        yield from exports.native_rows(kind, rows) if kind else rows


def _header(path: Path, reader: Any) -> list[str]:
    try:
        columns = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise InvalidRequest(f"{path.name}: the header line is not valid CSV ({exc})") from None
    if not any(columns):
        raise InvalidRequest(f"{path.name}: the CSV has no header line")
    if (problem := text_problem(dict(zip(columns, columns, strict=True)))) is not None:
        raise InvalidRequest(f"{path.name}: the header line {problem}")
    return columns


def _csv_rows(reader: Any, columns: list[str]) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            error = _csv_error(line, reader.line_num, str(exc))
            yield error
            if error.fatal:
                return
            continue
        if not values:  # a blank line
            continue
        if len(values) > len(columns):
            more = len(values) - len(columns)
            yield RowFormatError(line, f"{more} more values than header columns")
            continue
        row: RawRow = dict(zip(columns, values, strict=False))
        row.update((name, None) for name in columns[len(values) :])
        if (problem := text_problem(row)) is not None:
            yield RowFormatError(line, problem, sku=_clean_sku(row))
            continue
        yield line, row


def _csv_error(line: int, last: int, message: str) -> RowFormatError:
    """The row starting on ``line`` (the reader stopped on ``last``) as a reported error."""
    if "unexpected end of data" in message:
        return RowFormatError(
            line,
            f"a quoted field opened on line {line} is never closed: lines {line}-{last} were "
            "read as one row and not stored; close the quote and load them again",
            fatal=True,
        )
    if "field larger than field limit" in message:
        return RowFormatError(
            line,
            f"a field is larger than {FIELD_MAX // 2**20} MiB: this row and the rows after it "
            f"(from line {line} to the end) were not read",
            fatal=True,
        )
    return RowFormatError(line, f"not valid CSV ({message})")


def text_problem(row: RawRow) -> str | None:
    """Why a row's text cannot be stored (bytes that are not UTF-8, control characters), or
    None; the first offending column is named."""
    for column, value in row.items():
        for text in _strings(value):
            if bad := _NOT_UNICODE.search(text):
                code = ord(bad.group())
                if 0xDC80 <= code <= 0xDCFF:  # where surrogateescape keeps a byte
                    return f"column {column!r} is not UTF-8 text (byte 0x{code - 0xDC00:02X})"
                return f"column {column!r} holds a lone surrogate (U+{code:04X}), not text"
            if bad := _CONTROL.search(text):
                name = unicodedata.name(bad.group(), f"U+{ord(bad.group()):04X}")
                return f"column {column!r} holds a control character ({name})"
    return None


def _clean_sku(row: RawRow) -> str | None:
    """The row's sku for its error report, unless the sku itself is what is wrong."""
    sku = row.get("sku")
    if not isinstance(sku, str) or text_problem({"sku": sku}) is not None:
        return None
    return sku.strip() or None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a raw value (JSONL values may be lists or objects)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _read_jsonl(path: Path) -> Iterator[tuple[int, RawRow] | RowFormatError]:
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
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
            if (problem := text_problem(row)) is not None:
                yield RowFormatError(line, problem, sku=_clean_sku(row))
                continue
            yield line, row
