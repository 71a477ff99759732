"""Product and query images: decode with limits, and keep product images on disk by content.

Loaders store each product image once under ``media_dir`` as ``<sha256>.<ext>``; the app
serves that folder. Query images (image search) go through the same checks.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from backend.errors import InvalidImage, PayloadTooLarge, UnsupportedMediaType

# Formats we decode, and the extension and content type each is stored and served as.
FORMATS = {
    "PNG": (".png", "image/png"),
    "JPEG": (".jpg", "image/jpeg"),
    "WEBP": (".webp", "image/webp"),
    "GIF": (".gif", "image/gif"),
    "BMP": (".bmp", "image/bmp"),
}


@dataclass(frozen=True)
class DecodedImage:
    """An image that passed the checks: its pixels and what identifies its bytes."""

    image: Image.Image
    data: bytes
    sha256: str
    format: str

    @property
    def extension(self) -> str:
        """File extension for the stored copy."""
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        """MIME type of the bytes."""
        return FORMATS[self.format][1]


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, name: str = "image"
) -> DecodedImage:
    """Decode image bytes, refusing empty, oversized, over-pixel, unsupported or corrupt input."""
    if not data:
        raise InvalidImage(f"{name} is empty")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name} is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise UnsupportedMediaType(
                    f"{name} is {image.format or 'an unknown format'}; "
                    f"supported: {', '.join(sorted(FORMATS))}"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"{name} is {width}x{height} pixels; the limit is {max_pixels} pixels"
                )
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow's own guard fires before ours for gross cases: still a pixel-limit refusal.
        raise PayloadTooLarge(f"{name} is over the pixel limit of {max_pixels}: {exc}") from None
    except UnidentifiedImageError:
        raise InvalidImage(f"{name} is not an image we can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"{name} is corrupt or truncated: {exc}") from None
    return DecodedImage(
        image=image, data=data, sha256=hashlib.sha256(data).hexdigest(), format=image.format
    )


def store_image(decoded: DecodedImage, media_dir: Path) -> str:
    """Write the image under ``media_dir`` named by its content; return the file name."""
    file_name = decoded.sha256 + decoded.extension
    target = media_dir / file_name
    if target.exists():
        return file_name
    media_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a crash never leaves a half image under its final name.
    fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(decoded.data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return file_name
