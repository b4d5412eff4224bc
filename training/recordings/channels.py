"""Channel names, kinds and units of users' recordings.

Amplifiers label channels in many ways: ``EEG Fp1`` (EDF+ "type sensor"), ``FP1-REF``
(referential montages), ``EEG T3`` (the old 10–20 names), ``ECG ECG``, ``EKG1``.
:func:`classify_channel` turns a label into the name the models use (the 10–10 spelling of
:data:`edge_emotion.kernels.config.EMOTIV_EPOC_CHANNELS`: ``Fp1``, ``AF3``, ``T7``) and a
kind: ``"eeg"``, ``"ecg"`` or ``"other"`` (references such as ``A2-A1``, EOG, EMG, trigger
and status channels, anything unrecognised). The rules, in order:

1. A type prefix (``EEG``, ``ECG``/``EKG``, ``EOG``, ``EMG``, ``POL``, ...) is split off;
   it and a type the file declares (XDF channel type, sidecar role) are hints.
2. A reference suffix (``-REF``, ``-A1``, ``-A2``, ``-M1``, ``-M2``, ``-LE``, ``-AVG``,
   ...) is dropped when what precedes it is an electrode: ``FP1-A2`` is ``Fp1``.
3. Old 10–20 names are renamed: T3/T4/T5/T6 -> T7/T8/P7/P8.
4. ECG by name (``ECG``, ``EKG``, ``ECG1``, ``ECG II``, after the prefix) or by declared
   type; ear/mastoid references (``A1``, ``A2``, ``M1``, ``M2``, ``A2-A1``) and known
   non-EEG types are ``other`` whatever the file declares; a 10–10 electrode or a declared
   EEG type is ``eeg``; anything else takes the reader's default.

Units: :func:`uv_per_unit` converts a physical unit written in a file (``V``, ``mV``,
``uV``/``µV``/``μV``, ``nV``, LSL's ``microvolts``) to µV, the unit of the feature path.
"""

from __future__ import annotations

import re
from typing import Literal

from edge_emotion.source import uv_per_unit

ChannelKind = Literal["eeg", "ecg", "other"]
CHANNEL_KINDS: tuple[str, ...] = ("eeg", "ecg", "other")

# The 10-10 system (Jurcak et al., NeuroImage 2007) plus the cerebellar and nasion/inion
# rows that caps add; the spelling here is the one names are normalised to.
_ELECTRODES = (  # noqa: SIM905 - a table reads better as words
    "Nz Fp1 Fpz Fp2 AF9 AF7 AF5 AF3 AF1 AFz AF2 AF4 AF6 AF8 AF10 F9 F7 F5 F3 F1 Fz "
    "F2 F4 F6 F8 F10 FT9 FT7 FC5 FC3 FC1 FCz FC2 FC4 FC6 FT8 FT10 T9 T7 C5 C3 C1 Cz "
    "C2 C4 C6 T8 T10 TP9 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 TP10 P9 P7 P5 P3 P1 Pz "
    "P2 P4 P6 P8 P10 PO9 PO7 PO5 PO3 PO1 POz PO2 PO4 PO6 PO8 PO10 O9 O1 Oz O2 O10 "
    "I1 Iz I2 CB1 CB2"
).split()
ELECTRODES: dict[str, str] = {name.upper(): name for name in _ELECTRODES}
OLD_1020_NAMES: dict[str, str] = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
# Ear and mastoid electrodes: references, never scalp EEG.
REFERENCE_ELECTRODES: dict[str, str] = {"A1": "A1", "A2": "A2", "M1": "M1", "M2": "M2"}
_REFERENCE_SUFFIXES = frozenset(
    {"REF", "LE", "RE", "AR", "AV", "AVG", "AVE", "CAR", "A1", "A2", "M1", "M2", "A1A2", "LM"}
)
# Label prefixes that name a signal type (EDF+ "type sensor" and vendor prefixes).
_TYPE_PREFIXES = {
    "EEG": "eeg",
    "ECG": "ecg",
    "EKG": "ecg",
    "POL": None,  # Nihon Kohden's "polygraph" prefix: says nothing about the type
    "EOG": "other",
    "EMG": "other",
    "RESP": "other",
}
# Names (or first words) of channels that are not EEG whatever the file declares.
_NON_EEG = re.compile(
    r"^(EOG|HEOG|VEOG|LOC|ROC|EMG|CHIN|LEG|RESP|THOR|ABDO|AIRFLOW|FLOW|SNORE|SAO2|SPO2|"
    r"PLETH|PPG|PULSE|HR|BVP|GSR|EDA|TEMP|BODY|POS|LIGHT|ACC|ACCEL|GYRO|STATUS|TRIGGER|TRIG|"
    r"STIM|EVENT|EVENTS|MARKER|MARKERS|PHOTIC|IBI|EDF ANNOTATIONS|BDF ANNOTATIONS)\b"
)
_ECG_NAME = re.compile(r"^(?:ECG|EKG)(?P<rest>.*)$")
# Declared types (XDF channel/stream type, sidecar role) and the kinds they mean.
_DECLARED: dict[str, ChannelKind] = {"EEG": "eeg", "ECG": "ecg", "EKG": "ecg"}
_DECLARED_OTHER = frozenset({"MISC", "AUX", "REF", "REFERENCE", "GROUND", "BIO", "NIRS"})

MICROVOLT = "uV"


def _declared_kind(declared: str | None) -> ChannelKind | None:
    """The kind a declared type means; ``None`` for a type that says nothing (``ExG``)."""
    if declared is None or not str(declared).strip():
        return None
    word = str(declared).strip().upper()
    if word in _DECLARED:
        return _DECLARED[word]
    if word == "OTHER" or word in _DECLARED_OTHER or _NON_EEG.match(word):
        return "other"
    return None


def _electrode(token: str) -> str | None:
    upper = token.upper()
    upper = OLD_1020_NAMES.get(upper, upper)
    return ELECTRODES.get(upper)


def _strip_reference(body: str) -> str:
    """``FP1-REF`` -> ``FP1`` when the head is an electrode; otherwise unchanged."""
    m = re.fullmatch(r"(.+?)\s*[-/]\s*([A-Za-z0-9]+)", body)
    if m and m.group(2).upper() in _REFERENCE_SUFFIXES and _electrode(m.group(1)):
        return m.group(1)
    return body


def classify_channel(
    label: str, declared: str | None = None, default: ChannelKind = "other"
) -> tuple[str, ChannelKind]:
    """``(normalised name, kind)`` of a channel labelled ``label``.

    ``declared`` is a type the file states for the channel (XDF ``type``, a sidecar
    ``role``: ``EEG``, ``ECG``, ``EOG``, ...); ``default`` is the kind of a channel that
    nothing identifies (``"eeg"`` for BrainFlow's ExG rows, ``"other"`` for EDF). See the
    module docstring for the rules.
    """
    if not isinstance(label, str):
        raise ValueError(f"channel label must be a string, got {label!r}")
    text = " ".join(label.split())
    if not text:
        raise ValueError("channel label is empty")
    hint = _declared_kind(declared)
    body = text
    first, _, rest = text.partition(" ")
    prefix = first.upper().rstrip(":")
    if rest and prefix in _TYPE_PREFIXES:
        hint = hint or _TYPE_PREFIXES[prefix]
        if prefix in ("EEG", "POL"):
            body = rest  # "EEG Fp1" is electrode Fp1; other types keep their prefix
        elif prefix in ("ECG", "EKG") and not _ECG_NAME.match(rest.upper()):
            return f"ECG {rest}", "ecg"  # "ECG II"
        elif prefix in ("ECG", "EKG"):
            body = rest  # "ECG ECG", "EKG EKG1"
    upper = body.upper()
    if _ECG_NAME.match(upper):
        return "ECG" + body[3:], "ecg"
    if _NON_EEG.match(upper):
        return body, "other"
    body = _strip_reference(body)
    head = re.fullmatch(r"([A-Za-z0-9]+)\s*[-/]\s*([A-Za-z0-9]+)", body)
    if body.upper() in REFERENCE_ELECTRODES or (
        head and head.group(1).upper() in REFERENCE_ELECTRODES
    ):
        return body.upper(), "other"
    electrode = _electrode(body)
    if electrode is not None:
        if hint in ("ecg", "other"):
            return electrode, hint  # the file says so: e.g. an ExG input wired to the chest
        return electrode, "eeg"
    if hint is not None:
        return body, hint
    return body, default


def normalise_name(label: str) -> str:
    """The normalised name of ``label`` (see :func:`classify_channel`)."""
    return classify_channel(label)[0]


def scale_to_uv(unit: str | None, where: str, default_unit: str | None = None) -> float:
    """µV per ``unit`` of the channel described by ``where`` (file and channel), or a
    ``ValueError`` that names it. An empty unit uses ``default_unit`` when given."""
    text = "" if unit is None else str(unit).strip()
    if not text:
        if default_unit is None:
            raise ValueError(
                f"{where}: the file gives no physical unit; pass default_unit "
                "(e.g. 'uV') if you know it"
            )
        text = default_unit
    scale = uv_per_unit(text)
    if scale is None:
        raise ValueError(
            f"{where}: unit {text!r} is not a voltage this reader knows "
            "(V, mV, uV/µV, nV, volts, millivolts, microvolts, nanovolts)"
        )
    return scale
