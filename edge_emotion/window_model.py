"""What the classifier does with one window once its features and quality are known.

:class:`WindowModel` holds the engine, the single-modality fallbacks and, for a bundle
whose normalisation mode is ``session_baseline``, the session's running baseline
(:class:`edge_emotion.normalization.SessionBaseline`): while it collects the baseline
(the first ``baseline_s`` seconds of windows that pass the quality checks) every window
abstains with ``NOT_ENOUGH_DATA``, then each window's features are expressed against it
(:func:`edge_emotion.normalization.baseline_correct`) before the engine sees them, as
training did. The result of a hop is an :class:`Outcome`, which the classifier turns
into a :class:`~edge_emotion.decision.Decision`.

Modalities: a bundle takes EEG and ECG, or one of them (``FeatureConfig.modalities``);
engines get ``None`` for the input a bundle does not take.

Fallbacks: with ``fallback`` on, a window of a two-modality bundle whose one modality is
bad goes to the single-modality model of the good one, if there is one
(:class:`FallbackModel` wraps a bundle's fallback sub-bundle and its engine), and is
decided with that model's thresholds; the outcome names the model that decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

import numpy as np

from edge_emotion.bundle import Bundle
from edge_emotion.decision import FALLBACK_PREFIX, MODEL_MAIN, AbstainReason
from edge_emotion.normalization import MODE_SESSION_BASELINE, SessionBaseline, baseline_correct
from edge_emotion.quality import ModalityQuality, abstention

log = logging.getLogger("edge_emotion.run")


class Predictor(Protocol):
    """What the classifier needs of an engine (:class:`edge_emotion.engines.Engine`):
    raw features of the bundle's inputs (``None`` for an input it does not take) in,
    ``(batch, n_targets)`` probabilities out."""

    name: str

    def predict(self, eeg: np.ndarray | None, ecg: np.ndarray | None) -> np.ndarray: ...


class Outcome(NamedTuple):
    """What a hop concluded, before it becomes a :class:`Decision`."""

    reason: AbstainReason
    detail: str | None = None
    probabilities: dict[str, float] | None = None
    labels: dict[str, str] | None = None
    modalities: tuple[str, ...] = ()
    model: str | None = None  # which model decided (Decision.model)

    @classmethod
    def abstain(cls, reason: AbstainReason, detail: str) -> Outcome:
        return cls(reason, detail)


class WindowModel:
    """Engine, fallbacks and session baseline of one run (see the module docstring).

    ``fallback_engines`` maps a modality to a callable taking that modality's features
    alone and returning (1, n_targets) probabilities; used when ``fallback`` is true and
    exactly one of a two-modality bundle's modalities is bad (a window whose good modality
    has none abstains). A callable with a ``bundle`` (a :class:`FallbackModel`) is decided
    with that bundle's thresholds, others with the main bundle's.
    """

    def __init__(
        self,
        bundle: Bundle,
        engine: Predictor,
        fallback: bool = False,
        fallback_engines: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
        hop_s: float | None = None,
    ) -> None:
        self.bundle = bundle
        self.engine = engine
        self.targets = tuple(bundle.targets)
        self.modalities = tuple(bundle.feature_config.modalities)
        self.fallback = fallback
        self.fallback_engines = dict(fallback_engines or {})
        norm = bundle.normalization
        self.baseline: SessionBaseline | None = None
        if norm.mode == MODE_SESSION_BASELINE:
            hop = float(hop_s or bundle.feature_config.hop_s)
            self.baseline = SessionBaseline(max(1, round(float(norm.baseline_s) / hop)))

    def outcome(
        self, q: Mapping[str, ModalityQuality], de_map: np.ndarray | None, hrv: np.ndarray | None
    ) -> Outcome:
        """The outcome of a window whose quality verdicts ``q`` and raw features are known."""
        good = tuple(m for m in self.modalities if q[m].ok)
        if self.baseline is not None and not self.baseline.ready:
            if len(good) < len(self.modalities):
                return Outcome.abstain(*abstention(q))
            self.baseline.add(de_map, hrv)
            b = self.baseline
            return Outcome.abstain(
                AbstainReason.NOT_ENOUGH_DATA,
                f"collecting the session baseline ({b.count}/{b.n_windows} windows)",
            )
        if self.baseline is not None:
            e, c = baseline_correct(
                None if de_map is None else de_map[None],
                None if hrv is None else hrv.reshape(1, 1, -1),
                self.baseline.baseline,
            )
            de_map = None if e is None else e[0]
            hrv = None if c is None else c[0, 0]
        eeg_in = None if de_map is None else np.ascontiguousarray(de_map[None], dtype=np.float32)
        ecg_in = None if hrv is None else np.ascontiguousarray(hrv.reshape(1, 1, -1), np.float32)
        decider, model = self.bundle, MODEL_MAIN
        try:
            if len(good) == len(self.modalities):
                probs = self.engine.predict(eeg_in, ecg_in)
            elif len(good) == 1 and self.fallback and good[0] in self.fallback_engines:
                m = good[0]
                fallback = self.fallback_engines[m]
                decider, model = getattr(fallback, "bundle", decider), FALLBACK_PREFIX + m
                probs = fallback(eeg_in if m == "eeg" else ecg_in)
            else:
                return Outcome.abstain(*abstention(q))
        except (ValueError, RuntimeError) as exc:
            log.warning("inference failed: %s", exc)
            return Outcome.abstain(AbstainReason.MODEL_ERROR, f"inference failed: {exc}")
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        if p.size != len(self.targets) or not np.isfinite(p).all():
            return Outcome.abstain(
                AbstainReason.INVALID_OUTPUT, f"engine returned invalid probabilities {p.tolist()}"
            )
        high = decider.decide(p)
        return Outcome(
            AbstainReason.NONE,
            None,
            {t: float(v) for t, v in zip(self.targets, p, strict=True)},
            {t: "high" if h else "low" for t, h in zip(self.targets, high, strict=True)},
            good,
            model,
        )


class FallbackModel:
    """A bundle's single-modality fallback (:attr:`Bundle.fallbacks`) with its engine, as
    :class:`WindowModel` calls it: the window's features of that modality alone in
    (batch 1, in the main bundle's layout), (1, n_targets) probabilities out. An EEG
    fallback of a subset of the bundle's channels gets those rows of the DE map."""

    def __init__(self, bundle: Bundle, modality: str, engine: Predictor) -> None:
        self.modality = modality
        self.bundle = bundle.fallbacks[modality]
        self.engine = engine
        self.name = engine.name
        parent = bundle.feature_config.eeg_channels
        self._rows = [parent.index(c) for c in self.bundle.feature_config.eeg_channels]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        if self.modality == "eeg":
            return self.engine.predict(np.ascontiguousarray(features[:, :, self._rows]), None)
        return self.engine.predict(None, features)

    def warm_up(self) -> None:
        """One inference on zeros (an engine's first call optimises its graph)."""
        fc = self.bundle.feature_config
        if self.modality == "eeg":
            self.engine.predict(np.zeros((1, *fc.eeg_shape), np.float32), None)
        else:
            self.engine.predict(None, np.zeros((1, 1, *fc.hrv_shape), np.float32))


def create_fallbacks(
    bundle: Bundle, create_engine: Callable[[Bundle], Predictor]
) -> dict[str, FallbackModel]:
    """A :class:`FallbackModel` per fallback ``bundle`` carries, each engine made by
    ``create_engine`` (the main engine's backend choice); ``ValueError`` when it has none
    (``--on-bad-modality fallback`` cannot work)."""
    if not bundle.fallbacks:
        raise ValueError(
            f"--on-bad-modality fallback: the bundle {bundle.path} carries no single-modality "
            "fallback models (manifest 'fallbacks'); export them with --fallback eeg=EEG.pt "
            "--fallback ecg=ECG.pt, or use --on-bad-modality abstain"
        )
    return {
        m: FallbackModel(bundle, m, create_engine(bundle.fallbacks[m]))
        for m in bundle.feature_config.modalities
        if m in bundle.fallbacks
    }
