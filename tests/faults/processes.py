"""Real processes for the fault-injection suite: ``vitrine serve`` on a free port, ``vitrine``
commands, raw HTTP, and a look at the SQLite catalog from outside the processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

VITRINE = Path(sys.executable).with_name("vitrine")
GUNICORN = Path(sys.executable).with_name("gunicorn")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vitrine(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a ``vitrine`` command to its end."""
    return subprocess.run(
        [str(VITRINE), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_vitrine(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """Start a ``vitrine`` command in the background, its output going to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(VITRINE), *args], env={**os.environ, **env}, stdout=out, stderr=out
        )


def kill_hard(process: subprocess.Popen) -> None:
    """kill -9: no handler runs, nothing is flushed or closed."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def start_gunicorn(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """gunicorn with the project's ``gunicorn.conf.py`` (the Dockerfile's command)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )


class Server:
    """``vitrine serve`` (or, with ``gunicorn=True``, gunicorn) in its own process."""

    def __init__(self, env: dict[str, str], log: Path, *, gunicorn: bool = False) -> None:
        self.env = env
        self.log = log
        self.gunicorn = gunicorn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 180) -> Server:
        if self.gunicorn:
            bind = f"127.0.0.1:{self.port}"
            self.process = start_gunicorn(self.env, "--bind", bind, log=self.log)
        else:
            self.process = start_vitrine(self.env, "serve", "--port", str(self.port), log=self.log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text(errors='replace')}")
            try:
                self.get("/health")
                return self
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text(errors="replace")
                time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        kill_hard(self.process)

    def stop(self) -> int | None:
        """Ctrl-C (gunicorn: SIGTERM, its graceful stop): the server stops its job thread
        after the batch in hand and closes; its exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if self.gunicorn else signal.SIGINT)
            self.process.wait(timeout=90)
        return None if self.process is None else self.process.returncode

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, Any]:
        """Status and decoded JSON of one request (error statuses included)."""
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kwargs)


def multipart(files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of ``files`` (field -> (filename, content)), and its type."""
    boundary = uuid.uuid4().hex
    parts = []
    for field, (filename, content) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def catalog_counts(db: Path) -> dict[str, int]:
    """Products, those indexed, and jobs, read from the SQLite file by another process."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        products, indexed = connection.execute(
            "SELECT count(*), coalesce(sum(indexed_hash = content_hash), 0) FROM products"
        ).fetchone()
        jobs = connection.execute("SELECT count(*) FROM load_jobs").fetchone()[0]
        images = connection.execute("SELECT count(*) FROM product_images").fetchone()[0]
    finally:
        connection.close()
    return {"products": products, "indexed": indexed, "jobs": jobs, "images": images}


def wait_until(predicate, *, timeout: float = 180, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return value
