"""The on-disk layout of the embedded index: one Qdrant Edge shard folder per collection version.

Edge has no collections or aliases, and a shard folder can be open in one process only, so a
rebuild (``vitrine reindex``) writes a new version folder beside the serving one and then
points ``current.json`` at it; the serving process notices and swaps shards::

    <VITRINE_QDRANT_PATH>/
      current.json        {"version": "v2", "switched_at": "..."}  (replaced atomically)
      v2/                 the Edge shard (edge_config.json, wal/, segments/)
                          + vitrine-collection.json (the encoders that built it)

A folder from before versions (the shard directly in ``VITRINE_QDRANT_PATH``) is moved into
``v1/`` the first time it is opened.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import qdrant_edge as q

from backend.errors import REPAIR_HINT, IndexCorrupt, IndexUnavailable
from backend.index import compat

POINTER_FILE = "current.json"
# Edge writes this file when it creates a shard; its presence means "a shard lives here".
ENGINE_CONFIG_FILE = "edge_config.json"
_VERSION = re.compile(r"^v(\d+)$")
_MIGRATING_SUFFIX = ".migrating"

log = logging.getLogger(__name__)


def version_number(name: str) -> int | None:
    """3 for ``v3``; None for a name that is not a version folder."""
    match = _VERSION.match(name)
    return int(match.group(1)) if match else None


def versions(root: Path) -> list[str]:
    """The version folders under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [(n, c.name) for c in root.iterdir() if (n := version_number(c.name)) is not None]
    return [name for _, name in sorted(found)]


def next_version(root: Path) -> str:
    """A version name above every folder there (abandoned builds included)."""
    numbers = [version_number(name) or 0 for name in versions(root)]
    return f"v{max(numbers, default=0) + 1}"


def read_pointer(root: Path) -> str | None:
    """The current version's name, or None when no version has been made current.

    A pointer that is not the JSON this module writes raises IndexCorrupt: guessing a version
    could serve the wrong one, and ignoring it would start an empty index beside the data.
    """
    path = root / POINTER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:  # not UTF-8, not JSON, unreadable
        raise IndexCorrupt(f"{path} cannot be read ({exc}): {REPAIR_HINT}") from None
    version = data.get("version") if isinstance(data, Mapping) else None
    if not isinstance(version, str) or version_number(version) is None:
        raise IndexCorrupt(f"{path} names no index version ({str(data)[:80]!r}): {REPAIR_HINT}")
    return version


def pointer_stamp(root: Path) -> tuple[int, int, int] | None:
    """A cheap fingerprint of the pointer file (one stat): it changes when the file is replaced."""
    try:
        st = os.stat(root / POINTER_FILE)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def write_pointer(root: Path, version: str) -> None:
    """Make ``version`` current: readers see the old pointer or the new one, never half."""
    write_json_atomic(
        root / POINTER_FILE, {"version": version, "switched_at": datetime.now(UTC).isoformat()}
    )


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_held(folder: Path) -> bool:
    """Whether a process (this one included) has the shard in ``folder`` open."""
    if not (folder / ENGINE_CONFIG_FILE).exists():
        return False
    try:
        shard = q.EdgeShard.load(str(folder))
    except Exception as exc:
        if "WouldBlock" in str(exc):
            return True
        if not folder.exists():  # removed meanwhile by the process that let it go
            return False
        # Unreadable for another reason: never delete what cannot be vouched for.
        log.warning("index version at %s cannot be opened: %s", folder, exc)
        return True
    shard.close()
    return False


def remove(folder: Path) -> None:
    """Delete a version folder (already closed everywhere)."""
    shutil.rmtree(folder, ignore_errors=True)


def remove_superseded(root: Path, *, keep: str | None) -> list[str]:
    """Delete version folders older than ``keep`` that no process holds; their names.

    Newer ones are left alone: they may be a rebuild in progress in another process.
    """
    current = version_number(keep) if keep else None
    removed = []
    for name in versions(root):
        number = version_number(name)
        if current is None or number is None or number >= current:
            continue
        if not is_held(root / name):
            remove(root / name)
            removed.append(name)
    return removed


def remove_abandoned(root: Path, *, current: str | None) -> list[str]:
    """Delete version folders newer than ``current`` that no process holds (crashed builds).

    Raises IndexUnavailable when one is held: another rebuild is running.
    """
    floor = version_number(current) if current else 0
    removed = []
    for name in versions(root):
        number = version_number(name) or 0
        if number <= (floor or 0):
            continue
        if is_held(root / name):
            raise IndexUnavailable(
                f"another rebuild of the index at {root} is running (version {name} is open)"
            )
        remove(root / name)
        removed.append(name)
    return removed


def migrate_legacy(root: Path) -> None:
    """Move a shard kept directly in ``root`` (before versions) into ``root/v1``.

    Two renames, each atomic, resumed if interrupted between them; the shard must not be
    open anywhere (IndexUnavailable, as for any open, when it is).
    """
    staging = root.with_name(root.name + _MIGRATING_SUFFIX)
    if (root / ENGINE_CONFIG_FILE).exists() and read_pointer(root) is None:
        if is_held(root):
            raise IndexUnavailable(compat.folder_in_use_message(root))
        os.replace(root, staging)
    if staging.is_dir() and (staging / ENGINE_CONFIG_FILE).exists():
        root.mkdir(parents=True, exist_ok=True)
        target = root / next_version(root)
        os.replace(staging, target)
        write_pointer(root, target.name)
        log.warning(
            "moved the Qdrant Edge index at %s into the versioned layout: the shard is now in "
            "%s and %s names the current version",
            root,
            target,
            root / POINTER_FILE,
        )
