"""Fixtures for the encoder tests: pictures drawn with PIL and the default encoders, loaded
once per session through the registry (the same cached objects the app would get)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from backend.encoders import image_encoder, text_encoder


def circle(size: int, *, colour=(220, 30, 30), background=(255, 255, 255), mode="RGB"):
    """A filled disc of diameter ``size`` centred on a 256 px canvas."""
    canvas = Image.new(mode, (256, 256), background)
    draw = ImageDraw.Draw(canvas)
    lo, hi = 128 - size // 2, 128 + size // 2
    draw.ellipse((lo, lo, hi, hi), fill=colour)
    return canvas


def striped_square(colours=((30, 30, 200), (250, 200, 0))):
    """A square of horizontal stripes on white."""
    canvas = Image.new("RGB", (256, 256), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, top in enumerate(range(48, 208, 16)):
        draw.rectangle((48, top, 208, top + 15), fill=colours[i % 2])
    return canvas


def sample_images():
    """A varied handful: shapes, sizes, aspect ratios and modes."""
    return [
        circle(180),
        circle(90, colour=(20, 160, 40)),
        striped_square(),
        striped_square().resize((400, 300)),
        circle(150, mode="RGBA", background=(0, 0, 0, 0), colour=(250, 120, 0, 255)),
        Image.effect_noise((320, 200), 60).convert("RGB"),
        Image.linear_gradient("L").resize((180, 260)),
    ]


@pytest.fixture(scope="session")
def minilm():
    return text_encoder("minilm", device="cpu")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def lite0(model_cache):
    """EfficientNet-Lite0 as the registry gives it on CPU by default (ONNX Runtime)."""
    return image_encoder("efficientnet-lite0", device="cpu", cache_dir=model_cache)
