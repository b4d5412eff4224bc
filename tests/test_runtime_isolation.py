"""The device runs edge_emotion/, kernels/ and firmware_bridge/ only: the runtime never
imports training or export, imports no optional backend at module level, has no import
cycles, and runs the demo with training, export and torch impossible to import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from import_graph import ROOT, RUNTIME, cycles, graph, imports, package_modules, trees

NEVER = ("edge_emotion.training", "edge_emotion.export")
# Optional backends: imported only where an engine or device of that kind is created.
NOT_AT_IMPORT = ("torch", "tensorrt", "onnxruntime", "onnx", "brainflow", "pylsl", "serial")
MODULES = package_modules(RUNTIME)


def test_the_runtime_modules_are_found():
    for name in (
        "edge_emotion.classifier",
        "edge_emotion.engines.tensorrt",
        "edge_emotion.kernels.resample",
        "edge_emotion.firmware_bridge.protocol",
    ):
        assert name in MODULES


def test_the_runtime_never_imports_training_or_export():
    bad = [
        f"{name} imports {target}"
        for name, tree in trees(MODULES).items()
        for target, _ in imports(tree, module_level_only=False)
        if any(target == n or target.startswith(n + ".") for n in NEVER)
    ]
    assert not bad, "\n".join(bad)


def test_no_optional_backend_is_imported_at_module_level():
    bad = [
        f"{name} imports {target} at import time"
        for name, tree in trees(MODULES).items()
        for target, _ in imports(tree, module_level_only=True)
        if target.split(".")[0] in NOT_AT_IMPORT
    ]
    assert not bad, "\n".join(bad)


def _graph() -> dict[str, set[str]]:
    return graph(MODULES, module_level_only=True)


def test_no_import_cycles_in_the_runtime():
    edges = _graph()
    assert edges["edge_emotion.classifier"] >= {"edge_emotion.lane", "edge_emotion.quality"}
    found = cycles(edges)
    assert not found, "\n".join(found)


def test_the_kernels_do_not_depend_on_the_runtime_above_them():
    up = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith("edge_emotion.kernels")
        for target in targets
        if not target.startswith("edge_emotion.kernels")
    ]
    assert not up, "\n".join(up)


ISOLATED = """
import importlib.abc, json, runpy, sys
BLOCKED = ("edge_emotion.training", "edge_emotion.export", "torch")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"blocked on the device: {name}")
        return None

sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
out, workdir = sys.argv[2], sys.argv[3]

def run(*args):
    sys.argv = ["edge_emotion.run", *args, "--backend", "onnxruntime"]
    try:
        runpy.run_module("edge_emotion.run", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code

rc_real = run("--duration", "2", "--quiet")  # the default demo: the eegmat recording
rc = run("--source", "demo:synthetic", "--duration", "12", "--out", out)

from pathlib import Path
from demo_harness import demo_decisions
records = demo_decisions(Path(workdir), duration_s=11.0)
loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
print("ISOLATION " + json.dumps({"rc": rc, "rc_real": rc_real, "records": records,
                                "loaded": loaded}))
"""


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_the_demo_runs_with_training_export_and_torch_blocked(tmp_path):
    pytest.importorskip("brainflow")
    out = tmp_path / "decisions.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", ISOLATED, str(ROOT / "tests"), str(out), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    result = json.loads(lines[-1].removeprefix("ISOLATION "))
    assert result["loaded"] == []
    # python -m edge_emotion.run: exit 0, a line per decision, a JSONL record per hop
    assert result["rc"] == result["rc_real"] == 0
    assert lines[0].startswith("source : demo recording: PhysioNet eegmat")
    assert any(s.startswith("source : synthetic demo recording") for s in lines)
    assert any("ended: duration 12 s reached" in s for s in lines)
    recs = [json.loads(s) for s in out.read_text().splitlines()]
    assert [r["hop"] for r in recs] == list(range(len(recs)))
    assert 35 <= len(recs) <= 48  # 4 per second of replayed data, minus start-up
    assert all(r["abstained"] and "warming" in r["reason"] for r in recs[:39])
    assert all(r["reason_code"] == {"name": "NOT_ENOUGH_DATA", "number": 3} for r in recs[:39])
    classified = [r for r in recs if not r["abstained"]]
    assert classified, "no decision after the 10-s warm-up"
    for r in classified:
        assert set(r["probabilities"]) == {"arousal", "valence"}
        assert r["quality"]["ecg"]["heart_rate_bpm"] > 40
        assert r["latency_ms"]["total"] >= r["latency_ms"]["inference"] > 0
    assert sum(s.startswith("[") for s in lines) == len(recs)
    # the Classifier, driven on the demo recording in the same process
    driven = result["records"]
    assert len(driven) == 44 and not driven[-1]["abstained"]
    assert driven[-1]["reason_code"] == {"name": "NONE", "number": 0}
