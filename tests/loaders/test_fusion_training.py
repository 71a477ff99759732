"""Training the fusion head on a catalog's own pairs: it learns, and serves what it learned."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from backend.app import create_app
from backend.catalog import db
from backend.encoders.fusion import FusionHead, load_head
from backend.encoders.registry import encoders_from_settings
from backend.settings import Settings
from loaders.cli import main
from loaders.fusion_training import (
    Features,
    TrainingConfig,
    _fusion_net,
    catalog_features,
    text_views,
    train,
)
from loaders.pipeline import load_into

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
NOTO = ROOT / "data" / "eval" / "noto"
SUBSET = 48

pytestmark = pytest.mark.slow


def head_of(weights: dict, *, text_dim=384, image_dim=1392) -> FusionHead:
    """A head over float32 weights as training leaves them (no checkpoint rounding)."""
    return FusionHead(
        weights={k: np.asarray(v, np.float32) for k, v in weights.items()},
        text_encoder="minilm",
        image_encoder="efficientnet-lite0-gem",
        text_dim=text_dim,
        image_dim=image_dim,
        dim=int(weights["text_proj.weight"].shape[0]),
        version="test",
        trained={},
    )


@pytest.fixture(scope="module")
def subset(tmp_path_factory, model_cache):
    """Every eighth demo product (48 of them), loaded into a fresh deployment."""
    folder = tmp_path_factory.mktemp("fusion")
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[::8][:SUBSET]
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = Settings(var_dir=folder / "var", model_cache_dir=model_cache, fusion_head="none")
    assert load_into(settings, catalog, DEMO / "images").failed == 0
    return {"settings": settings, "rows": rows, "catalog": catalog}


@pytest.fixture(scope="module")
def features(subset):
    settings = subset["settings"]
    text, image = encoders_from_settings(settings)
    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    return catalog_features(
        sessions,
        text=text,
        image=image,
        media_dir=settings.media_dir,
        config=TrainingConfig(image_views=6),
    )


def test_numpy_head_computes_what_the_torch_module_computes():
    import torch

    torch.manual_seed(1)
    net = _fusion_net(384, 1392)
    head = head_of({k: v.detach().numpy() for k, v in net.state_dict().items()})
    rng = np.random.default_rng(0)
    t = rng.standard_normal((5, 384)).astype(np.float32)
    v = rng.standard_normal((5, 1392)).astype(np.float32)
    with torch.no_grad():
        expected = {
            "product": net.product(torch.from_numpy(t), torch.from_numpy(v)).numpy(),
            "text": net.query_text(torch.from_numpy(t)).numpy(),
            "image": net.query_image(torch.from_numpy(v)).numpy(),
        }
    np.testing.assert_allclose(head.product(t, v), expected["product"], atol=1e-5)
    np.testing.assert_allclose(head.text_query(t), expected["text"], atol=1e-5)
    np.testing.assert_allclose(head.image_query(v), expected["image"], atol=1e-5)


def test_text_views_are_names_and_rare_keywords(subset, features):
    assert features.counts["products"] == SUBSET == features.counts["with_picture"]
    assert features.image_views.shape == (SUBSET, 6, 1392)
    assert features.text_views.shape == (features.counts["text_views"], 384)
    # Every product is reachable by its Chinese title as well as its English one.
    assert np.bincount(features.text_view_owner, minlength=SUBSET).min() >= 2


def test_training_lowers_the_loss_and_ranks_unseen_drawings_higher(subset, features):
    import torch

    config = TrainingConfig(epochs=40, image_views=6, batch_size=48)
    torch.manual_seed(config.seed)
    untrained = head_of({k: v.numpy() for k, v in _fusion_net(384, 1392).state_dict().items()})
    result = train(features, config)
    assert result.losses[-1] < 0.5 * result.losses[0]

    trained = head_of(result.weights)
    _, image = encoders_from_settings(subset["settings"])
    pictures = [Image.open(NOTO / row["image"]) for row in subset["rows"]]
    queries = image.encode(pictures)

    def mrr(head: FusionHead) -> float:
        scores = head.image_query(queries) @ head.product(features.text, features.image).T
        ranks = (scores > scores.diagonal()[:, None]).sum(axis=1) + 1
        return float(np.mean(1.0 / ranks))

    assert mrr(trained) > mrr(untrained) + 0.3


def test_products_added_after_training_are_found_through_the_fused_vector(subset, features):
    """A head meets products it never saw (a shop adds products after training): their fused
    vectors still carry their words and picture, so their titles and other-vendor drawings
    find them among the products it was trained on."""
    seen = np.arange(SUBSET) < 32
    config = TrainingConfig(epochs=40, image_views=6, batch_size=32)
    trained = head_of(train(_rows(features, seen), config).weights)
    text, image = encoders_from_settings(subset["settings"])
    unseen = np.flatnonzero(~seen)
    products = trained.product(features.text, features.image)
    drawings = image.encode([Image.open(NOTO / subset["rows"][i]["image"]) for i in unseen])
    titles = text.encode([subset["rows"][i]["title"] for i in unseen])

    def mrr(queries: np.ndarray) -> float:
        scores = queries @ products.T
        own = scores[np.arange(len(unseen)), unseen]
        ranks = (scores > own[:, None]).sum(axis=1) + 1
        return float(np.mean(1.0 / ranks))

    # Measured: 0.50 and 1.00; heads without the linear path (version 1) gave 0.31 and 0.76.
    assert mrr(trained.image_query(drawings)) > 0.4
    assert mrr(trained.text_query(titles)) > 0.9


def _rows(features: Features, keep: np.ndarray) -> Features:
    """The features of the products ``keep`` marks, with their views."""
    rows = np.flatnonzero(keep)
    position = {row: i for i, row in enumerate(rows)}
    owned = np.isin(features.text_view_owner, rows)
    return Features(
        skus=[features.skus[r] for r in rows],
        text=features.text[rows],
        image=features.image[rows],
        has_image=features.has_image[rows],
        text_views=features.text_views[owned],
        text_view_owner=np.asarray([position[o] for o in features.text_view_owner[owned]]),
        image_views=features.image_views[rows],
    )


def test_cli_trains_writes_a_checkpoint_and_the_app_serves_fused_search(subset, tmp_path):
    settings = subset["settings"]
    out = tmp_path / "head.npz"
    env = {
        "VITRINE_VAR_DIR": str(settings.var_dir),
        "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
    }
    result = CliRunner().invoke(
        main,
        ["train-fusion", "--epochs", "5", "--views", "2", "--out", str(out), "--no-progress"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    head = load_head(out)
    assert f"trained {head.name} on {SUBSET} products" in result.output
    assert (head.text_encoder, head.image_encoder) == ("minilm", "efficientnet-lite0-gem")
    assert head.trained["epochs"] == 5 and head.trained["last_loss"] < head.trained["first_loss"]

    # A deployment with that head indexes the fused vector and answers mode=fused.
    served = Settings(
        var_dir=tmp_path / "var", model_cache_dir=settings.model_cache_dir, fusion_head=str(out)
    )
    assert load_into(served, subset["catalog"], DEMO / "images").failed == 0
    app = create_app(served)
    try:
        client = app.test_client()
        first = subset["rows"][0]
        body = client.get(f"/api/search?q={first['title']}&mode=fused").get_json()
        assert [r["sku"] for r in body["results"]][:3].count(first["sku"]) == 1
        health = client.get("/health").get_json()
        assert health["points"] == SUBSET
    finally:
        app.extensions["vitrine_index"].close()


def test_cli_trains_on_a_sample_and_says_what_it_costs(subset, tmp_path):
    settings = subset["settings"]
    out = tmp_path / "sample.npz"
    result = CliRunner().invoke(
        main,
        ["train-fusion", "--epochs", "1", "--views", "2", "--max-products", "10"]
        + ["--out", str(out), "--no-progress"],
        env={
            "VITRINE_VAR_DIR": str(settings.var_dir),
            "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        },
    )
    assert result.exit_code == 0, result.output
    head = load_head(out)
    assert head.products is not None and len(head.products) == 10
    assert head.products < {row["sku"] for row in subset["rows"]}
    assert f"a sample of 10 of the catalog's {SUBSET} products" in result.stderr
    assert "--max-products" in result.stderr


def test_cli_refuses_an_unmigrated_catalog(tmp_path):
    result = CliRunner().invoke(
        main, ["train-fusion", "--no-progress"], env={"VITRINE_VAR_DIR": str(tmp_path / "v")}
    )
    assert result.exit_code == 3 and "vitrine migrate" in result.output


def test_text_views_skip_keywords_many_products_share():
    from backend.catalog.models import Product

    products = [
        Product(sku=f"S-{i}", title=f"Thing {i}", titles={}, keywords=["common", f"rare{i}"])
        for i in range(5)
    ]
    texts = [text for _, text in text_views(products)]
    assert "common" not in texts and "rare3" in texts


def test_large_catalogs_train_on_a_seeded_sample(subset):
    settings = subset["settings"]
    text, image = encoders_from_settings(settings)
    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))

    def sampled(seed):
        config = TrainingConfig(image_views=1, max_products=10, seed=seed)
        return catalog_features(
            sessions, text=text, image=image, media_dir=settings.media_dir, config=config
        ).skus

    first = sampled(0)
    assert len(first) == 10 and len(set(first)) == 10
    assert sampled(0) == first and sampled(1) != first


def test_retraining_encodes_only_the_pictures_it_has_not_seen(subset, tmp_path):
    """Pictures' views are kept in the model cache: after products are added, training again
    encodes the new products' pictures only, and the others' views come back unchanged."""
    settings = subset["settings"]
    text, image = encoders_from_settings(settings)
    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))

    def features_of(products: int):
        config = TrainingConfig(image_views=2, max_products=products)
        return catalog_features(
            sessions,
            text=text,
            image=image,
            media_dir=settings.media_dir,
            config=config,
            cache_dir=tmp_path,
        )

    before = features_of(40)  # a seeded sample of 40 of the 48: the catalog "before"
    after = features_of(SUBSET)
    assert (before.counts["pictures_encoded"], after.counts["pictures_encoded"]) == (40, 8)
    rows = [after.skus.index(sku) for sku in before.skus]
    np.testing.assert_array_equal(after.image_views[rows], before.image_views)
    np.testing.assert_array_equal(after.image[rows], before.image)
    assert features_of(SUBSET).counts["pictures_encoded"] == 0

    # A cache that cannot be read is rebuilt, not an error.
    (cached,) = tmp_path.glob("fusion-views*.npz")
    cached.write_bytes(b"not numpy")
    assert features_of(SUBSET).counts["pictures_encoded"] == SUBSET
