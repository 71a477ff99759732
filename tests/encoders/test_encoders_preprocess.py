import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from backend.encoders import efficientnet
from backend.encoders.preprocess import ImageTransform, to_rgb

from .conftest import circle, sample_images


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (4, 4), (10, 200, 10, 0))
    rgba.putpixel((0, 0), (10, 200, 10, 255))
    rgb = to_rgb(rgba)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == (10, 200, 10)


def test_half_transparent_pixels_blend_with_white():
    rgb = to_rgb(Image.new("RGBA", (2, 2), (0, 0, 0, 128)))
    assert all(abs(channel - 127) <= 1 for channel in rgb.getpixel((0, 0)))


def _reopened_png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    return Image.open(buffer)


def _palette_with_transparent_background():
    image = Image.new("P", (256, 256), 0)
    image.putpalette([0, 0, 0, 200, 0, 0] + [0, 0, 0] * 254)
    ImageDraw.Draw(image).ellipse((50, 50, 200, 200), fill=1)
    image.info["transparency"] = 0
    return _reopened_png(image)


@pytest.mark.parametrize(
    "image",
    [
        _reopened_png(circle(100, mode="RGBA", background=(0, 0, 0, 0)).convert("LA")),
        _palette_with_transparent_background(),
    ],
    ids=["LA", "P"],
)
def test_other_transparent_modes_become_white(image):
    rgb = to_rgb(image)
    assert rgb.getpixel((5, 5)) == (255, 255, 255)
    assert rgb.getpixel((128, 128)) != (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "1", "CMYK", "I;16", "I", "F", "YCbCr"])
def test_every_mode_converts_to_rgb(mode):
    image = Image.linear_gradient("L").convert(mode) if mode != "I;16" else Image.new(mode, (8, 8))
    assert to_rgb(image).mode == "RGB"


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey = _reopened_png(Image.fromarray(np.full((4, 4), 32768, np.uint16)))
    assert grey.mode.startswith("I")
    assert to_rgb(grey).getpixel((0, 0)) == (128, 128, 128)


def test_transform_matches_timm_eval_transform():
    import timm
    from timm.data import create_transform, resolve_data_config

    model = timm.create_model(efficientnet.TIMM_NAME, pretrained=False, num_classes=0)
    reference = create_transform(**resolve_data_config({}, model=model))
    for image in sample_images():
        ours = efficientnet.TRANSFORM(image)
        theirs = reference(to_rgb(image)).numpy()
        assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_batch_shapes():
    transform = ImageTransform()
    assert transform.batch([]).shape == (0, 3, 224, 224)
    assert transform.batch([circle(50), circle(80).resize((30, 500))]).shape == (2, 3, 224, 224)
