"""The shared OpenBCI GUI recording (a real Cyton, 250 Hz) runs end to end through the
shipped ``cyton8-eeg`` bundle: ``run --source openbci:FILE --bundle cyton8-eeg`` with no
channel map takes OpenBCI's standard placement, and the recording classifies after its
warm-up and session baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_harness import board_file_samples, classify

from edge_emotion.bundle import load_bundle
from edge_emotion.decision import AbstainReason
from edge_emotion.kernels.config import OPENBCI_CYTON_CHANNELS
from edge_emotion.playback import convert_openbci_txt, openbci_standard_map
from edge_emotion.shipped import resolve_bundle

pytest.importorskip("brainflow")
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.filterwarnings("ignore:pkg_resources is deprecated"),
]
RECORDING = (
    Path(__file__).resolve().parents[2]
    / "shared/data/openbci/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
)


@pytest.fixture(scope="module")
def recording():
    if not RECORDING.is_file():
        pytest.skip(f"{RECORDING} is not here (../shared/data)")
    return RECORDING


def test_the_standard_placement_is_the_cyton_montage():
    assert openbci_standard_map("CYTON_BOARD") == {
        name: i + 1 for i, name in enumerate(OPENBCI_CYTON_CHANNELS)
    }
    assert len(openbci_standard_map("CYTON_DAISY_BOARD")) == 16
    assert openbci_standard_map("GANGLION_BOARD") is None


def test_the_run_feeds_the_cyton_bundle_from_the_recording(recording, tmp_path):
    from edge_emotion.lane_plan import plan_lanes
    from edge_emotion.run import build_parser, open_source

    args = build_parser().parse_args(["--source", f"openbci:{recording}", "--bundle", "cyton8-eeg"])
    bundle = load_bundle(resolve_bundle(args.bundle))
    source, description = open_source(args, bundle, tmp_path)
    try:
        plan_lanes((source.stream,), bundle.feature_config)  # raised before the fix
    finally:
        source.stop()
    assert "PLAYBACK_FILE_BOARD" in description


def test_the_recording_classifies_through_the_cyton_bundle(recording, tmp_path):
    conv = convert_openbci_txt(recording, tmp_path / "rec.csv")
    assert conv.master_board == "CYTON_BOARD" and conv.sampling_rate == 250.0
    rows, fs, streams = board_file_samples(
        conv.path, conv.master_board, openbci_standard_map(conv.master_board)
    )
    bundle = load_bundle(resolve_bundle("cyton8-eeg"))
    decisions = classify(rows, fs, streams, bundle, "onnxruntime", 0.0, (25, 125, 62), False)
    seconds = conv.n_samples / conv.sampling_rate
    assert len(decisions) == int(seconds / bundle.feature_config.hop_s + 1e-9)
    classified = [d for d in decisions if d.reason == AbstainReason.NONE]
    # the warm-up (10 s) and the session baseline (60 s) abstain; the rest classifies
    assert len(classified) >= (seconds - 72) / bundle.feature_config.hop_s
    assert all(d.modalities == ("eeg",) for d in classified)
    assert all(0.0 <= d.probabilities["arousal"] <= 1.0 for d in classified)
