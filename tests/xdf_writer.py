"""A test-only XDF 1.0 writer (pyxdf only reads), for small fixtures.

The chunk format (https://github.com/sccn/xdf/wiki/Specifications): the magic ``XDF:``,
then chunks ``[NumLengthBytes][Length][Tag u16][content]`` where ``Length`` counts the tag
and content; tag 1 FileHeader (XML), 2 StreamHeader (u32 stream id + XML), 3 Samples
(stream id, varlen sample count, per sample a time-stamp byte 8 + f64 stamp and the
values little-endian, or for strings each a varlen length and UTF-8 bytes), 4 ClockOffset,
6 StreamFooter (stream id + XML).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

_FORMATS = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4"}


@dataclass
class XdfStream:
    """One stream: ``samples`` (n, channels) numbers, or a list of strings (markers)."""

    name: str
    type: str
    nominal_srate: float
    samples: np.ndarray | list[str]
    time_stamps: np.ndarray
    channel_format: str = "float32"
    labels: list[str] | None = None
    units: list[str] | None = None
    types: list[str] | None = None
    extra_desc: str = field(default="")


def _varlen(n: int) -> bytes:
    if n < 256:
        return bytes([1, n])
    if n < 2**32:
        return bytes([4]) + struct.pack("<I", n)
    return bytes([8]) + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _header_xml(s: XdfStream) -> bytes:
    n_ch = 1 if s.channel_format == "string" else np.asarray(s.samples).shape[1]
    chans = ""
    if s.labels is not None:
        for i, label in enumerate(s.labels):
            unit = f"<unit>{escape(s.units[i])}</unit>" if s.units else ""
            kind = f"<type>{escape(s.types[i])}</type>" if s.types else ""
            chans += f"<channel><label>{escape(label)}</label>{unit}{kind}</channel>"
    desc = f"<desc><channels>{chans}</channels>{s.extra_desc}</desc>" if chans else "<desc/>"
    return (
        '<?xml version="1.0"?><info>'
        f"<name>{escape(s.name)}</name><type>{escape(s.type)}</type>"
        f"<channel_count>{n_ch}</channel_count><nominal_srate>{s.nominal_srate}</nominal_srate>"
        f"<channel_format>{s.channel_format}</channel_format><source_id>test</source_id>"
        f"<created_at>0</created_at>{desc}</info>"
    ).encode()


def write_xdf(path: str | Path, streams: list[XdfStream], chunk_size: int = 100) -> Path:
    """Write ``streams`` to ``path`` (samples in chunks of ``chunk_size``)."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, s in enumerate(streams, start=1):
        out += _chunk(2, struct.pack("<I", sid) + _header_xml(s))
    for sid, s in enumerate(streams, start=1):
        stamps = np.asarray(s.time_stamps, dtype=np.float64)
        for a in range(0, stamps.size, chunk_size):
            body = bytearray(struct.pack("<I", sid))
            b = min(a + chunk_size, stamps.size)
            body += _varlen(b - a)
            for k in range(a, b):
                body += b"\x08" + struct.pack("<d", stamps[k])
                if s.channel_format == "string":
                    text = s.samples[k].encode()
                    body += _varlen(len(text)) + text
                else:
                    row = np.asarray(s.samples[k], dtype=_FORMATS[s.channel_format])
                    body += row.tobytes()
            out += _chunk(3, bytes(body))
        # Two clock offsets of zero: the recorder and the stream share a clock.
        for t in (stamps[0], stamps[-1]):
            out += _chunk(4, struct.pack("<I", sid) + struct.pack("<dd", t, 0.0))
        footer = (
            '<?xml version="1.0"?><info>'
            f"<first_timestamp>{stamps[0]}</first_timestamp>"
            f"<last_timestamp>{stamps[-1]}</last_timestamp>"
            f"<sample_count>{stamps.size}</sample_count></info>"
        ).encode()
        out += _chunk(6, struct.pack("<I", sid) + footer)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
