"""Bad command lines end at once: exit status 2 and one ``error:`` line naming the argument
(issue 15, item 12), before any board is started; Ctrl-C during start-up ends quietly.

Before: ``--hop 1e9``, ``--print-every 0``/``-1``, ``eav synth --trials 2`` and ``synth``
onto a plain file gave tracebacks; ``--duration nan`` never stopped; a channel map took
``15.7`` as 15, ``true`` as 1 and ``AF3=1,af3=15`` with the first match winning;
``--channel-map`` with the demo was ignored and ``--board ''`` ran the demo.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_emotion.run import main as run_main
from edge_emotion.training.cli import main as training_main

BOARD = ["--board", "SYNTHETIC_BOARD"]


def _json_map(tmp_path: Path, mapping: dict) -> str:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(mapping))
    return str(path)


def _plain_file(tmp_path: Path) -> str:
    path = tmp_path / "plain"
    path.write_text("not a folder")
    return str(path)


RUN_CASES = {
    "hop longer than the window": (["--hop", "1e9"], "--hop"),
    "hop not whole samples": (["--hop", "0.3"], "--hop"),
    "hop nan": (["--hop", "nan"], "--hop"),
    "hop negative": (["--hop", "-0.25"], "--hop"),
    "print-every 0": (["--print-every", "0"], "--print-every"),
    "print-every -1": (["--print-every", "-1"], "--print-every"),
    "duration nan": (["--duration", "nan"], "--duration"),
    "duration inf": (["--duration", "inf"], "--duration"),
    "duration 0": (["--duration", "0"], "--duration"),
    "saturation nan": (["--saturation-uv", "nan"], "--saturation-uv"),
    "board empty": (["--board", ""], "--board"),
    "source empty": (["--source", " "], "--source"),
    "map with the demo": (["--channel-map", "AF3=1,ECG=16"], "--channel-map"),
    "map with a bridge": (
        ["--source", "bridge:tcp:1.2.3.4:5", "--channel-map", "AF3=1"],
        "--channel-map",
    ),
    "map 15.7": ([*BOARD, "--channel-map", lambda t: _json_map(t, {"AF3": 15.7})], "--channel-map"),
    "map true": ([*BOARD, "--channel-map", lambda t: _json_map(t, {"AF3": True})], "--channel-map"),
    "map case duplicate": ([*BOARD, "--channel-map", "AF3=1,ECG=16,af3=15"], "--channel-map"),
    "map one channel twice": ([*BOARD, "--channel-map", "AF3=1,F7=1"], "--channel-map"),
    "map bad row": ([*BOARD, "--channel-map", "ECG=row:x"], "--channel-map"),
    "connect-retries -1": (["--connect-retries", "-1"], "--connect-retries"),
    "max-missing nan": (["--max-missing", "nan"], "--max-missing"),
    "max-missing 1.5": (["--max-missing", "1.5"], "--max-missing"),
    "loop with the demo": (["--loop"], "--loop"),
    "loop with a board": ([*BOARD, "--loop"], "--loop"),
    "loop with LSL": (["--source", "lsl:EEG", "--loop"], "--loop"),
    "master board with the demo": (["--master-board", "CYTON_BOARD"], "--master-board"),
    "master board with a bridge": (
        ["--source", "bridge:tcp:1.2.3.4:5", "--master-board", "CYTON_BOARD"],
        "--master-board",
    ),
    "master board with a live board": ([*BOARD, "--master-board", "CYTON_BOARD"], "--master-board"),
}


def _one_error_line(err: str, argument: str, usage_allowed: bool = False) -> None:
    """One line saying ``error:`` and naming ``argument``; nothing else on stderr but
    (for the training commands' stock argparse) the usage lines."""
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and argument in errors[0], err
    others = [line for line in err.splitlines() if line.strip() and line not in errors]
    assert all(line.startswith(("usage:", " ")) for line in others) if usage_allowed else not others
    assert "Traceback" not in err


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_run_rejects_a_bad_argument_with_one_line(tmp_path, capsys, case):
    argv, argument = RUN_CASES[case]
    argv = [a(tmp_path) if callable(a) else a for a in argv]
    with pytest.raises(SystemExit) as info:
        run_main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    _one_error_line(captured.err, argument)
    assert "source :" not in captured.out  # nothing started


@pytest.mark.parametrize(
    "argv",
    [
        ["--source", "playback:r.csv", "--loop", "--master-board", "CYTON_BOARD"],
        ["--source", "openbci:r.txt", "--loop", "--master-board", "CYTON_BOARD"],
        ["--board", "STREAMING_BOARD", "--master-board", "CYTON_BOARD"],
        ["--board", "playback-file", "--master-board", "CYTON_BOARD"],
    ],
)
def test_loop_and_master_board_are_accepted_where_a_recording_is_replayed(argv):
    from edge_emotion.run import build_parser
    from edge_emotion.run_args import check_args

    parser = build_parser()
    check_args(parser, parser.parse_args(argv))  # no SystemExit


TRAINING_CASES = {
    "eav synth --trials 2": (["eav", "synth", "--out", "{tmp}/e", "--trials", "2"], "--trials"),
    "eav synth onto a file": (["eav", "synth", "--out", "{plain}"], "--out"),
    "synth onto a file": (["synth", "--out", "{plain}", "--subjects", "1"], "--out"),
}


@pytest.mark.parametrize("case", sorted(TRAINING_CASES))
def test_training_rejects_a_bad_argument_with_one_line(tmp_path, capsys, case):
    argv, argument = TRAINING_CASES[case]
    plain = _plain_file(tmp_path)
    argv = [a.format(tmp=tmp_path, plain=plain) for a in argv]
    try:
        code = training_main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    _one_error_line(capsys.readouterr().err, argument, usage_allowed=True)
    assert Path(plain).read_text() == "not a folder"


def test_the_torch_backend_refusing_a_pickle_is_an_error_not_a_traceback(tmp_path, capsys):
    import torch
    from export_helpers import copy_bundle, rehash_file

    class Evil:
        def __reduce__(self):
            return (print, ("this ran",))

    b = copy_bundle(tmp_path)
    torch.save({"w": Evil()}, b / "model.pt")
    rehash_file(b, "model.pt")
    assert run_main(["--bundle", str(b), "--backend", "torch"]) == 2
    captured = capsys.readouterr()
    assert "error: model bundle" in captured.err and "never unpickles objects" in captured.err
    assert "Traceback" not in captured.err and "this ran" not in captured.out


# Ctrl-C during start-up, in a child process (the signals and the interpreter's own
# "Exception ignored" reporting are what is tested). warm_up is replaced by one that
# presses Ctrl-C itself, at a known point of the start-up.
CTRL_C = """
import os, signal, sys
import edge_emotion.classifier as classifier
import edge_emotion.run as run

class Finaliser:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass

def pressing_ctrl_c(bundle, engine):
    os.kill(os.getpid(), signal.SIGINT)
    if sys.argv[1] == "twice":
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    else:  # the second press lands inside an object's finaliser
        f = Finaliser()
        del f

classifier.warm_up = pressing_ctrl_c
sys.exit(run.main(["--quiet", "--duration", "5"]))
"""


@pytest.mark.parametrize(
    "how, code, ended",
    [
        ("twice", 130, "ended: interrupted (Ctrl-C twice) during start-up"),
        ("finaliser", 0, "ended: interrupted (Ctrl-C)"),
    ],
)
def test_a_double_ctrl_c_during_start_up_ends_quietly(how, code, ended):
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C, how], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == code, proc.stderr[-2000:]
    assert ended in proc.stdout
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert "KeyboardInterrupt" not in proc.stderr
    assert "started PLAYBACK_FILE_BOARD" not in proc.stderr  # the board never started


# Ctrl-C while main imports the runtime (numpy, scipy, numba: the first seconds of every
# run): an import hook presses it when the kernels start to load.
CTRL_C_DURING_IMPORTS = """
import os, signal, sys
import edge_emotion.run as run

assert not any(m.split(".")[0] in ("numpy", "scipy", "numba") for m in sys.modules), (
    "importing edge_emotion.run must not load the runtime before main installs its handlers"
)

class PressCtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "edge_emotion.kernels":
            sys.meta_path.remove(self)
            for _ in range(int(sys.argv[1])):
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
        return None

sys.meta_path.insert(0, PressCtrlC())
sys.exit(run.main(["--quiet", "--duration", "5"]))
"""


@pytest.mark.parametrize(
    "presses, code, ended",
    [
        (1, 0, "ended: interrupted (Ctrl-C) during start-up"),
        (2, 130, "ended: interrupted (Ctrl-C twice) during start-up"),
    ],
)
def test_ctrl_c_while_the_runtime_is_imported_ends_quietly(presses, code, ended):
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_IMPORTS, str(presses)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr[-2000:]
    assert ended in proc.stdout
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr
    assert "started PLAYBACK_FILE_BOARD" not in proc.stderr
