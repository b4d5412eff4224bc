"""Host decode throughput of the firmware bridge, frames/s and MB/s.

Run: ``pytest benchmarks/bench_bridge.py --benchmark-only --benchmark-group-by=group``.
Frame: one stream of 8 EEG + 1 ECG channels, int24, 25 samples per frame (a 250 Hz
ADS1299-class device sends 10 such frames/s; 701 bytes each). Input: 2000 frames
(1.4 MB) in 4 KiB pieces, as a serial port delivers them, with 1 % of the frames
corrupted so resynchronisation is exercised. Compared in the same run with a pure-Python
reference decoder (per-byte table CRC, per-sample ``int.from_bytes``): the ratio is the
gain from ``binascii.crc_hqx`` + ``numpy.frombuffer``.

A second group decodes a hostile stream: 1 MiB of false headers, each claiming a
2048-byte payload, every 12 bytes (each candidate's CRC would cover ~2 KiB again; the
decoder checks them in one vectorised pass).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.firmware_bridge.codec import encode_data
from edge_emotion.firmware_bridge.decoder import HostDecoder
from edge_emotion.firmware_bridge.framing import FrameDecoder
from edge_emotion.firmware_bridge.protocol import SYNC, DataBlock, SampleFormat

N_FRAMES = 2000
PIECE = 4096


def _crc_table() -> list[int]:
    table = []
    for b in range(256):
        crc = b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_TABLE = _crc_table()


def naive_decode(data: bytes) -> tuple[int, int]:
    """Reference: the straightforward pure-Python receiver (same resync rule)."""
    frames = samples = 0
    pos, end = 0, len(data)
    while True:
        pos = data.find(b"\xa5\x5a", pos)
        if pos < 0 or end - pos < 12:
            return frames, samples
        length = data[pos + 4] | data[pos + 5] << 8
        if data[pos + 2] != 1 or length > 2048:
            pos += 1
            continue
        stop = pos + 12 + length
        if stop + 2 > end:
            return frames, samples
        crc = 0xFFFF
        for b in data[pos + 2 : stop]:
            crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ b]
        if crc != data[stop] | data[stop + 1] << 8:
            pos += 1
            continue
        ch, n = data[pos + 14], data[pos + 15]
        rows = []
        k = pos + 24
        for _ in range(n):
            row = []
            for _ in range(ch):
                row.append(int.from_bytes(data[k : k + 3], "little", signed=True))
                k += 3
            rows.append(row)
        frames += 1
        samples += n
        pos = stop + 2


@pytest.fixture(scope="module")
def stream() -> bytes:
    rng = np.random.default_rng(0)
    parts = []
    for k in range(N_FRAMES):
        raw = rng.integers(-(2**23), 2**23, (25, 9))
        f = bytearray(encode_data(DataBlock(0, SampleFormat.INT24, 25 * k, 0, raw), k, 100_000 * k))
        if k % 100 == 50:
            f[300] ^= 0x04
        parts.append(bytes(f))
    return b"".join(parts)


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


def _report(benchmark, data: bytes) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["frames_per_s"] = round(N_FRAMES / mean)
    benchmark.extra_info["MB_per_s"] = round(len(data) / mean / 1e6, 2)
    benchmark.extra_info["frame_bytes"] = len(data) // N_FRAMES


def test_decode_host(benchmark, stream):
    """HostDecoder: framing + payload parsing to (25, 9) int32 arrays + loss accounting."""
    benchmark.group = "bridge-decode 8 EEG + 1 ECG, int24, 25 samples/frame"
    pieces = _pieces(stream)

    def run():
        dec = HostDecoder()
        n = 0
        for p in pieces:
            n += len(dec.feed(p))
        return n, dec.stats.samples_lost

    n, lost = benchmark(run)
    assert n == N_FRAMES - N_FRAMES // 100 and lost == 25 * (N_FRAMES // 100)
    _report(benchmark, stream)


def test_decode_framing_only(benchmark, stream):
    """FrameDecoder alone: sync search + CRC (binascii), payload bytes not interpreted."""
    benchmark.group = "bridge-decode 8 EEG + 1 ECG, int24, 25 samples/frame"
    pieces = _pieces(stream)

    def run():
        dec = FrameDecoder()
        return sum(len(dec.feed(p)) for p in pieces)

    assert benchmark(run) == N_FRAMES - N_FRAMES // 100
    _report(benchmark, stream)


def test_decode_pure_python_reference(benchmark, stream):
    benchmark.group = "bridge-decode 8 EEG + 1 ECG, int24, 25 samples/frame"
    frames, _ = benchmark.pedantic(naive_decode, args=(stream,), rounds=3, iterations=1)
    assert frames == N_FRAMES - N_FRAMES // 100
    _report(benchmark, stream)


FLOOD = (SYNC + b"\x01\x7e\x00\x08" + bytes(6)) * (2**20 // 12)  # unknown type, 2048 B


@pytest.mark.parametrize("piece", [4096, 65536])
def test_decode_false_header_flood(benchmark, piece):
    benchmark.group = "bridge-decode 1 MiB of false 2048-byte headers"
    pieces = [FLOOD[i : i + piece] for i in range(0, len(FLOOD), piece)]

    def run():
        dec = FrameDecoder()
        for p in pieces:
            dec.feed(p)
        return dec.stats.crc_errors + dec.stats.overtaken

    assert benchmark.pedantic(run, rounds=3, iterations=1) >= len(FLOOD) // 12 - 200
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["MB_per_s"] = round(len(FLOOD) / mean / 1e6, 2)
    benchmark.extra_info["us_per_false_header"] = round(mean / (len(FLOOD) // 12) * 1e6, 2)
