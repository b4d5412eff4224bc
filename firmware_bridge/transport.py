"""Byte transports for the bridge: a serial port (pyserial) or a TCP socket.

A transport moves bytes and nothing else; framing is the decoder's job. A link that
cannot be opened raises :class:`ConnectError`; a link that fails later (unplugged
device, closed socket) raises :class:`~edge_emotion.source.SourceError`, which the run
loop retries with back-off.
"""

from __future__ import annotations

import socket
from typing import Protocol

from edge_emotion.source import SourceError


class ConnectError(SourceError):
    """The link to the device could not be established: no such serial port,
    connection refused, or (raised by the bridge source's ``start``) no valid INFO frame.

    A subclass of :class:`SourceError` so existing handlers still catch it; a caller
    tells it from a later disconnect by type. ``first_attempt`` is true when this
    source had never started (a wrong address rather than a lost device)."""

    def __init__(self, message: str, target: str = "", first_attempt: bool = True) -> None:
        super().__init__(message)
        self.target = target
        self.first_attempt = first_attempt


class Transport(Protocol):
    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to ``max_bytes``; waits at most ``timeout_s`` for the first byte; b"" if none."""
        ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A serial port (USB CDC-ACM, UART, or a pseudo-terminal) via pyserial."""

    def __init__(self, port: str, baud: int = 921600) -> None:
        try:
            import serial  # pyserial; in the ``runtime`` extra
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SourceError("the bridge's serial transport needs pyserial") from exc
        self._serial_mod = serial
        try:
            self._port = serial.Serial(port, baudrate=baud, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectError(
                f"cannot open serial port {port!r}: {exc} (expected the device's serial port, "
                "e.g. /dev/ttyACM0)",
                target=port,
            ) from exc
        self.name = port

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            timeout = max(timeout_s, 0.0)
            if self._port.timeout != timeout:  # each change is a tcsetattr call
                self._port.timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            rest = self._port.read(min(waiting, max_bytes - 1)) if waiting else b""
            return first + rest
        except (self._serial_mod.SerialException, OSError) as exc:
            raise SourceError(f"serial port {self.name!r} failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (self._serial_mod.SerialException, OSError) as exc:
            raise SourceError(f"serial port {self.name!r} failed: {exc}") from exc

    def close(self) -> None:
        self._port.close()


class TcpTransport:
    """A TCP connection, e.g. to a Wi-Fi wearable or to the emulator."""

    def __init__(self, host: str, port: int, connect_timeout_s: float = 3.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout_s)
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {host}:{port}: {exc} (expected a device or emulator "
                "listening there)",
                target=f"tcp://{host}:{port}",
            ) from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.name = f"tcp://{host}:{port}"

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            self._sock.settimeout(max(timeout_s, 1e-6))
            data = self._sock.recv(max_bytes)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise SourceError(f"{self.name} failed: {exc}") from exc
        if not data:
            raise SourceError(f"{self.name}: the device closed the connection")
        return data

    def write(self, data: bytes) -> None:
        try:
            self._sock.settimeout(1.0)
            self._sock.sendall(data)
        except OSError as exc:
            raise SourceError(f"{self.name} failed: {exc}") from exc

    def close(self) -> None:
        self._sock.close()
