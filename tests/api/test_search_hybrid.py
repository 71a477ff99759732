"""Hybrid search as a merchandiser inspects it: signals, weights, fusion, explanations, Chinese."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backend.search.ext import EXTENSION
from tests.api.conftest import csv_bytes, demo_images, demo_rows, zip_bytes
from tests.api.test_search import TSHIRT, error_of

RUNNING_SHOE = "VT-1F45F"
GLOVES = "VT-1F9E4"
CAMERA = "VT-1F4F7"
CAMERA_WITH_FLASH = "VT-1F4F8"
PEN = "VT-1F58A"
JAR = "VT-1FAD9"  # 罐, out of stock
CANNED_FOOD = "VT-1F96B"  # 罐头食品


def search(client, query: str) -> dict:
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(
    ("words", "sku"),
    [("适合跑步的鞋", RUNNING_SHOE), ("冬天保暖的手套", GLOVES), ("下雪天戴的保暖手套", GLOVES)],
)
def test_chinese_descriptions_without_the_titles_characters_find_the_product(client, words, sku):
    body = search(client, f"q={words}")
    assert sku in [r["sku"] for r in body["results"]][:3]
    assert body["query"]["translated"]  # the English words the vectors were computed from


def test_english_queries_are_not_translated(client):
    assert "translated" not in search(client, "q=running shoes")["query"]


def test_a_description_is_left_to_the_text_encoder(client):
    body = search(client, "q=something warm to wear on my hands when it snows")
    assert "description" in body["query"]["signals_why"]
    # The scarf, "worn around the head or neck or shoulders for warmth" by its definition,
    # is the gloves' close rival for "warm" (docs/benchmarks.md).
    assert GLOVES in [r["sku"] for r in body["results"][:2]]
    assert all(set(r["explain"]["signals"]) == {"text"} for r in body["results"])


def test_a_products_own_words_are_left_to_keywords_and_the_head(client):
    for q in ("T恤", "running shoe"):
        body = search(client, f"q={q}")
        assert body["query"]["weights"] == {"keywords": 1.0, "fused": 1.0}, q
        assert body["query"]["fusion"] == "dbsf"


@pytest.mark.parametrize(
    ("words", "sku"),
    [
        # Each also names a longer product: 开闪光灯的相机 (camera with flash), 钢笔 (fountain pen).
        ("相机", CAMERA),
        ("笔", PEN),
        # Case, punctuation and a plural "s" do not matter.
        ("CAMERAS!", CAMERA),
        ("camera with flash", CAMERA_WITH_FLASH),
    ],
)
def test_a_products_exact_name_comes_before_the_names_that_contain_it(client, words, sku):
    for mode in ("keyword", "hybrid"):
        body = search(client, f"q={words}&mode={mode}")
        assert body["results"][0]["sku"] == sku, (mode, [r["title"] for r in body["results"]])


def test_hybrid_search_puts_the_product_named_exactly_first_where_the_vectors_disagree(shop):
    client = shop.test_client()
    # The fused signal prefers the canned food (罐头食品) for 罐; the jar is titled 罐.
    fused = search(client, "q=罐&mode=fused")["results"]
    assert fused[0]["sku"] == CANNED_FOOD
    body = search(client, "q=罐")
    first, *rest = body["results"]
    assert first["sku"] == JAR
    assert first["explain"]["exact_name"] is True
    assert all("exact_name" not in r["explain"] for r in rest)
    assert CANNED_FOOD in [r["sku"] for r in rest[:3]]
    # Pages concatenate: the product named first once, then the rest in order.
    one = (
        search(client, "q=罐&limit=1")["results"]
        + search(client, "q=罐&limit=4&offset=1")["results"]
    )
    assert [r["sku"] for r in one] == [r["sku"] for r in body["results"][:5]]
    # With diversity, too.
    assert search(client, "q=罐&diversity=0.5")["results"][0]["sku"] == JAR


def test_a_filter_that_leaves_out_the_product_named_exactly_leaves_the_usual_order(client):
    body = search(client, "q=罐&in_stock=true")
    assert JAR not in [r["sku"] for r in body["results"]]
    assert body["results"][0]["sku"] == CANNED_FOOD
    assert all("exact_name" not in r["explain"] for r in body["results"])


def test_a_short_query_no_product_carries_uses_every_signal(client):
    body = search(client, "q=适合跑步的鞋")
    # A glossed (Chinese) query leaves the names signal out.
    assert set(body["query"]["weights"]) == {"keywords", "text", "fused", "multilingual"}
    first = body["results"][0]
    assert first["sku"] == RUNNING_SHOE
    assert all(own is not None for own in first["explain"]["signals"].values())


def test_every_result_explains_its_rank_in_each_signal(client):
    body = search(client, "q=red shoes&limit=10&fusion=rrf&weights=keywords:1,text:1,fused:1")
    weights = body["query"]["weights"]
    assert set(weights) == {"keywords", "text", "fused"}
    for result in body["results"]:
        signals = result["explain"]["signals"]
        assert set(signals) == set(weights)
        assert any(own is not None for own in signals.values())
        # Qdrant's weighted RRF (k = 60): each signal adds 1 / (59 + rank / weight).
        fused = sum(1 / (59 + own["rank"] / own["weight"]) for own in signals.values() if own)
        assert result["score"] == pytest.approx(fused, rel=1e-4)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_explain_names_the_query_words_the_product_matched(client):
    first = search(client, "q=T恤")["results"][0]
    assert first["sku"] == TSHIRT
    assert "t恤" in first["explain"]["matched"]
    assert first["explain"]["signals"]["keywords"]["rank"] == 1


def test_a_single_signal_mode_explains_the_page_position(client):
    body = search(client, "q=shoe&mode=text&limit=3&offset=3")
    ranks = [r["explain"]["signals"]["text"]["rank"] for r in body["results"]]
    assert ranks == [4, 5, 6]
    assert "fusion" not in body["query"]


def test_weight_zero_leaves_a_signal_out(client):
    body = search(client, "q=t-shirt&weights=keywords:0")
    assert set(body["query"]["weights"]) == {"text", "fused"}
    assert "keywords" not in body["results"][0]["explain"]["signals"]


def test_weights_other_than_keep_or_leave_out_choose_rrf(client):
    body = search(client, "q=red apple&weights=keywords:2,text:0.5")
    assert body["query"]["fusion"] == "rrf"
    assert body["query"]["weights"] == {"keywords": 2.0, "text": 0.5, "fused": 1.0}
    first = body["results"][0]["explain"]["signals"]
    assert first["keywords"]["weight"] == 2.0


def test_dbsf_fusion_can_be_asked_for(client):
    body = search(client, "q=running shoes&fusion=dbsf&weights=text:1")
    assert body["query"]["fusion"] == "dbsf"
    assert RUNNING_SHOE in [r["sku"] for r in body["results"]][:3]
    assert body["results"][0]["explain"]["fusion"] == "dbsf"


def test_dbsf_counts_a_whole_number_weight_that_many_times(client):
    plain = search(client, "q=running shoes&fusion=dbsf&weights=text:1,keywords:1,fused:0")
    weighted = search(client, "q=running shoes&fusion=dbsf&weights=text:3,keywords:1,fused:0")
    assert weighted["query"]["fusion"] == "dbsf"
    assert weighted["query"]["weights"] == {"keywords": 1.0, "text": 3.0}
    assert weighted["results"][0]["explain"]["signals"]["text"]["weight"] == 3.0
    # Each product gains twice its normalised text score, so the text signal's own first
    # gains the most of the products on both pages.
    text_first = search(client, "q=running shoes&mode=text")["results"][0]["sku"]
    before = {r["sku"]: r["score"] for r in plain["results"]}
    after = {r["sku"]: r["score"] for r in weighted["results"]}
    both = before.keys() & after.keys()
    assert text_first in both
    gains = {sku: after[sku] - before[sku] for sku in both}
    assert max(gains, key=gains.__getitem__) == text_first


@pytest.mark.parametrize(
    "query",
    [
        "q=shoe&fusion=max",
        "q=shoe&weights=colour:2",
        "q=shoe&weights=text:lots",
        "q=shoe&weights=text:-1",
        "q=shoe&fusion=dbsf&weights=text:2.5",
        "q=shoe&fusion=dbsf&weights=text:9",
        "q=shoe&weights=keywords:0,text:0,fused:0",
    ],
)
def test_bad_fusion_parameters_are_400(client, query):
    assert error_of(client.get(f"/api/search?{query}"), 400)["code"] == "invalid_request"


def test_similar_explains_its_signals_and_takes_weights(client):
    body = client.get(f"/api/products/{TSHIRT}/similar?weights=image:0&limit=5").get_json()
    assert body["query"]["using"] == "text+fused"
    assert TSHIRT not in [r["sku"] for r in body["results"]]
    assert set(body["results"][0]["explain"]["signals"]) == {"text", "fused"}


def test_a_name_as_many_products_share_as_the_candidates_keeps_hybrids_order(admin):
    rows = {row["sku"]: row for row in demo_rows(411)}
    jars = [{**rows[JAR], "sku": f"JAR-{i}"} for i in range(3)]
    shop = [rows[CANNED_FOOD], *jars, *(rows[sku] for sku in list(rows)[:20])]
    images = zip_bytes(demo_images(row["image"] for row in shop))
    assert admin.upload_and_wait(csv_bytes(shop), images=images)["state"] == "succeeded"
    client = admin.client
    jar_skus = {jar["sku"] for jar in jars}
    # Weights name the fused signal: the head was not trained on these skus, so hybrid would
    # leave it out. It prefers the canned food, as in the demo.
    query = "q=罐&weights=keywords:1,fused:1"
    results = search(client, query)["results"]
    assert {r["sku"] for r in results[:3]} == jar_skus
    assert results[3]["sku"] == CANNED_FOOD
    # A search that fuses the best 3 of each signal: three products share the name, as
    # generic a name as a category, and hybrid's own order stands.
    defaults = admin.app.extensions[EXTENSION]
    admin.app.extensions[EXTENSION] = replace(defaults, candidates=3)
    results = search(client, query)["results"]
    assert results[0]["sku"] == CANNED_FOOD
    assert {r["sku"] for r in results[1:4]} == jar_skus
