"""Single-modality fallbacks, end to end: ``export --fallback`` writes them into the bundle,
``load_bundle`` validates them with it (every problem listed), the runtime switches to
the EEG model while the ECG lead is off and names the model that decided, and
``run --on-bad-modality fallback`` is refused before the source starts when the bundle
has none.

The models are small random networks (tests/export_helpers.py) exported through the
real CLI once per module; the recording is the demo's (BrainFlow file, tests/demo_harness.py)
with the ECG held flat for a stretch, as an amplifier shows a lead that came off.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from demo_harness import demo_board_samples
from export_helpers import edit_manifest, write_checkpoint

from edge_emotion.bundle import BundleError, load_bundle
from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.decision import AbstainReason
from edge_emotion.engines import create_engine
from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.quality import ModalityQuality
from edge_emotion.source import Chunk
from edge_emotion.window_model import FallbackModel, WindowModel, create_fallbacks

pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")

EEG_SUBSET = ("AF3", "F3", "O1", "O2")  # the EEG fallback's electrodes: a subset
# The EEG fallback's own thresholds: its P(high) (near 0.5) reads arousal low, valence high.
EEG_THRESHOLDS = {"arousal": 0.99, "valence": 0.01}
FLAT = (20.0, 32.0)  # seconds of the recording during which the ECG lead is off


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(bundle path, export's stdout): a two-modality model with EEG and ECG fallbacks."""
    from edge_emotion.export.__main__ import main

    root = tmp_path_factory.mktemp("fallback")
    main_ckpt = write_checkpoint(root / "main.pt")
    eeg = write_checkpoint(
        root / "eeg.pt", seed=1, modality="eeg", channels=EEG_SUBSET, thresholds=EEG_THRESHOLDS
    )
    ecg = write_checkpoint(root / "ecg.pt", seed=2, modality="ecg")
    argv = [str(main_ckpt), "--out", str(root / "bundle"), "--fallback", f"eeg={eeg}"]
    argv += ["--fallback", f"ecg={ecg}", "--n-calibration", "16", "--n-heldout", "32"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    assert rc == 0, out.getvalue()
    return root / "bundle", out.getvalue()


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def test_export_writes_the_fallbacks_into_the_bundle(exported):
    path, out = exported
    bundle = load_bundle(path)
    assert bundle.manifest["fallbacks"] == {"eeg": "fallback_eeg", "ecg": "fallback_ecg"}
    assert set(bundle.fallbacks) == {"eeg", "ecg"}
    eeg, ecg = bundle.fallbacks["eeg"], bundle.fallbacks["ecg"]
    assert eeg.feature_config.modalities == ("eeg",) and ecg.feature_config.modalities == ("ecg",)
    assert eeg.feature_config.eeg_channels == EEG_SUBSET and eeg.input_names == ("eeg",)
    assert [c["role"] for c in ecg.manifest["channels"]] == ["ecg"]
    assert ecg.input_names == ("ecg",) and "eeg_mean" not in ecg.manifest["normalization"]
    for modality in ("eeg", "ecg"):
        # the same steps as the main model: INT8 with its parity against fp32
        assert (path / f"fallback_{modality}" / "model.int8.onnx").is_file()
        assert f"[export] fallback {modality}: INT8 vs fp32 on 32 held-out windows" in out
        assert f"wrote {path / f'fallback_{modality}' / 'manifest.json'}" in out
        assert "int8_decision_agreement" in bundle.fallbacks[modality].manifest["parity"]
    assert out.index("fallback_ecg/manifest.json") < out.index(f"wrote {path / 'manifest.json'}")


def test_export_refuses_fallbacks_that_do_not_fit(exported, tmp_path, capsys):
    from edge_emotion.export.__main__ import main

    root = tmp_path
    main_ckpt = write_checkpoint(root / "main.pt")
    alien = write_checkpoint(root / "alien.pt", modality="eeg", channels=("Cz", "O1"))
    argv = [str(main_ckpt), "--out", str(root / "b"), "--n-calibration", "8", "--n-heldout", "8"]
    assert main([*argv, "--fallback", f"eeg={alien}", "--fallback", f"ecg={main_ckpt}"]) == 1
    err = capsys.readouterr().err
    assert "EEG channels ['Cz'] are not among the bundle's" in err
    assert "the sub-bundle takes eeg+ecg; the ecg fallback must take ecg alone" in err
    assert main([*argv, "--fallback", "emg=x.pt"]) == 1
    assert "expected MODALITY=CHECKPOINT with MODALITY eeg or ecg" in capsys.readouterr().err
    assert main([*argv, "--fallback", f"eeg={alien}", "--fallback", f"eeg={alien}"]) == 1
    assert "--fallback eeg is given twice" in capsys.readouterr().err
    assert not (root / "b").exists()  # nothing written


def test_bad_fallback_entries_are_all_listed(exported, tmp_path):
    bundle = _copy(exported[0], tmp_path)

    def edit(m):
        m["fallbacks"] = {"eeg": "../fallback_eeg", "ecg": "/tmp", "emg": "x"}

    edit_manifest(bundle, edit)
    with pytest.raises(BundleError) as err:
        load_bundle(bundle)
    problems = "\n".join(err.value.problems)
    assert "fallbacks['eeg']: '../fallback_eeg' is not a plain sub-folder name" in problems
    assert "fallbacks['ecg']: '/tmp' is not a plain sub-folder name" in problems
    assert "unknown modality 'emg'" in problems

    edit_manifest(bundle, lambda m: m.update(fallbacks={"eeg": "nowhere"}))
    with pytest.raises(BundleError, match="nowhere is missing"):
        load_bundle(bundle)
    (bundle / "link").symlink_to(bundle / "fallback_eeg")
    edit_manifest(bundle, lambda m: m.update(fallbacks={"eeg": "link"}))
    with pytest.raises(BundleError, match="links are refused"):
        load_bundle(bundle)


def test_a_fallback_must_agree_with_its_bundle(exported, tmp_path):
    bundle = _copy(exported[0], tmp_path)
    sub = bundle / "fallback_eeg"

    def retune(m):  # a consistent sub-bundle of its own, at another rate and hop
        fc = FeatureConfig.from_dict({**m["feature_config"], "eeg_fs": 256.0, "hop_s": 0.5})
        m["feature_config"] = fc.to_dict()
        m["feature_config_digest"] = fc.digest()

    edit_manifest(sub, retune)
    edit_manifest(
        bundle, lambda m: m.update(fallbacks={"eeg": "fallback_eeg", "ecg": "fallback_eeg"})
    )
    with pytest.raises(BundleError) as err:
        load_bundle(bundle)
    problems = "\n".join(err.value.problems)
    assert "fallbacks['eeg']: feature_config.eeg_fs is 256.0, the bundle's is 128.0" in problems
    assert "fallbacks['eeg']: feature_config.hop_s is 0.5, the bundle's is 0.25" in problems
    assert "the ecg fallback must take ecg alone" in problems
    assert "two modalities name the same folder" in problems


def test_fallback_files_are_verified_at_load_and_at_the_point_of_use(exported, tmp_path):
    bundle = _copy(exported[0], tmp_path)
    onnx = bundle / "fallback_ecg" / "model.int8.onnx"
    original = onnx.read_bytes()
    onnx.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(BundleError, match=r"fallbacks\['ecg'\] \(fallback_ecg\): model.int8.onnx"):
        load_bundle(bundle)
    onnx.write_bytes(original)
    loaded = load_bundle(bundle)
    onnx.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # swapped after loading
    with pytest.raises(BundleError, match="changed after the bundle was loaded"):
        create_fallbacks(loaded, lambda b: create_engine(b, "onnxruntime"))


def test_a_fallback_carries_no_fallbacks_and_a_single_modality_bundle_none(exported, tmp_path):
    bundle = _copy(exported[0], tmp_path)
    edit_manifest(bundle / "fallback_ecg", lambda m: m.update(fallbacks={"ecg": "."}))
    edit_manifest(bundle / "fallback_eeg", lambda m: m.update(fallbacks={"eeg": "x"}))
    with pytest.raises(BundleError) as err:
        load_bundle(bundle)
    problems = "\n".join(err.value.problems)
    assert "fallbacks['ecg'] (fallback_ecg): fallbacks: a bundle of ecg alone" in problems
    assert "fallbacks['eeg'] (fallback_eeg): fallbacks: a bundle of eeg alone" in problems


def test_replacing_a_bundle_keeps_what_its_fallback_folders_hold_besides(exported, tmp_path):
    from edge_emotion.out_dir import bundle_files, stage_bundle

    dst = _copy(exported[0], tmp_path)
    listed = bundle_files(dst)
    assert "fallback_eeg/model.onnx" in listed and listed[-1] == "manifest.json"
    (dst / "fallback_eeg" / "trt_cache").mkdir()
    (dst / "fallback_eeg" / "trt_cache" / "plan").write_text("device plan")
    (dst / "fallback_ecg" / "model.onnx").write_bytes(b"changed")
    assert bundle_files(dst) is None  # a fallback that changed: not an intact bundle
    shutil.copytree(exported[0] / "fallback_ecg", dst / "fallback_ecg", dirs_exist_ok=True)
    staged = stage_bundle(dst, force=True)
    shutil.copytree(exported[0], staged.path, dirs_exist_ok=True)
    staged.commit(lambda msg: None)
    assert (dst / "fallback_eeg" / "trt_cache" / "plan").read_text() == "device plan"
    assert load_bundle(dst).fallbacks.keys() == {"eeg", "ecg"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]


@pytest.mark.parametrize("modality", ["eeg", "ecg"])
def test_one_modality_engines_agree_across_backends(exported, modality):
    sub = load_bundle(exported[0]).fallbacks[modality]
    fc = sub.feature_config
    rng = np.random.default_rng(0)
    eeg = rng.normal(1.0, 0.3, (3, *fc.eeg_shape)) if modality == "eeg" else None
    ecg = rng.uniform(0.6, 1.0, (3, 1, *fc.hrv_shape)) if modality == "ecg" else None
    torch_p = create_engine(sub, "torch").predict(eeg, ecg)
    fp32_p = create_engine(sub, "onnxruntime-fp32").predict(eeg, ecg)
    assert torch_p.shape == (3, 2) and np.allclose(torch_p, fp32_p, atol=1e-5)
    with pytest.raises(ValueError, match=f"this model takes {modality}; {modality} is missing"):
        create_engine(sub, "onnxruntime").predict(None, None)


def test_only_the_good_modalitys_fallback_decides_and_with_its_own_thresholds(exported):
    bundle = load_bundle(exported[0])
    fallbacks = create_fallbacks(bundle, lambda sub: create_engine(sub, "onnxruntime"))
    model = WindowModel(bundle, _Recorder(), True, {"eeg": fallbacks["eeg"]})
    fc = bundle.feature_config
    de_map, hrv = np.ones(fc.eeg_shape), np.full(fc.hrv_length, 0.8)

    def quality(bad: str) -> dict:
        q = {"eeg": ModalityQuality(), "ecg": ModalityQuality()}
        q[bad].add(AbstainReason.LEAD_OFF, f"flat/lead-off: {bad.upper()}")
        return q

    decided = model.outcome(quality("ecg"), de_map, hrv)
    assert decided.model == "fallback:eeg" and decided.modalities == ("eeg",)
    sub = bundle.fallbacks["eeg"]
    p = np.array([decided.probabilities[t] for t in sub.targets])
    assert sub.thresholds == EEG_THRESHOLDS and p.min() > 0.01 and p.max() < 0.99
    assert decided.labels == {"arousal": "low", "valence": "high"}
    # EEG bad, and no ECG fallback given: the window abstains with the EEG's reason.
    abstained = model.outcome(quality("eeg"), de_map, hrv)
    assert abstained.reason is AbstainReason.LEAD_OFF and abstained.model is None
    assert abstained.detail == "eeg bad: flat/lead-off: EEG"


class _Recorder:
    name = "recorder"

    def __init__(self):
        self.seen = []

    def predict(self, eeg, ecg):
        self.seen.append((eeg, ecg))
        return np.array([[0.7, 0.2]], np.float32)


def test_an_eeg_fallback_gets_its_own_electrodes_from_the_bundles_map(exported):
    bundle = load_bundle(exported[0])
    engine = _Recorder()
    fallback = FallbackModel(bundle, "eeg", engine)
    de_map = np.arange(4 * 14 * 10, dtype=np.float32).reshape(1, 4, 14, 10)
    fallback(de_map)
    rows = [bundle.feature_config.eeg_channels.index(c) for c in EEG_SUBSET]
    eeg, ecg = engine.seen[-1]
    assert ecg is None and np.array_equal(eeg, de_map[:, :, rows])


def _lead_off_records(bundle_path: Path, folder: Path, policy: str) -> list:
    """The decisions of 48 s of the demo recording whose ECG is flat during ``FLAT``."""
    rows, fs, streams = demo_board_samples(folder)
    ecg = rows[-1]
    a, b = (round(t * fs) for t in FLAT)
    ecg[a:b] = ecg[a]  # the lead is off: the input sits at one value
    assert streams[0].channels[-1].name == "ECG"
    bundle = load_bundle(bundle_path)
    fallbacks = {}
    if policy == "fallback":
        fallbacks = create_fallbacks(bundle, lambda sub: create_engine(sub, "onnxruntime"))
    classifier = Classifier(
        bundle, create_engine(bundle, "onnxruntime"), streams, LoopConfig(policy=policy), fallbacks
    )
    records, n, step = [], round(48.0 * fs), 125
    for i in range(0, n, step):
        idx = np.arange(i, min(i + step, n))
        records += classifier.feed(Chunk(0, rows[:, idx], 1.7e9 + idx / fs))
    return records


def test_lead_off_ecg_falls_back_to_the_eeg_model_or_abstains(exported, tmp_path):
    fallback = _lead_off_records(exported[0], tmp_path, "fallback")
    abstain = _lead_off_records(exported[0], tmp_path, "abstain")
    assert len(fallback) == len(abstain) == 192
    ecg_off = [
        (f, a)
        for f, a in zip(fallback, abstain, strict=True)
        # more than 10 % of the window flat (QualityConfig.max_flat_fraction)
        if FLAT[0] + 1.5 < f.window_end_s < FLAT[1] + 8.5
    ]
    assert len(ecg_off) > 70
    for f, a in ecg_off:
        assert not f.abstained and f.model == "fallback:eeg" and f.modalities == ("eeg",)
        assert not f.quality["ecg"]["ok"] and f.quality["eeg"]["ok"]
        assert f.labels == {"arousal": "low", "valence": "high"}  # the fallback's thresholds
        assert f.to_dict()["model"] == "fallback:eeg" and "[eeg fallback]" in f.format_line()
        assert a.abstained and a.reason is AbstainReason.LEAD_OFF and a.model is None
        assert a.detail.startswith("ecg bad: flat/lead-off: ECG")
    # Both runs see the same windows: the fallback decides exactly those the ECG spoils.
    for f, a in zip(fallback, abstain, strict=True):
        ecg_only_bad = (
            a.abstained and a.quality and a.quality["eeg"]["ok"] and not a.quality["ecg"]["ok"]
        )
        assert (f.model == "fallback:eeg") == bool(ecg_only_bad), f.window_end_s
        if not a.abstained:
            assert f.model == a.model == "main" and f.probabilities == a.probabilities
    before = [f for f in fallback if 10.0 < f.window_end_s < FLAT[0]]
    after = [f for f in fallback if f.window_end_s > FLAT[1] + 12.5]
    assert before and all(f.model == "main" for f in before)
    assert after and all(f.model == "main" for f in after)  # the lead is back on
    # The fallback model's probabilities are its own, not the main model's.
    probs = {tuple(f.probabilities.values()) for f, _ in ecg_off}
    assert probs.isdisjoint({tuple(f.probabilities.values()) for f in before})


def _lead_off_file(tmp_path: Path) -> tuple[Path, str]:
    """A 14-s demo recording whose ECG goes flat at 11.5 s, and its channel map."""
    from edge_emotion.brainflow_source import board_rows, read_brainflow_file, write_brainflow_file
    from edge_emotion.demo_recording import write_synthetic_demo_recording

    rec = write_synthetic_demo_recording(tmp_path / "lead_off.csv", duration_s=14.0)
    data = read_brainflow_file(rec.path)
    row = board_rows(rec.master_board).exg[rec.channel_map["ECG"] - 1]
    cut = round(11.5 * rec.sampling_rate)
    data[row, cut:] = data[row, cut]
    write_brainflow_file(data, rec.path)
    return rec.path, ",".join(f"{k}={v}" for k, v in rec.channel_map.items())


def test_run_with_fallback_end_to_end_through_the_playback_board(exported, tmp_path, capsys):
    from edge_emotion.run import main

    path, channel_map = _lead_off_file(tmp_path)
    out = tmp_path / "run.jsonl"
    argv = ["--source", f"playback:{path}", "--master-board", "SYNTHETIC_BOARD"]
    argv += ["--channel-map", channel_map, "--bundle", str(exported[0]), "--quiet"]
    rc = main(
        [*argv, "--on-bad-modality", "fallback", "--out", str(out), "--backend", "onnxruntime"]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    models = [r["model"] for r in records if not r["abstained"]]
    assert models and models[0] == "main" and models[-1] == "fallback:eeg"
    counts = {m: models.count(m) for m in set(models)}
    line = ", ".join(f"{m} {c}" for m, c in sorted(counts.items(), key=lambda kv: -kv[1]))
    assert f"classified by model: {line}" in text
    header = next(line for line in text.splitlines() if "bad modality -> fallback" in line)
    assert "eeg fallback on onnxruntime" in header and "ecg fallback on onnxruntime" in header


def test_run_refuses_fallback_before_the_source_starts_when_the_bundle_has_none(capsys):
    from edge_emotion.run import main

    # the synthetic demo's bundle carries none (the default bundle, cyton8-ecg, does)
    argv = ["--source", "demo:synthetic", "--on-bad-modality", "fallback", "--duration", "1"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "carries no single-modality fallback models" in captured.err
    assert "source :" not in captured.out  # nothing was opened
