"""Writing a run's outputs atomically, and the PNG dashboard.

Each file is written to a temporary name in the run directory and renamed into place, and
``summary.json`` is written last: a run directory with a ``summary.json`` is a finished run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dmsim.config import SERVICES
from dmsim.plotting import new_figure

SUMMARY = "summary.json"
TIMESERIES = "timeseries.parquet"
CONFIG = "config.yaml"
DASHBOARD = "dashboard.png"
SNAPSHOTS = "workshops.parquet"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run(out_dir: Path, config_yaml: str, df: pd.DataFrame, summary: dict[str, Any],
              dashboard: bool = True, snapshots: pd.DataFrame | None = None) -> None:
    """Write the resolved config, time series, snapshots, dashboard and (last) the summary."""
    out_dir = Path(out_dir)
    (out_dir / SUMMARY).unlink(missing_ok=True)  # a re-run is unfinished until it ends
    for stale in out_dir.glob(".*.tmp"):  # left by a run killed while writing
        stale.unlink(missing_ok=True)
    atomic_write(out_dir / CONFIG, lambda p: p.write_text(config_yaml))
    atomic_write(out_dir / TIMESERIES, lambda p: df.to_parquet(p, index=False))
    if snapshots is not None:
        atomic_write(out_dir / SNAPSHOTS, lambda p: snapshots.to_parquet(p, index=False))
    if dashboard:
        atomic_write(out_dir / DASHBOARD, lambda p: plot_dashboard(df, summary, p))
    atomic_write(out_dir / SUMMARY,
                 lambda p: p.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n"))


def plot_dashboard(df: pd.DataFrame, summary: dict[str, Any], path: Path) -> None:
    """Four panels: DM vs import units; workshops and providers; unit-cost split; sourcing."""
    fig, ax = new_figure(2, 2, figsize=(12, 8), constrained_layout=True)
    m = df["month"]
    a = ax[0, 0]
    a.plot(m, df["dm_units"], label="DM units")
    a.plot(m, df["import_units"], label="imported units")
    a.set(title="Units bought per month", xlabel="month", ylabel="units")
    a.legend()
    a = ax[0, 1]
    a.plot(m, df["workshops_active"], label="workshops active")
    a.plot(m, df["providers_active"], label="providers active")
    a.plot(m, df["local_suppliers"], label="local suppliers")
    a.set(title="Ecosystem", xlabel="month", ylabel="count")
    a.legend()
    a = ax[1, 0]
    parts = ["unit_cost_material_usd", "unit_cost_labour_usd", "unit_cost_setup_usd", "unit_cost_overhead_usd"]
    labels = ["materials", "labour", "set-up and fixed", "service overhead"]
    a.stackplot(m, *[df[c].fillna(0.0) for c in parts], labels=labels)
    a.set(title="DM unit cost of the demand basket (USD/unit)", xlabel="month", ylabel="USD per unit")
    a.legend(loc="upper right")
    a = ax[1, 1]
    for s in SERVICES:
        a.plot(m, df[f"shared_service_share_{s}"], label=s, lw=1)
    a.plot(m, df["dm_market_share"], "k--", lw=2, label="DM market share")
    a.set(title="Shared sourcing by service; DM share", xlabel="month", ylabel="share", ylim=(-0.02, 1.02))
    a.legend(fontsize=7, ncol=2)
    tipped = "tipped" if summary.get("tipped") else "did not tip"
    fig.suptitle(f"dmsim — {summary.get('scenario')} (seed {summary.get('seed')}): {tipped}")
    fig.savefig(path, dpi=90, format="png")
