"""The text fast path: MiniLM in ONNX Runtime gives PyTorch's answers, exported once."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from backend.encoders import text, text_encoder, text_onnx
from backend.encoders.text import SentenceTransformerEncoder
from backend.encoders.text_onnx import OnnxTextEncoder
from backend.errors import ConfigurationError

pytestmark = pytest.mark.slow

CATALOG = Path(__file__).resolve().parents[2] / "data" / "demo" / "catalog.csv"


def demo_rows():
    with open(CATALOG, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def product_text(row):
    """What ingest encodes: title, keywords, category, brand and description."""
    keywords = ", ".join(row["keywords"].split("|"))
    return f"{row['title']}. {keywords}. {row['category']}. {row['brand']}. {row['description']}"


@pytest.fixture(scope="module")
def demo_texts():
    return [product_text(row) for row in demo_rows()]


@pytest.fixture(scope="module")
def demo_titles():
    return [row["title"] for row in demo_rows()[:50]]


@pytest.fixture(scope="module")
def torch_minilm():
    return text_encoder("minilm", device="cpu", runtime="torch")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("text-onnx")


@pytest.fixture(scope="module")
def float_minilm(torch_minilm, onnx_cache):
    return text_onnx.load("minilm", torch_minilm.model, cache_dir=onnx_cache, quantize=False)


@pytest.fixture(scope="module")
def int8_minilm(torch_minilm, onnx_cache):
    return text_onnx.load("minilm", torch_minilm.model, cache_dir=onnx_cache, quantize=True)


def test_float_export_gives_pytorchs_features(float_minilm, torch_minilm, demo_texts):
    texts = [*demo_texts, "a", "t-shirt", "x " * 400]  # the last one is truncated to 256 tokens
    for batch_size in (1, 7, 64):
        float_minilm.batch_size = batch_size
        rows = float_minilm.encode(texts)
        assert np.abs(rows - torch_minilm.encode(texts)).max() < 1e-4
    assert rows.dtype == np.float32 and rows.flags.c_contiguous


def test_int8_export_keeps_the_neighbours(int8_minilm, torch_minilm, demo_texts, demo_titles):
    reference, quantized = torch_minilm.encode(demo_texts), int8_minilm.encode(demo_texts)
    assert (reference * quantized).sum(axis=1).min() >= 0.99
    expected = (torch_minilm.encode(demo_titles) @ reference.T).argmax(axis=1)
    found = (int8_minilm.encode(demo_titles) @ quantized.T).argmax(axis=1)
    assert (expected == found).mean() >= 0.98


def test_order_is_kept_while_batches_are_sorted_by_length(float_minilm, int8_minilm):
    texts = ["a long text about a red cotton t-shirt for the weekend", "boots", "a mug", "hat"]
    together = float_minilm.encode(texts)
    one_by_one = np.concatenate([float_minilm.encode([text]) for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    # int8 activations are scaled per batch, so a text's row moves a little with its company.
    together = int8_minilm.encode(texts)
    one_by_one = np.concatenate([int8_minilm.encode([text]) for text in texts])
    assert (together * one_by_one).sum(axis=1).min() >= 0.98


def test_empty_and_bare_string_behave_like_pytorch(int8_minilm):
    rows = int8_minilm.encode([])
    assert rows.shape == (0, 384) and rows.dtype == np.float32
    with pytest.raises(TypeError):
        int8_minilm.encode("t-shirt")


def test_export_is_cached_and_reused(torch_minilm, tmp_path):
    first = text_onnx.load("minilm", torch_minilm.model, cache_dir=tmp_path, quantize=True)
    exported, manifest = sorted(tmp_path.iterdir(), key=lambda path: path.suffix != ".onnx")
    assert exported.name.startswith("minilm-int8-") and exported.suffix == ".onnx"
    assert manifest == exported.with_suffix(".json")
    mtimes = [exported.stat().st_mtime_ns, manifest.stat().st_mtime_ns]

    second = text_onnx.load("minilm", torch_minilm.model, cache_dir=tmp_path, quantize=True)
    assert second.session is not first.session
    assert sorted(tmp_path.iterdir()) == sorted([exported, manifest])
    assert [exported.stat().st_mtime_ns, manifest.stat().st_mtime_ns] == mtimes
    texts = ["red cotton t-shirt", "leather boots"]
    np.testing.assert_array_equal(first.encode(texts), second.encode(texts))


def test_float_and_int8_exports_live_side_by_side(float_minilm, int8_minilm, onnx_cache):
    names = sorted(path.name for path in onnx_cache.glob("*.onnx"))
    assert len(names) == 2 and names[0].startswith("minilm-")
    assert names[1].startswith("minilm-int8-")
    assert all(Path(onnx_cache, name).with_suffix(".json").is_file() for name in names)


# A second process that only encodes: what `vitrine serve` does once the export exists.
SERVE_ONLY = """
import json, sys
from pathlib import Path
from backend.encoders.registry import encoders_from_settings
from backend.settings import Settings

settings = Settings(var_dir=Path(sys.argv[1]), model_cache_dir=Path(sys.argv[2]), device="cpu")
text, image = encoders_from_settings(settings)
rows = text.encode(json.loads(sys.argv[3]))
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print(json.dumps({"runtime": text.runtime, "heavy": heavy, "rows": rows.tolist()}))
"""


def test_a_cached_export_encodes_without_pytorch(float_minilm, onnx_cache, torch_minilm, tmp_path):
    texts = ["red cotton t-shirt", "Übergröße Winterjacke", "T恤", "x " * 400]

    def start() -> dict:
        run = subprocess.run(
            [sys.executable, "-c", SERVE_ONLY, str(tmp_path), str(onnx_cache), json.dumps(texts)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        return json.loads(run.stdout)

    assert start()["heavy"]  # the first start exports the image network, through PyTorch
    served = start()
    assert served["runtime"] == "onnx" and served["heavy"] == []
    assert np.abs(np.array(served["rows"]) - torch_minilm.encode(texts)).max() < 1e-4


def test_a_cached_export_for_other_model_files_is_not_used(torch_minilm, tmp_path):
    folder = tmp_path / "minilm-copy"
    shutil.copytree(text.minilm_path(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    for weights in text.minilm_path().glob("*.safetensors"):
        (folder / weights.name).symlink_to(weights)
    cache = tmp_path / "cache"
    model = SentenceTransformer(str(folder), device="cpu")
    text_onnx.load("copy", model, cache_dir=cache, quantize=False, source=str(folder))
    assert text_onnx.cached("copy", str(folder), cache_dir=cache, quantize=False) is not None
    assert text_onnx.cached("copy", str(folder), cache_dir=cache, quantize=True) is None

    config = folder / "sentence_bert_config.json"
    config.write_text(json.dumps({"max_seq_length": 8, "do_lower_case": False}))
    assert text_onnx.cached("copy", str(folder), cache_dir=cache, quantize=False) is None
    shorter = text.load("copy", str(folder), device="cpu", runtime="onnx", cache_dir=cache)
    assert shorter.plan.max_seq_length == 8
    again = text_onnx.cached("copy", str(folder), cache_dir=cache, quantize=False)
    assert again is not None and again.plan.max_seq_length == 8


def test_an_unreadable_manifest_is_written_again(float_minilm, torch_minilm, tmp_path):
    text_onnx.load("minilm", torch_minilm.model, cache_dir=tmp_path, quantize=False)
    (manifest,) = tmp_path.glob("*.json")
    manifest.write_text('{"format": "vitrine-text-onnx", "version": 1}')
    source = str(text.minilm_path())
    assert text_onnx.cached("minilm", source, cache_dir=tmp_path, quantize=False) is None
    text_onnx.load("minilm", torch_minilm.model, cache_dir=tmp_path, quantize=False)
    reopened = text_onnx.cached("minilm", source, cache_dir=tmp_path, quantize=False)
    assert reopened is not None
    texts = ["leather boots", "T恤"]
    np.testing.assert_array_equal(reopened.encode(texts), float_minilm.encode(texts))


def test_registry_runs_minilm_in_onnx_on_cpu_by_default(tmp_path, torch_minilm):
    encoder = text_encoder("minilm", device="cpu", cache_dir=tmp_path)
    assert isinstance(encoder, OnnxTextEncoder) and encoder.runtime == "onnx"
    assert text_encoder("minilm", device="cpu", cache_dir=tmp_path) is encoder
    small = text_encoder("minilm", device="cpu", cache_dir=tmp_path, batch_size=4)
    assert small.session is encoder.session and small.batch_size == 4
    assert isinstance(text_encoder("minilm", device="cpu"), SentenceTransformerEncoder)
    forced = text_encoder("minilm", device="cpu", runtime="torch", cache_dir=tmp_path)
    assert forced is torch_minilm


def test_unknown_text_runtime_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="runtime"):
        text_encoder("minilm", device="cpu", runtime="tensorrt", cache_dir=tmp_path)


def test_onnx_needs_a_cache_folder():
    with pytest.raises(ConfigurationError, match="cache folder"):
        text.load("minilm", str(text.minilm_path()), device="cpu", runtime="onnx")


def test_unsupported_pooling_is_refused_or_left_to_pytorch(tmp_path):
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = SentenceTransformer(str(text.minilm_path()), device="cpu")
    model[1] = Pooling(model.get_embedding_dimension(), pooling_mode="max")
    with pytest.raises(text_onnx.UnsupportedModel, match="pooling 'max'"):
        text_onnx.plan(model)
    folder = tmp_path / "minilm-max"
    model.save(str(folder))
    with pytest.raises(text_onnx.UnsupportedModel):
        text.load("max", str(folder), device="cpu", runtime="onnx", cache_dir=tmp_path / "c")
    fallback = text.load("max", str(folder), device="cpu", runtime="auto", cache_dir=tmp_path)
    assert isinstance(fallback, SentenceTransformerEncoder)


def test_cls_pooling_matches_pytorch(tmp_path):
    from sentence_transformers.sentence_transformer.modules import Pooling

    model = SentenceTransformer(str(text.minilm_path()), device="cpu")
    model[1] = Pooling(model.get_embedding_dimension(), pooling_mode="cls")
    folder = tmp_path / "minilm-cls"
    model.save(str(folder))
    eager = text.load("cls", str(folder), device="cpu", runtime="torch")
    fast = text.load("cls", str(folder), device="cpu", runtime="onnx", cache_dir=tmp_path / "c")
    assert isinstance(fast, OnnxTextEncoder) and fast.plan.pooling == "cls"
    texts = ["red cotton t-shirt", "a pair of brown leather boots for the winter", "mug"]
    assert np.abs(fast.encode(texts) - eager.encode(texts)).max() < 1e-4
