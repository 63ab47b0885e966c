"""Writing a run's outputs atomically, and the PNG dashboard.

Each file is written to a temporary name in the run directory and renamed into place, and
``summary.json`` is written last: a run directory with a ``summary.json`` is a finished run.
What is written is checked against the data contract (:mod:`dmsim.schema`) and cast to its types.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from dmsim import schema
from dmsim.config import MODES, SERVICES
from dmsim.plotting import new_figure

SUMMARY = "summary.json"
TIMESERIES = "timeseries.parquet"
CONFIG = "config.yaml"
DASHBOARD = "dashboard.png"
SNAPSHOTS = "workshops.parquet"

# Outputs are for colleagues too: created rw-r--r-- less the process umask (0644 under umask 022,
# 0600 under 077), like any file a program creates. tempfile.mkstemp would force 0600. The mode is
# passed to os.open, so the kernel applies the umask at creation: no need to read the umask, whose
# only API (os.umask) sets it too and races with other threads.
FILE_MODE = 0o644


class SchemaError(ValueError):
    """An output does not match the data contract in :mod:`dmsim.schema` (a bug, not a user error)."""


def _create_temp(directory: Path, name: str) -> Path:
    """Create an empty, new ``.NAME.RANDOM.tmp`` in ``directory`` with mode ``FILE_MODE`` & ~umask."""
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name for {name} in {directory}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    The file gets mode 0644 less the process umask; ``write`` must write into ``tmp`` (not replace it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path.parent, path.name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _products(config_yaml: str) -> list[str] | None:
    """The run's product names from its resolved config (None if it does not say)."""
    try:
        tree = yaml.safe_load(config_yaml)
    except yaml.YAMLError:
        return None
    products = tree.get("products") if isinstance(tree, dict) else None
    return [str(p) for p in products] if isinstance(products, dict) else None


def _check_names(table: str, written: list[str], products: list[str] | None) -> None:
    """Raise unless every written name is in the schema and every required one is written."""
    unknown = [n for n in written if schema.field(table, n, products) is None]
    missing = [] if products is None else sorted(set(schema.names(table, products, optional=False)) - set(written))
    if unknown or missing:
        raise SchemaError(f"{table} does not match dmsim/schema.py: not in the schema {unknown}, missing {missing}")


def conform_frame(df: pd.DataFrame, table: str, products: list[str] | None = None) -> pd.DataFrame:
    """``df`` with every column cast to its declared type; raises :class:`SchemaError` on any mismatch.

    Casting makes the file's types independent of the data: a float column that happens to hold
    whole numbers, or only nulls, stays ``float64`` (typed nulls, not Arrow's ``null`` type).
    """
    _check_names(table, list(df.columns), products)
    out = {}
    for col in df.columns:
        f = schema.field(table, col, products)
        assert f is not None  # checked above
        s = df[col]
        if not f.nullable and s.isna().any():
            raise SchemaError(f"{table}: column {col} holds nulls but is not nullable in dmsim/schema.py")
        if f.dtype == "category":
            # The categories are the modes in order, whatever a snapshot happens to hold.
            out[col] = pd.Categorical(s.astype("string"), categories=list(MODES))
            if out[col].isna().sum() != s.isna().sum():
                raise SchemaError(f"{table}: column {col} holds values other than {', '.join(MODES)}")
        elif f.dtype == "string":
            out[col] = s.astype("string")
        else:
            out[col] = s.astype(f.dtype)
    return pd.DataFrame(out, index=df.index)


def _json_value(key: str, f: schema.Field, v: Any) -> Any:  # noqa: ANN401 - a JSON value
    """``v`` as the JSON type ``f`` declares (numpy scalars become plain Python)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if f.nullable:
            return None
        raise SchemaError(f"summary.json: {key} is null but not nullable in dmsim/schema.py")
    ok = {
        "float64": isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)),
        "int64": (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))
        or (isinstance(v, (float, np.floating)) and float(v).is_integer()),  # a whole number computed as float
        "bool": isinstance(v, (bool, np.bool_)),
        "string": isinstance(v, str),
        "list<string>": isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
    }[f.dtype]
    if not ok:
        raise SchemaError(f"summary.json: {key}={v!r} is not a {f.dtype} (dmsim/schema.py)")
    cast = {"float64": float, "int64": int, "bool": bool, "string": str, "list<string>": list}[f.dtype]
    return cast(v)


def conform_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with every value as its declared JSON type; raises :class:`SchemaError` on any mismatch."""
    _check_names(SUMMARY, list(summary), products=[])
    return {k: _json_value(k, schema.field(SUMMARY, k), v) for k, v in summary.items()}  # type: ignore[arg-type]


def write_run(out_dir: Path, config_yaml: str, df: pd.DataFrame, summary: dict[str, Any],
              dashboard: bool = True, snapshots: pd.DataFrame | None = None) -> None:
    """Write the resolved config, time series, snapshots, dashboard and (last) the summary.

    Everything is checked against :mod:`dmsim.schema` before the first file is touched, so a run
    whose outputs would break the contract raises :class:`SchemaError` and writes nothing.
    """
    out_dir = Path(out_dir)
    products = _products(config_yaml)
    df = conform_frame(df, TIMESERIES, products)
    summary = conform_summary(summary)
    if snapshots is not None:
        snapshots = conform_frame(snapshots, SNAPSHOTS, products)
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


def sourcing_lines(df: pd.DataFrame) -> list[tuple[list[str], pd.Series]]:
    """The services' shared-sourcing series, identical ones merged: ``[(services, series), ...]``.

    Services often share a series (all sourced the same way), and seven lines drawn on top of
    each other would show only the last; merging them keeps every service visible in the legend.
    """
    groups: list[tuple[list[str], pd.Series]] = []
    for s in SERVICES:
        y = df[f"shared_service_share_{s}"]
        for names, ref in groups:
            if np.array_equal(ref.to_numpy(), y.to_numpy(), equal_nan=True):
                names.append(s)
                break
        else:
            groups.append(([s], y))
    return groups


def plot_dashboard(df: pd.DataFrame, summary: dict[str, Any], path: Path | None = None) -> Figure:
    """Four panels: DM vs import units; workshops and providers; unit-cost split; sourcing.

    Saved as PNG to ``path`` if given; the figure is returned either way.
    """
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
    styles = ["-", "--", "-.", ":"]
    for i, (names, y) in enumerate(sourcing_lines(df)):
        # Distinct colour and dash per line, so lines that meet stay tellable apart.
        a.plot(m, y, label=", ".join(names), lw=1.5, ls=styles[i % len(styles)], color=f"C{i}")
    a.plot(m, df["dm_market_share"], "k--", lw=2, label="DM market share")
    a.set(title="Shared sourcing by service; DM share", xlabel="month", ylabel="share", ylim=(-0.02, 1.02))
    a.legend(fontsize=7, ncol=2)
    tipped = "tipped" if summary.get("tipped") else "did not tip"
    fig.suptitle(f"dmsim — {summary.get('scenario')} (seed {summary.get('seed')}): {tipped}")
    if path is not None:
        fig.savefig(path, dpi=90, format="png")
    return fig
