import numpy as np
import pytest
from PIL import Image

from backend.encoders.image import OnnxImageEncoder

from .conftest import circle, sample_images, striped_square

pytestmark = pytest.mark.slow


def test_cpu_default_runs_in_onnx_runtime(lite0):
    assert isinstance(lite0, OnnxImageEncoder)
    assert lite0.name == "efficientnet-lite0" and lite0.dim == 1280


def test_unit_rows_for_any_mode(lite0):
    images = sample_images()
    images += [images[0].convert("P"), images[0].convert("L"), images[0].convert("CMYK")]
    rows = lite0.encode(images)
    assert rows.shape == (len(images), 1280) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_transparent_background_encodes_as_white(lite0):
    on_transparent = circle(150, mode="RGBA", background=(0, 0, 0, 0), colour=(200, 0, 0, 255))
    on_white = circle(150, colour=(200, 0, 0))
    on_black = circle(150, colour=(200, 0, 0), background=(0, 0, 0))
    rgba, rgb, black = lite0.encode([on_transparent, on_white, on_black])
    np.testing.assert_allclose(rgba, rgb, atol=1e-6)
    assert rgba @ black < 0.99  # the background matters, so the test above means something


def test_same_kind_of_picture_is_closer(lite0):
    big, small, square = lite0.encode([circle(200), circle(110), striped_square()])
    assert big @ small > big @ square
    assert big @ small > small @ square


def test_no_images_gives_no_rows(lite0):
    rows = lite0.encode([])
    assert rows.shape == (0, 1280) and rows.dtype == np.float32


def test_batching_does_not_change_results(lite0):
    images = sample_images()
    one_by_one = OnnxImageEncoder(
        name=lite0.name,
        dim=lite0.dim,
        session=lite0.session,
        preprocess=lite0._preprocess,
        batch_size=3,
    )
    np.testing.assert_allclose(one_by_one.encode(images), lite0.encode(images), atol=1e-5)


def test_a_bare_image_is_refused(lite0):
    with pytest.raises(TypeError):
        lite0.encode(Image.new("RGB", (10, 10)))
