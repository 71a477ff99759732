"""Where a catalog's images come from: a folder, a zip, or http(s) URLs in the rows.

Every reference is checked before it is read: no absolute paths or ``..`` out of the folder
or zip, no entry larger than the image limit, URLs only to public addresses (``fetch.py``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from backend.errors import InvalidImage, InvalidRequest, PayloadTooLarge
from loaders.fetch import UrlPolicy, fetch_url


class ImageSource(Protocol):
    """Reads the bytes of an image reference from a catalog row."""

    def read(self, ref: str, *, max_bytes: int) -> bytes: ...

    def close(self) -> None: ...


def _safe_relative(ref: str) -> PurePosixPath:
    path = PurePosixPath(ref.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        raise InvalidImage(f"image path {ref!r} must be relative and stay inside the images")
    return path


class NoImages:
    """A load without an images folder: only URLs can be read."""

    def read(self, ref: str, *, max_bytes: int) -> bytes:
        raise InvalidImage(f"image {ref!r}: no images folder or zip was given (--images)")

    def close(self) -> None:
        pass


class FolderImages:
    """Images in a folder; references are paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, ref: str, *, max_bytes: int) -> bytes:
        path = (self.root / _safe_relative(ref)).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidImage(f"image path {ref!r} leaves the images folder")
        if not path.is_file():
            raise InvalidImage(f"image {ref!r} not found in {self.root}")
        if path.stat().st_size > max_bytes:
            raise PayloadTooLarge(f"image {ref!r} is larger than {max_bytes} bytes")
        return path.read_bytes()

    def close(self) -> None:
        pass


class ZipImages:
    """Images in a zip; references are entry names (also tried without a top folder)."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InvalidRequest(f"{path.name} is not a readable zip: {exc}") from None
        self.entries = {
            str(_safe_relative(info.filename)): info
            for info in self.zip.infolist()
            if not info.is_dir() and not _unsafe_entry(info.filename)
        }
        # Let "shirt.png" find "catalog/images/shirt.png" when names are unique.
        self.by_name: dict[str, zipfile.ZipInfo | None] = {}
        for name, info in self.entries.items():
            base = PurePosixPath(name).name
            self.by_name[base] = None if base in self.by_name else info

    def read(self, ref: str, *, max_bytes: int) -> bytes:
        key = str(_safe_relative(ref))
        info = self.entries.get(key) or self.by_name.get(PurePosixPath(key).name)
        if info is None:
            raise InvalidImage(f"image {ref!r} not found in the zip")
        if info.file_size > max_bytes:
            raise PayloadTooLarge(f"image {ref!r} is larger than {max_bytes} bytes")
        with self.zip.open(info) as handle:
            data = handle.read(max_bytes + 1)  # never trust the declared size alone
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"image {ref!r} is larger than {max_bytes} bytes")
        return data

    def close(self) -> None:
        self.zip.close()


def _unsafe_entry(name: str) -> bool:
    try:
        _safe_relative(name)
    except InvalidImage:
        return True
    return False


def open_images(path: Path | None) -> ImageSource:
    """The image source for ``--images``: a folder, a .zip, or none."""
    if path is None:
        return NoImages()
    if path.is_dir():
        return FolderImages(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return ZipImages(path)
    raise InvalidRequest(f"--images {path}: not a folder or a zip file")


def read_image_ref(
    source: ImageSource, ref: str, *, max_bytes: int, policy: UrlPolicy | None = None
) -> bytes:
    """Bytes of one image reference: a URL (fetched under ``policy``), or a path in the source."""
    if ref.lower().startswith(("http://", "https://")):
        return fetch_url(ref, max_bytes=max_bytes, policy=policy)
    return source.read(ref, max_bytes=max_bytes)
