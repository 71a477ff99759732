"""Admin uploads at the door: the files of ``POST /api/admin/uploads`` are checked (type,
size, zip safety) and kept under the uploads folder until their load job has run.

What can be refused for the whole request is refused here (413, 415, unsafe zip); what
concerns single rows (bad values, bad images, image URLs) is reported per row by the job.
"""

from __future__ import annotations

import codecs
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from backend.errors import PayloadTooLarge, UnsafeArchive, UnsupportedMediaType
from backend.settings import Settings

CATALOG_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")
# Ratios are checked only on entries this large: small files may compress well innocently.
_RATIO_MIN_BYTES = 64 * 1024
_SNIFF_BYTES = 64 * 1024


class FileUpload(Protocol):
    """What a multipart file field offers (werkzeug's FileStorage)."""

    filename: str | None
    stream: IO[bytes]


@dataclass(frozen=True)
class StoredUpload:
    """The files of one upload, saved in the job's folder."""

    folder: Path
    catalog: Path
    images: Path | None


def catalog_suffix(filename: str | None) -> str:
    """The catalog's suffix, or UnsupportedMediaType (415) for a file we do not read."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix not in CATALOG_SUFFIXES:
        raise UnsupportedMediaType(
            f"catalog {filename or '(no name)'!r}: upload a .csv or .jsonl file, "
            f"not {suffix or 'a file without a suffix'}"
        )
    return suffix


def _save(upload: FileUpload, target: Path, *, max_bytes: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := upload.stream.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"{upload.filename or target.name} is larger than {max_bytes} bytes "
                    "(VITRINE_MAX_UPLOAD_BYTES)"
                )
            out.write(chunk)


def check_text(path: Path, name: str) -> None:
    """UnsupportedMediaType unless the file starts as UTF-8 text (no NUL bytes)."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        # Not final: a multi-byte character cut at the end of the sample is no error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError:
        raise UnsupportedMediaType(f"catalog {name!r} is not UTF-8 text") from None
    if b"\x00" in head:
        raise UnsupportedMediaType(f"catalog {name!r} is not text (it holds NUL bytes)")


def unsafe_entry(name: str) -> bool:
    """Whether a zip entry name would leave the folder it is unpacked in."""
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    return (
        posix.startswith("/")
        or ".." in parts
        or (bool(parts) and ":" in parts[0])  # C:/… or a URL-like name
    )


def check_archive(path: Path, *, settings: Settings, name: str = "images") -> None:
    """Refuse a zip that is not one (415), escapes its folder (400), or is a bomb (413):
    too many entries, too much uncompressed data, or an entry inflating suspiciously."""
    if not zipfile.is_zipfile(path):
        raise UnsupportedMediaType(f"{name!r} must be a .zip of images")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsupportedMediaType(f"{name!r} is not a readable zip: {exc}") from None
    if len(infos) > settings.max_zip_entries:
        raise PayloadTooLarge(
            f"{name!r} has {len(infos)} entries; the limit is {settings.max_zip_entries} "
            "(VITRINE_MAX_ZIP_ENTRIES)"
        )
    total = 0
    for info in infos:
        if unsafe_entry(info.filename):
            raise UnsafeArchive(
                f"{name!r} entry {info.filename!r} has an absolute path or '..': "
                "entries must stay inside the zip's folder"
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_MIN_BYTES and ratio > settings.max_zip_ratio:
            raise PayloadTooLarge(
                f"{name!r} entry {info.filename!r} inflates {ratio:.0f} times; the limit is "
                f"{settings.max_zip_ratio} (VITRINE_MAX_ZIP_RATIO)"
            )
    if total > settings.max_zip_bytes:
        raise PayloadTooLarge(
            f"{name!r} holds {total} bytes uncompressed; the limit is {settings.max_zip_bytes} "
            "(VITRINE_MAX_ZIP_BYTES)"
        )


def store_upload(
    job_id: str, catalog: FileUpload, images: FileUpload | None, *, settings: Settings
) -> StoredUpload:
    """Check and save an upload's files in ``<uploads_dir>/<job_id>/``; on any refusal the
    folder is removed and the error raised."""
    assert settings.uploads_dir is not None
    suffix = catalog_suffix(catalog.filename)
    # Absolute: the job may run in another process, started from another folder.
    folder = settings.uploads_dir.resolve() / job_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        catalog_path = folder / f"catalog{suffix}"
        _save(catalog, catalog_path, max_bytes=settings.max_upload_bytes)
        check_text(catalog_path, catalog.filename or catalog_path.name)
        images_path = None
        if images is not None:
            images_path = folder / "images.zip"
            _save(images, images_path, max_bytes=settings.max_upload_bytes)
            check_archive(images_path, settings=settings, name=images.filename or "images")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StoredUpload(folder=folder, catalog=catalog_path, images=images_path)


def sweep_orphan_uploads(uploads_dir: Path, *, keep: set[str], older_than: float) -> list[str]:
    """Remove upload folders no job will read: a server killed while it received or saved an
    upload leaves one without a job. ``keep``: the active jobs' ids; folders modified at or
    after ``older_than`` (a time stamp) may belong to a request in flight and stay. The
    names removed."""
    if not uploads_dir.is_dir():
        return []
    removed = []
    for folder in uploads_dir.iterdir():
        if folder.name in keep or not folder.is_dir() or folder.stat().st_mtime >= older_than:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def remove_upload(folder: Path) -> None:
    """Delete an upload's folder once its job has ended."""
    shutil.rmtree(folder, ignore_errors=True)
