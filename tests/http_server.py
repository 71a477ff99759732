"""A real HTTP server on a loopback port, on a thread, serving pictures the hostile ways the
fetch guard must survive: redirect chains, redirects to private addresses, a server that
never answers, one that drips bytes, one that sends too much, one that waits to be released."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PICTURE = (
    Path(__file__).resolve().parents[1] / "data" / "demo" / "images" / "1f455.png"
).read_bytes()


@dataclass
class PictureServer:
    """What the test sees of the server: its base URL and the events it can wait on/set."""

    url: str
    held: threading.Event = field(default_factory=threading.Event)  # a /held request arrived
    release: threading.Event = field(default_factory=threading.Event)  # let /held answer
    requests: list[str] = field(default_factory=list)


def _handler(state: PictureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _picture(self, data: bytes = PICTURE, *, length: bool = True) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if length:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append(self.path)
            path = self.path
            if path == "/pic.png":
                self._picture()
            elif path.startswith("/hops/"):
                left = int(path.rsplit("/", 1)[1])
                self._redirect(f"/hops/{left - 1}" if left > 1 else "/pic.png")
            elif path == "/to-private":
                self._redirect("http://10.1.2.3/pic.png")
            elif path == "/to-metadata":
                self._redirect("http://169.254.169.254/latest/meta-data/")
            elif path == "/silent":
                state.release.wait(10)  # answers nothing until the test ends
            elif path == "/drip":
                self.send_response(200)
                self.end_headers()
                for _ in range(100):
                    if state.release.wait(0.1):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
            elif path == "/big-declared":
                self._picture(PICTURE + b"\x00" * 5000)
            elif path == "/big-undeclared":
                self.close_connection = True
                self._picture(PICTURE + b"\x00" * 5000, length=False)
            elif path == "/held.png":
                state.held.set()
                state.release.wait(30)
                self._picture()
            else:
                self.send_error(404)

    return Handler


@contextmanager
def picture_server() -> Iterator[PictureServer]:
    """Serve on 127.0.0.1 (a free port) for the length of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state := PictureServer("")))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
        time.sleep(0.05)  # let answering threads see the release and finish
