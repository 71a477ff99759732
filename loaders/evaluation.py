"""The evaluation harness behind ``vitrine eval``: how well does search find the right products?

A catalog is loaded into a throwaway index (SQLite + Qdrant Edge in a temporary folder), each
labelled query of a JSONL file is run through the app's own ``SearchService`` in every mode,
and Recall@1/5/10, MRR and nDCG@10 are reported per task and mode (``loaders.metrics``).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean
from typing import Any

from PIL import Image

from backend.errors import InvalidRequest, VitrineError
from backend.index.port import Filters, point_id
from backend.media import decode_image
from backend.search.params import MAX_LIMIT, MODES
from backend.search.service import ModeUnavailable, SearchService
from backend.settings import Settings
from loaders.metrics import ndcg_at, recall_at, reciprocal_rank
from loaders.pipeline import LoadSummary, load_into

log = logging.getLogger(__name__)

DEFAULT_MODES = ("text", "image", "fused", "keyword", "multilingual", "names", "hybrid")
RECALL_CUTOFFS = (1, 5, 10)
NDCG_CUTOFF = 10
QUERY_KEYS = ("id", "task", "text", "image", "relevant", "filters")
FILTER_KEYS = ("category", "brand", "price_min", "price_max", "in_stock")
NO_FILTERS = Filters()


class InvalidQuery(InvalidRequest):
    """A line of the queries file that cannot be run; the message names the file and line."""

    code = "invalid_query"

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.line = line


@dataclass(frozen=True)
class EvalQuery:
    """One labelled query: exactly one of ``text`` and ``image``, and the skus it should find
    (``grades``: each relevant sku's grade, 1 unless the file grades them)."""

    id: str
    task: str
    relevant: tuple[str, ...]
    line: int
    text: str | None = None
    image: Path | None = None
    filters: Filters = NO_FILTERS
    grades: Mapping[str, float] = field(default_factory=dict)

    def graded(self) -> Mapping[str, float]:
        """Each relevant sku's grade."""
        return {sku: self.grades.get(sku, 1.0) for sku in self.relevant}


@dataclass(frozen=True)
class QuerySet:
    """The queries of one file, in file order."""

    path: Path
    queries: tuple[EvalQuery, ...]

    def relevant_skus(self) -> set[str]:
        """Every sku some query counts as relevant."""
        return {sku for query in self.queries for sku in query.relevant}


class _Bad(Exception):
    """Why a query line is refused (turned into InvalidQuery with its line number)."""


def read_queries(path: Path, *, settings: Settings) -> QuerySet:
    """Parse and check a queries file (JSONL); the first bad line raises ``InvalidQuery``.

    Image paths are relative to the file's folder (or absolute); each picture is decoded now,
    with the upload limits of ``settings``, so a bad one stops the run before any loading.
    """
    queries: list[EvalQuery] = []
    first_line: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VitrineError(f"cannot read the queries file {path}: {exc}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            query = _parse_query(number, raw, base=path.parent, settings=settings)
        except _Bad as exc:
            raise InvalidQuery(path, number, str(exc)) from None
        if query.id in first_line:
            raise InvalidQuery(
                path, number, f"duplicate id {query.id!r}: already on line {first_line[query.id]}"
            )
        first_line[query.id] = number
        queries.append(query)
    if not queries:
        raise VitrineError(f"the queries file {path} holds no queries")
    return QuerySet(path, tuple(queries))


def _parse_query(line: int, raw: str, *, base: Path, settings: Settings) -> EvalQuery:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _Bad(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(item, dict):
        raise _Bad("a query must be a JSON object")
    unknown = sorted(set(item) - set(QUERY_KEYS))
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r}; a query has {', '.join(QUERY_KEYS)}")
    query_id = _name(item, "id")
    task = _name(item, "task")
    relevant, grades = _relevant(item.get("relevant"))
    filters = _parse_filters(item.get("filters", {}))
    text, image = item.get("text"), item.get("image")
    if (text is None) == (image is None):
        raise _Bad("a query has exactly one of text and image")
    picture: Path | None = None
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise _Bad("text must be a non-empty string")
        text = text.strip()
    else:
        if not isinstance(image, str) or not image.strip():
            raise _Bad("image must be a path (a non-empty string)")
        picture = base / Path(image).expanduser()
        try:
            load_picture(picture, settings=settings)
        except OSError as exc:
            raise _Bad(f"image {image!r} cannot be read: {exc.strerror or exc}") from None
        except VitrineError as exc:
            raise _Bad(exc.message) from None
    return EvalQuery(
        id=query_id,
        task=task,
        relevant=relevant,
        line=line,
        text=text,
        image=picture,
        filters=filters,
        grades=grades,
    )


def _relevant(raw: object) -> tuple[tuple[str, ...], dict[str, float]]:
    """A list of skus (grade 1 each), or an object of sku to grade (a positive number)."""
    if isinstance(raw, dict) and raw:
        if not all(_is_sku(sku) for sku in raw):
            raise _Bad("relevant must hold skus (non-empty strings)")
        grades = {}
        for sku, grade in raw.items():
            if isinstance(grade, bool) or not isinstance(grade, int | float) or not grade > 0:
                raise _Bad(f"the grade of {sku!r} must be a positive number, not {grade!r}")
            grades[str(sku).strip()] = float(grade)
        return tuple(grades), grades
    if not isinstance(raw, list) or not raw:
        raise _Bad("relevant must be a non-empty list of skus or an object of sku to grade")
    if not all(_is_sku(sku) for sku in raw):
        raise _Bad("relevant must hold skus (non-empty strings)")
    return tuple(dict.fromkeys(str(sku).strip() for sku in raw)), {}


def _name(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{key} must be a non-empty string")
    return value.strip()


def _is_sku(value: object) -> bool:
    # Numeric skus are common in JSON written by other tools; they name the same product.
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_filters(raw: object) -> Filters:
    if not isinstance(raw, dict):
        raise _Bad(f"filters must be an object with keys among {', '.join(FILTER_KEYS)}")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise _Bad(f"unknown filter {unknown[0]!r}; filters are {', '.join(FILTER_KEYS)}")
    price_min = _price(raw, "price_min")
    price_max = _price(raw, "price_max")
    if price_min is not None and price_max is not None and price_min > price_max:
        raise _Bad(f"price_min ({price_min:g}) is greater than price_max ({price_max:g})")
    in_stock = raw.get("in_stock")
    if in_stock is not None and not isinstance(in_stock, bool):
        raise _Bad("in_stock must be true or false")
    return Filters(
        categories=_any_of(raw, "category"),
        brands=_any_of(raw, "brand"),
        price_min=price_min,
        price_max=price_max,
        in_stock=in_stock,
    )


def _any_of(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise _Bad(f"{key} must be a string or a list of strings")
    return tuple(dict.fromkeys(v.strip() for v in values))


def _price(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key} must be a number")
    if not math.isfinite(value) or value < 0:
        raise _Bad(f"{key} must be a non-negative number, not {value}")
    return float(value)


def load_picture(path: Path, *, settings: Settings) -> Image.Image:
    """A query picture, decoded with the same checks as an upload to ``/api/search/image``."""
    decoded = decode_image(
        path.read_bytes(),
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        name=f"image {path.name!r}",
    )
    return decoded.image


@dataclass(frozen=True)
class LoadedCatalog:
    """A catalog loaded into a throwaway index, and the app's search service over it."""

    catalog: Path
    settings: Settings  # the throwaway deployment's
    summary: LoadSummary
    service: SearchService

    def encoders(self) -> dict[str, str]:
        """What built each vector, as the collection records it: the encoders with the text
        vector's recipe (``minilm+wordnet-3.0``), the fusion head and the multilingual encoder."""
        info = self.service.index.info()
        if info is not None:
            return dict(info.spec.encoders)
        return {"text": self.service.text_encoder.name, "image": self.service.image_encoder.name}

    def missing(self, skus: Iterable[str]) -> list[str]:
        """The skus that are not in the index (sorted)."""
        wanted = sorted(set(skus))
        found = self.service.index.retrieve([point_id(sku) for sku in wanted])
        present = {str(point.payload.get("sku")) for point in found}
        return [sku for sku in wanted if sku not in present]


def throwaway_settings(settings: Settings, var_dir: Path) -> Settings:
    """The deployment's settings moved into ``var_dir``: SQLite and Qdrant Edge there.

    Encoders, runtimes, limits and the model cache stay, so exported models are reused.
    """
    return settings.with_(
        var_dir=var_dir,
        database_url="",
        index_backend="edge",
        qdrant_path=None,
        qdrant_url=None,
        qdrant_api_key=None,
        media_dir=None,
        model_cache_dir=settings.model_cache_dir,
    )


@contextmanager
def loaded_catalog(
    settings: Settings,
    catalog_path: Path,
    images_path: Path | None,
    *,
    progress: Callable[[int], object] | None = None,
) -> Iterator[LoadedCatalog]:
    """Load the catalog into a temporary folder and yield the search service the app builds.

    The service comes from ``backend.api.results.search_service`` inside an app made by
    ``create_app``, so it is the HTTP routes' search path; the folder is deleted on exit.
    """
    with tempfile.TemporaryDirectory(prefix="vitrine-eval-") as folder:
        scratch = throwaway_settings(settings, Path(folder) / "var")
        summary = load_into(scratch, catalog_path, images_path, progress=progress)
        with app_search(scratch) as service:
            yield LoadedCatalog(catalog_path, scratch, summary, service)


@contextmanager
def app_search(settings: Settings) -> Iterator[SearchService]:
    """The search service of the app ``create_app`` makes for these settings (the HTTP
    routes' search path, without the cache of recent queries' vectors, so that each query's
    time includes its encoding and modes do not share it), its index and database closed on
    exit."""
    from backend.api.results import search_service
    from backend.app import create_app
    from backend.catalog.db import get_catalog

    app = create_app(settings)
    try:
        with app.app_context():
            service = replace(search_service(), query_vectors=None)
        yield service
    finally:
        app.extensions["vitrine_index"].close()
        get_catalog(app).engine.dispose()


class UnsoundEvaluation(VitrineError):
    """The loaded catalog cannot answer the queries: nothing loaded, or most relevant skus
    missing. Scores would measure the load's failure, not search."""

    code = "unsound_evaluation"


# Past this share of relevant skus missing from the loaded catalog, scores say nothing.
MISSING_LIMIT = 0.5


def with_tuning(loaded: LoadedCatalog, path: Path) -> LoadedCatalog:
    """The loaded catalog searched with the weights stored at ``path`` (``vitrine tune``);
    UnsoundEvaluation when they were fitted on a collection of other encoders."""
    from backend.index.compat import spec_record
    from backend.search.tuning import load_tuning

    tuning = load_tuning(path)
    info = loaded.service.index.info()
    if tuning is None:
        raise UnsoundEvaluation(f"{path} holds no tuning this version of Vitrine reads")
    if info is None or not tuning.fits(spec_record(info.spec)):
        raise UnsoundEvaluation(
            f"{path} was fitted on a collection with other encoders than this one's"
        )
    return replace(loaded, service=replace(loaded.service, tuning=tuning))


def check_coverage(loaded: LoadedCatalog, query_set: QuerySet) -> list[str]:
    """The relevant skus the loaded catalog lacks (a warning's worth), or raise
    ``UnsoundEvaluation`` when it indexed nothing or lacks most of them."""
    summary = loaded.summary
    if summary.indexed == 0 and summary.created + summary.updated + summary.unchanged == 0:
        first = summary.errors[0] if summary.errors else None
        why = f" (line {first.line}: {first.reason})" if first is not None else ""
        raise UnsoundEvaluation(
            f"{loaded.catalog}: no product loaded, {summary.failed} row(s) rejected{why}; "
            "there is nothing to evaluate"
        )
    relevant = query_set.relevant_skus()
    missing = loaded.missing(relevant)
    if len(missing) > MISSING_LIMIT * len(relevant):
        raise UnsoundEvaluation(
            f"{len(missing)} of the {len(relevant)} relevant skus of {query_set.path} are not in "
            f"the loaded catalog {loaded.catalog} (e.g. {', '.join(missing[:3])}): is it the "
            "catalog these queries were written for?"
        )
    return missing


def missing_warning(missing: Sequence[str], *, shown: int = 5) -> str:
    """The one warning about relevant skus the loaded catalog lacks."""
    names = ", ".join(missing[:shown]) + (", …" if len(missing) > shown else "")
    return (
        f"{len(missing)} relevant sku(s) of the queries are not in the loaded catalog "
        f"(a row may have failed to load); they count as misses: {names}"
    )


@dataclass(frozen=True)
class Scores:
    """One task in one mode, averaged over its queries; a cutoff deeper than k is None."""

    n: int
    recall: Mapping[int, float | None]
    mrr: float
    ndcg: float | None
    latency_ms: float

    def to_json(self) -> dict[str, float | int | None]:
        """``{"n", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "latency_ms"}``."""
        return {
            "n": self.n,
            **{f"recall@{cutoff}": value for cutoff, value in self.recall.items()},
            "mrr": self.mrr,
            f"ndcg@{NDCG_CUTOFF}": self.ndcg,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class Report:
    """Scores per task and mode; None where the deployment cannot answer that mode."""

    catalog: str
    queries: str
    encoders: Mapping[str, str]
    k: int
    results: Mapping[str, Mapping[str, Scores | None]]
    counts: Mapping[str, int] = field(default_factory=dict)  # queries per task

    def to_json(self) -> dict[str, Any]:
        """The report as written by ``vitrine eval --out``."""
        return {
            "catalog": self.catalog,
            "queries": self.queries,
            "encoders": dict(self.encoders),
            "k": self.k,
            "results": {
                task: {mode: s.to_json() if s else None for mode, s in modes.items()}
                for task, modes in self.results.items()
            },
        }

    def table(self) -> str:
        """A plain-text table: one row per task and mode, "n/a" for modes not available."""
        head = ["task", "mode", "n", *(f"R@{c}" for c in RECALL_CUTOFFS), "MRR"]
        head += [f"nDCG@{NDCG_CUTOFF}", "ms/query"]
        rows = [head]
        for task, modes in self.results.items():
            for mode, scores in modes.items():
                if scores is None:
                    rows.append([task, mode, str(self.counts.get(task, "")), "n/a"])
                    continue
                values = [*scores.recall.values(), scores.mrr, scores.ndcg]
                rows.append(
                    [task, mode, str(scores.n), *(_cell(v) for v in values)]
                    + [f"{scores.latency_ms:.1f}"]
                )
        widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(head))]
        lines = []
        for row in rows:
            cells = [
                cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@dataclass
class _Runs:
    """Per-query measurements of one task in one mode."""

    ranked: list[list[str]] = field(default_factory=list)
    relevant: list[Mapping[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def scores(self, k: int) -> Scores:
        pairs = list(zip(self.ranked, self.relevant, strict=True))
        return Scores(
            n=len(pairs),
            recall={
                c: fmean(recall_at(r, rel, c) for r, rel in pairs) if c <= k else None
                for c in RECALL_CUTOFFS
            },
            mrr=fmean(reciprocal_rank(r, rel) for r, rel in pairs),
            ndcg=fmean(ndcg_at(r, rel, NDCG_CUTOFF) for r, rel in pairs)
            if NDCG_CUTOFF <= k
            else None,
            latency_ms=1000 * fmean(self.seconds),
        )


def run_queries(
    loaded: LoadedCatalog,
    query_set: QuerySet,
    *,
    modes: Sequence[str] = DEFAULT_MODES,
    k: int = 10,
    progress: Callable[[int], object] | None = None,
) -> Report:
    """Run every query in every mode (k results each) and score each task and mode."""
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise InvalidRequest(f"modes must be among {', '.join(MODES)}, not {unknown or 'none'}")
    if not 1 <= k <= MAX_LIMIT:
        raise InvalidRequest(f"k must be between 1 and {MAX_LIMIT}, not {k}")
    service = loaded.service
    _warm_up(loaded, query_set)
    runs: dict[str, dict[str, _Runs]] = {}
    counts: dict[str, int] = {}
    unavailable: set[tuple[str, str]] = set()
    for query in query_set.queries:
        counts[query.task] = counts.get(query.task, 0) + 1
        by_mode = runs.setdefault(query.task, {mode: _Runs() for mode in modes})
        picture = load_picture(query.image, settings=loaded.settings) if query.image else None
        text, filters = query.text or "", query.filters
        for mode in modes:
            if (query.task, mode) in unavailable:
                continue
            started = time.perf_counter()
            try:
                if picture is not None:
                    hits = service.search_image(picture, mode=mode, filters=filters, limit=k)
                else:
                    hits = service.search_text(text, mode=mode, filters=filters, limit=k)
            except ModeUnavailable:
                # Scores over part of a task would not compare with the other modes' scores.
                unavailable.add((query.task, mode))
                continue
            elapsed = time.perf_counter() - started
            by_mode[mode].ranked.append([str(hit.payload["sku"]) for hit in hits])
            by_mode[mode].relevant.append(query.graded())
            by_mode[mode].seconds.append(elapsed)
        if progress is not None:
            progress(1)
    results = {
        task: {
            mode: None if (task, mode) in unavailable else task_runs[mode].scores(k)
            for mode in modes
        }
        for task, task_runs in runs.items()
    }
    return Report(
        catalog=str(loaded.catalog),
        queries=str(query_set.path),
        encoders=loaded.encoders(),
        k=k,
        results=results,
        counts=counts,
    )


def _warm_up(loaded: LoadedCatalog, query_set: QuerySet) -> None:
    """One untimed search per query kind, so model start-up is not counted as latency."""
    text = next((q.text for q in query_set.queries if q.text), None)
    image = next((q.image for q in query_set.queries if q.image), None)
    try:
        if text is not None:
            loaded.service.search_text(text, mode="text", limit=1)
        if image is not None:
            loaded.service.search_image(load_picture(image, settings=loaded.settings), limit=1)
    except ModeUnavailable:
        pass


def evaluate(
    settings: Settings,
    catalog_path: Path,
    images_path: Path | None,
    queries_path: Path,
    *,
    modes: Sequence[str] = DEFAULT_MODES,
    k: int = 10,
) -> Report:
    """Check the queries, load the catalog into a throwaway index, run and score the queries."""
    query_set = read_queries(queries_path, settings=settings)
    with loaded_catalog(settings, catalog_path, images_path) as loaded:
        missing = check_coverage(loaded, query_set)
        if missing:
            log.warning("%s", missing_warning(missing))
        return run_queries(loaded, query_set, modes=modes, k=k)
