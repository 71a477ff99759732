"""Image preprocessing shared by every image encoder and both runtimes (torch, ONNX Runtime).

``to_rgb`` flattens any PIL mode onto white (emoji PNGs have transparent backgrounds);
``ImageTransform`` is timm's eval transform (resize, centre crop, normalise) in PIL + numpy,
so the eager and the exported model see exactly the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image``: EXIF rotation applied, transparency composited onto white."""
    image = ImageOps.exif_transpose(image)
    if has_transparency(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in _WIDE_GREY_MODES:
        # 16-bit greyscale (PNG): PIL's own conversion clips instead of scaling.
        grey = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), "L")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def has_transparency(image: Image.Image) -> bool:
    """True for images with an alpha channel or a transparent palette entry."""
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def trim_to_content(image: Image.Image, margin: float = 0.10) -> Image.Image:
    """A cut-out drawing cropped to what it shows, centred on a square with ``margin`` per side.

    Vendors frame the same object with different empty borders; trimming makes the frames
    agree. Images without transparency (photos) are returned unchanged.
    """
    if not has_transparency(image):
        return image
    rgba = ImageOps.exif_transpose(image).convert("RGBA")
    box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box:
        rgba = rgba.crop(box)
    width, height = rgba.size
    side = max(1, round(max(width, height) * (1 + 2 * margin)))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    canvas.paste(rgba, ((side - width) // 2, (side - height) // 2))
    return canvas


@dataclass(frozen=True)
class ImageTransform:
    """Resize the short side to ``size / crop_pct``, centre-crop ``size``, scale to mean/std.

    The same steps as timm's ``create_transform(..., is_training=False)`` (torchvision's PIL
    backend), returning channel-first float32 arrays.
    """

    size: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: Image.Resampling = Image.Resampling.BICUBIC

    def __call__(self, image: Image.Image) -> NDArray[np.float32]:
        """One image as a ``(3, size, size)`` array."""
        image = to_rgb(image)
        width, height = image.size
        scale_size = math.floor(self.size / self.crop_pct)
        if width <= height:
            new_w, new_h = scale_size, int(scale_size * height / width)
        else:
            new_w, new_h = int(scale_size * width / height), scale_size
        if (new_w, new_h) != (width, height):
            image = image.resize((new_w, new_h), self.interpolation)
        top = int(round((new_h - self.size) / 2.0))
        left = int(round((new_w - self.size) / 2.0))
        image = image.crop((left, top, left + self.size, top + self.size))
        pixels: NDArray[np.float32] = np.asarray(image, dtype=np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        out: NDArray[np.float32] = np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1))
        return out

    def batch(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Several images as one ``(n, 3, size, size)`` array."""
        if not images:
            return np.zeros((0, 3, self.size, self.size), np.float32)
        return np.stack([self(image) for image in images])
