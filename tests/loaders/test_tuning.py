"""`vitrine tune` fits hybrid search's weights on a catalog's judged queries, and the
deployment's hybrid searches then rank with them; weights fitted on other encoders are not
used."""

from __future__ import annotations

import json
from urllib.parse import quote

import numpy as np
import pytest
from click.testing import CliRunner

from backend.app import create_app
from backend.search.tuning import BUCKETS, tuning_path
from loaders.cli import main
from loaders.pipeline import load_into
from loaders.tuning import RankedQuery, fit_weights, mean_ndcg
from tests.api.conftest import csv_bytes, demo_rows
from tests.conftest import DEMO

ROWS = 60


@pytest.fixture
def shop(settings, tmp_path):
    """The first ROWS demo products loaded, and judged queries: each tag some of them carry
    (short queries), each relevant to the products tagged so."""
    rows = demo_rows(ROWS)
    catalog = tmp_path / "catalog.csv"
    catalog.write_bytes(csv_bytes(rows))
    summary = load_into(settings, catalog, DEMO / "images")
    assert summary.failed == 0
    tagged: dict[str, list[str]] = {}
    for row in rows:
        for tag in row["keywords"].split("|"):
            tagged.setdefault(tag, []).append(row["sku"])
    queries = tmp_path / "judged.jsonl"
    lines = [
        json.dumps({"id": f"tag/{i}", "task": "tag", "text": tag, "relevant": skus})
        for i, (tag, skus) in enumerate(sorted(tagged.items())[:12])
    ]
    queries.write_text("\n".join(lines) + "\n")
    return settings, queries


def search(settings, query: str) -> dict:
    app = create_app(settings)
    try:
        response = app.test_client().get(f"/api/search?{query}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()
    finally:
        app.extensions["vitrine_index"].close()


def tune(settings_env, queries, *extra) -> str:
    result = CliRunner().invoke(main, ["tune", "--queries", str(queries), *extra], env=settings_env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tune_keeps_the_rules_where_its_fit_does_not_beat_them_held_out(shop, settings_env):
    settings, queries = shop
    table = tune(settings_env, queries).splitlines()
    assert table[0].split()[:5] == ["bucket", "n", "rules", "rrf", "dbsf"]
    stored = json.loads(tuning_path(settings).read_text())
    rows = [line.split() for line in table[1:] if not line.startswith("wrote")]
    assert rows
    for name, _, rules, rrf, dbsf, *uses in rows:
        held = {f: float(v) for f, v in (("rrf", rrf), ("dbsf", dbsf)) if v != "n/a"}
        beats = bool(held) and max(held.values()) > float(rules)
        assert (name in stored["weights"]) == beats, (name, rules, held)
        assert (uses == ["the", "rules"]) == (not beats)
        if beats:  # the better fusion's weights
            assert stored["fusions"][name] == max(held, key=held.__getitem__)


@pytest.mark.parametrize(
    ("fusion", "weights"),
    [
        ("rrf", {"keywords": 2.0, "text": 0.5, "fused": 1.0, "multilingual": 0.25}),
        ("dbsf", {"keywords": 3.0, "text": 1.0, "fused": 0.0, "multilingual": 2.0}),
    ],
)
def test_stored_weights_rank_the_deployments_hybrid_searches(
    shop, settings_env, tmp_path, fusion, weights
):
    settings, queries = shop
    fitted = tmp_path / "fitted.json"
    tune(settings_env, queries, "--out", str(fitted))
    stored = json.loads(fitted.read_text())
    # Every bucket of queries in Latin letters ("umbrella" is short, and names a product).
    english = [b for b in BUCKETS if not b.startswith("cjk")]
    stored["weights"] = dict.fromkeys(english, weights)
    stored["fusions"] = dict.fromkeys(english, fusion)
    tuning_path(settings).write_text(json.dumps(stored))

    body = search(settings, "q=umbrella&limit=10")
    why = body["query"]["signals_why"]
    assert f"fitted on this catalog for short+named queries ({fusion})" in why
    # The same page as asking for those weights by hand.
    named = ",".join(f"{name}:{w:g}" for name, w in weights.items())
    by_hand = search(settings, f"q=umbrella&limit=10&fusion={fusion}&weights={quote(named)}")
    assert [h["sku"] for h in body["results"]] == [h["sku"] for h in by_hand["results"]]
    # A Chinese query's bucket has no weights: the rules plan it.
    assert "fitted" not in search(settings, "q=雨伞&limit=10")["query"].get("signals_why", "")


def test_weights_fitted_on_other_encoders_are_not_used(shop, settings_env, tmp_path):
    settings, queries = shop
    out = tmp_path / "tuning.json"
    tune(settings_env, queries, "--out", str(out))
    stored = json.loads(out.read_text())
    stored["weights"] = {"short": {"keywords": 1.0, "text": 1.0}}
    stored["collection"]["encoders"]["text"] = "some-other-encoder"
    tuning_path(settings).write_text(json.dumps(stored))

    body = search(settings, "q=umbrella&limit=10")
    assert "fitted" not in body["query"].get("signals_why", "")

    out.write_text(json.dumps(stored))
    catalog = tmp_path / "catalog.csv"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--catalog",
            str(catalog),
            "--images",
            str(DEMO / "images"),
            "--queries",
            str(queries),
            "--tuning",
            str(out),
            "--modes",
            "hybrid",
            "--no-progress",
        ],
        env=settings_env,
    )
    assert result.exit_code != 0
    assert "other encoders" in result.stderr


@pytest.mark.parametrize(
    "broken",
    [
        "{not json",
        '{"version": 1, "weights": ["short"]}',
        # DBSF counts a signal a whole number of times: 1.5 it cannot take.
        '{"version": 1, "weights": {"short+named": {"keywords": 1.5}}, '
        '"fusions": {"short+named": "dbsf"}, "collection": COLLECTION}',
    ],
)
def test_a_broken_tuning_file_leaves_search_on_the_rules(shop, settings_env, tmp_path, broken):
    settings, queries = shop
    fitted = tmp_path / "fitted.json"
    tune(settings_env, queries, "--out", str(fitted))
    collection = json.dumps(json.loads(fitted.read_text())["collection"])
    tuning_path(settings).write_text(broken.replace("COLLECTION", collection))

    body = search(settings, "q=umbrella&limit=10")  # 200, not an error
    assert body["results"]
    assert "fitted" not in body["query"].get("signals_why", "")


def test_tune_needs_a_loaded_catalog(settings_env, tmp_path):
    queries = tmp_path / "judged.jsonl"
    queries.write_text(json.dumps({"id": "q", "task": "t", "text": "hat", "relevant": ["X"]}))
    result = CliRunner().invoke(main, ["tune", "--queries", str(queries)], env=settings_env)
    assert result.exit_code != 0
    assert "load a catalog first" in result.stderr


def ranked(name: str, good: list[int], bad: list[int]) -> RankedQuery:
    """A query with two candidates, the relevant one at rank good[i] in signal i and the
    other at bad[i]."""
    ranks = np.array([bad, good], dtype=float)
    normalised = 1.0 - ranks / 3  # a higher score at a better rank
    return RankedQuery(name, "short", ("a", "b"), ranks, normalised, np.array([0.0, 1.0]), 1.0)


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_the_fit_finds_weights_that_rank_the_right_product_first(fusion):
    # Signal a ranks the relevant product first every time; b ranks it second.
    queries = [ranked(f"q{i}", good=[1, 2], bad=[2, 1]) for i in range(6)]
    assert mean_ndcg(queries, {"a": 1.0, "b": 1.0}, fusion) < 1.0  # a tie, broken against it
    weights = fit_weights(queries, fusion)
    assert weights != {"a": 1.0, "b": 1.0}
    assert mean_ndcg(queries, weights, fusion) == pytest.approx(1.0)
