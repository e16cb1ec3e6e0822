"""A local stand-in for the outside world: SMS gateway, WeChat endpoint and webhook receiver in one tiny
HTTP server on 127.0.0.1 (stdlib ``http.server`` in a thread). Tests and local runs point notify's
configured endpoints at it.

It behaves as the real gateways do where it matters: a repeated ``Idempotency-Key`` (or WeChat
``client_msg_id``) is acknowledged but not delivered again. It can be switched ``down`` (503) or
``offline`` (connection refused: the socket is closed) and back.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivered:
    path: str
    key: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class DevGateway:
    host: str = "127.0.0.1"
    port: int = 0
    down: bool = False  # answer 503
    delivered: list[Delivered] = field(default_factory=list)  # one per distinct idempotency key
    requests: int = 0  # every request, repeats and refusals included
    _keys: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DevGateway:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with gw._lock:
                    gw.requests += 1
                    if gw.down:
                        self._answer(503, {"error": "unavailable"})
                        return
                    body = json.loads(raw or b"{}")
                    key = self.headers.get("Idempotency-Key") or body.get("client_msg_id") or ""
                    if key and key in gw._keys:
                        self._answer(200, {"errcode": 0, "duplicate": True})
                        return
                    gw._keys.add(key)
                    gw.delivered.append(Delivered(self.path, key, body, dict(self.headers.items())))
                self._answer(200, {"errcode": 0, "errmsg": "ok"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="devgateway").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def offline(self) -> None:
        """Connection refused from now on (until :meth:`online`)."""
        self.stop()

    def online(self) -> None:
        self.start()

    def at(self, path: str) -> list[Delivered]:
        with self._lock:
            return [d for d in self.delivered if d.path.split("?")[0] == path]


def main() -> None:  # pragma: no cover - `python -m yima_notify.devgateway 8025` for a local run
    import sys
    import time

    gw = DevGateway(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8025).start()
    print(f"dev gateway on {gw.url}: POST /sms, /wechat, /hooks/<unit>")
    while True:
        time.sleep(5)
        print(f"{len(gw.delivered)} delivered, {gw.requests} requests")


if __name__ == "__main__":  # pragma: no cover
    main()
