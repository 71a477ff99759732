"""The ONNX Runtime fast path: same numbers as eager PyTorch, exported once, never half-written."""

import numpy as np
import pytest

from backend.encoders import efficientnet, onnx_export
from backend.encoders.image import OnnxImageEncoder, TorchImageEncoder

from .conftest import sample_images

pytestmark = pytest.mark.slow


def _only_file(folder):
    files = sorted(folder.iterdir())
    assert len(files) == 1, files
    return files[0]


def test_onnx_matches_pytorch(lite0, model_cache):
    eager = efficientnet.load(runtime="torch", device="cpu", cache_dir=model_cache)
    assert isinstance(eager, TorchImageEncoder)
    images = sample_images()
    difference = np.abs(lite0.features(images) - eager.features(images)).max()
    assert difference < 1e-4
    np.testing.assert_allclose(lite0.encode(images), eager.encode(images), atol=1e-5)


def test_export_is_cached_and_reused(tmp_path):
    first = efficientnet.load(runtime="onnx", device="cpu", cache_dir=tmp_path)
    exported = _only_file(tmp_path)
    assert exported.name.startswith("efficientnet-lite0-") and exported.suffix == ".onnx"
    mtime = exported.stat().st_mtime_ns

    second = efficientnet.load(runtime="onnx", device="cpu", cache_dir=tmp_path)
    assert second is not first
    assert _only_file(tmp_path) == exported and exported.stat().st_mtime_ns == mtime
    image = sample_images()[:2]
    np.testing.assert_array_equal(first.encode(image), second.encode(image))


def test_cache_name_follows_the_weights(tmp_path):
    weights = efficientnet.weights_file()
    other = tmp_path / "other.pth"
    other.write_bytes(weights.read_bytes() + b"\0")
    same = onnx_export.onnx_cache_path(tmp_path, "m", weights)
    assert same == onnx_export.onnx_cache_path(tmp_path, "m", weights)
    assert same != onnx_export.onnx_cache_path(tmp_path, "m", other)


def test_corrupt_cached_file_is_exported_again(tmp_path):
    path = onnx_export.onnx_cache_path(tmp_path, efficientnet.NAME, efficientnet.weights_file())
    path.write_bytes(b"half an onnx file")
    encoder = efficientnet.load(runtime="onnx", device="cpu", cache_dir=tmp_path)
    assert isinstance(encoder, OnnxImageEncoder)
    assert _only_file(tmp_path) == path and path.stat().st_size > 1_000_000
    assert encoder.encode(sample_images()[:1]).shape == (1, 1280)


def test_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    import torch

    def crash_halfway(model, args, f, **kwargs):
        with open(f, "wb") as out:
            out.write(b"\x08\x07partial")
        raise RuntimeError("killed during export")

    monkeypatch.setattr(torch.onnx, "export", crash_halfway)
    with pytest.raises(RuntimeError, match="killed during export"):
        efficientnet.load(runtime="onnx", device="cpu", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
