"""An upload of products the fusion head never saw: the server trains a new head on the whole
catalog in the background, switches to it, and hybrid search uses the fused signal again,
also after a restart."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import AdminActions, csv_bytes, demo_images, demo_rows, stop_app, zip_bytes


def upload(admin: AdminActions, rows: list[dict[str, str]]) -> dict:
    images = zip_bytes(demo_images(row["image"] for row in rows))
    job = admin.upload_and_wait(csv_bytes(rows), images=images)
    assert job["state"] == "succeeded", job
    return job


def head_of(client) -> dict:
    health = client.get("/health").get_json()
    return {"points": health["points"], **health["fusion_head"]}


@pytest.mark.parametrize("backend", ["edge", "qdrant"])
def test_new_products_get_a_head_trained_on_them_in_the_background(
    start_app, settings, admin_token, backend
):
    settings = settings.with_(head_refresh="auto", index_backend=backend)
    admin = AdminActions(start_app(settings), admin_token)
    client = admin.client
    known = demo_rows(12)
    upload(admin, known)  # the shipped head was trained on the demo's products
    shipped = head_of(client)
    assert (shipped["points"], shipped["products_trained_on"]) == (12, 12)

    new = [{**row, "sku": f"NEW-{row['sku']}"} for row in demo_rows(14)[12:]]
    job = upload(admin, new)
    assert "until the head this server is training on the whole catalog serves" in job["message"]
    first = new[0]
    # Until the new head serves, hybrid leaves the fused signal out and says why.
    deadline = time.monotonic() + 240
    while (head := head_of(client))["name"] == shipped["name"]:
        body = client.get("/api/search", query_string={"q": first["title"]}).get_json()
        assert body["results"], body
        assert time.monotonic() < deadline, "no head was trained on the uploaded products"
        time.sleep(0.5)
    assert (head["points"], head["products_trained_on"]) == (14, 14)

    body = client.get("/api/search", query_string={"q": first["title"]}).get_json()
    assert body["results"][0]["sku"] == first["sku"]
    assert "fused" in body["query"]["weights"]
    assert "fusion head" not in body["query"]["signals_why"]
    liked = client.post("/api/recommend", json={"positive": [first["sku"]]}).get_json()
    assert liked["query"]["using"] == ["fused"]

    # A product uploaded after the switch is fused by the new head, in the upload's process.
    upload(admin, [{**demo_rows(15)[14], "sku": "NEW-LATER"}])
    later = client.get("/api/search", query_string={"q": demo_rows(15)[14]["title"]})
    assert later.get_json()["results"][0]["sku"] == "NEW-LATER"

    # A restarted server serves the head its index was fused by.
    stop_app(admin.app)
    restarted = start_app(settings).test_client()
    assert head_of(restarted)["name"] == head["name"]
    again = restarted.get("/api/search", query_string={"q": first["title"]}).get_json()
    assert again["results"][0]["sku"] == first["sku"]


def test_a_damaged_record_of_the_catalogs_head_stops_start_up_with_its_path(settings):
    from backend.app import create_app
    from backend.errors import ConfigurationError

    settings.heads_dir.mkdir(parents=True)
    (settings.heads_dir / "current.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="current.json"):
        create_app(settings)
