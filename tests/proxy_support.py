"""A tiny SOCKS5 / SOCKS4(a) / HTTP CONNECT proxy for the tests: asyncio on 127.0.0.1 in a
thread of its own, recording what each client asked for and forwarding the bytes to it.
Written here from RFC 1928/1929 and RFC 9110 so the client's proxy code meets a peer it
did not write."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import struct
import threading
from typing import Any, Optional

TIMEOUT = 10.0


class TinyProxy:
    """``kind`` is "socks5", "socks4" or "http". With ``credentials=(user, password)`` the
    proxy insists on them (SOCKS5 RFC 1929, HTTP Basic; SOCKS4 checks the user id).
    With ``refuse=True`` it refuses every tunnel. ``requests`` lists (host, port, user)
    of each tunnel asked for; ``tunnels`` counts those opened."""

    def __init__(
        self,
        kind: str,
        credentials: Optional[tuple[str, str]] = None,
        refuse: bool = False,
    ) -> None:
        self.kind = kind
        self.credentials = credentials
        self.refuse = refuse
        self.requests: list[tuple[str, int, Optional[str]]] = []
        self.tunnels = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def __enter__(self) -> TinyProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(TIMEOUT)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            handshake = {"socks5": self._socks5, "socks4": self._socks4, "http": self._http}
            target = await asyncio.wait_for(handshake[self.kind](reader, writer), TIMEOUT)
            if target is None:
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
            self.tunnels += 1
            await asyncio.gather(
                _pipe(reader, upstream_writer),
                _pipe(upstream_reader, writer),
                return_exceptions=True,
            )
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            await _close(writer)
            self._tasks.discard(task)

    async def _socks5(self, reader: Any, writer: Any) -> Optional[tuple[str, int]]:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        assert version == 5
        user = None
        if self.credentials is None:
            writer.write(b"\x05\x00")
        elif 2 not in methods:
            writer.write(b"\x05\xff")
            return None
        else:
            writer.write(b"\x05\x02")
            _, length = await reader.readexactly(2)
            user = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            password = (await reader.readexactly(length)).decode()
            if (user, password) != self.credentials:
                writer.write(b"\x01\x01")
                return None
            writer.write(b"\x01\x00")
        _, command, _, address_type = await reader.readexactly(4)
        assert command == 1
        if address_type == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif address_type == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.requests.append((host, port, user))
        if self.refuse:
            writer.write(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")  # not allowed by ruleset
            return None
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        return host, port

    async def _socks4(self, reader: Any, writer: Any) -> Optional[tuple[str, int]]:
        version, command, port = struct.unpack("!BBH", await reader.readexactly(4))
        address = await reader.readexactly(4)
        assert (version, command) == (4, 1)
        user = (await reader.readuntil(b"\0"))[:-1].decode()
        host = str(ipaddress.IPv4Address(address))
        if address[:3] == b"\0\0\0" and address[3] != 0:  # SOCKS4a: a name follows
            host = (await reader.readuntil(b"\0"))[:-1].decode()
        self.requests.append((host, port, user or None))
        allowed = not self.refuse and (self.credentials is None or user == self.credentials[0])
        writer.write(b"\x00" + (b"\x5a" if allowed else b"\x5b") + b"\0" * 6)
        return (host, port) if allowed else None

    async def _http(self, reader: Any, writer: Any) -> Optional[tuple[str, int]]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *header_lines = head.split("\r\n")
        method, authority, _ = request_line.split(" ")
        assert method == "CONNECT"
        headers = dict(line.split(": ", 1) for line in header_lines if line)
        host, _, port_text = authority.rpartition(":")
        user = password = None
        credentials = headers.get("Proxy-Authorization", "")
        if credentials.startswith("Basic "):
            user, _, password = base64.b64decode(credentials[6:]).decode().partition(":")
        self.requests.append((host.strip("[]"), int(port_text), user))
        if self.credentials is not None and (user, password) != self.credentials:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            return None
        if self.refuse:
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            return None
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return host.strip("[]"), int(port_text)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the socket is closed, so none is left to the garbage
    collector (a ResourceWarning) when the proxy's loop stops."""
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, asyncio.CancelledError):
        pass
