"""Where the emulated device meets a host: a TCP socket on 127.0.0.1, or a
pseudo-terminal pair that the host opens like a serial port.

Over TCP the device keeps running while hosts come and go: up to ``max_clients`` at
once, each getting every frame from when it connects (an INFO frame first); a host that
leaves or stops reading is dropped and the others go on. The device itself is
:class:`edge_emotion.firmware_bridge.emulated_device.DeviceEmulator`; these functions drive its
``run`` with their ``write``/``read``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_emotion.firmware_bridge.decoder import HostDecoder
from edge_emotion.firmware_bridge.emulated_device import DeviceEmulator, EmulatorReport


@dataclass
class _Client:
    conn: socket.socket
    downlink: HostDecoder


class _TcpHost:
    """The device's side of the TCP endpoint: accepts hosts while it runs and writes
    every frame to each. ``write``/``read`` are what :meth:`DeviceEmulator.run` calls."""

    def __init__(
        self,
        srv: socket.socket,
        emulator: DeviceEmulator,
        max_clients: int,
        accept_timeout_s: float,
        write_timeout_s: float,
        stop: threading.Event | None,
    ) -> None:
        self.srv = srv
        self.emulator = emulator
        self.max_clients = max_clients
        self.accept_timeout_s = accept_timeout_s
        self.write_timeout_s = write_timeout_s
        self.user_stop = stop
        self.stop = threading.Event()  # set when no host came back in time
        self.clients: list[_Client] = []
        self.idle_since = time.monotonic()

    def accept(self, wait_s: float) -> None:
        """Take the hosts waiting (waiting up to ``wait_s`` for one); each starts with
        an INFO frame, as a device that was already running would send it."""
        while len(self.clients) < self.max_clients and select.select([self.srv], [], [], wait_s)[0]:
            wait_s = 0.0
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _Client(conn, HostDecoder(max_payload=64))
            self.clients.append(client)
            self.emulator.report.clients += 1
            self._send(client, self.emulator.info_frame(self.emulator.now_s))

    def _send(self, client: _Client, data: bytes) -> None:
        try:
            client.conn.settimeout(self.write_timeout_s)
            client.conn.sendall(data)
        except OSError:  # gone, or not reading for write_timeout_s: drop this host only
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
            with contextlib.suppress(OSError):
                client.conn.close()
            if not self.clients:
                self.idle_since = time.monotonic()

    def write(self, data: bytes) -> None:
        if self.user_stop is not None and self.user_stop.is_set():
            self.stop.set()
        # Paced (speed > 0), the device runs on without hosts; unpaced, it waits for one.
        paced = self.emulator.config.speed > 0
        self.accept(0.0 if self.clients or paced else self.accept_timeout_s)
        if not self.clients:
            self.emulator.report.bytes_unsent += len(data)
            if time.monotonic() - self.idle_since >= self.accept_timeout_s:
                self.stop.set()
            return
        for client in list(self.clients):
            self._send(client, data)

    def read(self) -> bytes:
        """Answers each host's frames itself (an INFO request gets its INFO back)."""
        for client in list(self.clients):
            data = b""
            try:
                while select.select([client.conn], [], [], 0)[0]:
                    chunk = client.conn.recv(4096)
                    if not chunk:
                        self._drop(client)
                        break
                    data += chunk
            except OSError:
                self._drop(client)
            if data:
                reply = self.emulator.handle_downlink(data, self.emulator.now_s, client.downlink)
                if reply and client in self.clients:
                    self._send(client, reply)
        return b""

    def close(self) -> None:
        for client in list(self.clients):
            self._drop(client)


def serve_tcp(
    emulator: DeviceEmulator,
    duration_s: float,
    port: int = 0,
    accept_timeout_s: float = 30.0,
    on_ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    write_timeout_s: float = 5.0,
    max_clients: int = 4,
) -> EmulatorReport:
    """Listens on 127.0.0.1 only and plays ``duration_s`` of device time to the hosts
    that connect: up to ``max_clients`` at once, any number one after another. The
    device starts with the first host; ``on_ready`` gets the source spec
    (``bridge:tcp://127.0.0.1:PORT``) once listening. A host that reads nothing for
    ``write_timeout_s`` is dropped; with no host for ``accept_timeout_s`` the run ends."""
    if max_clients < 1:
        raise ValueError(f"max_clients: expected >= 1, got {max_clients}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(max_clients)
        spec = f"bridge:tcp://127.0.0.1:{srv.getsockname()[1]}"
        if on_ready is not None:
            on_ready(spec)
        host = _TcpHost(srv, emulator, max_clients, accept_timeout_s, write_timeout_s, stop)
        host.accept(accept_timeout_s)
        if not host.clients:
            return emulator.report
        try:
            # host.stop follows `stop` (checked on every write) and ends an idle run.
            return emulator.run(host.write, host.read, duration_s, host.stop)
        finally:
            host.close()


class PtyPair:
    """A pseudo-terminal pair in raw mode; the host opens :attr:`path` like a serial port."""

    def __init__(self, write_timeout_s: float = 2.0) -> None:
        import tty  # POSIX only

        self.write_timeout_s = write_timeout_s
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no newline translation: a byte pipe
        self.path = os.ttyname(self.slave)

    def read(self) -> bytes:
        chunks = []
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def write(self, data: bytes) -> None:
        """Like a UART without flow control: bytes nobody reads within
        ``write_timeout_s`` are lost."""
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout_s
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.master], [], left)[1]:
                return
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def serve_pty(
    emulator: DeviceEmulator,
    duration_s: float,
    pty: PtyPair,
    stop: threading.Event | None = None,
) -> EmulatorReport:
    return emulator.run(pty.write, pty.read, duration_s, stop)
