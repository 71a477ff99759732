"""A fusion head trained on other products: hybrid search leaves its fused signal out and says
why, /health says how much of the index the head knows, and asking for the signal still works."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from backend.api.results import search_service
from backend.search.ext import EXTENSION
from backend.search.service import HeadCoverage
from tests.api.conftest import csv_bytes, demo_images, demo_rows, zip_bytes
from tests.conftest import DEMO

SHOP = 30  # products of each upload


def upload(admin, rows) -> dict:
    images = zip_bytes(demo_images(row["image"] for row in rows))
    job = admin.upload_and_wait(csv_bytes(rows), images=images)
    assert job["state"] == "succeeded"
    return job


def test_a_head_trained_on_other_products_is_left_out_of_hybrid_search(admin):
    """Another shop (the demo's first products under skus of its own) on the default settings,
    whose shipped head was trained on the demo's skus."""
    app = admin.app
    # Count the share at every search, not every 30 s, to see the second upload at once.
    app.extensions[EXTENSION] = replace(
        app.extensions[EXTENSION], coverage=HeadCoverage(recheck_seconds=0)
    )
    demo = demo_rows(SHOP)
    shop = [{**row, "sku": f"OTHER-{row['sku']}"} for row in demo]
    job = upload(admin, shop)
    # The job says what to do, as `vitrine load` does.
    assert "fusion head" in job["message"]
    assert "was trained on 0 of the 30 indexed products" in job["message"]
    client = admin.client

    first = shop[0]
    body = client.get(f"/api/search?q={first['title']}").get_json()
    assert body["results"][0]["sku"] == first["sku"]
    assert set(body["results"][0]["explain"]["signals"]) == {"keywords"}
    why = body["query"]["signals_why"]
    assert "fusion head was trained on 0 of these 30 products" in why
    assert "vitrine train-fusion" in why
    health = client.get("/health").get_json()
    assert health["fusion_head"]["products_trained_on"] == 0
    assert health["fusion_head"]["name"].startswith("fusion-")

    # Keywords alone have no vector to measure likeness in: diversity takes the text vector
    # and re-ranks the same keyword matches (six of these products are flowers).
    plain = client.get("/api/search?q=flower").get_json()
    assert set(plain["results"][0]["explain"]["signals"]) == {"keywords"}
    diverse = client.get("/api/search?q=flower&diversity=0.3")
    assert diverse.status_code == 200, diverse.get_json()
    flowers = {r["sku"] for r in plain["results"]}
    assert len(flowers) >= 6 and {r["sku"] for r in diverse.get_json()["results"]} == flowers

    # Asked for by name, the fused signal still answers.
    fused = client.get(f"/api/search?q={first['title']}&mode=fused").get_json()
    assert len(fused["results"]) == 10
    named = client.get(f"/api/search?q={first['title']}&weights=keywords:1,fused:1").get_json()
    assert named["query"]["weights"]["fused"] == 1.0

    with app.app_context():
        service = search_service()
        picture = Image.open(DEMO / "images" / first["image"])
        plan = service.plan_image(picture, mode="hybrid")
        assert [s.name for s in plan.signals] == ["image"]
        assert "fused left out" in (plan.why or "")
        assert [s.name for s in service.plan_image(picture, mode="fused").signals] == ["fused"]
        similar = service.plan_similar(shop[1]["sku"])
        assert [s.name for s in similar.signals] == ["text", "image"]
    liked = client.post("/api/recommend", json={"positive": [shop[1]["sku"]]}).get_json()
    assert liked["query"]["using"] == ["text", "image"] and len(liked["results"]) == 10

    # The demo's own products join: the head knows half of the index, still not all of it.
    upload(admin, demo)
    health = client.get("/health").get_json()
    assert (health["points"], health["fusion_head"]["products_trained_on"]) == (60, 30)
    body = client.get(f"/api/search?q={first['title']}").get_json()
    assert "trained on 30 of these 60 products" in body["query"]["signals_why"]
    assert "fused" not in body["results"][0]["explain"]["signals"]

    # A known product swapped for a new one: as many points as before, one fewer known.
    gone = demo[0]["sku"]
    deleted = client.delete(f"/api/admin/products/{gone}", headers=admin.headers)
    assert deleted.status_code == 200
    upload(admin, [{**demo_rows(SHOP + 1)[SHOP], "sku": "OTHER-NEW"}])
    health = client.get("/health").get_json()
    assert (health["points"], health["fusion_head"]["products_trained_on"]) == (60, 29)


def test_the_demo_shop_keeps_the_head_it_was_trained_on(client):
    health = client.get("/health").get_json()
    assert health["fusion_head"]["products_trained_on"] == health["points"] == 411
    body = client.get("/api/search?q=T恤").get_json()
    assert body["query"]["weights"] == {"keywords": 1.0, "fused": 1.0}
    assert "fusion head" not in body["query"]["signals_why"]
    liked = client.post("/api/recommend", json={"positive": ["VT-1F45F"]}).get_json()
    assert liked["query"]["using"] == ["fused"]


def test_loading_a_catalog_the_head_was_not_trained_on_says_what_to_do(settings_env, tmp_path):
    from click.testing import CliRunner

    from loaders.cli import main

    rows = [{**row, "sku": f"OTHER-{row['sku']}"} for row in demo_rows(5)]
    catalog = tmp_path / "shop.csv"
    catalog.write_bytes(csv_bytes(rows))
    result = CliRunner().invoke(
        main,
        ["load", str(catalog), "--images", str(DEMO / "images"), "--no-progress"],
        env=settings_env,
    )
    assert result.exit_code == 0, result.output
    assert "5 indexed" in result.stdout
    assert "was trained on 0 of the 5 indexed products" in result.stderr
    assert "vitrine train-fusion" in result.stderr
