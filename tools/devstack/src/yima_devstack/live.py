"""An ASGI app served for real (uvicorn on 127.0.0.1, a free port) in a background thread, for the tests that
speak real HTTP to one service in-process: browsers, schemathesis, a stand-in for a peer service."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from .infra import free_port

__all__ = ["LiveServer", "free_port", "serve_in_thread"]


@dataclass
class LiveServer:
    url: str
    # The server's own event loop: work that must share the app's Mongo client (created on that loop) is run
    # there with asyncio.run_coroutine_threadsafe(coro, live.loop).
    loop: asyncio.AbstractEventLoop


@contextmanager
def serve_in_thread(
    app: Any, *, port: int | None = None, name: str = "app", timeout: float = 60
) -> Iterator[LiveServer]:
    """``port``: when the app must know its own address before it is made (pick it with ``free_port``)."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", loop)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        loop.close()
