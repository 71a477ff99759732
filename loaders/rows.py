"""What a catalog source yields: raw rows by line, or the line's error."""

from __future__ import annotations

from typing import Any

RawRow = dict[str, Any]


class RowFormatError(Exception):
    """A line that is not a row at all (bad JSON, bad CSV quoting, bytes that are not UTF-8);
    carries its line number. ``fatal``: the rest of the file could not be read after it."""

    def __init__(
        self, line: int, reason: str, *, sku: str | None = None, fatal: bool = False
    ) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason
        self.sku = sku
        self.fatal = fatal
