"""Free disk checks before the writes of a load, a job or an upload.

Qdrant Edge writes its segments through memory maps: when the disk under them fills, the
kernel kills the process with SIGBUS (a serving process with it), and SQLite may leave a
truncated shared-memory file. Checking before each batch turns that into a clear error
while there is still room, and the load stops between two consistent batches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from backend.errors import DiskFull
from backend.settings import Settings

_MIB = 2**20


def _data_paths(settings: Settings) -> list[Path]:
    """The folders the deployment writes to on this machine."""
    paths = [p for p in (settings.qdrant_path, settings.media_dir, settings.uploads_dir) if p]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        paths.append(Path(url.database).parent)
    return paths


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (what a write there would land on)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(settings: Settings, *, what: str) -> None:
    """DiskFull when a disk ``settings`` write to has less than ``min_free_bytes`` free;
    ``what`` names what is stopped (``"the load"``)."""
    if settings.min_free_bytes <= 0:
        return
    for path in _data_paths(settings):
        free = shutil.disk_usage(_existing(path)).free
        if free < settings.min_free_bytes:
            raise DiskFull(
                f"{what} stopped: {free // _MIB} MiB free on the disk holding {path}, less "
                f"than the {settings.min_free_bytes // _MIB} MiB VITRINE_MIN_FREE_BYTES asks "
                "for; what was stored before is kept (free some space, then load again)"
            )
