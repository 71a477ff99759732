"""A throwaway PostgreSQL server for tests, started from the Debian binaries.

``running_postgres()`` runs ``initdb`` into a temporary folder and starts a server on a free
port of 127.0.0.1 (trust auth, no fsync), then stops it and removes the folder. initdb refuses
to run as root, so as root the server runs as the ``postgres`` system user.

    with running_postgres() as server:
        url = server.create_database()   # postgresql://postgres@127.0.0.1:PORT/test_...
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql

_BIN_GLOB = "/usr/lib/postgresql/*/bin"  # newest version first; VITRINE_PG_BIN wins
_SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start; tests skip with this reason."""


def find_bin_dir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``; PostgresUnavailable if there is none."""
    env = os.environ.get("VITRINE_PG_BIN")
    candidates = [Path(env)] if env else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in {_BIN_GLOB}, on PATH "
        "or in VITRINE_PG_BIN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A running throwaway server; ``create_database`` gives each test its own database."""

    def __init__(self, bin_dir: Path, root: Path, port: int, as_user: list[str]) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.port = port
        self._as_user = as_user
        self._stopped = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        """URL of the maintenance database ``postgres``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh random name by default) and return its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connection a test left open."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log(self) -> str:
        """The server log so far (to explain a failure)."""
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint) and delete its folder; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        subprocess.run(
            [*self._as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir)]
            + ["-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()}")


def start_server() -> PostgresServer:
    """initdb a temporary cluster and start it; PostgresUnavailable if that cannot be done."""
    bin_dir = find_bin_dir()
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL as"
            ) from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and runuser is missing")
        as_user = [runuser, "-u", _SERVER_USER, "--"]

    root = Path(tempfile.mkdtemp(prefix="vitrine-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bin_dir, root, _free_port(), as_user)
    try:
        _run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(server.data_dir)]
            + ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {server.port}",
                f"-c unix_socket_directories={root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=50",
            ]
        )
        try:
            _run(
                [*as_user, str(bin_dir / "pg_ctl"), "-D", str(server.data_dir)]
                + ["-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start"],
                "pg_ctl start",
            )
        except PostgresUnavailable as exc:
            raise PostgresUnavailable(f"{exc}\nserver log:\n{server.log()[-2000:]}") from None
    except BaseException:
        server.stop()
        raise
    # A safety net should the test run end without the fixture's teardown.
    atexit.register(server.stop)
    return server


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A throwaway server for the duration of the block, stopped even if the block raises."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


def start_postgres() -> tuple[str, Callable[[], None]]:
    """Start a throwaway server: the URL of its ``postgres`` database and a function to stop it."""
    server = start_server()
    return server.url, server.stop
