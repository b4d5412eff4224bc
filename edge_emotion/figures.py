"""Figure files: which formats, at which resolution, and the ``--format``/``--dpi`` options
that choose them, for every command that draws (training's ``train``, ``cv``, ``evaluate``,
``eav run`` and ``python -m edge_emotion.plot``).

matplotlib is not a runtime dependency (the device classifies without it): it is imported
on first use, with the Agg backend (no display needed), and a missing matplotlib is a
:class:`FigureError` that says how to install it. Nothing in the device's run path imports
this module.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("png", "svg", "pdf")
# 200 dpi: a 3.5-inch column figure is 700 px wide, sharp in print; svg/pdf are vector.
DEFAULT_DPI = 200
MAX_DPI = 1200


class FigureError(RuntimeError):
    """matplotlib is missing, or a figure could not be written."""


@dataclass(frozen=True)
class FigureOptions:
    """File formats (each figure is written once per format, same stem) and the raster
    resolution (PNG; fonts and lines of SVG/PDF are vectors)."""

    formats: tuple[str, ...] = ("png",)
    dpi: int = DEFAULT_DPI

    def __post_init__(self) -> None:
        if not self.formats:
            raise ValueError("figure formats: give at least one of " + ", ".join(FORMATS))
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise ValueError(f"figure formats {bad} unknown; choose from {', '.join(FORMATS)}")
        if not 10 <= self.dpi <= MAX_DPI:
            raise ValueError(f"--dpi must be in [10, {MAX_DPI}], got {self.dpi}")


def add_figure_args(parser: argparse.ArgumentParser) -> None:
    """``--format`` (one or more of png, svg, pdf) and ``--dpi``; read back with
    :func:`figure_options_from_args`."""
    g = parser.add_argument_group("figures")
    g.add_argument(
        "--format",
        dest="figure_formats",
        nargs="+",
        choices=FORMATS,
        default=["png"],
        metavar="FMT",
        help=f"figure file formats, one or more of {', '.join(FORMATS)} (e.g. --format png svg)",
    )
    g.add_argument(
        "--dpi",
        type=_dpi,
        default=DEFAULT_DPI,
        help="resolution of PNG figures, dots per inch",
    )


def _dpi(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 10 <= value <= MAX_DPI:
        raise argparse.ArgumentTypeError(f"must be in [10, {MAX_DPI}], got {value}")
    return value


def figure_options_from_args(args: argparse.Namespace) -> FigureOptions:
    # dict.fromkeys: `--format png png` writes one file
    return FigureOptions(tuple(dict.fromkeys(args.figure_formats)), args.dpi)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or a :class:`FigureError` saying how to
    install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise FigureError(
            "drawing figures needs matplotlib, which the device runtime does not install: "
            "pip install 'edge-emotion[plot]' (or matplotlib)"
        ) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, options: FigureOptions | None = None) -> list[Path]:
    """Write ``fig`` as ``path`` with each format's suffix, close it, return the paths.

    ``bbox_inches="tight"`` grows the canvas to every label, so nothing drawn is cut off.
    """
    plt = pyplot()
    options = options or FigureOptions()
    path = Path(path)
    written = []
    try:
        for fmt in options.formats:
            target = path.with_suffix(f".{fmt}")
            # no creation date in SVG/PDF: the same figure gives the same bytes
            metadata = {"Date": None} if fmt in ("svg", "pdf") else None
            fig.savefig(target, dpi=options.dpi, bbox_inches="tight", metadata=metadata)
            written.append(target)
    finally:
        plt.close(fig)
    return written
