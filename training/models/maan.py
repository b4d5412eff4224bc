"""The modality-aware attention network (MAAN) of Woo et al. and its base model.

Reference: S. Woo, M. Zubair, S. Lim, D. Kim, "Deep Multimodal Emotion Recognition using
Modality Aware Attention Network", NeurIPS 2023 workshop, §2.1 (intra-modality networks)
and §2.2 (modality-aware attention).

Inputs follow the feature contract (``edge_emotion.kernels.features``):

- EEG: differential-entropy maps ``(B, bands, channels, subwindows)``; the bands are the
  input channels of a 2-D U-Net that runs over the electrode × sub-window plane.
- ECG: zero-embedded RR-interval series ``(B, 1, hrv_length)``; a 1-D U-Net.

Each U-Net block is two convolutions with batch norm and ReLU followed by
squeeze-and-excitation (Hu et al., CVPR 2018); skip connections pass through additive
attention gates (Oktay et al., "Attention U-Net", MIDL 2018) before they are joined with
the decoder path.

Modality-aware attention (§2.2): each modality's feature map is max-pooled over its
temporal (ECG) or spatial (EEG: electrode × sub-window) axes, leaving one descriptor per
feature channel; the descriptors of both modalities are concatenated and mixed by a
convolution (kernel size 1, so every mask depends on both modalities), split back per
modality, and turned by a sigmoid into masks that rescale each modality's feature
channels. The base model of the paper's ablation skips this step and feeds the branch
outputs straight to the same classifier.

``build_model(model_config)`` builds either from a JSON-able config dict (the form stored
in every checkpoint and bundle manifest); its ``forward(eeg, ecg)`` takes EEG
``(B, bands, channels, subwindows)`` and ECG ``(B, 1, hrv_length)`` float32 tensors and
returns logits ``(B, n_targets)``.

Single-modality models. ``modalities`` in the config (``["eeg"]`` or ``["ecg"]``; absent
means both) builds the base model's one branch and its classifier; ``forward`` then takes
that modality's tensor alone. MAAN's attention mixes two modalities, so ``"maan"`` needs
both.

Depth. Each U-Net level halves the map (electrodes x sub-windows for EEG, the RR series
for ECG), so ``depth`` must leave at least one row: ``2**depth <=`` the smallest axis.
:func:`fit_depth` picks the deepest depth up to a wanted one that the shapes allow (depth
0 is one block without down-sampling, for a map of one electrode).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcitation(nn.Module):
    """Channel recalibration: global average pool, bottleneck MLP, sigmoid gate."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 2)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.flatten(2).mean(dim=2)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))
        return x * gate.view(*gate.shape, *([1] * (x.dim() - 2)))


def _conv(dims: int):
    return nn.Conv2d if dims == 2 else nn.Conv1d


def _norm(dims: int):
    return nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d


class ConvSEBlock(nn.Module):
    """Two 3-wide convolutions (batch norm, ReLU) and squeeze-and-excitation."""

    def __init__(self, in_ch: int, out_ch: int, dims: int, reduction: int) -> None:
        super().__init__()
        conv, norm = _conv(dims), _norm(dims)
        self.body = nn.Sequential(
            conv(in_ch, out_ch, 3, padding=1, bias=False),
            norm(out_ch),
            nn.ReLU(inplace=True),
            conv(out_ch, out_ch, 3, padding=1, bias=False),
            norm(out_ch),
            nn.ReLU(inplace=True),
        )
        self.se = SqueezeExcitation(out_ch, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.body(x))


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al. 2018).

    The gating signal ``g`` (decoder, already resized to the skip's size) and the skip
    ``x`` are projected, added, and mapped to one coefficient per position in (0, 1)
    that weights the skip features.
    """

    def __init__(self, skip_ch: int, gate_ch: int, inter_ch: int, dims: int) -> None:
        super().__init__()
        conv = _conv(dims)
        self.wx = conv(skip_ch, inter_ch, 1, bias=False)
        self.wg = conv(gate_ch, inter_ch, 1)
        self.psi = conv(inter_ch, 1, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(F.relu(self.wx(x) + self.wg(g))))
        return x * alpha


class SEAttentionUNet(nn.Module):
    """U-Net with squeeze-and-excitation blocks and attention-gated skips, 1-D or 2-D.

    The output keeps the input's spatial size and has ``width`` channels. Sizes that do
    not halve evenly (14 electrodes -> 7 -> 3) are handled by resizing the decoder path to
    the skip's size (nearest neighbour) instead of cropping.
    """

    def __init__(self, in_ch: int, width: int, depth: int, dims: int, reduction: int) -> None:
        super().__init__()
        self.dims = dims
        widths = [width * 2**i for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        prev = in_ch
        for w in widths:
            self.encoders.append(ConvSEBlock(prev, w, dims, reduction))
            prev = w
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(depth - 1, -1, -1):
            skip_ch, gate_ch = widths[level], widths[level + 1]
            self.gates.append(AttentionGate(skip_ch, gate_ch, max(skip_ch // 2, 4), dims))
            self.decoders.append(ConvSEBlock(skip_ch + gate_ch, skip_ch, dims, reduction))
        self.pool = nn.MaxPool2d(2, ceil_mode=False) if dims == 2 else nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, enc in enumerate(self.encoders):
            if i > 0:
                x = self.pool(x)
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        for gate, dec in zip(self.gates, self.decoders, strict=True):
            skip = skips.pop()
            up = F.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = dec(torch.cat([gate(skip, up), up], dim=1))
        return x


class ModalityAwareAttention(nn.Module):
    """Cross-modal channel attention of §2.2 (see the module docstring)."""

    def __init__(self, eeg_ch: int, ecg_ch: int, reduction: int) -> None:
        super().__init__()
        total = eeg_ch + ecg_ch
        hidden = max(total // reduction, 4)
        self.eeg_ch = eeg_ch
        self.mix = nn.Sequential(
            nn.Conv1d(total, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, total, 1),
        )

    def forward(
        self, eeg_map: torch.Tensor, ecg_map: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        eeg_desc = eeg_map.flatten(2).amax(dim=2)  # spatial axes: electrodes x sub-windows
        ecg_desc = ecg_map.amax(dim=2)  # temporal axis
        joint = torch.cat([eeg_desc, ecg_desc], dim=1).unsqueeze(2)
        masks = torch.sigmoid(self.mix(joint)).squeeze(2)
        eeg_mask, ecg_mask = masks[:, : self.eeg_ch], masks[:, self.eeg_ch :]
        return eeg_map * eeg_mask[:, :, None, None], ecg_map * ecg_mask[:, :, None]


class MAAN(nn.Module):
    """Two-branch EEG/ECG network; ``fusion=True`` is MAAN, ``fusion=False`` the base model.

    ``forward(eeg, ecg)`` returns logits ``(B, n_targets)``; ``embed(eeg, ecg)`` returns the
    features just before the classifier ``(B, embedding_dim)`` (used for the paper's Fig. 2).
    With one modality (``modalities``), one branch is built and both take its tensor alone.
    """

    def __init__(
        self,
        *,
        fusion: bool,
        modalities: tuple[str, ...] = ("eeg", "ecg"),
        n_bands: int,
        n_channels: int,
        n_subwindows: int,
        hrv_length: int,
        n_targets: int,
        eeg_width: int,
        ecg_width: int,
        depth: int,
        reduction: int,
        hidden: int,
        dropout: float,
        ecg_pool: int,
    ) -> None:
        super().__init__()
        self.fusion = fusion
        self.modalities = tuple(modalities)
        use_eeg, use_ecg = "eeg" in self.modalities, "ecg" in self.modalities
        self.input_shapes = ((n_bands, n_channels, n_subwindows), (1, hrv_length))
        self.eeg_net = (
            SEAttentionUNet(n_bands, eeg_width, depth, dims=2, reduction=reduction)
            if use_eeg
            else None
        )
        self.ecg_net = (
            SEAttentionUNet(1, ecg_width, depth, dims=1, reduction=reduction) if use_ecg else None
        )
        self.attention = ModalityAwareAttention(eeg_width, ecg_width, reduction) if fusion else None
        # Electrode identity matters for emotion (e.g. frontal alpha asymmetry), so the EEG
        # map is pooled over sub-windows only; the ECG series is pooled to a few segments.
        self.ecg_pool = nn.AdaptiveAvgPool1d(ecg_pool)
        self.embedding_dim = (eeg_width * n_channels if use_eeg else 0) + (
            ecg_width * ecg_pool if use_ecg else 0
        )
        self.classifier = nn.Sequential(
            nn.Linear(self.embedding_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_targets),
        )

    def embed(self, eeg: torch.Tensor, ecg: torch.Tensor) -> torch.Tensor:
        return self._embed({"eeg": eeg, "ecg": ecg})

    def forward(self, eeg: torch.Tensor, ecg: torch.Tensor) -> torch.Tensor:
        return self.classifier(self._embed({"eeg": eeg, "ecg": ecg}))

    def _embed(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.eeg_net is None:
            return self.ecg_pool(self.ecg_net(x["ecg"])).flatten(1)
        eeg_map = self.eeg_net(x["eeg"])
        if self.ecg_net is None:
            return eeg_map.mean(dim=3).flatten(1)
        ecg_map = self.ecg_net(x["ecg"])
        if self.attention is not None:
            eeg_map, ecg_map = self.attention(eeg_map, ecg_map)
        eeg_vec = eeg_map.mean(dim=3).flatten(1)
        ecg_vec = self.ecg_pool(ecg_map).flatten(1)
        return torch.cat([eeg_vec, ecg_vec], dim=1)


class EEGOnly(MAAN):
    """The base model's EEG branch and classifier: ``forward(eeg)`` (named so the exported
    graph's one input is ``eeg``)."""

    def embed(self, eeg: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self._embed({"eeg": eeg})

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.classifier(self._embed({"eeg": eeg}))


class ECGOnly(MAAN):
    """The base model's ECG branch and classifier: ``forward(ecg)``."""

    def embed(self, ecg: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self._embed({"ecg": ecg})

    def forward(self, ecg: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.classifier(self._embed({"ecg": ecg}))


MODEL_NAMES = ("maan", "base")
MODALITIES = ("eeg", "ecg")
MAX_DEPTH = 3

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "name": "maan",
    "n_bands": 4,
    "n_channels": 14,
    "n_subwindows": 10,
    "hrv_length": 32,
    "n_targets": 2,
    "eeg_width": 16,
    "ecg_width": 16,
    "depth": 2,
    "reduction": 4,
    "hidden": 64,
    "dropout": 0.3,
    "ecg_pool": 8,
    "modalities": list(MODALITIES),
}

_INT_KEYS = (
    "n_bands",
    "n_channels",
    "n_subwindows",
    "hrv_length",
    "n_targets",
    "eeg_width",
    "ecg_width",
    "depth",
    "reduction",
    "hidden",
    "ecg_pool",
)


def fit_depth(
    wanted: int, n_channels: int, n_subwindows: int, hrv_length: int, modalities=MODALITIES
) -> int:
    """The deepest U-Net depth ``<= wanted`` whose halvings leave every axis of the inputs
    of ``modalities`` at least one row (see the module docstring)."""
    axes = ([n_channels, n_subwindows] if "eeg" in modalities else []) + (
        [hrv_length] if "ecg" in modalities else []
    )
    depth = max(0, min(int(wanted), MAX_DEPTH))
    while depth > 0 and min(axes) < 2**depth:
        depth -= 1
    return depth


def model_config(name: str = "maan", **overrides: Any) -> dict[str, Any]:
    """Return a complete model config: the defaults, ``name``, then ``overrides``."""
    cfg = dict(DEFAULT_MODEL_CONFIG)
    cfg["name"] = name
    cfg.update(overrides)
    return validate_model_config(cfg)


def validate_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every field; raise ``ValueError`` naming the bad field."""
    if not isinstance(config, dict):
        raise ValueError(f"model_config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_MODEL_CONFIG))
    if unknown:
        raise ValueError(
            f"model_config has unknown keys {unknown}; expected keys from "
            f"{sorted(DEFAULT_MODEL_CONFIG)}"
        )
    cfg = {**DEFAULT_MODEL_CONFIG, **config}
    if cfg["name"] not in MODEL_NAMES:
        raise ValueError(f"model_config['name'] must be one of {MODEL_NAMES}, got {cfg['name']!r}")
    modalities = cfg["modalities"]
    if (
        isinstance(modalities, str)
        or not isinstance(modalities, (list, tuple))
        or not modalities
        or any(m not in MODALITIES for m in modalities)
        or len(set(modalities)) != len(modalities)
    ):
        raise ValueError(
            f"model_config['modalities'] must list distinct names from {MODALITIES}, "
            f"got {modalities!r}"
        )
    cfg["modalities"] = [m for m in MODALITIES if m in modalities]
    if cfg["name"] == "maan" and len(cfg["modalities"]) < 2:
        raise ValueError(
            "model 'maan' mixes EEG and ECG in its modality-aware attention; a model of one "
            f"modality ({cfg['modalities'][0]}) is 'base'"
        )
    for key in _INT_KEYS:
        value = cfg[key]
        low = 0 if key in ("depth", "n_channels") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"model_config[{key!r}] must be an int >= {low}, got {value!r}")
    if "eeg" in cfg["modalities"] and cfg["n_channels"] < 1:
        raise ValueError("model_config['n_channels'] must be >= 1 for a model that takes EEG")
    if cfg["depth"] > MAX_DEPTH:
        raise ValueError(f"model_config['depth'] must be 0..{MAX_DEPTH}, got {cfg['depth']}")
    fits = fit_depth(
        cfg["depth"], cfg["n_channels"], cfg["n_subwindows"], cfg["hrv_length"], cfg["modalities"]
    )
    if fits != cfg["depth"]:
        raise ValueError(
            f"model_config['depth'] {cfg['depth']} is too deep for the inputs (each level "
            f"halves them; n_channels {cfg['n_channels']}, n_subwindows {cfg['n_subwindows']}, "
            f"hrv_length {cfg['hrv_length']}): use depth {fits} or less"
        )
    dropout = cfg["dropout"]
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"model_config['dropout'] must be in [0, 1), got {dropout!r}")
    cfg["dropout"] = float(dropout)
    return cfg


def build_model(model_config: dict[str, Any]) -> nn.Module:
    """Build MAAN (``name="maan"``) or the base model (``name="base"``) from a config dict.

    Missing keys take the values of ``DEFAULT_MODEL_CONFIG``. The module is returned in
    training mode with freshly initialised weights (seed torch first for reproducibility).
    """
    cfg = validate_model_config(model_config)
    kwargs = {k: cfg[k] for k in cfg if k not in ("name", "modalities")}
    modalities = tuple(cfg["modalities"])
    cls = {("eeg",): EEGOnly, ("ecg",): ECGOnly}.get(modalities, MAAN)
    return cls(fusion=cfg["name"] == "maan", modalities=modalities, **kwargs)


def example_inputs(config: dict[str, Any], batch: int = 1) -> dict[str, torch.Tensor]:
    """Zero tensors of the model's inputs by name, in ``forward``'s order (FLOP counting,
    tracing for export)."""
    cfg = validate_model_config(config)
    inputs = {
        "eeg": torch.zeros(batch, cfg["n_bands"], cfg["n_channels"], cfg["n_subwindows"]),
        "ecg": torch.zeros(batch, 1, cfg["hrv_length"]),
    }
    return {m: inputs[m] for m in cfg["modalities"]}
