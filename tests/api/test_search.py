"""Search routes on the loaded demo catalog: what a shopper sees."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from backend.app import create_app
from backend.catalog.db import migrate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO_IMAGES = Path(__file__).resolve().parents[2] / "data" / "demo" / "images"
TSHIRT = "VT-1F455"


def skus(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [r["sku"] for r in response.get_json()["results"]]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("mode", ["hybrid", "text", "keyword"])
def test_tshirt_is_found_by_its_english_name(client, mode):
    assert TSHIRT in skus(client.get(f"/api/search?q=t-shirt&mode={mode}"))[:3]


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_tshirt_is_found_by_its_chinese_title(client, mode):
    assert skus(client.get(f"/api/search?q=T恤&mode={mode}"))[0] == TSHIRT


def test_results_carry_the_product(client):
    body = client.get("/api/search?q=t-shirt&limit=3").get_json()
    first = body["results"][0]
    assert first["title"] == first["product"]["title"]
    assert first["product"]["images"][0].startswith("/media/")
    assert isinstance(first["score"], float)
    assert body["query"] == {
        "q": "t-shirt",
        "mode": "hybrid",
        "signals_why": body["query"]["signals_why"],
        "fusion": "dbsf",
        "weights": {"keywords": 1.0, "fused": 1.0},
        "filters": {},
        "limit": 3,
        "offset": 0,
    }


@pytest.mark.parametrize("mode", ["hybrid", "text", "keyword"])
def test_filters_narrow_inside_the_query(client, catalog_rows, mode):
    """Every result satisfies the filters, and dense modes rank every product that matches."""
    shirt = catalog_rows[TSHIRT]
    category, price_max = shirt["category"], float(shirt["price"]) + 10
    matching = {
        sku
        for sku, r in catalog_rows.items()
        if r["category"] == category and float(r["price"]) <= price_max and int(r["stock"]) > 0
    }
    assert TSHIRT in matching and len(matching) >= 3
    response = client.get(
        f"/api/search?q=t-shirt&mode={mode}&category={category}&price_max={price_max}"
        "&in_stock=true&limit=100"
    )
    results = response.get_json()["results"]
    assert results[0]["sku"] == TSHIRT
    for result in results:
        product = result["product"]
        assert product["category"] == category
        assert product["price"] <= price_max
        assert product["in_stock"] is True
    if mode != "keyword":  # a keyword query matches only products sharing a word
        assert {r["sku"] for r in results} == matching


def test_repeated_brand_means_any_of(client, catalog_rows):
    brands = sorted({r["brand"] for r in catalog_rows.values()})[:2]
    response = client.get(
        f"/api/search?q=gift&mode=text&brand={brands[0]}&brand={brands[1]}&limit=100"
    )
    found = {r["product"]["brand"] for r in response.get_json()["results"]}
    assert found == set(brands)


def test_price_range_is_inclusive(client, catalog_rows):
    price = float(catalog_rows[TSHIRT]["price"])
    response = client.get(f"/api/search?q=t-shirt&price_min={price}&price_max={price}&mode=text")
    assert TSHIRT in skus(response)
    assert all(r["product"]["price"] == price for r in response.get_json()["results"])


@pytest.mark.parametrize("mode", ["hybrid", "text", "keyword"])
def test_pages_do_not_overlap(client, mode):
    """Pages of 5 concatenate to the top 15, with no product twice, for the same query."""
    pages = [
        skus(client.get(f"/api/search?q=fruit&mode={mode}&limit=5&offset={offset}"))
        for offset in (0, 5, 10)
    ]
    whole = skus(client.get(f"/api/search?q=fruit&mode={mode}&limit=15"))
    assert pages[0] + pages[1] + pages[2] == whole
    assert len(set(whole)) == len(whole) >= 10


def post_image(client, data: bytes, name: str = "query.png", **form):
    return client.post(
        "/api/search/image",
        data={"image": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def test_image_search_finds_the_exact_product_first(client):
    data = (DEMO_IMAGES / "1f455.png").read_bytes()
    assert skus(post_image(client, data))[0] == TSHIRT


def test_image_search_counts_the_picture_twice_beside_the_fusion_head(client):
    data = (FIXTURES / "noto" / "1f455.png").read_bytes()
    query = post_image(client, data).get_json()["query"]
    assert query["mode"] == "hybrid"
    assert query["fusion"] == "dbsf"
    assert query["weights"] == {"image": 2.0, "fused": 1.0}
    # A request that names its fusion or weights gets those instead.
    rrf = post_image(client, data, fusion="rrf").get_json()["query"]
    assert rrf["weights"] == {"image": 1.0, "fused": 1.0}
    named = post_image(client, data, weights="image:1,fused:1").get_json()["query"]
    assert named["fusion"] == "dbsf" and named["weights"] == {"image": 1.0, "fused": 1.0}


def test_image_search_with_another_vendors_picture(client):
    """The Google Noto T-shirt (a different drawing) still finds the Twemoji T-shirt."""
    data = (FIXTURES / "noto" / "1f455.png").read_bytes()
    assert TSHIRT in skus(post_image(client, data, limit="10"))


@pytest.mark.parametrize("mode", ["image", "fused", "hybrid"])
def test_image_search_modes_find_the_exact_product_first(client, mode):
    data = (DEMO_IMAGES / "1f9e4.png").read_bytes()  # gloves
    response = post_image(client, data, mode=mode)
    assert skus(response)[0] == "VT-1F9E4"
    assert response.get_json()["query"]["mode"] == mode


def test_image_search_without_words_refuses_word_modes(client):
    data = (DEMO_IMAGES / "1f9e4.png").read_bytes()
    assert error_of(post_image(client, data, mode="keyword"), 400)["code"] == "mode_unavailable"
    assert error_of(post_image(client, data, mode="telepathy"), 400)["code"] == "invalid_request"


def test_fused_text_search_reaches_products_through_the_head(client):
    """Words go through the fusion head to products' fused text-and-picture vectors."""
    assert skus(client.get("/api/search?q=gloves&mode=fused"))[0] == "VT-1F9E4"
    assert TSHIRT in skus(client.get("/api/search?q=t-shirt&mode=fused"))[:3]


def test_image_search_honours_filters(client, catalog_rows):
    category = catalog_rows[TSHIRT]["category"]
    data = (FIXTURES / "noto" / "1f45f.png").read_bytes()  # a running shoe, filtered to clothing
    results = post_image(client, data, category=category).get_json()["results"]
    assert results and all(r["product"]["category"] == category for r in results)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("q=shirt&mode=bogus", "invalid_request"),
        ("q=shirt&price_min=50&price_max=10", "invalid_request"),
        ("q=shirt&price_max=cheap", "invalid_request"),
        ("q=shirt&price_min=-1", "invalid_request"),
        ("q=shirt&limit=0", "invalid_request"),
        ("q=shirt&limit=101", "invalid_request"),
        ("q=shirt&offset=-5", "invalid_request"),
        ("q=shirt&in_stock=maybe", "invalid_request"),
        ("q=", "invalid_request"),
        ("mode=text", "invalid_request"),
        ("q=shirt&mode=image", "mode_unavailable"),
    ],
)
def test_bad_search_parameters_are_400(client, query, code):
    assert error_of(client.get(f"/api/search?{query}"), 400)["code"] == code


def test_bad_price_message_names_the_parameter(client):
    message = error_of(client.get("/api/search?q=shirt&price_max=cheap"), 400)["message"]
    assert "price_max" in message and "cheap" in message


@pytest.fixture
def strict_client(settings):
    """An app (empty catalog) with small image limits, so limit tests need no large uploads."""
    strict = settings.with_(max_image_bytes=20_000, max_image_pixels=10_000)
    migrate(strict.database_url)
    app = create_app(strict)
    yield app.test_client()
    app.extensions["vitrine_index"].close()


def test_image_upload_errors(client):
    no_file = client.post("/api/search/image", data={}, content_type="multipart/form-data")
    assert error_of(no_file, 400)["code"] == "invalid_image"
    not_image = post_image(client, b"not an image at all", "x.png")
    assert error_of(not_image, 400)["code"] == "invalid_image"
    png = (DEMO_IMAGES / "1f455.png").read_bytes()
    assert error_of(post_image(client, png[: len(png) // 2]), 400)["code"] == "invalid_image"
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
    assert error_of(post_image(client, tiff.getvalue(), "x.tiff"), 415)["code"] == (
        "unsupported_media_type"
    )


def test_image_over_the_size_limits_is_413(strict_client):
    over_image_limit = post_image(strict_client, b"\0" * 30_000)
    assert error_of(over_image_limit, 413)["code"] == "payload_too_large"
    over_request_limit = post_image(strict_client, b"\0" * 200_000)
    assert error_of(over_request_limit, 413)["code"] == "request_entity_too_large"


def test_image_over_the_pixel_limit_is_413(strict_client):
    big = io.BytesIO()
    Image.new("1", (200, 200)).save(big, format="PNG")  # a few hundred bytes, 40k pixels
    assert error_of(post_image(strict_client, big.getvalue()), 413)["code"] == "payload_too_large"


def test_image_search_bad_filter_is_400(client):
    data = (DEMO_IMAGES / "1f455.png").read_bytes()
    assert error_of(post_image(client, data, price_min="x"), 400)["code"] == "invalid_request"
