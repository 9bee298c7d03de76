"""A recording HTTP server standing in for Slack and Teams incoming webhooks."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    payload: dict
    key: str = ""  # the Idempotency-Key header


class WebhookServer:
    """Listens on 127.0.0.1 (a free port) in a thread. Paths starting with
    ``/fail`` answer 500, ``/gone`` 404, ``/redirect`` 302 to
    ``/after-redirect``, the others 200; every request is recorded in
    :attr:`received`, with its ``Idempotency-Key``. ``delay`` seconds pass
    between reading a request and answering it (a slow receiver)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"invalid": raw.decode("utf-8", "replace")}
                key = self.headers.get("Idempotency-Key") or ""
                with owner._lock:
                    owner.received.append(Received(self.path, payload, key))
                if delay:
                    time.sleep(delay)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", owner.url("/after-redirect"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/fail"):
                    status = 500
                elif self.path.startswith("/gone"):
                    status = 404
                else:
                    status = 200
                body = b"ok" if status == 200 else b"error"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender died waiting (the chaos test kills it)

            def log_message(self, format, *args):  # noqa: A002 - silence logs
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def to(self, path: str) -> list[dict]:
        with self._lock:
            return [r.payload for r in self.received if r.path == path]
