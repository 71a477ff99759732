"""Property-based tests (hypothesis) of the parsers that meet untrusted text: catalog files,
catalog rows and search parameters. Whatever the input, the answer is a row, a reported
error naming its line, or InvalidRequest: never another exception, a lost row or a merged one.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from backend.errors import InvalidCatalogRow, InvalidRequest
from backend.search.params import (
    check_known,
    parse_diversity,
    parse_facets,
    parse_filters,
    parse_fusion,
    parse_mode,
    parse_page,
)
from loaders.rows import RowFormatError
from loaders.sources import read_catalog
from loaders.validate import parse_row

COLUMNS = ["sku", "title", "description", "price", "stock", "in_stock", "keywords", "attr_size"]
cells = st.text(st.characters(codec="utf-8"), max_size=40)
rows = st.lists(st.fixed_dictionaries({c: cells for c in COLUMNS}), min_size=1, max_size=8)
files = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])


def csv_text(table: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue()


@files
@given(table=rows)
def test_a_csv_any_writer_makes_reads_back_row_for_row(tmp_path, table):
    path = tmp_path / "catalog.csv"
    path.write_text(csv_text(table), encoding="utf-8")
    items = list(read_catalog(path))
    assert len(items) == len(table)  # nothing dropped, merged or invented
    for item, row in zip(items, table, strict=True):
        if isinstance(item, RowFormatError):  # only text a catalog cannot hold
            assert "control character" in item.reason or "surrogate" in item.reason
        else:
            assert item[1] == row


@files
@given(data=st.binary(max_size=400))
def test_any_bytes_give_rows_or_errors_with_lines(tmp_path, data):
    path = tmp_path / "catalog.csv"
    path.write_bytes(b"sku,title\n" + data)
    lines = data.count(b"\n") + data.count(b"\r") + 2
    for item in read_catalog(path):
        line = item.line if isinstance(item, RowFormatError) else item[0]
        assert 2 <= line <= lines


@files
@given(table=rows)
def test_jsonl_rows_read_back_one_per_line(tmp_path, table):
    path = tmp_path / "catalog.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in table), encoding="utf-8")
    items = list(read_catalog(path))
    assert [i.line if isinstance(i, RowFormatError) else i[0] for i in items] == list(
        range(1, len(table) + 1)
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | cells,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(cells, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300)
@given(row=st.dictionaries(st.sampled_from([*COLUMNS, "currency", "image"]), json_values))
def test_a_row_is_a_product_or_an_invalid_row_error(row):
    try:
        parsed = parse_row(7, row, default_currency="USD")
    except InvalidCatalogRow as exc:
        assert exc.line == 7 and exc.message
        return
    product = parsed.product
    assert product.sku and product.title and not product.sku.startswith(("=", "+", "-", "@"))
    assert product.price is None or product.price >= 0


params = st.dictionaries(
    st.sampled_from(
        ["category", "brand", "price_min", "price_max", "in_stock", "limit", "offset", "mode"]
        + ["fusion", "weights", "diversity", "facets", "colour"]
    ),
    st.lists(cells, min_size=1, max_size=3),
)


@settings(max_examples=400)
@given(raw=params)
def test_search_parameters_parse_or_raise_invalid_request(raw):
    args = MultiDict([(key, value) for key, values in raw.items() for value in values])
    try:
        check_known(args, {"category", "brand", "price_min", "price_max", "in_stock", "limit"})
        filters = parse_filters(args)
        limit, offset = parse_page(args)
        parse_mode(args)
        parse_fusion(args)
        diversity = parse_diversity(args)
        parse_facets(args)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.message
        return
    assert 1 <= limit <= 100 and 0 <= offset <= 10_000 and 0 <= diversity <= 1
    if filters.price_min is not None and filters.price_max is not None:
        assert filters.price_min <= filters.price_max


def test_a_field_name_that_is_not_text_is_named_in_the_error():
    # Found by the schemathesis run: a multipart field whose name werkzeug reads as None.
    with pytest.raises(InvalidRequest, match="unknown form field None"):
        check_known([None, "mode"], {"mode"}, what="form field")
