"""The evaluation harness: a tiny catalog, hand-written queries, scores we can predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.settings import Settings
from loaders.cli import main
from loaders.evaluation import evaluate, loaded_catalog, read_queries, run_queries
from tests.catalogs import DEMO_IMAGES, good_rows, images_zip, write_csv

NOTO = Path(__file__).resolve().parents[1] / "fixtures" / "noto"
METRICS = {"n", "recall@1", "recall@5", "recall@10", "mrr", "ndcg@10", "latency_ms"}
ALL_MODES = ["text", "image", "fused", "keyword", "multilingual", "names", "hybrid"]

# A-1 T-shirt (Clothing, Acme), A-2 Running shoe (Shoes, Acme), A-3 Gloves (Clothing, Warmly).
QUERIES = [
    {"id": "w1", "task": "title word", "text": "gloves", "relevant": ["A-3"]},
    {"id": "w2", "task": "title word", "text": "running", "relevant": ["A-2"]},
    {"id": "m1", "task": "missing", "text": "gloves", "relevant": ["NOT-LOADED"]},
    {
        "id": "f1",
        "task": "filtered",
        "text": "gloves",
        "relevant": ["A-3"],
        "filters": {"category": ["Clothing", "Shoes"], "in_stock": True, "price_max": 20},
    },
    {
        "id": "f2",
        "task": "filtered out",
        "text": "gloves",
        "relevant": ["A-3"],
        "filters": {"brand": "Acme"},
    },
    {"id": "p1", "task": "own picture", "image": "shirt.png", "relevant": ["A-1"]},
    {"id": "p2", "task": "other vendor", "image": str(NOTO / "1f45f.png"), "relevant": ["A-2"]},
]


def write_queries(path: Path, queries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries))
    return path


@pytest.fixture(scope="module")
def bench(tmp_path_factory, model_cache) -> dict:
    """The tiny catalog, its images, the shopper's queries and settings of an empty deployment."""
    folder = tmp_path_factory.mktemp("eval")
    shutil.copy(DEMO_IMAGES / "1f455.png", folder / "shirt.png")
    return {
        "catalog": write_csv(folder / "catalog.csv", good_rows()),
        "images": images_zip(folder / "images.zip"),
        "queries": write_queries(folder / "queries.jsonl", QUERIES),
        # Without a fusion head, so that the fused mode shows as not available.
        "settings": Settings(
            var_dir=folder / "var", model_cache_dir=model_cache, fusion_head="none"
        ),
    }


@pytest.fixture(scope="module")
def report(bench):
    """The report of the whole harness over the tiny catalog (all modes, k = 10)."""
    return evaluate(bench["settings"], bench["catalog"], bench["images"], bench["queries"])


@pytest.mark.slow
def test_a_unique_title_word_finds_its_product_first(report):
    for mode in ("keyword", "hybrid", "text"):
        scores = report.results["title word"][mode]
        assert scores.n == 2
        assert scores.recall[1] == 1.0 and scores.mrr == 1.0 and scores.ndcg == 1.0


@pytest.mark.slow
def test_a_relevant_sku_the_catalog_lacks_scores_zero(report):
    scores = report.results["missing"]["keyword"]
    assert (scores.recall[10], scores.mrr, scores.ndcg) == (0.0, 0.0, 0.0)


@pytest.mark.slow
def test_a_filter_that_excludes_the_product_scores_zero(report):
    assert report.results["filtered"]["keyword"].mrr == 1.0
    for mode in ("keyword", "text", "hybrid"):
        assert report.results["filtered out"][mode].recall[10] == 0.0


@pytest.mark.slow
def test_pictures_find_their_product_first_in_image_mode(report):
    assert report.results["own picture"]["image"].mrr == 1.0
    assert report.results["other vendor"]["image"].recall[1] == 1.0  # a Noto drawing


@pytest.mark.slow
def test_modes_the_deployment_cannot_answer_are_not_scored(report):
    # Text to image needs the fusion head; a picture has no words to match.
    assert report.results["title word"]["image"] is None
    assert report.results["title word"]["fused"] is None
    assert report.results["own picture"]["keyword"] is None
    assert report.results["own picture"]["text"] is None
    assert "n/a" in report.table()


@pytest.mark.slow
def test_cutoffs_deeper_than_k_are_left_out_and_the_folder_is_deleted(bench):
    query_set = read_queries(bench["queries"], settings=bench["settings"])
    with loaded_catalog(bench["settings"], bench["catalog"], bench["images"]) as loaded:
        report = run_queries(loaded, query_set, modes=["keyword"], k=1)
        scratch = loaded.settings.var_dir
        assert scratch.is_dir()
    assert not scratch.exists()
    scores = report.results["title word"]["keyword"]
    assert scores.recall == {1: 1.0, 5: None, 10: None} and scores.ndcg is None
    assert list(report.results["own picture"]) == ["keyword"]


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_the_json_report(bench, settings, settings_env, tmp_path):
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--catalog",
            str(bench["catalog"]),
            "--images",
            str(bench["images"]),
            "--queries",
            str(bench["queries"]),
            "--out",
            str(out),
            "--no-progress",
        ],
        env=settings_env,
    )
    assert result.exit_code == 0, result.output
    assert "3 rows: 3 created, 0 updated, 0 unchanged, 0 failed; 3 indexed" in result.stdout
    assert "1 relevant sku(s) of the queries are not in the loaded catalog" in result.stderr
    assert "NOT-LOADED" in result.stderr
    title_keyword = next(line for line in result.stdout.splitlines() if "keyword" in line)
    assert title_keyword.split()[-6:-1] == ["1.000"] * 5  # recall@1/5/10, MRR, nDCG@10

    body = json.loads(out.read_text())
    assert set(body) == {"catalog", "queries", "encoders", "k", "results"}
    assert body["k"] == 10
    # The collection's recipe: definitions in the text vector, the head, the multilingual encoder.
    assert body["encoders"]["text"] == "minilm+wordnet-3.0"
    assert body["encoders"]["image"] == "efficientnet-lite0-gem"
    assert body["encoders"]["multilingual"] == "multilingual-e5-small-q4"
    assert body["encoders"].get("fused", "fusion-").startswith("fusion-")
    assert list(body["results"]) == list(dict.fromkeys(q["task"] for q in QUERIES))
    for modes in body["results"].values():
        assert list(modes) == ALL_MODES
        assert all(scores is None or set(scores) == METRICS for scores in modes.values())
    assert body["results"]["title word"]["keyword"]["mrr"] == 1.0
    assert body["results"]["title word"]["image"] is None
    assert body["results"]["own picture"]["image"]["recall@1"] == 1.0
    assert not settings.var_dir.exists()  # the deployment's own catalog was not touched


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('{"id": "b", "task": "t", "text": "gloves"}', "relevant"),
    ('{"id": "b", "task": "t", "relevant": ["A-1"]}', "exactly one of text and image"),
    (
        '{"id": "b", "task": "t", "text": "x", "image": "shirt.png", "relevant": ["A-1"]}',
        "exactly one of text and image",
    ),
    ('{"id": "b", "task": "t", "image": "nowhere.png", "relevant": ["A-1"]}', "nowhere.png"),
    ('{"id": "b", "task": "t", "image": "catalog.csv", "relevant": ["A-1"]}', "not an image"),
    (
        '{"id": "b", "task": "t", "text": "x", "relevant": ["A-1"], "filters": {"colour": "red"}}',
        "unknown filter 'colour'",
    ),
    (
        '{"id": "b", "task": "t", "text": "x", "relevant": ["A-1"], "filters": {"price_max": "9"}}',
        "price_max must be a number",
    ),
    ('{"id": "w1", "task": "t", "text": "x", "relevant": ["A-1"]}', "duplicate id 'w1'"),
    ('{"id": "b", "task": "t", "text": "x", "relevant": {"A-1": 0}}', "must be a positive number"),
    ('{"id": "b", "task": "t", "text": "x", "relevant": {}}', "relevant must be"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_cli_refuses_a_bad_query_line_by_its_number(settings_env, tmp_path, line, reason):
    write_csv(tmp_path / "catalog.csv", good_rows())
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps(QUERIES[0]) + "\n" + line + "\n")
    result = CliRunner().invoke(
        main,
        ["eval", "--catalog", str(tmp_path / "catalog.csv"), "--queries", str(queries)],
        env=settings_env,
    )
    assert result.exit_code == 3, result.output
    assert "error:" in result.stderr and "line 2:" in result.stderr
    assert reason in result.stderr


def test_cli_refuses_an_unknown_mode(settings_env, tmp_path):
    queries = write_queries(tmp_path / "queries.jsonl", QUERIES[:1])
    catalog = write_csv(tmp_path / "catalog.csv", good_rows())
    result = CliRunner().invoke(
        main,
        ["eval", "--catalog", str(catalog), "--queries", str(queries), "--modes", "text,vibes"],
        env=settings_env,
    )
    assert result.exit_code == 2
    assert "vibes" in result.stderr


def test_cli_fails_when_the_catalog_loads_nothing(settings_env, tmp_path):
    rows = [{**row, "price": "free"} for row in good_rows()]
    catalog = write_csv(tmp_path / "catalog.csv", rows)
    queries = write_queries(tmp_path / "queries.jsonl", QUERIES[:2])
    result = CliRunner().invoke(
        main,
        ["eval", "--catalog", str(catalog), "--queries", str(queries), "--no-progress"],
        env=settings_env,
    )
    assert result.exit_code != 0
    assert "no product loaded, 3 row(s) rejected (line 2: price must be a number" in result.stderr
    assert "MRR" not in result.stdout  # no table of zeros


def test_cli_fails_when_most_relevant_skus_are_missing(settings_env, tmp_path):
    catalog = write_csv(tmp_path / "catalog.csv", good_rows())
    other = [
        {"id": f"o{n}", "task": "other shop", "text": "gloves", "relevant": [f"OTHER-{n}"]}
        for n in range(3)
    ]
    queries = write_queries(tmp_path / "queries.jsonl", [QUERIES[0], *other])
    images = images_zip(tmp_path / "images.zip")
    result = CliRunner().invoke(
        main,
        ["eval", "--catalog", str(catalog), "--images", str(images)]
        + ["--queries", str(queries), "--no-progress"],
        env=settings_env,
    )
    assert result.exit_code != 0
    assert "3 of the 4 relevant skus" in result.stderr
    assert "is it the catalog these queries were written for?" in result.stderr


def test_graded_relevance_ranks_the_better_answer_higher(bench):
    queries = [
        # A-3 (Gloves) is exactly what was asked; A-1 (T-shirt, also clothing) acceptable.
        {"id": "g1", "task": "graded", "text": "gloves", "relevant": {"A-3": 2, "A-1": 1}},
        {"id": "g2", "task": "reversed", "text": "gloves", "relevant": {"A-3": 1, "A-1": 2}},
    ]
    path = write_queries(bench["queries"].parent / "graded.jsonl", queries)
    query_set = read_queries(path, settings=bench["settings"])
    assert query_set.queries[0].graded() == {"A-3": 2.0, "A-1": 1.0}
    with loaded_catalog(bench["settings"], bench["catalog"], bench["images"]) as loaded:
        report = run_queries(loaded, query_set, modes=["keyword"], k=10)
    right, wrong = report.results["graded"]["keyword"], report.results["reversed"]["keyword"]
    assert right.mrr == wrong.mrr == 1.0  # both grades count as relevant for MRR
    assert right.ndcg is not None and wrong.ndcg is not None and right.ndcg > wrong.ndcg
