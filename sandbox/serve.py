"""Serving the emulators over real HTTP on loopback with uvicorn.

Both emulators run in one process and one event loop. uvicorn would install
its own signal handlers per server (the last one wins), so ours are used
instead: the first Ctrl-C or SIGTERM asks every server to stop, and they
finish their open requests before the process exits.

``SandboxThread`` runs the same servers on a background thread with its own
loop; the demo uses it so the engine talks to them over real sockets, exactly
as it would to the real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from sandbox import kleanapp, sevdesk
from sandbox.errors import SandboxError


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Endpoint:
    name: str
    app: ASGIApp
    host: str
    port: int
    token: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _server(endpoint: Endpoint) -> _QuietServer:
    config = uvicorn.Config(
        endpoint.app,
        host=endpoint.host,
        port=endpoint.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    return _QuietServer(config)


async def serve(
    endpoints: list[Endpoint], *, handle_signals: bool = True, stop: asyncio.Event | None = None
) -> None:
    """Serve every endpoint until SIGINT/SIGTERM (or ``stop`` is set)."""
    servers = [_server(e) for e in endpoints]
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        for server in servers:
            server.should_exit = True

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shutdown)
    if stop is not None:

        async def watch() -> None:
            await stop.wait()
            shutdown()

        watcher = asyncio.create_task(watch())
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        if stop is not None:
            watcher.cancel()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class SandboxThread:
    """Run emulators on loopback in a background thread (for the demo)."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve(self.endpoints, handle_signals=False, stop=self._stop)

        asyncio.run(main())

    def __enter__(self) -> SandboxThread:
        self._thread.start()
        self._ready.wait(10)
        for endpoint in self.endpoints:
            _wait_listening(endpoint.host, endpoint.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"sandbox on {host}:{port} did not start")


def endpoints(
    *,
    host: str = "127.0.0.1",
    sevdesk_port: int = 8801,
    sevdesk_token: str = "sandbox-sevdesk-token",
    kleanapp_port: int = 8802,
    kleanapp_token: str = "sandbox-kleanapp-token",
    legacy_unity_write: bool = False,
    sevdesk_bookkeeping_version: str = "2.0",
) -> list[Endpoint]:
    """Both emulators, fresh, ready to serve (port 0 picks a free port).

    ``sevdesk_bookkeeping_version`` "1.0" serves a sevDesk account that never
    got sevdesk-Update 2.0 (see ``sandbox.sevdesk.tools``).
    """
    eps = [
        Endpoint(
            "sevDesk",
            sevdesk.create_app(
                sevdesk_token,
                legacy_unity_write=legacy_unity_write,
                bookkeeping_version=sevdesk_bookkeeping_version,
            ),
            host,
            sevdesk_port or free_port(host),
            sevdesk_token,
        ),
        Endpoint(
            "KleanApp",
            kleanapp.create_app(kleanapp_token),
            host,
            kleanapp_port or free_port(host),
            kleanapp_token,
        ),
    ]
    # Refuse a taken port now, before anyone announces the endpoints as served.
    _check_ports(eps)
    return eps


def serve_forever(eps: list[Endpoint]) -> None:
    """Block serving ``eps`` until SIGINT/SIGTERM; exit cleanly."""
    _check_ports(eps)
    asyncio.run(serve(eps))


def _check_ports(eps: list[Endpoint]) -> None:
    for ep in eps:
        with socket.socket() as sock:
            if os.name != "nt":
                # As uvicorn does: connections of a sandbox stopped a moment ago
                # linger in TIME_WAIT and must not make a restart fail. A port
                # someone listens on is still refused.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((ep.host, ep.port))
            except OSError as exc:
                raise SandboxError(
                    f"cannot serve the {ep.name} emulator on {ep.host}:{ep.port}: {exc.strerror}"
                ) from None
