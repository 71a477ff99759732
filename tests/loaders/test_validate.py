"""Row validation: what a spreadsheet or the database would misread is refused with a reason."""

from __future__ import annotations

import pytest

from backend.errors import InvalidCatalogRow
from loaders.validate import parse_row


@pytest.mark.parametrize("sku", ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)"])
def test_a_sku_a_spreadsheet_would_run_as_a_formula_is_refused(sku):
    with pytest.raises(InvalidCatalogRow, match="spreadsheet .* formula") as caught:
        parse_row(4, {"sku": sku, "title": "Mug"}, default_currency="USD")
    assert caught.value.line == 4


def test_skus_with_signs_inside_are_fine():
    parsed = parse_row(2, {"sku": "MUG-1=A+B@C", "title": "Mug"}, default_currency="USD")
    assert parsed.product.sku == "MUG-1=A+B@C"


def test_a_source_id_longer_than_the_catalog_keeps_is_refused():
    # PostgreSQL would refuse it in the middle of a batch; SQLite would keep it silently.
    with pytest.raises(InvalidCatalogRow, match="source_id is longer than 128"):
        parse_row(2, {"sku": "A", "title": "Mug", "source_id": "x" * 129}, default_currency="USD")
