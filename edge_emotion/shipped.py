"""The bundles that ship inside the package, by name, and ``run --list-bundles``.

``edge_emotion/bundles/<name>/`` holds bundles trained on real recordings (written by
``scripts/make_shipped_bundles.py``; each manifest's ``about`` says on what);
``edge_emotion/demo_bundle/`` the synthetic demo's model (``--source demo:synthetic``).
``--bundle`` takes a shipped bundle's name or a bundle folder.
"""

from __future__ import annotations

from pathlib import Path

from edge_emotion.bundle import DEMO_BUNDLE_PATH, Bundle, BundleError, load_bundle

BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"
DEFAULT_BUNDLE = "cyton8-ecg"
SYNTHETIC_DEMO_BUNDLE = "synthetic-demo"


def shipped_bundle_paths() -> dict[str, Path]:
    """Name -> folder of every bundle the package ships (the synthetic demo's last)."""
    found = {}
    if BUNDLES_DIR.is_dir():
        found = {
            p.name: p
            for p in sorted(BUNDLES_DIR.iterdir())
            if p.is_dir() and (p / "manifest.json").is_file()
        }
    found[SYNTHETIC_DEMO_BUNDLE] = DEMO_BUNDLE_PATH
    return found


def resolve_bundle(name_or_path: str | None, default: str = DEFAULT_BUNDLE) -> Path:
    """The folder ``--bundle`` names: a shipped bundle's name, else a path. A name that is
    neither is an error that lists the shipped names."""
    text = default if name_or_path is None else name_or_path
    shipped = shipped_bundle_paths()
    if text in shipped and not Path(text).exists():
        return shipped[text]
    path = Path(text)
    if path.exists():
        return path
    raise BundleError(
        path,
        [
            f"{text!r} is neither a bundle folder nor a shipped bundle "
            f"({', '.join(shipped)}; --list-bundles describes them)"
        ],
    )


def describe(name: str, bundle: Bundle) -> dict[str, str]:
    """One row of ``--list-bundles``."""
    fc = bundle.feature_config
    about = bundle.manifest.get("about") or {}
    modalities = "+".join(m.upper() for m in fc.modalities)
    channels = ",".join(fc.eeg_channels) if "eeg" in fc.modalities else "-"
    rates = sorted({fc.eeg_fs if m == "eeg" else fc.ecg_fs for m in fc.modalities})
    shipped_as = about.get("fallbacks") or {}  # the shipped bundle each fallback copies
    if bundle.is_demo:
        trained = "synthetic data (a pipeline demo; not an emotion model)"
    else:
        held = about.get("held_out_result") or {}
        scores = ", ".join(
            f"{held[key].get('balanced_accuracy', float('nan')):.2f} ({what})"
            for key, what in (("checkpoint_fp32", "fp32"), ("bundle_int8", "INT8"))
            if key in held
        )
        subjects = about.get("training_subjects") or []
        trained = (
            f"eegmat, {len(subjects)} subjects (rest vs mental arithmetic); held-out "
            f"{about.get('held_out_subject', '?')} balanced accuracy {scores}"
            if about
            else str((bundle.manifest.get("dataset") or {}).get("name", "?"))
        )
    return {
        "name": name,
        "modalities": modalities,
        "eeg channels": channels,
        "rate (Hz)": "/".join(f"{r:g}" for r in rates),
        "targets": ",".join(bundle.targets),
        "normalization": bundle.normalization.mode,
        "trained on": trained,
        "fallbacks": ", ".join(
            f"{m.upper()} alone: {shipped_as.get(m, f.path.name)}"
            for m, f in sorted(bundle.fallbacks.items())
        )
        or "-",
    }


def list_bundles_lines() -> list[str]:
    """The text of ``run --list-bundles``."""
    lines = []
    for name, path in shipped_bundle_paths().items():
        try:
            row = describe(name, load_bundle(path))
        except BundleError as exc:
            lines.append(f"{name}: cannot be loaded: {exc}")
            continue
        default = " (default)" if name == DEFAULT_BUNDLE else ""
        lines.append(f"{name}{default}")
        lines += [f"  {k:<14} {v}" for k, v in row.items() if k != "name"]
    lines.append(
        "Use --bundle NAME (or a bundle folder). Each manifest's 'about' says what it was "
        "trained on, its licence and its held-out numbers."
    )
    return lines
