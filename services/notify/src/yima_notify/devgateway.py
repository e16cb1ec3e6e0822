"""A local stand-in for the outside world: SMS gateway, WeChat endpoint and webhook receiver in one tiny
HTTP server on 127.0.0.1 (stdlib ``http.server`` in a thread). Tests and local runs point notify's
configured endpoints at it.

It behaves as the real gateways do where it matters: a repeated ``Idempotency-Key`` (or WeChat
``client_msg_id``) is acknowledged but not delivered again. It can be switched ``down`` (503) or
``offline`` (connection refused: the socket is closed) and back; ``down_paths`` takes one channel down
(``{"/wechat"}``), ``wechat_errcode`` makes WeChat refuse every message (43004: the user unsubscribed).

It also shows what it got (``./yima run`` starts it as its own process: ``python -m yima_notify.devgateway
--port 8025``): ``GET /`` a small Chinese page, ``GET /deliveries.json`` every delivery with its idempotency key
and how many times that key was POSTed — a repeated key counts up but is delivered once — and ``GET /health``.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivered:
    path: str
    key: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    posts: int = 1  # how many times this key was POSTed and acknowledged (the first included); delivered once
    last_post_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        b = self.body
        to = _mask(str(b["phone"])) if b.get("phone") else (
            b.get("touser") or self.path.split("?")[0].removeprefix("/hooks/"))
        text = b.get("text") or (b.get("data", {}).get("remark", {}).get("value") if "data" in b else "") or ""
        return {"channel": _channel(self.path), "path": self.path.split("?")[0], "key": self.key, "to": to,
                "template_id": b.get("template_id", ""), "text": text, "posts": self.posts, "delivered": 1,
                "first_at": self.at.isoformat(), "last_post_at": (self.last_post_at or self.at).isoformat()}


def _channel(path: str) -> str:
    p = path.split("?")[0]
    return "sms" if p == "/sms" else "wechat" if p.startswith("/wechat") else "webhook" if p.startswith(
        "/hooks/") else p


def _mask(to: str) -> str:
    """Phone numbers shown as 138****5678 (the page is for checking counts, not for reading contacts)."""
    if to.isdigit() and len(to) > 7:
        return to[:3] + "*" * (len(to) - 7) + to[-4:]
    return to


@dataclass
class DevGateway:
    host: str = "127.0.0.1"
    port: int = 0
    down: bool = False  # answer 503
    down_paths: set[str] = field(default_factory=set)  # answer 503 on these paths only (one channel down)
    wechat_errcode: int = 0  # answer WeChat with this errcode and deliver nothing (43004: the user unsubscribed)
    delivered: list[Delivered] = field(default_factory=list)  # one per distinct idempotency key
    requests: int = 0  # every request, repeats and refusals included
    _keys: dict[str, Delivered] = field(default_factory=dict)  # idempotency key -> its one delivery
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
                    path = self.path.split("?")[0]
                    if gw.down or path in gw.down_paths:
                        self._answer(503, {"error": "unavailable"})
                        return
                    if gw.wechat_errcode and _channel(path) == "wechat":
                        self._answer(200, {"errcode": gw.wechat_errcode, "errmsg": "refused"})
                        return
                    body = json.loads(raw or b"{}")
                    key = self.headers.get("Idempotency-Key") or body.get("client_msg_id") or ""
                    if key and key in gw._keys:
                        first = gw._keys[key]
                        first.posts += 1
                        first.last_post_at = datetime.now(UTC)
                        self._answer(200, {"errcode": 0, "duplicate": True})
                        return
                    d = Delivered(self.path, key, body, dict(self.headers.items()))
                    gw._keys[key] = d
                    gw.delivered.append(d)
                self._answer(200, {"errcode": 0, "errmsg": "ok"})

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/health":
                    self._answer(200, {"status": "ok"})
                elif path == "/deliveries.json":
                    self._answer(200, gw.report())
                elif path == "/":
                    data = gw.page().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._answer(404, {"error": "not found", "paths": ["/", "/deliveries.json", "/health"]})

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

    def report(self) -> dict[str, Any]:
        """Every delivery (one per idempotency key) with how often its key was POSTed."""
        with self._lock:
            items = [d.view() for d in self.delivered]
            requests = self.requests
        return {"delivered": len(items), "requests": requests,
                "repeated_keys": sum(1 for i in items if i["posts"] > 1), "deliveries": items}

    def page(self) -> str:
        r = self.report()
        rows = "".join(
            f"<tr{' class=rep' if d['posts'] > 1 else ''}><td>{html.escape(d['first_at'][11:19])}</td>"
            f"<td>{html.escape(d['channel'])}</td><td>{html.escape(d['to'])}</td>"
            f"<td><code>{html.escape(d['key'])}</code></td><td>{d['posts']}</td><td>1</td>"
            f"<td>{html.escape(d['template_id'])}</td><td>{html.escape(d['text'])}</td></tr>"
            for d in reversed(r["deliveries"]))
        return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>本地短信/推送网关</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}tr.rep{{background:#fff3cd}}</style></head><body>
<h1>本地短信/推送网关（开发用）</h1>
<p>收到请求 {r["requests"]} 次，实际送达 {r["delivered"]} 条；被重复提交的幂等键 {r["repeated_keys"]} 个
（黄色行：同一幂等键提交了多次，只送达一次）。每5秒自动刷新；
机器可读：<a href="/deliveries.json">/deliveries.json</a>。</p>
<table><tr><th>首次时间(UTC)</th><th>渠道</th><th>接收方</th><th>幂等键</th><th>提交次数</th><th>送达</th><th>模板</th>
<th>内容</th></tr>{rows}</table></body></html>"""


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a local run: see module docstring
    ap = argparse.ArgumentParser(prog="python -m yima_notify.devgateway",
                                 description="本地短信/微信/系统对接网关（开发、测试用）")
    ap.add_argument("port_arg", nargs="?", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=8025, help="HTTP port on --host (default 8025)")
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    gw = DevGateway(host=args.host, port=args.port_arg or args.port).start()
    print(f"dev gateway on {gw.url}: POST /sms, /wechat, /hooks/<unit>; GET / and /deliveries.json", flush=True)
    seen = (0, 0)
    while True:
        time.sleep(5)
        now = (len(gw.delivered), gw.requests)
        if now != seen:
            print(f"{now[0]} delivered, {now[1]} requests", flush=True)
            seen = now


if __name__ == "__main__":  # pragma: no cover
    main()
