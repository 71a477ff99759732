import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.encoders import (
    ImageEncoder,
    TextEncoder,
    device,
    encoders_from_settings,
    image_encoder,
    known_encoders,
    text_encoder,
)
from backend.errors import ConfigurationError
from backend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_known_encoders_say_kind_and_dimension():
    known = known_encoders()
    assert (known["minilm"].kind, known["minilm"].dim) == ("text", 384)
    assert (known["efficientnet-lite0"].kind, known["efficientnet-lite0"].dim) == ("image", 1280)
    assert any(name.startswith("open_clip:") for name in known)
    assert any(name.startswith("st:") for name in known)


def test_unknown_text_encoder_lists_the_known_ones():
    with pytest.raises(ConfigurationError) as info:
        text_encoder("bert-of-theseus")
    assert "bert-of-theseus" in info.value.message
    assert "minilm" in info.value.message and "st:" in info.value.message


def test_unknown_image_encoder_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        image_encoder("resnet-9000", cache_dir=tmp_path)
    assert "efficientnet-lite0" in info.value.message and "open_clip:" in info.value.message


def test_unknown_runtime_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="runtime"):
        image_encoder("efficientnet-lite0", runtime="tensorrt", cache_dir=tmp_path)


@pytest.mark.slow
def test_same_name_gives_the_same_object(minilm, lite0, model_cache):
    assert text_encoder("minilm", device="cpu") is minilm
    assert text_encoder("minilm") is minilm  # "auto" is the CPU on this machine
    assert image_encoder("efficientnet-lite0", cache_dir=model_cache) is lite0
    assert isinstance(minilm, TextEncoder) and isinstance(lite0, ImageEncoder)


@pytest.mark.slow
def test_another_batch_size_shares_the_loaded_model(minilm, lite0, model_cache):
    small = text_encoder("minilm", device="cpu", batch_size=4)
    assert small is not minilm and small.model is minilm.model and small.batch_size == 4
    assert text_encoder("minilm", device="cpu", batch_size=4) is small
    tiny = image_encoder("efficientnet-lite0", cache_dir=model_cache, batch_size=2)
    assert tiny.session is lite0.session and tiny.batch_size == 2


@pytest.mark.slow
def test_encoders_from_settings(tmp_path, minilm, lite0):
    # Apps built with other folders still get the encoders this process already loaded.
    text, image = encoders_from_settings(Settings(var_dir=tmp_path))
    # The default image encoder is the GeM readout of the same bundled network.
    assert image.name == "efficientnet-lite0-gem" and image is not lite0
    assert encoders_from_settings(Settings(var_dir=tmp_path))[1] is image
    # With a model cache the CPU text encoder is MiniLM in ONNX Runtime, not the torch one.
    assert text is text_encoder("minilm", device="cpu", cache_dir=tmp_path)
    assert text is not minilm and getattr(text, "runtime", None) == "onnx"
    assert (text.dim, image.dim) == (384, 1392)
    eager, _ = encoders_from_settings(Settings(var_dir=tmp_path, text_runtime="torch"))
    assert eager is minilm


@pytest.mark.slow
def test_a_local_sentence_transformers_folder_is_a_text_encoder(minilm):
    from backend.encoders.text import minilm_path

    folder = str(minilm_path())
    encoder = text_encoder(folder, device="cpu")
    assert (encoder.name, encoder.dim) == (folder, 384)
    assert (encoder.encode(["hat"]) @ minilm.encode(["hat"]).T).item() == pytest.approx(1.0)


def test_missing_sentence_transformers_model_fails_fast():
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="downloads are disabled"):
        text_encoder("st:vitrine-tests/no-such-model", device="cpu")
    assert time.monotonic() - started < 60
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("open_clip:ViT-B-32/laion2b_s34b_b79k", "not on this machine"),
        ("open_clip:ViT-B-32/openai", "not on this machine"),
        ("open_clip:ViT-B-32/no_such_tag", "laion2b_s34b_b79k"),
        ("open_clip:ViT-B-32//nowhere/weights.safetensors", "does not exist"),
        ("open_clip:No-Such-Arch/openai", "no architecture"),
        ("open_clip:ViT-B-32", "must read"),
    ],
)
def test_open_clip_without_weights_fails_fast(tmp_path, name, expected):
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=expected):
        image_encoder(name, device="cpu", cache_dir=tmp_path)
    assert time.monotonic() - started < 30


def test_open_clip_refuses_onnx_runtime(tmp_path):
    with pytest.raises(ConfigurationError, match="PyTorch only"):
        image_encoder("open_clip:ViT-B-32/openai", runtime="onnx", cache_dir=tmp_path)


def test_auto_device_asks_pytorch_only_where_a_gpu_could_be():
    probe = (
        "import sys; from backend.encoders.device import resolve_device; "
        "print(resolve_device('auto'), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    import torch

    assert out[0] == ("cuda" if torch.cuda.is_available() else "cpu")
    # A machine without a CUDA driver answers cpu without loading PyTorch's 500 MiB.
    assert out[1] == str(device._cuda_possible())


def test_a_missing_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigurationError, match="no CUDA device"):
        device.resolve_device("cuda")
