"""Figures without pyplot's global state.

Importing dmsim never changes a notebook's matplotlib backend, and writing PNGs needs no display.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def new_figure(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any) -> tuple[Figure, Any]:
    """Like ``plt.subplots`` (constrained layout), but the figure belongs to no pyplot backend.

    Save it with ``fig.savefig(path)``; in a notebook, display it with ``display(fig)``.
    """
    kwargs.pop("constrained_layout", None)
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(*args, **kwargs)
