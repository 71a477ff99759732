"""Fusion checkpoints: versioned, tied to the encoders they were trained for, refused otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from backend.encoders.fusion import (
    DEFAULT_CHECKPOINT,
    FusionHeadMismatch,
    head_for,
    layer_shapes,
    load_head,
    save_head,
)
from backend.errors import ConfigurationError

DEFAULTS = {
    "text_encoder": "minilm",
    "text_dim": 384,
    "image_encoder": "efficientnet-lite0-gem",
    "image_dim": 1392,
}


def random_weights(seed=0, text_dim=384, image_dim=1280):
    rng = np.random.default_rng(seed)
    weights = {}
    for layer, (out_dim, in_dim) in layer_shapes(text_dim, image_dim).items():
        weights[f"{layer}.weight"] = rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)
        weights[f"{layer}.bias"] = np.zeros(out_dim)
    return weights


def test_checkpoint_round_trip_gives_unit_vectors_in_one_space(tmp_path):
    head = save_head(
        tmp_path / "h.npz",
        random_weights(),
        text_encoder="minilm",
        image_encoder="efficientnet-lite0",
        trained={"epochs": 3},
    )
    assert head.name.startswith("fusion-") and head.trained == {"epochs": 3}
    rng = np.random.default_rng(1)
    t, v = rng.standard_normal((4, 384)), rng.standard_normal((4, 1280))
    for rows in (
        head.product(t, v),
        head.product(t, None),
        head.text_query(t),
        head.image_query(v),
    ):
        assert rows.shape == (4, head.dim) and rows.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    # No picture is the same as an all-zero picture row.
    np.testing.assert_allclose(head.product(t, None), head.product(t, np.zeros((4, 1280))))


def test_version_follows_the_weights(tmp_path):
    first = save_head(tmp_path / "a.npz", random_weights(0), trained={}, **_names())
    again = save_head(tmp_path / "b.npz", random_weights(0), trained={}, **_names())
    other = save_head(tmp_path / "c.npz", random_weights(1), trained={}, **_names())
    assert first.name == again.name != other.name


def _names():
    return {"text_encoder": "minilm", "image_encoder": "efficientnet-lite0"}


def test_a_head_for_other_encoders_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "clip.npz"
    save_head(
        path,
        random_weights(text_dim=512, image_dim=512),
        text_encoder="st:clip-text",
        image_encoder="open_clip:ViT-B-32/laion2b_s34b_b79k",
        trained={},
    )
    with pytest.raises(FusionHeadMismatch) as info:
        head_for(str(path), **DEFAULTS)
    message = info.value.message
    assert "open_clip:ViT-B-32" in message and "efficientnet-lite0" in message
    assert "vitrine train-fusion" in message and "VITRINE_FUSION_HEAD=none" in message


def test_auto_uses_the_shipped_head_only_where_it_fits():
    head = head_for("auto", **DEFAULTS)
    assert head is not None and head is load_head(DEFAULT_CHECKPOINT)
    assert head_for("auto", **{**DEFAULTS, "text_encoder": "st:other"}) is None
    assert head_for("none", **DEFAULTS) is None


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not numpy at all")
    with pytest.raises(ConfigurationError, match="not a fusion checkpoint"):
        load_head(junk)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_head(tmp_path / "missing.npz")
    weights = random_weights()
    del weights["fm_image.bias"]
    np.savez(tmp_path / "partial.npz", **weights)
    with pytest.raises(ConfigurationError):
        load_head(tmp_path / "partial.npz")


def _rewrite_version(path, version):
    """The checkpoint at ``path`` with its header's format version set to ``version``."""
    import json

    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(bytes(arrays["__header__"]).decode())
    header["format_version"] = version
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def test_a_version_1_head_fuses_as_it_was_trained_and_unknown_versions_are_refused(tmp_path):
    """Heads trained before the linear path (version 1) keep their product vectors, so an index
    they built still matches their queries; a version this code does not know is refused."""
    path = tmp_path / "old.npz"
    current = save_head(path, random_weights(), trained={}, **_names())
    assert current.format_version == 2
    _rewrite_version(path, 1)
    old = load_head(path)
    assert old.format_version == 1
    rng = np.random.default_rng(2)
    t = rng.standard_normal((3, 384)).astype(np.float32)
    v = rng.standard_normal((3, 1280)).astype(np.float32)
    e_t, e_v = old._linear(t, "text_proj"), old._linear(v, "image_proj")
    mlp = old._mlp(np.concatenate([e_t, e_v], axis=1), "product_mlp")
    fm = old._linear(t, "fm_text") * old._linear(v, "fm_image")
    for head, raw in ((old, mlp + fm), (current, e_t + e_v + mlp + fm)):
        expected = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        np.testing.assert_allclose(head.product(t, v), expected, atol=1e-5)
    # Queries are computed the same way in both versions.
    np.testing.assert_allclose(old.text_query(t), current.text_query(t), atol=1e-6)

    _rewrite_version(path, 3)
    with pytest.raises(ConfigurationError, match="version 1 or 2"):
        load_head(path)
