"""scripts/gpu_check.sh where no GPU is lent: its plan (--dry-run) and the same steps on the
CPU with tiny sizes (--tiny)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
EEGMAT = ROOT.parent / "shared" / "data" / "eegmat"


def _run(*args: str, out: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "EEGMAT": str(EEGMAT)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def test_dry_run_plans_both_checks_on_cuda(tmp_path):
    res = _run("--dry-run", out=tmp_path / "out")
    assert res.returncode == 0, res.stderr
    cv = [line for line in res.stdout.splitlines() if " cv " in line]
    assert len(cv) == 2 and all("--device cuda" in line for line in cv)
    assert "--folds 8 --models base,maan,logreg" in cv[0] and "--labels" in cv[0]
    assert "--epochs 20 --batch-size 64" in cv[0]  # the CPU benchmark's settings
    assert "--subjects 40 --trials 16" in res.stdout and "--folds 10" in cv[1]
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_unknown_argument_is_refused(tmp_path):
    res = _run("--fast", out=tmp_path)
    assert res.returncode == 2 and "unknown argument --fast" in res.stderr


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(not EEGMAT.is_dir(), reason="../shared/data/eegmat is absent")
def test_tiny_cpu_run_goes_through_every_step(tmp_path):
    out = tmp_path / "out"
    res = _run("--tiny", out=out)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "!!" not in res.stdout  # no step failed or was cut
    real = json.loads((out / "eegmat" / "results.json").read_text())
    assert set(real["models"]) == {"base", "maan", "logreg"} and real["n_folds"] == 2
    synth = json.loads((out / "synth_cv" / "results.json").read_text())
    assert synth["meta"]["synthetic"] and set(synth["models"]) == {"base", "maan"}
    assert "done in" in res.stdout and "(device cpu)" in res.stdout
