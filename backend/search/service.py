"""The search path shared by the HTTP routes and the evaluation harness.

Each entry point encodes the query into a ``Plan`` (its signals and how they are fused),
searches each signal with the shopper's filters inside the engine, fuses the lists by RRF or
DBSF (``fuse``) and returns the page's hits; ``run_explained`` also says how each hit ranked
in each signal, from the same lists.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.encoders.multilingual import MultilingualEncoder
from backend.errors import InvalidRequest, NotFound
from backend.index.port import (
    DenseQuery,
    Filters,
    Hit,
    Mmr,
    SparseQuery,
    VectorIndex,
    point_id,
)
from backend.indexing import (
    FUSED_VECTOR,
    IMAGE_VECTOR,
    KEYWORDS_VECTOR,
    MULTILINGUAL_VECTOR,
    NAMES_VECTOR,
    TEXT_VECTOR,
)
from backend.search import keywords
from backend.search.fuse import by_score, fuse
from backend.search.query_cache import QueryVectors
from backend.search.signals import Plan, Signal, weighted
from backend.search.translate import Glossary
from backend.search.tuning import LONG_QUERY_WORDS, NAMING_COVERAGE, Tuning, bucket

SIMILAR_USING = ("text", "image", "fused")
IMAGE_MODES = ("image", "fused", "hybrid")
DEFAULT_IMAGE_MODE = "hybrid"
NO_FILTERS = Filters()
# Hybrid's choice of signals for a query without fitted weights (measured on data/eval,
# docs/benchmarks.md): a query of LONG_QUERY_WORDS words or more describes a product rather
# than naming it, and one whose typed terms the best keyword match carries at least this
# share (NAMING_COVERAGE) names it.
# Searches that choose their own signals (hybrid, a picture's hybrid, "more like this",
# recommendations) use the fused vector only while the head was trained on every indexed
# product: the fused vectors of products it never saw score low beside those of products it
# learnt, which buried them (docs/benchmarks.md: with 10% of a catalog new to the head, those
# products' MRR fell from 0.787 to 0.623 on pictures and 0.879 to 0.762 on English keywords).
# mode=fused, using=fused and weights that name it still use it.
HEAD_COVERAGE = 1.0
# A picture's hybrid search (DBSF) counts the image signal this many times and the fused one
# once: the head's picture queries are weaker than the image vector alone, and at equal
# weights they pulled hybrid below it. Chosen on OpenMoji drawings, not the held-out Noto set
# (docs/benchmarks.md).
PICTURE_IMAGE_WEIGHT = 2.0
COVERAGE_RECHECK_SECONDS = 30.0  # how often searches count the head's products in the index again
PAGE_SLACK = 10  # extra hits fetched to see whether scores tie across the page boundary
MAX_TIE_FETCH = 20_000
# Signals added after deployments could name weights: a search given weights uses them only
# when the weights name them.
LATER_SIGNALS = ("multilingual", "names")


class ModeUnavailable(InvalidRequest):
    """A mode the deployed models cannot answer yet (text to image needs the fusion head)."""

    code = "mode_unavailable"


@dataclass(frozen=True)
class Coverage:
    """How many of the indexed products a fusion head was trained on."""

    known: int
    points: int

    @property
    def share(self) -> float:
        """``known / points`` (1.0 for an empty index)."""
        return self.known / self.points if self.points else 1.0

    @property
    def enough(self) -> bool:
        """Whether searches that choose their own signals use the head (``HEAD_COVERAGE``)."""
        return self.share >= HEAD_COVERAGE


def _likeness(plan: Plan) -> DenseQuery | None:
    """The vector diversity measures relevance and likeness in: the first of the plan's dense
    signals with one vector a product (the names vectors have several), else its
    ``likeness``."""
    for signal in plan.signals:
        query = signal.query
        if isinstance(query, DenseQuery) and query.using != NAMES_VECTOR:
            return query
    return plan.likeness


class HeadCoverage:
    """How many of the indexed products a fusion head was trained on, kept between searches.

    Two exact counts in the engine: all points, and the points whose ids are not the head's
    products' (so a product swapped for another is seen, although the number of points stays
    the same). Counted again every ``COVERAGE_RECHECK_SECONDS`` at most, so searches rarely pay
    for it (at 100k points, 10 ms and 26 ms with a head of 5,000 products, on two cores). One
    per deployment (searches share it).
    """

    def __init__(self, recheck_seconds: float = COVERAGE_RECHECK_SECONDS) -> None:
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._key: tuple[int, str] | None = None  # the index and head counted
        self._coverage = Coverage(0, 0)
        self._checked = -math.inf
        self._head_ids: tuple[str, tuple[str, ...]] = ("", ())  # a head's name, its point ids

    def of(self, index: VectorIndex, head: FusionHead) -> Coverage | None:
        """The coverage, or None for a head that did not record its products."""
        if head.products is None:
            return None
        key, now = (id(index), head.name), time.monotonic()
        with self._lock:
            if self._key == key and now - self._checked < self._recheck:
                return self._coverage
            if self._head_ids[0] != head.name:
                self._head_ids = (head.name, tuple(point_id(sku) for sku in head.products))
            ids = self._head_ids[1]
        points = index.count()
        unknown = index.count(Filters(exclude_ids=ids)) if points else 0
        # A write between the two counts can make them disagree by its size; never below 0.
        coverage = Coverage(max(points - unknown, 0), points)
        with self._lock:
            self._key, self._coverage, self._checked = key, coverage, now
        return coverage


@dataclass(frozen=True)
class SignalRank:
    """Where a hit stood in one signal's own ranking (1 = first), and its score there."""

    rank: int
    score: float


@dataclass(frozen=True)
class SearchService:
    """Search over one index with one pair of encoders (and the fusion head and the
    multilingual encoder, if any).

    ``glossary`` (when set) turns Chinese queries into English words for the text and fused
    vectors, for a text encoder that reads only English; ``multilingual`` reads the query as
    typed, in any language; ``hybrid_fusion`` and ``weights`` are the deployment's defaults for
    combining signals, which a request may override.
    """

    index: VectorIndex
    text_encoder: TextEncoder
    image_encoder: ImageEncoder
    fusion: FusionHead | None = None
    candidates: int = 100
    glossary: Glossary | None = None
    hybrid_fusion: str = "dbsf"
    weights: Mapping[str, float] = field(default_factory=dict)
    multilingual: MultilingualEncoder | None = None
    coverage: HeadCoverage = field(default_factory=HeadCoverage)
    # Weights fitted on this catalog (``vitrine tune``), used while they fit the collection.
    tuning: Tuning | None = None
    # Recent queries' vectors, shared by the deployment's searches (None: encode every time).
    query_vectors: QueryVectors | None = None

    # -- one call from words or a picture to hits (the evaluation harness) ------------------

    def search_text(
        self,
        q: str,
        *,
        mode: str = "hybrid",
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Hit]:
        """Products for a shopper's words in the given mode (see ``plan_text``)."""
        return self.run(self.plan_text(q, mode=mode), filters=filters, limit=limit, offset=offset)

    def search_image(
        self,
        picture: Image.Image,
        *,
        mode: str = DEFAULT_IMAGE_MODE,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Hit]:
        """Products that look like the picture (see ``plan_image``)."""
        plan = self.plan_image(picture, mode=mode)
        return self.run(plan, filters=filters, limit=limit, offset=offset)

    # -- plans ---------------------------------------------------------------------------------

    def plan_text(
        self,
        q: str,
        *,
        mode: str = "hybrid",
        fusion: str | None = None,
        weights: Mapping[str, float] | None = None,
        diverse: bool = False,
    ) -> Plan:
        """The signals for a shopper's words (``diverse``: for a page that ``run`` re-ranks
        with diversity, which needs one vector a product even where hybrid chose keywords
        alone; the text vector then serves, ``Plan.likeness``).

        ``hybrid`` fuses the keyword, text and (with a fusion head) fused and (with a
        multilingual encoder) multilingual and names signals that suit the query (``_choose``;
        weights from the request or settings override the choice); ``fused`` compares the
        query with products' text and pictures through the head; ``multilingual`` reads it as
        typed, in any language, against products' whole text, and ``names`` against each of
        their names and keywords. A Chinese query meets an English-only encoder through its
        English gloss; the keyword signal matches the words as typed, and the gloss's words at
        half weight.
        """
        if mode == "image":
            raise ModeUnavailable(
                "mode=image takes a picture: POST it to /api/search/image; words reach "
                "products' pictures through mode=fused"
            )
        if mode == "fused":
            self._require_head("mode=fused")
        if mode in LATER_SIGNALS and self.multilingual is None:
            raise ModeUnavailable(
                f"mode={mode} needs the multilingual encoder, and this deployment runs "
                "without one (VITRINE_MULTILINGUAL=none)"
            )
        automatic = mode == "hybrid" and self._automatic(weights)
        english = self.glossary.english(q) if self.glossary is not None else None
        coverage = self.keyword_coverage(q) if automatic or english is not None else 0.0
        # A request naming another fusion than the fitted one gets the rules.
        fitted = self._fitted(q, coverage) if automatic else None
        if fitted is not None and fusion not in (None, fitted[2]):
            fitted = None
        english = self._regloss(q, english, coverage)
        names = {
            "hybrid": ["keywords", "text", "fused", "multilingual", "names"],
            "keyword": ["keywords"],
            "text": ["text"],
            "fused": ["fused"],
            "multilingual": ["multilingual"],
            "names": ["names"],
        }[mode]
        names = [n for n in names if self._has_signal(n)]
        why = None
        if automatic:
            left_out = self.head_left_out()
            if left_out is not None:
                names.remove("fused")
            choice = self._fitted_choice(names, *fitted) if fitted is not None else None
            if choice is not None:
                names, why, fusion, weights = choice
            else:
                names, why = self._choose(names, q, english=english, coverage=coverage)
            if left_out is not None:
                why = f"{why}; {left_out}"
        elif mode == "hybrid":
            # Weights that predate a signal keep their signals: it joins when named.
            named = {**self.weights, **(weights or {})}
            names = [n for n in names if n not in LATER_SIGNALS or n in named]
        signals = self._text_signals(names, q, english=english)
        plan = self._plan(
            signals,
            fusion=fusion,
            weights=weights,
            terms=tuple(keywords.query_terms(q, translated=english)),
            translated=english,
            why=why,
        )
        if mode == "hybrid" and (len(plan.signals) > 1 or _sku_like(q)):
            plan = self._exact_names_first(plan, q)
        if diverse and mode == "hybrid" and _likeness(plan) is None:
            (text,) = self._text_signals(["text"], q, english=english)
            assert isinstance(text.query, DenseQuery)
            plan = replace(plan, likeness=text.query)
        return plan

    def plan_image(
        self,
        picture: Image.Image,
        *,
        mode: str = DEFAULT_IMAGE_MODE,
        fusion: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Plan:
        """The signals for a picture: ``image`` compares pictures, ``fused`` the picture with
        products' text and pictures through the head, ``hybrid`` both."""
        if mode not in IMAGE_MODES:
            raise ModeUnavailable(
                f"mode={mode} needs words; a picture is searched with mode "
                + ", ".join(IMAGE_MODES)
            )
        if mode == "fused":
            self._require_head("mode=fused")
        features = self.image_encoder.encode([picture])
        signals: list[Signal] = []
        if mode in ("image", "hybrid"):
            signals.append(Signal("image", DenseQuery(features[0], IMAGE_VECTOR)))
        automatic = mode == "hybrid" and self._automatic(weights)
        left_out = self.head_left_out() if automatic else None
        if self.fusion is not None and mode in ("fused", "hybrid") and left_out is None:
            fused = self.fusion.image_query(features)[0]
            signals.append(Signal("fused", DenseQuery(fused, FUSED_VECTOR)))
        if automatic and len(signals) == 2 and (fusion or self.hybrid_fusion) == "dbsf":
            fusion, weights = "dbsf", {"image": PICTURE_IMAGE_WEIGHT}
        return self._plan(signals, fusion=fusion, weights=weights, why=left_out)

    def plan_similar(
        self,
        sku: str,
        *,
        using: str | None = None,
        fusion: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Plan:
        """The product's own vectors as queries: one, or text and image (and fused, with a
        head) fused. Run it with ``exclude(filters, sku)``."""
        if using is not None and using not in SIMILAR_USING:
            raise InvalidRequest(f"using must be one of {', '.join(SIMILAR_USING)}, not {using!r}")
        if using == "fused":
            self._require_head("using=fused")
        left_out = self.head_left_out() if using is None and self._automatic(weights) else None
        default = [TEXT_VECTOR, IMAGE_VECTOR]
        if self.fusion is not None and left_out is None:
            default.append(FUSED_VECTOR)
        names = [using] if using else default
        stored = self.index.retrieve([point_id(sku)], vectors=names)
        if not stored:
            raise NotFound(f"product {sku!r} is not in the search index yet")
        signals = [Signal(n, DenseQuery(v, n)) for n, v in stored[0].vectors.items()]
        if not signals:
            raise NotFound(f"product {sku!r} has no {using} vector to compare with")
        return self._plan(signals, fusion=fusion, weights=weights, why=left_out)

    # -- running and explaining -------------------------------------------------------------

    def run(
        self, plan: Plan, *, filters: Filters, limit: int, offset: int, diversity: float = 0.0
    ) -> list[Hit]:
        """The page ``offset .. offset + limit`` of the plan's results, filtered in the engine.

        Each signal is searched on its own, as deep as ``candidates`` (or the page, if
        deeper), and several are fused here (``fuse``). Pages never overlap or skip: equal
        scores (common under RRF and for keyword matches) are ordered by point id, and hits
        are fetched from rank 1 until every hit tied with the page's last one is in. With
        ``diversity`` > 0 the fused candidates are re-ranked by MMR (``_run_diverse``). A
        hybrid plan puts the products titled exactly as the query first (``Plan.exact_name``).
        """
        return self.run_explained(
            plan, filters=filters, limit=limit, offset=offset, diversity=diversity, explain=False
        )[0]

    def run_explained(
        self,
        plan: Plan,
        *,
        filters: Filters,
        limit: int,
        offset: int,
        diversity: float = 0.0,
        explain: bool = True,
    ) -> tuple[list[Hit], list[dict[str, SignalRank | None]]]:
        """``run``'s page and, for each of its hits, its rank and score in each signal of the
        plan (None: not among the candidates that signal handed to the fusion), read from the
        same per-signal lists the page was fused from."""
        if not plan.signals:
            return [], []
        lists = _SignalLists(self.index, plan, filters)
        hits = self._page(
            plan, lists, filters=filters, limit=limit, offset=offset, diversity=diversity
        )
        hits = self._with_payloads(hits)
        if not explain:
            return hits, []
        if len(plan.signals) == 1:
            name = plan.signals[0].name
            return hits, [{name: SignalRank(offset + i + 1, h.score)} for i, h in enumerate(hits)]
        # As deep as the lists the page's first fetch fused.
        ranked = lists.ranks(max(self.candidates, offset + limit + PAGE_SLACK))
        return hits, [{name: ranks.get(h.id) for name, ranks in ranked.items()} for h in hits]

    def _page(
        self,
        plan: Plan,
        lists: _SignalLists,
        *,
        filters: Filters,
        limit: int,
        offset: int,
        diversity: float,
    ) -> list[Hit]:
        named = self._exactly_named(plan, filters)
        if named:
            return self._run_named_first(
                plan, lists, named, filters=filters, limit=limit, offset=offset, diversity=diversity
            )
        if diversity > 0:
            return self._run_diverse(
                plan, filters=filters, limit=limit, offset=offset, diversity=diversity
            )
        return self._ranked(plan, lists, limit=limit, offset=offset)

    def _ranked(self, plan: Plan, lists: _SignalLists, *, limit: int, offset: int) -> list[Hit]:
        """The page of the plan's results, ties broken by point id."""
        return stable_page(lambda n: self._fetch(plan, lists, limit=n), limit=limit, offset=offset)

    def _fetch(self, plan: Plan, lists: _SignalLists, *, limit: int) -> list[Hit]:
        """The plan's best ``limit`` hits: one signal's own, or the signals' lists, each at
        least ``candidates`` deep, fused."""
        if len(plan.signals) == 1:
            return lists.at(limit)[0][:limit]
        fused = fuse(lists.at(max(self.candidates, limit)), plan.fusion, plan.weights)
        return fused[:limit]

    def _with_payloads(self, hits: list[Hit]) -> list[Hit]:
        """The hits with their payloads (signal lists are searched without them), read for the
        page only; a point removed since it was ranked is left out."""
        missing = [hit.id for hit in hits if not hit.payload]
        if not missing:
            return hits
        stored = {point.id: point.payload for point in self.index.retrieve(missing)}
        return [
            hit if hit.payload else replace(hit, payload=stored[hit.id])
            for hit in hits
            if hit.payload or hit.id in stored
        ]

    def _exactly_named(self, plan: Plan, filters: Filters) -> dict[str, Hit]:
        """The products titled (or skued) exactly as the query (``Plan.exact_name``) that pass
        the filters, by id; none when ``candidates`` products or more share the title, a name
        as generic as a category, which the plan's own order ranks."""
        if plan.exact_name is None:
            return {}
        exact = SparseQuery(keywords.token_vector(plan.exact_name), KEYWORDS_VECTOR)
        named = self.index.search(exact, filters=filters, limit=self.candidates, payload=False)
        if len(named) >= self.candidates:
            return {}
        return {hit.id: hit for hit in by_score(named)}

    def _run_named_first(
        self,
        plan: Plan,
        lists: _SignalLists,
        named: Mapping[str, Hit],
        *,
        filters: Filters,
        limit: int,
        offset: int,
        diversity: float,
    ) -> list[Hit]:
        """The page of the plan's results with the products titled exactly as the query first.

        Those go first: in the order the plan ranks them where it ranks them among its best
        ``candidates`` (the keyword signal ranks a whole name at or near its top), then the
        others in the exact lookup's order (a sku, which a plan without the keyword signal
        cannot rank); the rest follow as they rank, or re-ranked by MMR without them
        (``diversity``). The first ones are chosen at a fixed depth, so pages never overlap or
        skip.
        """
        end = offset + limit
        ranked = self._ranked(plan, lists, limit=max(self.candidates, end), offset=0)
        first = [hit for hit in ranked[: self.candidates] if hit.id in named]
        ahead = {hit.id for hit in first}
        first += [hit for hit in named.values() if hit.id not in ahead]
        page = first[offset:end]
        start = max(0, offset - len(first))
        wanted = end - len(first) - start
        if wanted <= 0:
            return page
        if diversity > 0:
            others = replace(filters, exclude_ids=(*filters.exclude_ids, *(h.id for h in first)))
            return page + self._run_diverse(
                plan, filters=others, limit=wanted, offset=start, diversity=diversity
            )
        ids = {hit.id for hit in first}
        rest = [hit for hit in ranked if hit.id not in ids]
        return page + rest[start : start + wanted]

    def _exact_names_first(self, plan: Plan, q: str) -> Plan:
        """The hybrid plan that puts products titled exactly ``q`` first, when it fuses the
        keyword signal (which carries whole names, ``keywords.name_token``) with others: a
        shopper who types a product's name ("罐", jar) wants that product, even where the
        vectors prefer a neighbour ("罐头", canned food). A query shaped like a sku (one word
        with a digit: "MH01-XS-Black") looks up the product and variant skus the keyword vector
        carries as whole names, whatever signals the plan chose."""
        if not _sku_like(q) and not any(signal.name == "keywords" for signal in plan.signals):
            return plan
        return replace(plan, exact_name=keywords.name_token(q))

    def _length(self, q: str, english: str | None) -> int:
        """The query's length in words: a glossed (Chinese) query's is its gloss's, as the
        encoders read the gloss, but one dictionary word is one word, however long its sense
        ("糖葫芦": "sugar-coated Chinese hawthorn or other fruit on a bamboo skewer"), since a
        single word names a thing and never describes one."""
        if english is None or self.glossary is None:
            return len(q.split())
        return 1 if self.glossary.words(q) == 1 else len(english.split())

    @staticmethod
    def _is_tag(words: int, coverage: float) -> bool:
        """Whether a glossed query is short and no product's words cover it (a tag such as
        "比萨", not a product's name or a description), so that each of its words is glossed by
        its first sense the catalog has words for ("pizza", not the town Pisa). Names and
        descriptions keep first senses: the fusion head learnt the first-sense glosses of the
        catalog's Chinese titles, and the senses a catalog carries misread a description's
        ordinary words ("看" as "watch"; docs/benchmarks.md)."""
        return words < LONG_QUERY_WORDS and coverage < NAMING_COVERAGE

    def _fitted(self, q: str, coverage: float) -> tuple[str, Mapping[str, float], str] | None:
        """The query's bucket and the weights and fusion ``vitrine tune`` fitted for it, or
        None when there is no tuning, or the bucket keeps the rules."""
        if self.tuning is None:
            return None
        name = bucket(q, self.glossary, coverage)
        found = self.tuning.for_bucket(name)
        return None if found is None else (name, found, self.tuning.fusion(name))

    @staticmethod
    def _fitted_choice(
        names: list[str], bucket_name: str, fitted: Mapping[str, float], fusion: str
    ) -> tuple[list[str], str, str, dict[str, float]] | None:
        """The signals, why, fusion and weights of a hybrid search under fitted weights: the
        signals weighted above 0 that the deployment has, fused as fitted (None when it has
        none of them: the rules choose)."""
        kept = [n for n in names if fitted.get(n, 0.0) > 0]
        if not kept:
            return None
        weights = {n: fitted.get(n, 1.0) for n in kept}
        shown = ", ".join(f"{n} {weights[n]:g}" for n in kept)
        why = f"weights fitted on this catalog for {bucket_name} queries ({fusion}): {shown}"
        return kept, why, fusion, weights

    def signal_plans(self, q: str, coverage: float) -> list[Signal]:
        """Every signal this deployment can compute for the words, as hybrid search would
        encode them (the gloss for an English-only encoder, reglossed by ``coverage``, the
        query's ``keyword_coverage``): what ``vitrine tune`` ranks each query by before it
        fits the weights."""
        english = self.glossary.english(q) if self.glossary is not None else None
        english = self._regloss(q, english, coverage)
        names = [n for n in ("keywords", "text", "fused", *LATER_SIGNALS) if self._has_signal(n)]
        return self._text_signals(names, q, english=english)

    def _choose(
        self, names: list[str], q: str, *, english: str | None, coverage: float
    ) -> tuple[list[str], str]:
        """The signals hybrid search fuses for this query (``english``: its gloss; ``coverage``:
        the share of its typed terms the best keyword match carries), and why.

        Words an English-only encoder cannot read (a glossary is set but has no gloss for
        them: Japanese or Korean, or, with a multilingual encoder, a query most of whose words
        are not English that no product's words cover) go to the multilingual encoder (both
        its signals), with keywords only when a product carries half of the terms (or there is
        no multilingual encoder): the English encoder's vectors of them would be noise. A
        description (LONG_QUERY_WORDS words or more) is the text encoder's (and, glossed from
        Chinese, the multilingual encoder's too, which reads the Chinese itself where the gloss
        goes word by word): the fusion head learnt names and tags, and keyword matches on its
        incidental words are noise unless one product carries most of them; nor is a
        description a name. A short query whose words a product carries (NAMING_COVERAGE)
        names it: keywords and the head decide, without the encoders' looser neighbours. Other
        short queries use every signal, but a glossed (Chinese) one leaves the names signal out:
        it cost Chinese tags more than it gave. English descriptions leave the multilingual
        encoder out: MiniLM reads English better. So the names signal joins only queries that
        the multilingual encoder reads anyway, and costs no encoding (docs/benchmarks.md).
        """
        if self.glossary is not None and english is None:
            cjk = keywords.has_cjk(q)
            foreign = self.multilingual is not None and not self.glossary.reads_english(q)
            if cjk or (foreign and coverage < NAMING_COVERAGE):
                # Keyword matches on a few of its words are noise beside a reader of the words.
                matched = coverage >= NAMING_COVERAGE or "multilingual" not in names
                kept = [n for n in names if n in LATER_SIGNALS or (n == "keywords" and matched)]
                readers = " and ".join(kept) or "nothing"
                return (
                    kept,
                    f"words the text encoder cannot read and the glossary does not "
                    f"gloss: {readers}",
                )
        words = self._length(q, english)
        if words >= LONG_QUERY_WORDS:
            drop = {"fused", "names"}
            if coverage < NAMING_COVERAGE:
                drop.add("keywords")
            why = f"a description ({words} words): the text vector leads"
        elif coverage >= NAMING_COVERAGE:
            drop = {"text", "multilingual", "names"}
            why = f"a product's own words ({coverage:.0%} of the terms): keywords and fused"
        elif english is None:
            return names, "a short query no product's words cover: every signal"
        else:
            kept = [n for n in names if n != "names"]
            return kept, "a short query no product's words cover: every signal but names"
        if english is None:
            drop.add("multilingual")
        kept = [n for n in names if n not in drop]
        return (kept or names), why

    def head_coverage(self) -> Coverage | None:
        """How many of the indexed products the fusion head was trained on (None: no head, or
        one that did not record its products)."""
        if self.fusion is None:
            return None
        return self.coverage.of(self.index, self.fusion)

    def _automatic(self, weights: Mapping[str, float] | None) -> bool:
        """Whether this search chooses its own signals: neither the request nor the
        deployment (``VITRINE_HYBRID_WEIGHTS``) gave weights."""
        return weights is None and not self.weights

    def head_left_out(self) -> str | None:
        """Why searches that choose their own signals leave the fused one out (the head was
        not trained on HEAD_COVERAGE of the indexed products), or None when they keep it."""
        coverage = self.head_coverage()
        if coverage is None or coverage.enough:
            return None
        return (
            f"the fusion head was trained on {coverage.known} of these {coverage.points} "
            "products: fused left out (train one on this catalog with `vitrine train-fusion`)"
        )

    def _has_signal(self, name: str) -> bool:
        """Whether this deployment can compute the signal: the fused and multilingual ones
        need their head or encoder."""
        if name == "fused":
            return self.fusion is not None
        if name in LATER_SIGNALS:
            return self.multilingual is not None
        return True

    def _text_signals(self, names: list[str], q: str, *, english: str | None) -> list[Signal]:
        """The named signals of a text query, encoded (a query without keyword terms has no
        keyword signal); only the chosen ones are computed."""
        signals: list[Signal] = []
        if "keywords" in names:
            sparse = keywords.query_vector(q, translated=english)
            if sparse.indices:
                signals.append(Signal("keywords", SparseQuery(sparse, KEYWORDS_VECTOR)))
        if "text" in names or "fused" in names:
            words = english or q
            features = self._vector(("text", words), lambda: self.text_encoder.encode([words])[0])
            if "text" in names:
                signals.append(Signal("text", DenseQuery(features, TEXT_VECTOR)))
            if "fused" in names and (head := self.fusion) is not None:
                fused = self._vector(
                    ("fused", head.name, words), lambda: head.text_query(features[None])[0]
                )
                signals.append(Signal("fused", DenseQuery(fused, FUSED_VECTOR)))
        read = [n for n in LATER_SIGNALS if n in names]
        if read and (reader := self.multilingual) is not None:
            vector = self._vector(("multilingual", q), lambda: reader.queries([q])[0])
            reading = DenseQuery(vector, MULTILINGUAL_VECTOR)
            # Names re-score the multilingual reading's candidates (they have no search graph).
            queries = {
                "multilingual": reading,
                "names": DenseQuery(
                    vector, NAMES_VECTOR, within=reading, within_limit=self.candidates
                ),
            }
            signals.extend(Signal(n, queries[n]) for n in read)
        return signals

    def _vector(
        self, key: tuple[str, ...], compute: Callable[[], NDArray[np.float32]]
    ) -> NDArray[np.float32]:
        """A query vector, from the deployment's cache of recent ones when it has one."""
        if self.query_vectors is None:
            return compute()
        return self.query_vectors.get(key, compute)

    def _regloss(self, q: str, english: str | None, coverage: float) -> str | None:
        """The query's English gloss, glossed again by the senses the catalog carries when it
        is a tag (``_is_tag``)."""
        if english is None or not self._is_tag(self._length(q, english), coverage):
            return english
        assert self.glossary is not None
        return self.glossary.english(q, carried=self._catalog_senses())

    def keyword_coverage(self, q: str) -> float:
        """The share of the typed query terms that the best keyword match carries."""
        typed = keywords.query_vector(q, whole=False)
        if not typed.indices:
            return 0.0
        best = self.index.search(SparseQuery(typed, KEYWORDS_VECTOR), limit=1)
        if not best:
            return 0.0
        stored = self.index.retrieve([best[0].id], vectors=[KEYWORDS_VECTOR])
        carried = stored[0].sparse.get(KEYWORDS_VECTOR) if stored else None
        found = set(carried.indices) if carried is not None else set()
        return len(found.intersection(typed.indices)) / len(typed.indices)

    def _catalog_senses(self) -> Callable[[str], bool]:
        """A test of whether the catalog carries an English sense: each of its content words
        is in some product's keyword vector. One keyword search a word, each word searched once
        a query, and only as far as the glossary asks (it stops at a word's first sense
        carried)."""
        glossary = self.glossary
        assert glossary is not None

        @functools.cache
        def held(token: str) -> bool:
            query = SparseQuery(keywords.token_vector(token), KEYWORDS_VECTOR)
            return bool(self.index.search(query, limit=1))

        def carried(sense: str) -> bool:
            words = glossary.content_words(sense)
            return bool(words) and all(held(word) for word in words)

        return carried

    def _plan(
        self,
        signals: list[Signal],
        *,
        fusion: str | None,
        weights: Mapping[str, float] | None,
        terms: tuple[str, ...] = (),
        translated: str | None = None,
        why: str | None = None,
    ) -> Plan:
        return weighted(
            signals,
            fusion=fusion,
            default_fusion=self.hybrid_fusion,
            defaults=self.weights,
            requested=weights,
            terms=terms,
            translated=translated,
            why=why,
        )

    def _require_head(self, what: str) -> None:
        if self.fusion is None:
            raise ModeUnavailable(
                f"{what} needs the trained fusion head, and this deployment runs without one "
                "(VITRINE_FUSION_HEAD=none, or no head fits its encoders)"
            )

    def _run_diverse(
        self, plan: Plan, *, filters: Filters, limit: int, offset: int, diversity: float
    ) -> list[Hit]:
        """The plan's candidates (fused as without diversity) re-ranked by MMR in the engine.

        MMR measures relevance and likeness in one dense vector: the first dense signal's
        (text or fused for words, image for a picture, the ``using`` vector for similar; never
        the names vectors, several a product), or the plan's ``likeness`` (the text vector,
        where hybrid chose keywords alone). Its order is greedy, so pages concatenate as long
        as they end within the candidate pool.
        """
        queries = [signal.query for signal in plan.signals]
        dense = _likeness(plan)
        if dense is None:
            raise ModeUnavailable(
                "diversity needs one vector a product to compare products with, and "
                "mode=keyword and mode=names have none: use mode=hybrid or text"
            )
        return self.index.diversify(
            queries,
            Mmr(dense.vector, dense.using, diversity),
            fusion=plan.fusion,
            weights=plan.weights,
            filters=filters,
            limit=limit,
            offset=offset,
            candidates=self.candidates,
        )


class _SignalLists:
    """Each signal's own ranked list for one search, searched once for the deepest list
    asked for so far, without payloads, equal scores ordered by point id (so the fusion, and
    so the page, does not depend on how an engine orders ties)."""

    def __init__(self, index: VectorIndex, plan: Plan, filters: Filters) -> None:
        self._index, self._plan, self._filters = index, plan, filters
        self._depth = 0
        self._lists: list[list[Hit]] = []

    def at(self, depth: int) -> list[list[Hit]]:
        """The lists, at least ``depth`` deep (shorter where a signal has fewer matches)."""
        if depth > self._depth:
            self._lists = [
                by_score(
                    self._index.search(s.query, filters=self._filters, limit=depth, payload=False)
                )
                for s in self._plan.signals
            ]
            self._depth = depth
        return self._lists

    def ranks(self, depth: int) -> dict[str, dict[str, SignalRank]]:
        """Signal name -> point id -> its rank (from 1) and score in that signal's list."""
        return {
            signal.name: {hit.id: SignalRank(r, hit.score) for r, hit in enumerate(hits, 1)}
            for signal, hits in zip(self._plan.signals, self.at(depth), strict=True)
        }


def stable_page(fetch: Callable[[int], list[Hit]], *, limit: int, offset: int) -> list[Hit]:
    """The page ``offset:offset + limit`` of ``fetch(n)`` (its best ``n`` hits), with ties in
    score broken by point id, fetching deeper until the page's last tie is complete (how search
    and recommendations page)."""
    end = offset + limit
    depth = end + PAGE_SLACK
    while True:
        hits = sorted(fetch(depth), key=lambda hit: (-hit.score, hit.id))
        complete = len(hits) < depth or hits[-1].score < hits[end - 1].score
        if complete or depth >= MAX_TIE_FETCH:
            return hits[offset:end]
        depth = min(depth * 2, MAX_TIE_FETCH)


def exclude(filters: Filters, sku: str) -> Filters:
    """The filters, also leaving out the product ``sku`` (for "more like this")."""
    return replace(filters, exclude_ids=(*filters.exclude_ids, point_id(sku)))


def _sku_like(q: str) -> bool:
    """A query that may be a sku: one word (no spaces) holding a digit, "MH01-XS-Black"."""
    text = q.strip()
    return bool(text) and not any(c.isspace() for c in text) and any(c.isdigit() for c in text)
