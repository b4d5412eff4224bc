#!/usr/bin/env bash
# The GPU check: training on CUDA (bfloat16 autocast), one command, under 10 minutes on one
# H200, with no registry access.
#
#   scripts/gpu_check.sh [--dry-run] [--tiny]
#
# 1. Python: $PYTHON (default python3, the image's, which holds torch with CUDA). Packages
#    the image lacks (pyedflib, pyxdf; setuptools >= 77 to install this project) are
#    installed from the wheel folder $WHEELS (default .whl/) with `pip --no-index`; then
#    this project with `pip install --no-deps -e .` (nothing is fetched).
# 2. The real-data benchmark's main run on CUDA: eegmat, 19 EEG + ECG, base, MAAN and
#    logistic regression, 8 leave-3-subjects-out folds, the settings of
#    scripts/eegmat_benchmark.py (README, "Real data: eegmat"). Data: $EEGMAT (default
#    shared/data/eegmat, else ../shared/data/eegmat; copy the 48 EDF files there).
# 3. The synthetic AMIGOS-size cross-validation: `training synth` 40 subjects x 16 trials,
#    `prepare`, `cv --protocol subject --folds 10` of base and MAAN on CUDA (batches of
#    512, $SYN_EPOCHS epochs, default 10). Synthetic data: a speed check, not emotions.
#
# It prints the device (nvidia-smi, torch.cuda), each step's wall time and the tables, and
# writes everything under $OUT (default runs/gpu_check; on the device tool, its $OUT).
# Each training step runs under `timeout` so the whole check ends within 10 minutes even
# if the GPU is slower than planned; a step cut short says so.
#
# --dry-run prints the plan and checks the inputs without running anything.
# --tiny runs the same steps on the CPU with tiny sizes (2 folds, 1 epoch, 4 eegmat and
#        4 synthetic subjects): what the test suite runs where no GPU is lent.
#
# Preparing the wheel folder (on a machine with registry access, for the device's
# platform: x86-64 Linux, the image's CPython 3.12):
#
#   mkdir -p .whl
#   .venv/bin/pip download --dest .whl --no-deps --only-binary=:all: \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       --python-version 3.12 --implementation cp \
#       pyedflib==0.1.42 pyxdf==1.17.5 setuptools==80.10.2
#
# (the versions of requirements-lock.txt; `.whl/` is git-ignored, a few MB: name it in the
# device tool's `carry`). The image's torch (2.11, CUDA 13) is used as it is; where an
# image lacks torch, add the CUDA wheel of the lock's torch and its nvidia-* wheels, e.g.
# `pip download --dest .whl torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130`
# with the same platform options (about 1 GB: beyond the device tool's 64 MiB carry, so
# it would have to be on the machine's disk already).
set -euo pipefail

DRY=0
TINY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        --tiny) TINY=1 ;;
        -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (use --dry-run, --tiny)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-.whl}"
OUT="${OUT:-runs/gpu_check}"
SYN_EPOCHS="${SYN_EPOCHS:-10}"
if [[ -z "${EEGMAT:-}" ]]; then
    EEGMAT=shared/data/eegmat
    [[ -d "$EEGMAT" ]] || EEGMAT=../shared/data/eegmat
fi

if [[ $TINY == 1 ]]; then
    DEVICE=cpu
    REAL_TRAIN=(--epochs 1 --batch-size 64 --threads 1 --eeg-width 4 --ecg-width 4 --hidden 8)
    REAL_FOLDS=2
    SYN=(--subjects 4 --trials 4 --min-s 20 --max-s 25)
    SYN_TRAIN=(--epochs 1 --batch-size 512 --threads 1 --eeg-width 4 --ecg-width 4 --hidden 8)
    SYN_FOLDS=2
    LABEL_SUBJECTS=(--subjects 0-3)
    LIMIT_REAL=600
    LIMIT_SYN=600
    WORKERS=2
else
    DEVICE=cuda
    # scripts/eegmat_benchmark.py's TRAIN, so the numbers compare with the CPU table
    REAL_TRAIN=(--epochs 20 --batch-size 64 --lr 2e-3 --seed 0)
    REAL_FOLDS=8
    SYN=(--subjects 40 --trials 16)
    SYN_TRAIN=(--epochs "$SYN_EPOCHS" --batch-size 512)
    SYN_FOLDS=10
    LABEL_SUBJECTS=()
    LIMIT_REAL=220
    LIMIT_SYN=270
    WORKERS=16
fi

say() { printf '%s\n' "$*"; }
step() { say ""; say "== $*"; }
run() {  # run [timeout_s] cmd...: print, time, and cut at the limit (0: none)
    local limit=$1
    shift
    say "\$ $*"
    [[ $DRY == 1 ]] && return 0
    local t0=$SECONDS rc=0
    if [[ $limit -gt 0 ]]; then timeout "$limit" "$@" || rc=$?; else "$@" || rc=$?; fi
    if [[ $rc == 124 ]]; then
        say "!! cut at ${limit} s (the step did not finish within its share of 10 minutes)"
    elif [[ $rc != 0 ]]; then
        say "!! failed with exit status $rc"
        exit "$rc"
    fi
    say "-- $(( SECONDS - t0 )) s"
}

T0=$SECONDS
step "device"
if [[ $DRY == 0 ]]; then
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
        --format=csv,noheader || say "nvidia-smi: not here"
    "$PYTHON" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    if [[ $DEVICE == cuda ]] && ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        say "error: torch sees no CUDA device; use --tiny for the CPU check"
        exit 2
    fi
fi

step "packages (no registry: wheels from $WHEELS)"
missing=()
for mod in pyedflib pyxdf; do
    "$PYTHON" -c "import $mod" 2> /dev/null || missing+=("$mod")
done
if ! "$PYTHON" -c 'import edge_emotion.training' 2> /dev/null; then
    if [[ ${#missing[@]} -gt 0 ]]; then
        [[ -d "$WHEELS" || $DRY == 1 ]] || { say "error: $WHEELS missing; see this script's header"; exit 2; }
        run 0 "$PYTHON" -m pip install --no-index --find-links "$WHEELS" "${missing[@]}"
    fi
    run 0 "$PYTHON" -m pip install --no-index --find-links "$WHEELS" --no-deps -e .
else
    say "edge_emotion already importable; nothing to install"
fi

[[ $DRY == 1 ]] || mkdir -p "$OUT"
step "real data: eegmat rest vs arithmetic, 19 EEG + ECG, $REAL_FOLDS folds on $DEVICE"
[[ -d "$EEGMAT" || $DRY == 1 ]] || { say "error: no eegmat folder at $EEGMAT (set EEGMAT)"; exit 2; }
LABELS=scripts/eegmat_labels.csv
if [[ ${#LABEL_SUBJECTS[@]} -gt 0 ]]; then
    LABELS="$OUT/eegmat_labels.csv"
    run 0 "$PYTHON" scripts/eegmat_labels.py --data "$EEGMAT" --out "$LABELS" "${LABEL_SUBJECTS[@]}"
fi
DATA=(--data "$EEGMAT" --labels "$LABELS" --feature-config scripts/eegmat_features.json
    --cache-dir "$OUT/cache" --no-progress --workers "$WORKERS")
run 0 "$PYTHON" -m edge_emotion.training prepare "${DATA[@]}"
run "$LIMIT_REAL" "$PYTHON" -m edge_emotion.training cv "${DATA[@]}" --protocol subject \
    --folds "$REAL_FOLDS" --models base,maan,logreg --device "$DEVICE" "${REAL_TRAIN[@]}" \
    --out "$OUT/eegmat"

step "synthetic AMIGOS size: ${SYN[*]}, $SYN_FOLDS subject folds on $DEVICE (NOT emotion data)"
run 0 "$PYTHON" -m edge_emotion.training synth --out "$OUT/synth" "${SYN[@]}" --workers "$WORKERS"
run 0 "$PYTHON" -m edge_emotion.training prepare --data "$OUT/synth" --cache-dir "$OUT/cache" \
    --workers "$WORKERS" --no-progress
run "$LIMIT_SYN" "$PYTHON" -m edge_emotion.training cv --data "$OUT/synth" \
    --cache-dir "$OUT/cache" --no-progress --protocol subject --folds "$SYN_FOLDS" \
    --models base,maan --device "$DEVICE" "${SYN_TRAIN[@]}" --out "$OUT/synth_cv"

step "done in $(( SECONDS - T0 )) s (device $DEVICE)"
