"""Channel names, kinds and units of users' recordings (training/recordings/channels.py)."""

from __future__ import annotations

import pytest

from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS
from edge_emotion.training.recordings.channels import (
    classify_channel,
    normalise_name,
    scale_to_uv,
    uv_per_unit,
)


@pytest.mark.parametrize(
    ("label", "declared", "default", "expected"),
    [
        # EDF+ "type sensor" labels, as in eegmat
        ("EEG Fp1", None, "other", ("Fp1", "eeg")),
        ("EEG T3", None, "other", ("T7", "eeg")),
        ("EEG T4", None, "other", ("T8", "eeg")),
        ("EEG T5", None, "other", ("P7", "eeg")),
        ("EEG T6", None, "other", ("P8", "eeg")),
        ("EEG A2-A1", None, "other", ("A2-A1", "other")),
        ("ECG ECG", None, "other", ("ECG", "ecg")),
        # referential montages (TUH style), case, spacing
        ("EEG FP1-REF", None, "other", ("Fp1", "eeg")),
        ("FP2-LE", None, "other", ("Fp2", "eeg")),
        ("O2-A1", None, "other", ("O2", "eeg")),
        ("fcz", None, "other", ("FCz", "eeg")),
        ("  EEG   Cz ", None, "other", ("Cz", "eeg")),
        ("POL Fp1", None, "other", ("Fp1", "eeg")),
        # a bipolar derivation keeps its name; EEG only when the file says so
        ("Fpz-Cz", None, "other", ("Fpz-Cz", "other")),
        ("EEG Fpz-Cz", None, "other", ("Fpz-Cz", "eeg")),
        # ECG spellings
        ("ECG", None, "other", ("ECG", "ecg")),
        ("EKG", None, "other", ("ECG", "ecg")),
        ("ECG1", None, "other", ("ECG1", "ecg")),
        ("EKG2", None, "other", ("ECG2", "ecg")),
        ("ECG II", None, "other", ("ECG II", "ecg")),
        ("ECG_right", None, "other", ("ECG_right", "ecg")),
        # references and other types are never EEG, whatever is declared
        ("A1", "EEG", "eeg", ("A1", "other")),
        ("M2", None, "eeg", ("M2", "other")),
        ("EOG left", None, "eeg", ("EOG left", "other")),
        ("Status", None, "eeg", ("Status", "other")),
        ("EDF Annotations", None, "eeg", ("EDF Annotations", "other")),
        ("Resp chest", None, "eeg", ("Resp chest", "other")),
        # declared types (XDF channel type, sidecar role)
        ("Chan 1", "EEG", "other", ("Chan 1", "eeg")),
        ("EXG8", "ecg", "eeg", ("EXG8", "ecg")),
        ("heart", "ECG", "other", ("heart", "ecg")),
        ("X", "EOG", "eeg", ("X", "other")),
        ("Chan 1", "ExG", "other", ("Chan 1", "other")),  # a type that says nothing
        # unknown names take the reader's default
        ("EXG1", None, "eeg", ("EXG1", "eeg")),
        ("Chan 1", None, "other", ("Chan 1", "other")),
    ],
)
def test_classify_channel(label, declared, default, expected):
    assert classify_channel(label, declared, default) == expected


def test_emotiv_montage_names_are_their_own_normal_form():
    # The model's montage must survive normalisation unchanged, in any case.
    for name in EMOTIV_EPOC_CHANNELS:
        assert normalise_name(name) == name
        assert normalise_name(name.upper()) == name
        assert normalise_name(f"EEG {name}-REF") == name


@pytest.mark.parametrize("label", ["", "   ", None, 3])
def test_bad_labels_raise(label):
    with pytest.raises(ValueError, match="label"):
        classify_channel(label)


@pytest.mark.parametrize(
    ("unit", "scale"),
    [
        ("V", 1e6),
        ("volts", 1e6),
        ("mV", 1e3),
        ("MV", 1e3),  # case is ignored: no biosignal is in megavolts
        ("millivolts", 1e3),
        ("uV", 1.0),
        ("µV", 1.0),  # micro sign
        ("μV", 1.0),  # Greek mu
        (" uv ", 1.0),
        ("microvolts", 1.0),
        ("nV", 1e-3),
    ],
)
def test_units_to_microvolts(unit, scale):
    assert uv_per_unit(unit) == scale
    assert scale_to_uv(unit, "f.edf: channel 'Fp1'") == scale


def test_unknown_unit_names_file_and_channel():
    with pytest.raises(ValueError, match=r"f\.edf: channel 'Fp1'.*'degC'"):
        scale_to_uv("degC", "f.edf: channel 'Fp1'")
    assert uv_per_unit("Boolean") is None


def test_missing_unit_needs_a_default():
    with pytest.raises(ValueError, match=r"f\.xdf.*no physical unit.*default_unit"):
        scale_to_uv("", "f.xdf: channel 'Fp1'")
    assert scale_to_uv(None, "x", default_unit="mV") == 1e3
