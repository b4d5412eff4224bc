"""The C side (firmware_bridge/c): built with the system C compiler under
``-std=c99 -Wall -Wextra -Werror -pedantic``; its own unit tests run, then, through a
shared library (ctypes), it must agree byte for byte with the golden vectors and with the
Python encoder, and its decoder must find the same frames with the same counters as the
Python decoder on corrupted streams. Skips when no C compiler is installed."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_bridge_protocol import VECTORS, python_encode

import edge_emotion.firmware_bridge as fb
from edge_emotion.firmware_bridge.codec import (
    encode_data,
    encode_decision,
    encode_frame,
    parse_data_payload,
)
from edge_emotion.firmware_bridge.framing import FrameDecoder
from edge_emotion.firmware_bridge.protocol import (
    MAX_FRAME,
    DataBlock,
    Decision,
    FrameType,
    SampleFormat,
)

C_DIR = Path(fb.__file__).resolve().parent / "c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def _compiler() -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang) on PATH")
    return cc


def _cc(*args: str) -> None:
    """Compile; on failure show the compiler's messages (warnings are errors here)."""
    run = subprocess.run([_compiler(), *CFLAGS, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ebridge")


@pytest.fixture(scope="module")
def lib(build_dir) -> ctypes.CDLL:
    so = build_dir / "libebridge.so"
    _cc("-fPIC", "-shared", str(C_DIR / "ebridge.c"), "-o", str(so))
    lib = ctypes.CDLL(str(so))
    sz = ctypes.c_size_t
    u8p = ctypes.POINTER(ctypes.c_uint8)
    lib.eb_crc16.restype = ctypes.c_uint16
    lib.eb_crc16.argtypes = [ctypes.c_uint16, ctypes.c_char_p, sz]
    lib.eb_encode_info.restype = sz
    lib.eb_encode_info.argtypes = [u8p, sz, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_void_p]
    lib.eb_encode_data.restype = sz
    lib.eb_encode_data.argtypes = [u8p, sz, ctypes.c_uint16, ctypes.c_uint32]
    lib.eb_encode_data.argtypes += [ctypes.c_uint8] * 4 + [ctypes.c_uint32] * 2
    lib.eb_encode_data.argtypes += [ctypes.c_void_p]
    lib.eb_encode_decision.restype = sz
    lib.eb_encode_decision.argtypes = [u8p, sz, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_void_p]
    lib.eb_encode_request_info.restype = sz
    lib.eb_encode_request_info.argtypes = [u8p, sz, ctypes.c_uint16, ctypes.c_uint32]
    lib.eb_parse_decision.argtypes = [ctypes.c_void_p, sz, ctypes.c_void_p]
    lib.eb_parse_data.argtypes = [ctypes.c_void_p, sz, ctypes.c_void_p]
    lib.eb_data_sample.restype = ctypes.c_int32
    lib.eb_data_sample.argtypes = [ctypes.c_void_p, sz]
    lib.eb_decoder_init.argtypes = [ctypes.c_void_p]
    lib.eb_decoder_write.restype = sz
    lib.eb_decoder_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, sz]
    lib.eb_decoder_next.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


class ChannelDesc(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 8),
        ("role", ctypes.c_uint8),
        ("unit", ctypes.c_uint8),
        ("scale", ctypes.c_float),
    ]


class StreamDesc(ctypes.Structure):
    _fields_ = [
        ("stream_id", ctypes.c_uint8),
        ("format", ctypes.c_uint8),
        ("n_channels", ctypes.c_uint8),
        ("samples_per_frame", ctypes.c_uint8),
        ("sampling_rate_hz", ctypes.c_float),
        ("channels", ctypes.POINTER(ChannelDesc)),
    ]


class DeviceInfoC(ctypes.Structure):
    _fields_ = [
        ("device_id", ctypes.c_uint32),
        ("firmware_version", ctypes.c_uint16),
        ("name", ctypes.c_char * 16),
        ("n_streams", ctypes.c_uint8),
        ("streams", ctypes.POINTER(StreamDesc)),
    ]


class DecisionC(ctypes.Structure):
    _fields_ = [
        ("window_end_us", ctypes.c_uint32),
        ("p_arousal_q16", ctypes.c_uint16),
        ("p_valence_q16", ctypes.c_uint16),
        ("labels", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("reason", ctypes.c_uint8),
    ]


class DataViewC(ctypes.Structure):
    _fields_ = [
        ("stream_id", ctypes.c_uint8),
        ("format", ctypes.c_uint8),
        ("n_channels", ctypes.c_uint8),
        ("n_samples", ctypes.c_uint8),
        ("sample_index", ctypes.c_uint32),
        ("lead_off_mask", ctypes.c_uint32),
        ("samples", ctypes.POINTER(ctypes.c_uint8)),
    ]


class FrameC(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("type", ctypes.c_uint8),
        ("length", ctypes.c_uint16),
        ("seq", ctypes.c_uint16),
        ("timestamp_us", ctypes.c_uint32),
        ("payload", ctypes.POINTER(ctypes.c_uint8)),
    ]


class DecoderC(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_uint8 * MAX_FRAME),
        ("start", ctypes.c_size_t),
        ("len", ctypes.c_size_t),
        ("consumed", ctypes.c_size_t),
        ("checked", ctypes.c_size_t),
        ("bytes_received", ctypes.c_uint32),
        ("bytes_skipped", ctypes.c_uint32),
        ("bytes_in_frames", ctypes.c_uint32),
        ("frames_ok", ctypes.c_uint32),
        ("crc_errors", ctypes.c_uint32),
        ("header_errors", ctypes.c_uint32),
        ("overtaken", ctypes.c_uint32),
    ]


_ROLE = {"other": 0, "eeg": 1, "ecg": 2}
_UNIT = {"uV": 0, "mV": 1, "V": 2, "counts": 3}
_CTYPE = {1: ctypes.c_int16, 2: ctypes.c_int32, 3: ctypes.c_int32, 4: ctypes.c_float}


def c_encode(lib, vec: dict) -> bytes:
    out = (ctypes.c_uint8 * MAX_FRAME)()
    f, seq, ts = vec["fields"], vec["seq"], vec["timestamp_us"]
    keep = []  # ctypes arrays referenced by pointers must outlive the call
    if vec["type"] == "info":
        streams = (StreamDesc * len(f["streams"]))()
        for s, sd in zip(f["streams"], streams, strict=True):
            chans = (ChannelDesc * len(s["channels"]))()
            for c, cd in zip(s["channels"], chans, strict=True):
                cd.name = c["name"].encode()
                cd.role, cd.unit, cd.scale = _ROLE[c["role"]], _UNIT[c["unit"]], c["scale"]
            keep.append(chans)
            sd.stream_id, sd.format = s["stream_id"], s["format"]
            sd.n_channels, sd.samples_per_frame = len(s["channels"]), s["samples_per_frame"]
            sd.sampling_rate_hz, sd.channels = s["sampling_rate"], chans
        info = DeviceInfoC(f["device_id"], f["firmware_version"], f["name"].encode())
        info.n_streams, info.streams = len(f["streams"]), streams
        n = lib.eb_encode_info(out, MAX_FRAME, seq, ts, ctypes.byref(info))
    elif vec["type"] == "data":
        flat = [x for row in f["samples"] for x in row]
        samples = (_CTYPE[f["format"]] * len(flat))(*flat)
        n = lib.eb_encode_data(
            out, MAX_FRAME, seq, ts, f["stream_id"], f["format"], f["n_channels"],
            f["n_samples"], f["sample_index"], f["lead_off_mask"], samples,
        )  # fmt: skip
    elif vec["type"] == "decision":
        d = DecisionC(
            f["window_end_us"], f["p_arousal_q16"], f["p_valence_q16"],
            f["labels"], f["flags"], f["reason"],
        )  # fmt: skip
        n = lib.eb_encode_decision(out, MAX_FRAME, seq, ts, ctypes.byref(d))
    else:
        n = lib.eb_encode_request_info(out, MAX_FRAME, seq, ts)
    assert n > 0, f"C encoder refused {vec.get('name', vec['fields'])}"
    return bytes(out[:n])


def c_decode(lib, data: bytes, piece: int) -> tuple[list[list[tuple]], DecoderC]:
    """Feeds ``data`` in pieces of ``piece`` bytes; returns the frames each piece completed
    (``(type, seq, timestamp_us, payload)``) and the decoder's final state."""
    dec = DecoderC()
    lib.eb_decoder_init(ctypes.byref(dec))
    frame = FrameC()
    per_piece = []
    for pos in range(0, len(data), piece):
        chunk, frames = data[pos : pos + piece], []
        while chunk:
            n = lib.eb_decoder_write(ctypes.byref(dec), chunk, len(chunk))
            assert n > 0  # the decoder always accepts a byte after next() returned 0
            chunk = chunk[n:]
            while lib.eb_decoder_next(ctypes.byref(dec), ctypes.byref(frame)):
                payload = ctypes.string_at(frame.payload, frame.length)
                frames.append((frame.type, frame.seq, frame.timestamp_us, payload))
        per_piece.append(frames)
    return per_piece, dec


def py_decode(data: bytes, piece: int) -> tuple[list[list[tuple]], FrameDecoder]:
    py = FrameDecoder()
    per_piece = [
        [(f.type, f.seq, f.timestamp_us, f.payload) for f in py.feed(data[pos : pos + piece])]
        for pos in range(0, len(data), piece)
    ]
    return per_piece, py


def test_c_unit_tests_pass(build_dir):
    exe = build_dir / "test_ebridge"
    srcs = [str(C_DIR / "ebridge.c"), str(C_DIR / "test_ebridge.c")]
    _cc(*srcs, "-o", str(exe))
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert ", 0 failed" in run.stdout


def test_c_header_is_self_contained_and_small_decoder_builds(build_dir):
    """ebridge.h compiles on its own, and a firmware can shrink the decoder's buffer
    (a downlink-only receiver: 30 bytes) and still decode DECISION frames."""
    src = build_dir / "small.c"
    frame = ",".join(str(b) for b in encode_decision(Decision(1.0, 0.0, True, False), 1))
    src.write_text(
        '#include "ebridge.h"\n'
        f"static const uint8_t f[] = {{{frame}}};\n"
        "int main(void) { eb_decoder d; eb_frame fr; eb_decision x;\n"
        " eb_decoder_init(&d); eb_decoder_write(&d, f, sizeof f);\n"
        " if (sizeof d.buf != 30u || !eb_decoder_next(&d, &fr)) return 1;\n"
        " if (!eb_parse_decision(fr.payload, fr.length, &x)) return 2;\n"
        " return (x.p_arousal_q16 == 65535u && x.labels == 1u) ? 0 : 3; }\n"
    )
    exe = build_dir / "small"
    small = ["-DEB_DECODER_MAX_PAYLOAD=16u", f"-I{C_DIR}"]
    _cc(*small, str(src), str(C_DIR / "ebridge.c"), "-o", str(exe))
    assert subprocess.run([str(exe)], timeout=10).returncode == 0


def test_c_library_uses_only_the_allowed_headers():
    """No heap, no stdio, nothing beyond <stdint.h>, <stddef.h>, <string.h>."""
    for name in ("ebridge.h", "ebridge.c"):
        text = (C_DIR / name).read_text()
        includes = set(re.findall(r'#include\s*[<"]([^>"]+)[>"]', text))
        assert includes <= {"stdint.h", "stddef.h", "string.h", "ebridge.h"}, (name, includes)
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        assert not re.search(r"\b(malloc|calloc|realloc|free|printf)\s*\(", code), name


def test_c_crc_check_value(lib):
    assert lib.eb_crc16(0xFFFF, b"123456789", 9) == 0x29B1


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_c_encoder_matches_golden_vectors_and_python(lib, vec):
    c_bytes = c_encode(lib, vec)
    assert c_bytes.hex() == vec["hex"]
    assert c_bytes == python_encode(vec)


@pytest.mark.parametrize("fmt", list(SampleFormat))
def test_python_decodes_c_frames_and_c_decodes_python_frames(lib, fmt):
    rng = np.random.default_rng(10 + int(fmt))
    for trial in range(20):
        ch = int(rng.integers(1, 33))
        n = int(rng.integers(1, min(255, 2036 // (ch * fmt.size)) + 1))  # fits in one frame
        if fmt == SampleFormat.FLOAT32:
            raw = rng.normal(0, 100, (n, ch)).astype(np.float32)
        else:
            bits = {1: 15, 2: 23, 3: 31}[fmt]
            raw = rng.integers(-(2**bits), 2**bits - 1, (n, ch), endpoint=True)
        index, lead = int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32))
        vec = {
            "type": "data", "seq": trial, "timestamp_us": index ^ 0x5A5A,
            "fields": {
                "stream_id": trial, "format": int(fmt), "n_channels": ch, "n_samples": n,
                "sample_index": index, "lead_off_mask": lead, "samples": raw.tolist(),
            },
        }  # fmt: skip
        c_bytes = c_encode(lib, vec)
        block = parse_data_payload(c_bytes[12:-2])  # Python reads C
        np.testing.assert_array_equal(block.raw, raw)
        assert (block.sample_index, block.lead_off_mask) == (index, lead)
        py_bytes = encode_data(DataBlock(trial, fmt, index, lead, raw), trial, index ^ 0x5A5A)
        assert py_bytes == c_bytes
        view = DataViewC()  # C reads Python
        payload = py_bytes[12:-2]
        assert lib.eb_parse_data(payload, len(payload), ctypes.byref(view)) == 1
        assert (view.n_samples, view.n_channels, view.sample_index) == (n, ch, index)
        got = [lib.eb_data_sample(ctypes.byref(view), k) for k in range(n * ch)]
        want = np.trunc(raw).astype(np.int64).ravel() if fmt == SampleFormat.FLOAT32 else raw
        np.testing.assert_array_equal(got, np.ravel(want))


def test_c_parses_python_decisions(lib):
    for p_a, p_v, abst in ((0.0, 1.0, False), (0.123, 0.5, False), (0.9, 0.1, True)):
        d = Decision(p_a, p_v, p_a > 0.5, p_v > 0.5, abst, 1 if abst else 0, 42)
        payload = encode_decision(d, 3)[12:-2]
        out = DecisionC()
        assert lib.eb_parse_decision(payload, len(payload), ctypes.byref(out)) == 1
        assert out.p_arousal_q16 == round(p_a * 65535) and out.p_valence_q16 == round(p_v * 65535)
        assert out.labels == (p_a > 0.5) | ((p_v > 0.5) << 1) and out.flags == abst
        assert out.window_end_us == 42 and out.reason == (1 if abst else 0)


def _damaged_stream(rng: np.random.Generator) -> bytes:
    """Decision and data frames with bit flips, truncations, garbage, sync-like noise,
    false headers claiming long payloads, and frames sent inside another frame."""
    parts = []
    for k in range(60):
        if k % 3:
            raw = rng.integers(-(2**23), 2**23, (int(rng.integers(1, 30)), 9))
            frame = bytearray(encode_data(DataBlock(0, SampleFormat.INT24, k, 0, raw), k, k))
        else:
            frame = bytearray(encode_decision(Decision(0.3, 0.6, False, True), k, k))
        r = rng.random()
        if r < 0.15:
            frame[int(rng.integers(0, len(frame)))] ^= 1 << int(rng.integers(0, 8))
        elif r < 0.25:
            frame = frame[: int(rng.integers(1, len(frame)))]
        elif r < 0.35:
            parts.append(rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8).tobytes())
        elif r < 0.4:
            parts.append(b"\xa5\x5a\x01" + bytes([2, 0xFF, 0xFF]))
        elif r < 0.45:  # a false header claiming up to 2 KiB, then the frame
            parts.append(b"\xa5\x5a\x01\x02" + int(rng.integers(0, 2049)).to_bytes(2, "little"))
        elif r < 0.5:  # a valid frame carried inside another one's payload
            inner = encode_decision(Decision(0.9, 0.1, True, False), 1000 + k, k)
            frame = bytearray(encode_frame(FrameType.DATA, k, k, bytes(frame[:20]) + inner))
        parts.append(bytes(frame))
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(8))
def test_c_and_python_decoders_agree_on_damaged_streams(lib, seed):
    """Both deliver the valid frame that ends first (PROTOCOL.md §5): the same frames,
    from the same piece of input, with the same counters."""
    rng = np.random.default_rng(seed)
    data = _damaged_stream(rng) + bytes(MAX_FRAME)  # zeros complete every pending header
    piece = int(rng.integers(1, 600)) if seed else 1
    c_frames, c_dec = c_decode(lib, data, piece)
    py_frames, py = py_decode(data, piece)
    assert c_frames == py_frames  # piece by piece: each decides as soon as it can
    assert sum(map(len, py_frames)) > 30
    s = py.stats
    assert (c_dec.frames_ok, c_dec.crc_errors, c_dec.header_errors, c_dec.overtaken) == (
        s.frames_ok,
        s.crc_errors,
        s.header_errors,
        s.overtaken,
    )
    assert (c_dec.bytes_skipped, c_dec.bytes_in_frames) == (s.bytes_skipped, s.bytes_in_frames)
    assert c_dec.bytes_received == s.bytes_received == len(data)
    assert c_dec.len - c_dec.start == py.buffered


def test_c_decoder_delivers_a_frame_behind_a_false_long_header(lib):
    """The rule's point: a damaged length never holds back the frames after it (the
    C decoder used to wait for the claimed 2 KiB first)."""
    frames = [encode_decision(Decision(0.5, 0.5, False, False), k, k) for k in range(3)]
    data = b"\xa5\x5a\x01\x02\x00\x08" + b"".join(frames)  # claims 2048 bytes
    (got,), dec = c_decode(lib, data, len(data))
    assert [f[1] for f in got] == [0, 1, 2] and dec.overtaken == 1 and dec.crc_errors == 0
    nested = encode_frame(FrameType.DATA, 7, 0, b"x" * 5 + frames[0] + b"y" * 5)
    (got,), dec = c_decode(lib, nested, 1000)
    assert [f[1] for f in got] == [0]  # the inner frame, in place of the outer one
    assert (dec.overtaken, dec.bytes_in_frames) == (1, len(frames[0]))


def test_protocol_md_firmware_example_compiles(build_dir):
    """The C example in PROTOCOL.md §6 builds against the real header."""
    text = (C_DIR.parent / "PROTOCOL.md").read_text()
    example = re.search(r"```c\n(.*?)```", text, flags=re.S).group(1)
    stubs = (
        "#include <stddef.h>\n#include <stdint.h>\n"
        "enum { LED_OFF, LED_RED, LED_GREEN };\n"
        "void uart_write(const uint8_t *p, size_t n);\nvoid set_led(int c);\n"
        "void send_info(void);\n"
        "void on_block(const int32_t samples[25 * 9], uint32_t t_first_us, uint32_t lead_off);\n"
        "void on_rx(const uint8_t *p, size_t len);\n"
    )
    src = build_dir / "example.c"
    src.write_text(stubs + example)
    _cc(f"-I{C_DIR}", "-c", str(src), "-o", str(build_dir / "example.o"))
