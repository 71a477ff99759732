import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_minilm_gives_unit_rows(minilm):
    rows = minilm.encode(["red cotton t-shirt", "leather boots", "a"])
    assert minilm.name == "minilm" and minilm.dim == 384
    assert rows.shape == (3, 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_similar_titles_are_closer(minilm):
    query, shirt, shoe = minilm.encode(["t-shirt", "T-shirt, short sleeve top", "running shoe"])
    assert query @ shirt > query @ shoe


def test_no_texts_gives_no_rows(minilm):
    rows = minilm.encode([])
    assert rows.shape == (0, 384) and rows.dtype == np.float32


def test_batches_agree_with_one_call(minilm):
    from backend.encoders.text import SentenceTransformerEncoder

    texts = [f"product number {i}" for i in range(7)]
    small = SentenceTransformerEncoder(name="minilm", model=minilm.model, batch_size=2)
    np.testing.assert_allclose(small.encode(texts), minilm.encode(texts), atol=1e-4)


def test_a_bare_string_is_refused(minilm):
    with pytest.raises(TypeError):
        minilm.encode("t-shirt")
