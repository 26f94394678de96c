"""The weight simplex as a picture: a ternary heatmap of one metric over every weighting of a
grid, drawn with plain matplotlib (``pip install 'qdrant-mm[plot]'``).

Geometry (the tuning page draws the same in SVG): BLIP at the bottom left, CLIP at the bottom
right, Interrogator at the top; a weighting ``(α, β, γ)`` sits at ``x = β + γ/2``,
``y = γ·√3/2``. Each grid weighting is drawn as the hexagon of the points nearer to it than to
any other grid weighting (its Voronoi cell), clipped to the triangle, in the colour of its
metric value; nothing is interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from qdrant_mm.errors import ConfigError
from qdrant_mm.weights import Weights

SQRT3 = math.sqrt(3.0)
CORNERS = {"blip": (0.0, 0.0), "clip": (1.0, 0.0), "interrogator": (0.5, SQRT3 / 2)}
MARK_STYLES = ("o", "s", "D", "^", "v", "P", "X")


def to_xy(w: Weights) -> tuple[float, float]:
    """Where the weighting ``w`` is drawn in the triangle."""
    return w.clip + w.interrogator / 2, w.interrogator * SQRT3 / 2


def hexagon(w: Weights, step: float) -> list[tuple[float, float]]:
    """The cell of a grid weighting: a hexagon (pointed top) of circumradius ``step / √3``."""
    x, y = to_xy(w)
    r = step / SQRT3
    return [
        (x + r * math.cos(math.radians(90 + 60 * i)), y + r * math.sin(math.radians(90 + 60 * i)))
        for i in range(6)
    ]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--plot needs matplotlib, which is not installed: pip install 'qdrant-mm[plot]'"
        ) from None
    return plt


def plot_simplex(
    values: Sequence[tuple[Weights, float]],
    metric: str,
    path: str | Path,
    *,
    step: float,
    marks: Sequence[tuple[str, Weights]] = (),
    title: str | None = None,
    caption: str | None = None,
) -> Path:
    """Write the heatmap of ``metric`` (``values``: each grid weighting and its value) with
    ``marks`` (label, weighting) on top and the best grid weighting starred; returns ``path``."""
    plt = _pyplot()
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Polygon

    finite = [(w, v) for w, v in values if v == v]
    if not finite:
        raise ConfigError(f"no weighting could be scored on {metric}: nothing to plot")
    lo = min(v for _, v in finite)
    hi = max(v for _, v in finite)
    fig, ax = plt.subplots(figsize=(7.2, 6.4), dpi=120)
    triangle = Polygon(list(CORNERS.values()), closed=True, facecolor="none", edgecolor="#333")
    ax.add_patch(triangle)
    cells = PolyCollection(
        [hexagon(w, step) for w, _ in finite], array=[v for _, v in finite], cmap="viridis"
    )
    cells.set_clim(lo, hi if hi > lo else lo + 1e-9)
    cells.set_edgecolor("face")
    cells.set_clip_path(triangle)
    ax.add_collection(cells)
    bar = fig.colorbar(cells, ax=ax, shrink=0.7, pad=0.02)
    bar.set_label(metric)
    best_w, best_v = max(finite, key=lambda item: item[1])
    bx, by = to_xy(best_w)
    ax.plot([bx], [by], marker="*", ms=16, color="#fde047", mec="black", ls="none",
            label=f"best on the grid: {best_w} ({metric} {best_v:.4f})")  # fmt: skip
    for i, (label, w) in enumerate(marks):
        x, y = to_xy(w)
        ax.plot([x], [y], marker=MARK_STYLES[i % len(MARK_STYLES)], ms=9, color="white",
                mec="black", mew=1.5, ls="none", label=f"{label}: {w}")  # fmt: skip
    for name, (x, y) in CORNERS.items():
        dy = 0.05 if name == "interrogator" else -0.05
        ax.annotate(f"{name} only", (x, y), xytext=(x, y + dy), ha="center", va="center")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.08, SQRT3 / 2 + 0.08)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="upper center", fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.02))
    heading = title or f"{metric} over the weight simplex (grid step {step:g})"
    ax.set_title(heading + (f"\n{caption}" if caption else ""), fontsize=11, pad=14)
    out = Path(path).expanduser()
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def check_plot(metric: str, step: float, definitions: str) -> str:
    """The canonical name of ``metric`` once the plot options are known to work (matplotlib
    importable, the step a grid step of at most 0.05); :class:`ConfigError` otherwise."""
    from qdrant_mm.evaluation.metrics import check_definitions, parse_metric
    from qdrant_mm.evaluation.tuning import simplex_grid

    _pyplot()
    if not (isinstance(step, (int, float)) and 0 < step <= 0.05):
        raise ConfigError(f"--plot-step must be in (0, 0.05], got {step}")
    try:
        simplex_grid(step)
    except ValueError as exc:
        raise ConfigError(f"--plot-step: {exc}") from None
    return str(parse_metric(metric, check_definitions(definitions)))


def plot_evaluation(searcher, qrels, vectors, path, metric, step, ks, definitions, marks) -> Path:
    """``evaluate --plot``: the grid of ``metric`` computed by live evaluation (the same numbers
    as ``evaluate --grid STEP``), drawn with ``marks`` and the collection's default weights."""
    from qdrant_mm.evaluation.live import LiveEvaluator

    live = LiveEvaluator.build(searcher, qrels, vectors)
    values = live.grid(step, metric, ks, definitions=definitions)
    default, name, _ = searcher.resolve_weights()
    label = f"profile:{name}" if name else "default"
    if all(lab != label for lab, _ in marks):
        marks = [*marks, (f"{label} (saved)", default)]
    caption = (
        f"{len(qrels)} queries from {Path(qrels.source or 'qrels').name}; {definitions} definitions"
    )
    return plot_simplex(values, metric, path, step=step, marks=marks, caption=caption)
