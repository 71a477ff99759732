"""Reading catalog files: every row is either a row or an error on its line; no field size,
byte or quote makes the reader drop, merge or invent rows."""

from __future__ import annotations

import json

import pytest

from backend.errors import InvalidRequest
from loaders.rows import RowFormatError
from loaders.sources import read_catalog


def read(path):
    """(line, sku) for rows, (line, reason) for errors."""
    out = []
    for item in read_catalog(path):
        if isinstance(item, RowFormatError):
            out.append((item.line, f"error: {item.reason}"))
        else:
            out.append((item[0], item[1]["sku"]))
    return out


def write(tmp_path, data: bytes, name="catalog.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_field_over_csv_s_default_limit_keeps_every_row(tmp_path):
    rows = [f"S-{i},Item {i},short" for i in range(1, 8)]
    rows[2] = "S-3,Item 3," + "long description " * 12_000  # about 200 KiB
    path = write(tmp_path, ("sku,title,description\n" + "\n".join(rows) + "\n").encode())
    assert read(path) == [(i + 1, f"S-{i}") for i in range(1, 8)]
    third = [r for _, r in read_catalog(path)][2]
    assert len(third["description"]) > 128 * 1024


def test_a_byte_that_is_not_utf8_fails_its_row_only_and_names_the_column(tmp_path):
    path = write(tmp_path, b"sku,title\nA-1,Mug\nA-2,Caf\xe9\nA-3,Tea\n")
    assert read(path) == [
        (2, "A-1"),
        (3, "error: column 'title' is not UTF-8 text (byte 0xE9)"),
        (4, "A-3"),
    ]


def test_control_characters_fail_their_row(tmp_path):
    path = write(tmp_path, b"sku,title\nA-1,Mug\x00s\nA-2,Bell\x07\nA-3,Tab\tok\n")
    assert read(path) == [
        (2, "error: column 'title' holds a control character (U+0000)"),
        (3, "error: column 'title' holds a control character (U+0007)"),
        (4, "A-3"),
    ]


def test_an_unclosed_quote_is_reported_with_the_lines_it_swallowed(tmp_path):
    path = write(tmp_path, b'sku,title\nA-1,Mug\nA-2,"Tea\nA-3,Cup\nA-4,Pot\n')
    [first, error] = list(read_catalog(path))
    assert first == (2, {"sku": "A-1", "title": "Mug"})
    assert isinstance(error, RowFormatError) and error.line == 3
    assert "quoted field opened on line 3 is never closed: lines 3-5" in error.reason


def test_a_stray_quote_fails_its_row_and_the_next_rows_are_read(tmp_path):
    path = write(tmp_path, b'sku,title\nA-1,"Mug"s\nA-2,Tea\n')
    assert read(path) == [(2, "error: not valid CSV (',' expected after '\"')"), (3, "A-2")]


def test_multiline_quoted_fields_keep_the_row_s_first_line(tmp_path):
    path = write(tmp_path, b'sku,title,description\nA-1,Mug,"two\nlines"\n\nA-2,Tea,x\n')
    assert read(path) == [(2, "A-1"), (5, "A-2")]


def test_fewer_values_than_columns_leave_the_rest_empty_and_more_are_an_error(tmp_path):
    path = write(tmp_path, b"sku,title,brand\nA-1,Mug\nA-2,Tea,Acme,extra\n")
    items = list(read_catalog(path))
    assert items[0] == (2, {"sku": "A-1", "title": "Mug", "brand": None})
    assert items[1].reason == "1 more values than header columns"


def test_a_header_that_is_not_utf8_refuses_the_file(tmp_path):
    path = write(tmp_path, b"sku,t\xeftle\nA-1,Mug\n")
    with pytest.raises(InvalidRequest, match="header line column .* is not UTF-8"):
        list(read_catalog(path))


def test_jsonl_rows_with_bad_bytes_or_escapes_fail_alone(tmp_path):
    lines = [
        json.dumps({"sku": "J-1", "title": "Mug"}).encode(),
        b'{"sku": "J-2", "title": "Caf\xe9"}',
        json.dumps({"sku": "J-3", "title": "Tea", "attributes": {"note": "a\u0000b"}}).encode(),
        b'{"sku": "J-4", "title": "Lone \\ud800 surrogate"}',
        json.dumps({"sku": "J-5", "title": "Pot"}).encode(),
    ]
    path = write(tmp_path, b"\n".join(lines) + b"\n", name="catalog.jsonl")
    errors = [item for item in read_catalog(path) if isinstance(item, RowFormatError)]
    assert [(e.line, e.sku, e.reason) for e in errors] == [
        (2, "J-2", "column 'title' is not UTF-8 text (byte 0xE9)"),
        (3, "J-3", "column 'attributes' holds a control character (U+0000)"),
        (4, "J-4", "column 'title' holds a lone surrogate (U+D800), not text"),
    ]
    assert [item[1]["sku"] for item in read_catalog(path) if isinstance(item, tuple)] == [
        "J-1",
        "J-5",
    ]
