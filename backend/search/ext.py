"""Flask wiring of search: the deployment's fusion, signal weights, query glossary and the
cache of recent queries' vectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app

from backend.encoders.ext import get_encoders_of
from backend.encoders.registry import glossary_from_settings
from backend.errors import ConfigurationError, InvalidRequest
from backend.search.query_cache import QueryVectors
from backend.search.service import HeadCoverage
from backend.search.signals import check_weights, parse_weights
from backend.search.translate import Glossary
from backend.search.tuning import TuningFile, tuning_path

EXTENSION = "vitrine_search"


@dataclass(frozen=True)
class SearchDefaults:
    """How this deployment searches unless a request says otherwise."""

    fusion: str
    weights: Mapping[str, float]
    candidates: int
    glossary: Glossary | None
    coverage: HeadCoverage  # how much of the index the fusion head knows, shared by searches
    tuning: TuningFile  # the weights ``vitrine tune`` fitted on this catalog, if any
    query_vectors: QueryVectors  # recent queries' vectors, shared by searches


def init_app(app: Flask) -> None:
    """Read the search settings once; a bad ``VITRINE_HYBRID_WEIGHTS`` stops the start."""
    settings = app.config["VITRINE_SETTINGS"]
    try:
        weights = parse_weights(settings.hybrid_weights, source="VITRINE_HYBRID_WEIGHTS")
        check_weights(settings.hybrid_fusion, weights, source="VITRINE_HYBRID_WEIGHTS")
    except InvalidRequest as exc:
        raise ConfigurationError(exc.message) from None
    text, _ = get_encoders_of(app)
    app.extensions[EXTENSION] = SearchDefaults(
        fusion=settings.hybrid_fusion,
        weights=weights,
        candidates=settings.search_candidates,
        glossary=glossary_from_settings(settings, text),
        coverage=HeadCoverage(),
        tuning=TuningFile(tuning_path(settings)),
        query_vectors=QueryVectors(settings.query_cache),
    )


def get_search_defaults() -> SearchDefaults:
    """The current app's search defaults."""
    defaults: SearchDefaults = current_app.extensions[EXTENSION]
    return defaults
