"""Recommendation route: products like the ones a shopper liked, unlike the ones they skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint

from backend.api.guards import json_body
from backend.api.results import search_facets, search_response, search_service
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.errors import InvalidRequest, ProductNotFound
from backend.index.port import Filters, point_id
from backend.search.params import (
    FILTER_PARAMS,
    PAGE_PARAMS,
    check_known,
    parse_diversity,
    parse_facets,
    parse_filters,
    parse_page,
)
from backend.search.recommend import check_examples, recommend, vectors_for

bp = Blueprint("recommend", __name__, url_prefix="/api/recommend")

FIELDS = {"positive", "negative", "filters", "diversity", "facets"} | PAGE_PARAMS


@dataclass(frozen=True)
class RecommendRequest:
    """A checked recommend body."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    filters: Filters
    limit: int
    offset: int
    diversity: float
    facets: bool


@bp.post("")
def recommend_products() -> dict[str, Any]:
    """``POST /api/recommend`` with JSON ``{"positive": [sku], "negative": [sku], "filters":
    {...}, "limit", "offset", "diversity", "facets"}``."""
    wanted = parse_body(json_body())
    examples = (*wanted.positive, *wanted.negative)
    found = catalog.get_products(session=get_session(), skus=list(examples))
    for sku in examples:
        if sku not in found:
            raise ProductNotFound(sku)
    service = search_service()
    using = vectors_for(service)  # once: the answer names the vectors the query compared
    hits = recommend(
        service,
        positive=wanted.positive,
        negative=wanted.negative,
        filters=wanted.filters,
        limit=wanted.limit,
        offset=wanted.offset,
        diversity=wanted.diversity,
        using=using,
    )
    without_examples = replace(wanted.filters, exclude_ids=tuple(map(point_id, examples)))
    return search_response(
        hits,
        query={
            "positive": list(wanted.positive),
            "negative": list(wanted.negative),
            "diversity": wanted.diversity,
            "using": using,
        },
        filters=wanted.filters,
        limit=wanted.limit,
        offset=wanted.offset,
        facets=search_facets(without_examples, enabled=wanted.facets),
    )


def parse_body(body: object) -> RecommendRequest:
    """The recommend body, checked (InvalidRequest naming the field that is wrong)."""
    if not isinstance(body, dict):
        raise InvalidRequest('send a JSON object: {"positive": [sku, ...], ...}')
    check_known(body, FIELDS, what="field")
    positive = _skus(body, "positive")
    negative = _skus(body, "negative")
    check_examples(positive, negative)
    raw_filters = body.get("filters") or {}
    if not isinstance(raw_filters, dict):
        raise InvalidRequest("filters must be a JSON object")
    check_known(raw_filters, FILTER_PARAMS, what="filter")
    options = JsonArgs(body)
    limit, offset = parse_page(options)
    return RecommendRequest(
        positive=positive,
        negative=negative,
        filters=parse_filters(JsonArgs(raw_filters)),
        limit=limit,
        offset=offset,
        diversity=parse_diversity(options),
        facets=parse_facets(options),
    )


class JsonArgs:
    """A JSON object read like a query string, so that one set of rules (``params``) checks
    both: strings, numbers and booleans become their text; lists are repeated values."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def get(self, key: str, /) -> str | None:
        values = self.getlist(key)
        if len(values) > 1:
            raise InvalidRequest(f"{key} takes one value, not a list")
        return values[0] if values else None

    def getlist(self, key: str) -> list[str]:
        value = self._data.get(key)
        items = value if isinstance(value, list) else [] if value is None else [value]
        return [_text(key, item) for item in items]


def _text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidRequest(f"{key} must be a string, number or boolean, not {value!r}")


def _skus(body: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = body.get(field) or []
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise InvalidRequest(f"{field} must be a list of skus (strings)")
    return tuple(dict.fromkeys(s.strip() for s in value))
