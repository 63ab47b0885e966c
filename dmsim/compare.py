"""Compare the runs of a sweep: ``python -m dmsim.compare SWEEP_DIR [--reference baseline] [--out DIR]``.

A sweep directory (Hydra multirun) holds one run directory per job. A run is finished when its
``summary.json`` exists (written last); other run directories are skipped and counted. The tool
reads one run at a time — its overrides (``.hydra/overrides.yaml``), its summary and a few key
series of its ``timeseries.parquet`` — and writes into ``SWEEP_DIR/compare/`` (or ``--out``):

- ``runs.parquet``, ``runs.csv``: one row per finished run: ``run`` (id), the run's parameters
  (override keys without ``+``, e.g. ``scenario``, ``workshops.initial``, ``seed``), every summary
  key, and ``run_dir`` (relative to the sweep directory);
- ``timeseries.parquet``: one row per run and month: ``run``, the parameters, ``month`` and the
  key series (``KEY_SERIES``; ``shock_active`` is bool, null in runs from before shocks existed, as
  is ``unmet_demand_units``);
- ``scenarios.csv``: per group of runs (each combination of the swept non-seed parameters), n,
  mean and t-based 95% interval across seeds of the headline figures (``HEADLINE``);
- ``paired_differences.csv``: differences against the reference over same-seed pairs;
- ``tipping_grid.csv``, ``strategy_ranking.csv``, ``benefit_cost.csv`` when they apply;
- ``crisis.csv`` when some run had a shock on (``crisis_months > 0``): per group, mean and interval
  of the crisis figures (``CRISIS``) and the runs with a shock; the report's "Crisis months"
  section, and the fan charts shade the months with a shock on and add unmet demand;
- ``report.md`` and ``report.html`` with the tables and the PNG figures beside them.

The functions (``load_runs``, ``load_sweep``, ``summarise_by``, ``paired_differences``,
``fan_quantiles``, ``tipping_grid``, ``strategy_ranking``, ``benefit_cost`` and the ``plot_*``
ones) work on plain DataFrames, so notebooks can call them on ``runs.parquet``.

Pairing: a run of the reference is matched with the run of each other group that has the same
seed and the same values of every other swept parameter. The model draws from separate seeded
streams (common random numbers), so same-seed runs share their luck and paired intervals are
narrower than intervals that treat the two samples as independent.

Intervals are clipped to what a figure can be (``feasible_range``: shares and ``tipped`` in
[0, 1], counts, costs and prices >= 0; a difference of shares in [-1, 1]), and the report and
the terminal warn when a group has fewer than ``MIN_SEEDS`` seeds.

Refused inputs (one line ``dmsim.compare: error: ...``, exit 2, nothing written): a folder that
is not a sweep — one run's directory, runs started one at a time (``.hydra/hydra.yaml`` says
``mode: RUN``), or runs started with different override keys — and a group whose runs differ in
their resolved ``config.yaml`` in anything but ``seed`` (and the presentation keys
``IGNORED_CONFIG_KEYS``): e.g. half a sweep re-run after editing a scenario file.

Types: every column of ``runs.parquet`` and ``timeseries.parquet`` has one type whatever the
data. Summary keys have the type of the data contract (dmsim/schema.py): integer ones
(``INT_KEYS``) are int64 (pandas ``Int64`` when some are missing), numbers are float64 (also
when null in every run, as is an unknown key that is), lists are list<string>, booleans stay
bool; a parameter whose configuration value is a float is float64 even when every swept value
is a whole number. So the files of several sweeps read as one dataset.

Output safety (``DIR`` is ``SWEEP_DIR/compare`` or ``--out``, which may also hold other files
such as ``experiments/NAME/README.md``): everything is written first into
``DIR/.compare-staging-PID/``; no file in ``DIR`` changes until the whole report is complete
(except that an earlier comparison killed while moving its files in is finished first). Then
the staging folder is renamed to ``DIR/.compare-commit-PID/`` (one atomic rename: the commit
point), ``report.md``/``report.html`` are removed, outputs of an earlier comparison that this
one does not write are removed, and each new file is renamed into ``DIR`` with ``os.replace``,
``report.html`` and ``report.md`` last. Guarantee: a kill before the commit point leaves every
file in ``DIR`` as it was (the old report byte-identical); at any moment, if ``report.md``
exists, it and every file it names are from one and the same comparison, and no file is ever
seen half-written. A kill during the moves (renames only, milliseconds) leaves ``DIR`` without
``report.md`` and the rest of the new report in ``.compare-commit-PID/``; the next
``dmsim.compare`` that writes to ``DIR`` finishes those moves, and removes the staging folders of
killed runs, before it does anything else. Only the file names in ``OUTPUTS`` are ever replaced
or removed: other files in ``DIR`` are never touched.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from matplotlib.patches import Patch
from scipy import stats

from dmsim import schema
from dmsim.outputs import CONFIG, SUMMARY, TIMESERIES, atomic_write
from dmsim.plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OVERRIDES = Path(".hydra") / "overrides.yaml"
CONFIDENCE = 0.95
REPLICATE = "seed"  # the parameter that indexes replicates (pairs are formed on it)

HEADLINE: tuple[str, ...] = (
    "dm_market_share_final", "workshops_active_final", "mean_unit_cost_usd_final", "overhead_share_final",
    "shared_service_share_final", "jobs_final", "local_value_added_usd_total",
    "buyer_landed_cost_usd_mean_final", "consumer_surplus_usd_total", "social_surplus_usd_total",
    "dm_fill_rate_final", "emissions_t_co2_total", "public_spend_usd_total", "tipped",
)
LABELS: dict[str, str] = {
    "dm_market_share_final": "DM market share (final)",
    "workshops_active_final": "workshops active (final)",
    "mean_unit_cost_usd_final": "DM unit cost, USD (final)",
    "overhead_share_final": "overhead share of cost (final)",
    "shared_service_share_final": "shared-service share (final)",
    "jobs_final": "jobs (final)",
    "local_value_added_usd_total": "local value added, USD (total)",
    "buyer_landed_cost_usd_mean_final": "buyer landed cost, USD/unit (final)",
    "consumer_surplus_usd_total": "consumer surplus, USD (total)",
    "social_surplus_usd_total": "social surplus, USD (total)",
    "dm_fill_rate_final": "DM orders delivered (final)",
    "emissions_t_co2_total": "transport emissions, t CO2 (total)",
    "public_spend_usd_total": "public spend, USD (total)",
    "tipped": "share of runs tipped",
    "dm_market_share": "DM market share",
    "workshops_active": "workshops active",
    "mean_unit_cost_usd": "DM unit cost (USD/unit)",
    "shared_service_share": "shared-service share",
    "unmet_demand_units": "unmet demand (units/month)",
    "crisis_months": "months with a shock on",
    "dm_market_share_crisis": "DM market share (crisis months)",
    "buyer_landed_cost_usd_mean_crisis": "buyer landed cost, USD/unit (crisis months)",
    "unmet_demand_share_crisis": "unmet demand share (crisis months)",
    "recovery_months": "months to recover (runs that recovered)",
}
# Series kept from each run's time series (the fan charts use the first four). Runs written before shocks
# existed have no shock_active / unmet_demand_units: those columns are null for them (types stay stable).
KEY_SERIES: tuple[str, ...] = (
    "dm_market_share", "workshops_active", "mean_unit_cost_usd", "shared_service_share",
    "overhead_share", "jobs", "public_spend_usd", "shock_active", "unmet_demand_units",
)
FAN_SERIES: tuple[str, ...] = KEY_SERIES[:4]
SHOCK = "shock_active"  # bool series: a shock is on in this run and month
# Fan-chart panel added when some run has a shock on (a shock-free sweep gets no always-zero panel).
CRISIS_FAN_SERIES: tuple[str, ...] = ("unmet_demand_units",)
# The "Crisis months" section (summary keys of runs with shocks; null in runs without one).
CRISIS: tuple[str, ...] = ("crisis_months", "dm_market_share_crisis", "buyer_landed_cost_usd_mean_crisis",
                           "unmet_demand_share_crisis", "recovery_months")
SHOCK_ALPHA = 0.25  # shading of the months when every run has a shock on (fewer: proportionally less)
SHOCK_STRIP, SHOCK_STRIP_ALPHA = 0.03, 0.7  # per-group strips (axes fraction) when groups' shocks differ
FAN_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
# Strategy ranking: effects (paired differences) per USD of extra public spend.
EFFECTS: tuple[str, ...] = ("dm_market_share_final", "social_surplus_usd_total", "consumer_surplus_usd_total")
COST = "public_spend_usd_total"
# Social surplus = consumer surplus + local factor incomes − shadow cost of labour + tariff revenue.
BENEFITS: tuple[str, ...] = ("social_surplus_usd_total",)
# Candidate reference strategies (the "do nothing" arm), tried in this order.
NO_STRATEGY: tuple[str, ...] = ("none", "baseline", "no_strategy", "status_quo")
# Columns of runs.parquet that are neither parameters nor summary figures to aggregate.
NOT_PARAMETERS = frozenset({"run", "run_dir", "tipped", "tipping_month", "months", "strategies", *CRISIS,
                            "benefit_vs_centralised_usd", "public_cost_vs_centralised_usd", "benefit_cost_ratio",
                            "emissions_saved_vs_centralised_t_co2"})  # summary figures without a suffix
# Outputs written only when they apply (an earlier comparison's copy is removed when this one does not write it).
OPTIONAL_OUTPUTS = ("scenario_bars.png", "paired_intervals.png", "fan_charts.png", "tipping_heatmap.png",
                    "paired_differences.csv", "tipping_grid.csv", "strategy_ranking.csv", "benefit_cost.csv",
                    "crisis.csv")
# Every file name compare may write into its output folder: the only names it ever replaces or removes there.
# The two reports go last (see the module docstring).
REPORTS = ("report.html", "report.md")
OUTPUTS = ("runs.parquet", "runs.csv", "timeseries.parquet", "scenarios.csv", *OPTIONAL_OUTPUTS, *REPORTS)
STAGING = ".compare-staging-"  # + PID: the report being built
COMMITTED = ".compare-commit-"  # + PID: a complete report being moved into place
MANIFEST = ".manifest.json"  # in a staging/commit folder: the files of the new report
MIN_SEEDS = 5  # fewer seeds per group: warn that its intervals are rough
# Summary keys typed by the data contract (dmsim/schema.py), whatever a sweep's data: whole numbers (null
# where undefined, as tipping_month) stay int64, numbers float64 even when null in every run.
INT_KEYS = frozenset({f.name for f in schema.SUMMARY if f.dtype == "int64"} | {"run", "month"})
FLOAT_KEYS = frozenset(f.name for f in schema.SUMMARY if f.dtype == "float64")
# Configuration keys that change how a run reports, not what it computes: ignored when checking that
# the runs of a group share one configuration.
IGNORED_CONFIG_KEYS = frozenset({REPLICATE, "output.dashboard", "output.quiet", "output.agent_snapshots"})
# Feasible ranges (see feasible_range): units of dmsim/schema.py that cannot be negative, and the figures in
# units that can be (USD, t CO2) but these cannot. Unit "share (0-1)", "share" in a name, fill rates, tipped: [0, 1].
NONNEGATIVE_UNITS = frozenset({"count", "units", "units/month", "jobs", "USD/unit", "USD/client-month", "month",
                               "months", "hours/month"})
NONNEGATIVE = frozenset({"emissions_t_co2_total", "public_spend_usd", "public_spend_usd_total",
                         "strategy_cost_usd_total", "labour_shadow_cost_usd_total", "tariff_revenue_usd_total"})


class CompareError(Exception):
    """A problem with the input that ends the comparison with one line on stderr."""


# --------------------------------------------------------------------------------------------
# Reading a sweep
# --------------------------------------------------------------------------------------------


@dataclass
class Sweep:
    """The runs of a sweep: one row per finished run, the key series, and what was skipped.

    Attributes:
        runs: One row per finished run (see the module docstring for the columns).
        timeseries: One row per run and month: ``run``, ``month`` and the key series; the
            parameters are joined in by :func:`timeseries_with_parameters`.
        skipped: ``(run_dir, reason)`` of every run directory that was not read.
        parameters: Parameter columns of ``runs``, ``seed`` last.
        config_ids: Per row of ``runs``, the index in ``configs`` of its ``config.yaml`` (the
            text without its ``seed:`` line), or None when the run has none.
        configs: The distinct ``config.yaml`` texts (without the ``seed:`` line).
        single_runs: ``run_dir`` of the finished runs that Hydra started as single runs
            (``mode: RUN`` in ``.hydra/hydra.yaml``), not as jobs of a sweep.
        override_keys: Per row of ``runs``, the keys of its overrides (without ``+``).
    """

    runs: pd.DataFrame
    timeseries: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    config_ids: list[int | None] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    single_runs: list[str] = field(default_factory=list)
    override_keys: list[frozenset[str]] = field(default_factory=list)


def display_path(path: str | Path) -> str:
    """``path`` relative to the current directory when inside it, else to its git repository, else absolute.

    Reports name their sweep this way, so a committed report does not name one machine's path.
    """
    p = Path(path).resolve()
    bases = [Path.cwd().resolve(), *[d for d in p.parents if (d / ".git").exists()][:1]]
    for base in bases:
        try:
            return p.relative_to(base).as_posix() or "."
        except ValueError:
            continue
    return str(p)


_SEED_LINE = re.compile(r"^seed:[^\n]*\n?", re.MULTILINE)
_HYDRA_MODE = re.compile(r"^\s+mode:\s*(RUN|MULTIRUN)\s*$", re.MULTILINE)


def _hydra_mode(run_dir: Path) -> str | None:
    """``RUN`` or ``MULTIRUN`` from the run's ``.hydra/hydra.yaml`` (None when there is none)."""
    try:
        m = _HYDRA_MODE.search((run_dir / ".hydra" / "hydra.yaml").read_text())
    except OSError:
        return None
    return m.group(1) if m else None


def flatten_config(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b.c": value}`` (lists are values)."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten_config(v, key))
        else:
            out[key] = v
    return out


def _parse_config(text: str) -> dict[str, Any]:
    """A ``config.yaml`` text as a flat mapping (``{}`` when it is not valid YAML)."""
    try:
        tree = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return flatten_config(tree) if isinstance(tree, dict) else {}


def parse_value(text: str) -> Any:
    """A Hydra override value as a Python scalar: bool, None, int, float or str.

    Args:
        text: The value part of ``key=value`` (e.g. ``"5"``, ``"0.3"``, ``"False"``, ``"grid"``).

    Returns:
        The typed value; quoted strings lose their quotes.
    """
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def parse_overrides(lines: Iterable[str]) -> dict[str, Any]:
    """Override strings (``+scenario=baseline``, ``seed=0``) as ``{key: value}``.

    The ``+``/``++`` prefixes are dropped (``+scenario`` -> ``scenario``); deletions (``~key``)
    and items without ``=`` are ignored.
    """
    out: dict[str, Any] = {}
    for item in lines:
        item = str(item).strip()
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.split("=", 1)
        out[key.strip().lstrip("+")] = parse_value(value)
    return out


def read_overrides(run_dir: Path) -> dict[str, Any]:
    """The parameters of one run from ``.hydra/overrides.yaml``.

    Falls back to the directory name when it reads like Hydra's ``override_dirname``
    (``+scenario=baseline,seed=0``); ``{}`` when neither is available.
    """
    path = run_dir / OVERRIDES
    if path.is_file():
        try:
            items = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, yaml.YAMLError):
            items = None
        if isinstance(items, list):
            return parse_overrides(items)
    parts = run_dir.name.split(",")
    if all("=" in p for p in parts):
        return parse_overrides(parts)
    return {}


def find_run_dirs(sweep_dir: Path, skip: Sequence[Path] = ()) -> tuple[list[Path], list[Path]]:
    """Finished and unfinished run directories under ``sweep_dir``.

    A directory with ``summary.json`` is a finished run; one with a ``.hydra`` folder or a
    ``config.yaml`` (both exist before a run starts simulating) but no summary is an unfinished
    (or crashed) run. Hidden folders, the ``skip`` directories and earlier comparison outputs
    (``runs.parquet`` beside ``report.md``) are not searched.

    Returns:
        ``(finished, unfinished)``, each sorted by path.
    """
    skip_real = {os.path.realpath(p) for p in skip}
    finished: list[Path] = []
    unfinished: list[Path] = []
    for root, dirs, files in os.walk(sweep_dir):
        here = Path(root)
        if SUMMARY in files:
            finished.append(here)
            dirs[:] = []
        elif ".hydra" in dirs or CONFIG in files:
            unfinished.append(here)
            dirs[:] = []
        elif "runs.parquet" in files and "report.md" in files:
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and os.path.realpath(here / d) not in skip_real)
    return sorted(finished), sorted(unfinished)


def series_type(name: str) -> pa.DataType:
    """The Arrow type of a key series in compare's ``timeseries.parquet``.

    bool where the data contract (dmsim/schema.py) says bool (``shock_active``), else float64 (counts too,
    as they always were).
    """
    f = schema.field("timeseries.parquet", name)
    return pa.bool_() if f is not None and f.dtype == "bool" else pa.float64()


def _read_series(path: Path, run: int, series: Sequence[str]) -> pa.Table | None:
    """``run``, ``month`` and ``series`` (:func:`series_type`; absent ones null) of one time series file."""
    try:
        with pq.ParquetFile(path) as pf:
            names = set(pf.schema_arrow.names)
            if "month" not in names:
                return None
            table = pf.read(columns=["month", *[s for s in series if s in names]])
    except (OSError, pa.ArrowException):
        return None
    n = table.num_rows
    cols: dict[str, pa.Array] = {"run": pa.array(np.full(n, run, dtype=np.int64)),
                                 "month": table["month"].cast(pa.int64())}
    for s in series:
        t = series_type(s)
        cols[s] = table[s].cast(t) if s in names else pa.nulls(n, t)
    return pa.table(cols)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _tidy_types(df: pd.DataFrame, floats: Iterable[str] = ()) -> pd.DataFrame:
    """One stable type per column, whatever the data (Parquet needs one type; several sweeps must agree).

    Object columns mixing value types become strings; a column that is missing in every run is
    float64; integer keys (``INT_KEYS``) are int64, or ``Int64`` when some are missing; float keys
    of the data contract (``FLOAT_KEYS``) and the ``floats`` columns (parameters whose
    configuration value is a float) are float64; booleans with missing values are ``boolean``.
    """
    for c in df.columns:
        col = df[c]
        present = [v for v in col if not _missing(v)] if col.dtype == object else None
        if present is not None and len({type(v) for v in present}) > 1:
            df[c] = col.map(lambda v: v if _missing(v) else str(v))
        elif present is not None and not present:  # null in every run: no type to infer
            df[c] = pd.Series(np.nan, index=df.index, dtype="float64")
        elif present is not None and all(isinstance(v, bool) for v in present):
            df[c] = col.astype("boolean")
    for c in INT_KEYS & set(df.columns):
        v = pd.to_numeric(df[c], errors="coerce")
        if (v.dropna() % 1 == 0).all():
            df[c] = v.astype("Int64") if v.isna().any() or c == "tipping_month" else v.astype("int64")
    for c in FLOAT_KEYS & set(df.columns):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in floats:
        if c in df.columns and df[c].dtype.kind in "iuf":
            df[c] = df[c].astype("float64")
    return df


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table whose types do not depend on the data (null columns and empty lists typed)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_null(t):
            t = pa.int64() if f.name in INT_KEYS else pa.float64()
        elif pa.types.is_list(t) and pa.types.is_null(t.value_type):  # every list empty: strategies=[]
            t = pa.list_(pa.string())
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def load_sweep(sweep_dir: str | Path, series: Sequence[str] = KEY_SERIES, skip: Sequence[Path] = ()) -> Sweep:
    """Read a sweep one run at a time, keeping its summary row and a few series.

    Args:
        sweep_dir: The sweep (multirun) directory.
        series: Time-series columns to keep per run (``()`` reads no time series).
        skip: Directories not to search (e.g. the comparison's output directory).

    Returns:
        The :class:`Sweep`; ``runs`` is empty when no run has finished.

    Raises:
        CompareError: ``sweep_dir`` is not a directory.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise CompareError(f"sweep directory {sweep_dir} does not exist")
    finished, unfinished = find_run_dirs(sweep_dir, skip)
    rel = lambda d: d.relative_to(sweep_dir).as_posix() or "."  # noqa: E731
    skipped = [(rel(d), "no summary.json (unfinished or crashed)") for d in unfinished]
    records: list[dict[str, Any]] = []
    tables: list[pa.Table] = []
    order: dict[str, None] = {}
    config_index: dict[str, int] = {}  # config text without its seed line -> index in `configs`
    config_ids: list[int | None] = []
    single_runs: list[str] = []
    override_keys: list[frozenset[str]] = []
    for d in finished:
        try:
            summary = json.loads((d / SUMMARY).read_text())
        except (OSError, ValueError) as e:
            skipped.append((rel(d), f"unreadable summary.json ({type(e).__name__})"))
            continue
        if not isinstance(summary, dict):
            skipped.append((rel(d), "summary.json is not a mapping"))
            continue
        params = read_overrides(d)
        order.update(dict.fromkeys(params))
        run = len(records)
        records.append({**params, **summary, "run_dir": rel(d)})
        override_keys.append(frozenset(params))
        if _hydra_mode(d) == "RUN":
            single_runs.append(rel(d))
        try:  # runs of one group differ only in their seed line: few distinct texts, each parsed once
            text = _SEED_LINE.sub("", (d / CONFIG).read_text(), count=1)
            config_ids.append(config_index.setdefault(text, len(config_index)))
        except OSError:
            config_ids.append(None)
        if series:
            t = _read_series(d / TIMESERIES, run, series)
            if t is not None:
                tables.append(t)
    configs = list(config_index)
    # A parameter is float when its configuration says so, also when every swept value is whole (0, 1).
    first = _parse_config(configs[0]) if configs else {}
    floats = [k for k in order if isinstance(first.get(k), float)]
    runs = _tidy_types(pd.DataFrame.from_records(records), floats) if records else pd.DataFrame()
    keys = [p for p in dict.fromkeys(["scenario", *order]) if p != REPLICATE and p in runs.columns]
    parameters = keys + ([REPLICATE] if REPLICATE in runs.columns else [])
    empty_ts = pd.DataFrame({"run": pd.Series(dtype="int64"), "month": pd.Series(dtype="int64"),
                             **{s: pd.Series(dtype=_pandas_type(s)) for s in series}})
    ts = pa.concat_tables(tables).to_pandas() if tables else empty_ts
    for s in series:  # a bool series with nulls (runs from before it existed) comes back as object
        if series_type(s) == pa.bool_() and ts[s].dtype != bool:
            ts[s] = ts[s].astype("boolean")
    if len(runs):
        summary_cols = [c for c in runs.columns if c not in parameters and c != "run_dir"]
        runs = runs[[*parameters, *summary_cols, "run_dir"]]
        runs = _sort(runs, parameters)
        old_id = runs.index.to_numpy()
        new_id = np.empty(len(runs), dtype=np.int64)
        new_id[old_id] = np.arange(len(runs))
        config_ids = [config_ids[i] for i in old_id]
        override_keys = [override_keys[i] for i in old_id]
        runs = runs.reset_index(drop=True)
        runs.insert(0, "run", np.arange(len(runs), dtype=np.int64))
        ts["run"] = new_id[ts["run"].to_numpy()]
        ts = ts.sort_values(["run", "month"], kind="stable").reset_index(drop=True)
        runs.attrs["parameters"] = parameters
    return Sweep(runs, ts, skipped, parameters, config_ids, configs, single_runs, override_keys)


def _pandas_type(name: str) -> str:
    """The pandas dtype of a key series with no rows (``boolean`` keeps a bool column bool in Parquet)."""
    return "boolean" if series_type(name) == pa.bool_() else "float64"


def _examples(items: Sequence[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (", …" if len(items) > limit else "")


def _yaml_value(v: Any) -> str:
    return "absent" if v is _ABSENT else json.dumps(v) if isinstance(v, str) else str(v)


_ABSENT = object()


def config_difference(sweep: Sweep, rows: Sequence[int], where: Path) -> str | None:
    """How the configurations of ``rows`` of ``sweep.runs`` differ, or None when they are one.

    Compares the resolved ``config.yaml`` of the runs (runs without one are left out) apart from
    ``seed`` and ``IGNORED_CONFIG_KEYS``. Names the first differing key in configuration order,
    each of its values with the number of runs that have it (fewest first), the run directories
    of the first value (shown relative to ``where``) and how many other keys differ.
    """
    ids = [sweep.config_ids[i] for i in rows] if sweep.config_ids else []
    distinct = list(dict.fromkeys(i for i in ids if i is not None))
    if len(distinct) < 2:
        return None
    flat = {i: _parse_config(sweep.configs[i]) for i in distinct}
    keys = list(dict.fromkeys(k for i in distinct for k in flat[i] if k not in IGNORED_CONFIG_KEYS))
    differ = [k for k in keys if len({json.dumps(flat[i].get(k, "\0absent"), sort_keys=True, default=str)
                                      for i in distinct}) > 1]
    if not differ:
        return None
    key = differ[0]
    by_value: dict[str, list[int]] = {}
    for row, cid in zip(rows, ids, strict=True):
        if cid is not None:
            by_value.setdefault(_yaml_value(flat[cid].get(key, _ABSENT)), []).append(row)
    ranked = sorted(by_value.items(), key=lambda kv: len(kv[1]))  # stable: ties keep first appearance
    counts = [f"{v} in {len(r)} run{'s' if len(r) != 1 else ''}" for v, r in ranked]
    text = (f"{key} is {', '.join(counts[:-1])} and {counts[-1]}" if len(counts) > 1 else counts[0])
    dirs = [display_path(where / sweep.runs["run_dir"].iloc[r]) for r in ranked[0][1]]
    more = f"; {len(differ) - 1} other key{'s' if len(differ) > 2 else ''} differ too" if len(differ) > 1 else ""
    return f"{text} ({_examples(dirs)}){more}"


def check_sweep(sweep: Sweep, sweep_dir: Path, by: Sequence[str] | None = None) -> None:
    """Refuse what cannot be compared as one sweep, with one line.

    Raises:
        CompareError: ``sweep_dir`` is not a sweep folder (its runs were started one at a time,
            or with different override keys), or a group of ``by`` (default
            :func:`group_columns`) mixes configurations.
    """
    name = display_path(sweep_dir)
    runs = sweep.runs
    if sweep.single_runs:
        dirs = [display_path(sweep_dir / d) for d in sweep.single_runs]
        raise CompareError(f"{name} is not a sweep folder: it holds runs started one at a time ({len(dirs)} of "
                           f"{len(runs)}, mode RUN in .hydra/hydra.yaml: {_examples(dirs)}); compare the folder of one "
                           "sweep (python -m dmsim -m ...)")
    keys = sweep.override_keys
    if len(set(keys)) > 1:  # the jobs of one sweep share their override keys (Hydra's product of the swept values)
        every = frozenset().union(*keys)
        p = sorted(every - frozenset.intersection(*keys), key=lambda k: (k == REPLICATE, k))[0]
        dirs = [display_path(sweep_dir / d) for d, k in zip(runs["run_dir"], keys, strict=True) if p not in k]
        raise CompareError(f"{name} is not a sweep folder: its runs were started with different overrides ({p} is "
                           f"set in {len(keys) - len(dirs)} of {len(keys)} runs, not in {_examples(dirs)}); "
                           "compare the folder of one sweep (python -m dmsim -m ...)")
    by = list(group_columns(runs) if by is None else by)
    for key, sub in _groups(runs, by):
        diff = config_difference(sweep, list(sub.index), sweep_dir)
        if diff is not None:
            group = ", ".join(f"{c}={_fmt_param(v)}" for c, v in zip(by, key, strict=True))
            raise CompareError(f"group {group or 'of all runs'} mixes configurations: {diff}; re-run the sweep into "
                               "a new folder, or remove the runs of the old configuration")


def load_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per finished run of a sweep: ``run``, parameters, summary keys, ``run_dir``.

    Unfinished runs are left out; their directories are listed in ``df.attrs["skipped"]`` and
    the parameter columns in ``df.attrs["parameters"]``.
    """
    sweep = load_sweep(sweep_dir, series=())
    sweep.runs.attrs["skipped"] = [d for d, _ in sweep.skipped]
    return sweep.runs


def timeseries_with_parameters(sweep: Sweep) -> pd.DataFrame:
    """The key series with each run's parameters as columns (``run``, parameters, ``month``, …)."""
    if sweep.runs.empty:
        return sweep.timeseries
    params = sweep.runs[["run", *sweep.parameters]]
    ts = params.merge(sweep.timeseries, on="run", how="inner", validate="one_to_many")
    return ts


def _sort(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Rows sorted by ``by`` (numbers numerically, missing values last)."""
    if not by:
        return df
    try:
        return df.sort_values(list(by), kind="stable", na_position="last")
    except TypeError:
        key = lambda s: s.astype(str)  # noqa: E731
        return df.sort_values(list(by), kind="stable", na_position="last", key=key)


# --------------------------------------------------------------------------------------------
# Which columns are parameters, and how runs group
# --------------------------------------------------------------------------------------------


def parameter_columns(df: pd.DataFrame) -> list[str]:
    """The parameter columns of a runs table, ``seed`` last.

    Uses ``df.attrs["parameters"]`` when :func:`load_sweep` set it; otherwise every column that is
    not a summary figure (``*_final``, ``*_total``, ``tipped``, ``tipping_month``, ``months``)
    nor ``run``/``run_dir``.
    """
    attrs = df.attrs.get("parameters")
    if attrs and all(c in df.columns for c in attrs):
        params = list(attrs)
    else:
        params = [c for c in df.columns if c not in NOT_PARAMETERS and not c.endswith(("_final", "_total"))]
    return [p for p in params if p != REPLICATE] + ([REPLICATE] if REPLICATE in params else [])


def swept_parameters(df: pd.DataFrame) -> list[str]:
    """Non-seed parameters that take more than one value across the runs."""
    return [p for p in parameter_columns(df) if p != REPLICATE and df[p].nunique(dropna=False) > 1]


def group_columns(df: pd.DataFrame) -> list[str]:
    """The columns that define a group of replicates: ``scenario`` (if present) and the swept ones."""
    swept = swept_parameters(df)
    return (["scenario"] if "scenario" in df.columns and "scenario" not in swept else []) + swept


def _matches(col: pd.Series, value: Any) -> pd.Series:
    """Rows of ``col`` equal to ``value`` (a string is also tried as a typed override value)."""
    hit = col == value
    if not hit.any() and isinstance(value, str):
        typed = parse_value(value)
        hit = col == typed if not isinstance(typed, str) else hit
        if not hit.any():
            hit = col.astype(str) == value
    return hit.fillna(False).astype(bool)


def find_reference(df: pd.DataFrame, reference: str, columns: Sequence[str] | None = None) -> tuple[str, Any] | None:
    """The column and value that ``reference`` names, or None if no run matches.

    Args:
        df: The runs table.
        reference: ``VALUE`` (searched in the ``columns`` that take more than one value,
            ``scenario`` first) or ``KEY=VALUE``.
        columns: Where to look for a bare value (default: :func:`group_columns`).

    Returns:
        ``(column, value)`` with the value as stored in the table.
    """
    if "=" in reference:
        key, value = reference.split("=", 1)
        key = key.strip().lstrip("+")
        candidates = [key] if key in df.columns else []
    else:
        value = reference
        candidates = [c for c in (columns if columns is not None else group_columns(df))
                      if df[c].nunique(dropna=False) > 1]  # a constant column is no comparison
    for c in candidates:
        hit = _matches(df[c], value)
        if hit.any():
            return c, df.loc[hit, c].iloc[0]
    return None


def _groups(df: pd.DataFrame, by: Sequence[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """``(values, rows)`` per group of ``by`` in sorted order (missing values kept as a group)."""
    if not by:
        return [((), df)]
    out = []
    for key, sub in df.groupby(list(by), dropna=False, sort=True):
        out.append((key if isinstance(key, tuple) else (key,), sub))
    return out


def group_labels(df: pd.DataFrame, by: Sequence[str]) -> tuple[list[str], list[str]]:
    """Short labels of the groups of ``by`` and the columns the labels are made of.

    Labels join the values of the columns that vary (``"shared_services / 10 / 1500"``); a
    column with one value only is left out unless it is the only one.
    """
    varying = [c for c in by if df[c].nunique(dropna=False) > 1] or list(by[:1])
    idx = [list(by).index(c) for c in varying]
    labels = [" / ".join(_fmt_param(key[i]) for i in idx) or "all runs" for key, _ in _groups(df, by)]
    return labels, varying


def _numeric(col: pd.Series) -> pd.Series:
    """``col`` as float64 (booleans as 0/1; anything not a number as NaN)."""
    return pd.to_numeric(col, errors="coerce").astype("float64")


def _fmt_param(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def t_halfwidth(sd: Any, n: Any, confidence: float = CONFIDENCE) -> Any:
    """Half-width of the t-based interval of a mean: ``t(n-1) * sd / sqrt(n)`` (NaN for n < 2)."""
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + confidence / 2, np.where(n >= 2, n - 1, np.nan))
        return t * sd / np.sqrt(n)


def mean_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> tuple[int, float, float, float]:
    """``(n, mean, ci_low, ci_high)`` of the non-missing values (t-based interval)."""
    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return 0, math.nan, math.nan, math.nan
    m = float(x.mean())
    hw = float(t_halfwidth(x.std(ddof=1), x.size, confidence)) if x.size > 1 else math.nan
    return int(x.size), m, m - hw, m + hw


def feasible_range(metric: str, diff: bool = False) -> tuple[float, float]:
    """The values ``metric`` can take: ``(low, high)``; a difference of two runs' values if ``diff``.

    From the unit of the summary key or series in dmsim/schema.py: shares (unit ``share (0-1)``,
    or ``share`` in the name), fill rates and ``tipped`` are in [0, 1]; counts, units, jobs,
    prices and months (``NONNEGATIVE_UNITS``; not the ``*_vs_centralised_*`` differences) and the
    USD and t CO2 totals in ``NONNEGATIVE`` are >= 0; anything else is unbounded. A difference of
    two values in [a, b] is in [a - b, b - a].
    """
    f = schema.field("summary.json", metric) or schema.field("timeseries.parquet", metric)
    unit = f.unit if f is not None else ""
    if unit == "share (0-1)" or _is_share(metric) or "fill_rate" in metric:
        lo, hi = 0.0, 1.0
    elif (unit in NONNEGATIVE_UNITS and "_vs_" not in metric) or metric in NONNEGATIVE:
        lo, hi = 0.0, math.inf
    else:
        lo, hi = -math.inf, math.inf
    return (lo - hi, hi - lo) if diff else (lo, hi)


def clip_interval(metric: str, lo: Any, hi: Any, diff: bool = False) -> tuple[Any, Any]:
    """``(lo, hi)`` clipped to :func:`feasible_range` (a t interval of a share may pass 100% with few seeds)."""
    a, b = feasible_range(metric, diff)
    if a == -math.inf and b == math.inf:  # the difference of two non-negative figures is unbounded
        return lo, hi
    return np.clip(lo, a, b), np.clip(hi, a, b)


def summarise_by(df: pd.DataFrame, by: Sequence[str] | None = None, metrics: Sequence[str] = HEADLINE,
                 confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Mean and t-based interval across seeds of each metric, per group of runs.

    Args:
        df: The runs table.
        by: Columns that define a group (default :func:`group_columns`).
        metrics: Metrics to summarise; absent ones are skipped; ``tipped`` gives the share tipped.
        confidence: Level of the interval.

    Returns:
        Long table: the ``by`` columns, ``n_runs`` (runs in the group), ``metric``, ``n``
        (non-missing values), ``mean``, ``sd``, ``ci_low``, ``ci_high`` (clipped to
        :func:`feasible_range`).
    """
    by = list(group_columns(df) if by is None else by)
    metrics = [m for m in metrics if m in df.columns]
    parts = []
    for key, sub in _groups(df, by):
        for m in metrics:
            x = _numeric(sub[m]).to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            mean = float(x.mean()) if x.size else math.nan
            sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
            hw = float(t_halfwidth(sd, x.size, confidence))
            lo, hi = clip_interval(m, mean - hw, mean + hw)
            parts.append({**dict(zip(by, key, strict=True)), "n_runs": len(sub), "metric": m, "n": int(x.size),
                          "mean": mean, "sd": sd, "ci_low": float(lo), "ci_high": float(hi)})
    cols = [*by, "n_runs", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
    return pd.DataFrame(parts, columns=cols)


def paired_runs(df: pd.DataFrame, reference: Any, key: str = "scenario", metrics: Sequence[str] = HEADLINE,
                context: Sequence[str] | None = None) -> pd.DataFrame:
    """Runs of every non-reference group matched with the same-seed reference run.

    Args:
        df: The runs table (needs a ``seed`` column).
        reference: The value of ``key`` that marks the reference runs.
        key: The column whose values are compared (e.g. ``scenario``, ``strategy``).
        metrics: Metric columns to carry.
        context: Columns that must also match (default: the other :func:`group_columns`).

    Returns:
        One row per pair: the ``context`` columns, ``key``, ``seed``, each metric of the
        treatment run under its own name and of the reference run as ``METRIC_ref``. Runs that
        repeat a (context, key, seed) cell are averaged first.
    """
    if key not in df.columns or REPLICATE not in df.columns:
        raise KeyError(f"paired comparison needs columns {key!r} and {REPLICATE!r}")
    context = [c for c in (group_columns(df) if context is None else context) if c not in (key, REPLICATE)]
    metrics = [m for m in metrics if m in df.columns]
    is_ref = _matches(df[key], reference)
    cells = [*context, key, REPLICATE]
    vals = df[cells].copy()
    for m in metrics:
        vals[m] = _numeric(df[m])
    ref = vals[is_ref].drop(columns=[key]).groupby([*context, REPLICATE], dropna=False, sort=False).mean()
    treat = vals[~is_ref].groupby(cells, dropna=False, sort=False).mean()
    ref = ref.add_suffix("_ref").reset_index()
    pairs = treat.reset_index().merge(ref, on=[*context, REPLICATE], how="inner")
    return _sort(pairs, [*context, key, REPLICATE]).reset_index(drop=True)


def _welch_halfwidth(a: np.ndarray, b: np.ndarray, confidence: float) -> float:
    """Half-width of the Welch interval of mean(a) - mean(b) (independent samples)."""
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return math.nan
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0:
        return 0.0
    dof = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return float(stats.t.ppf(0.5 + confidence / 2, dof) * math.sqrt(se2))


def paired_differences(df: pd.DataFrame, reference: Any, key: str = "scenario", metrics: Sequence[str] = HEADLINE,
                       confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Treatment minus reference over same-seed pairs, with paired and unpaired intervals.

    Args:
        df: The runs table.
        reference: The value of ``key`` that marks the reference runs (e.g. ``"baseline"``).
        key: The column compared (e.g. ``scenario``); other swept parameters must match.
        metrics: Metrics to compare (absent ones skipped).
        confidence: Level of the intervals.

    Returns:
        Long table, one row per context, compared value and metric: ``n_pairs``, ``mean``
        (mean of per-seed differences), ``ci_low``/``ci_high`` (paired t interval),
        ``unpaired_ci_low``/``unpaired_ci_high`` (Welch interval treating the same runs as two
        independent samples), ``width_ratio`` (paired over unpaired width), ``correlation``
        (Pearson, treatment vs reference over the pairs), ``treatment_mean``, ``reference_mean``.
    """
    pairs = paired_runs(df, reference, key, metrics)
    context = [c for c in group_columns(df) if c not in (key, REPLICATE)]
    metrics = [m for m in metrics if m in df.columns]
    rows = []
    for gkey, sub in _groups(pairs, [*context, key]):
        for m in metrics:
            t, r = sub[m].to_numpy(dtype=float), sub[f"{m}_ref"].to_numpy(dtype=float)
            ok = ~(np.isnan(t) | np.isnan(r))
            t, r = t[ok], r[ok]
            n, mean, lo, hi = mean_interval(t - r, confidence)
            uhw = _welch_halfwidth(t, r, confidence)
            width = hi - lo  # the ratio compares the t intervals' widths, before clipping
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = float(np.divide(width, 2 * uhw)) if uhw == uhw and uhw > 0 else math.nan
            corr = float(np.corrcoef(t, r)[0, 1]) if n > 2 and t.std() > 0 and r.std() > 0 else math.nan
            lo, hi = (float(v) for v in clip_interval(m, lo, hi, diff=True))
            ulo, uhi = (float(v) for v in clip_interval(m, mean - uhw, mean + uhw, diff=True))
            rows.append({**dict(zip([*context, key], gkey, strict=True)), "metric": m, "n_pairs": n, "mean": mean,
                         "ci_low": lo, "ci_high": hi, "unpaired_ci_low": ulo, "unpaired_ci_high": uhi,
                         "width_ratio": ratio, "correlation": corr,
                         "treatment_mean": float(t.mean()) if n else math.nan,
                         "reference_mean": float(r.mean()) if n else math.nan})
    cols = [*context, key, "metric", "n_pairs", "mean", "ci_low", "ci_high", "unpaired_ci_low", "unpaired_ci_high",
            "width_ratio", "correlation", "treatment_mean", "reference_mean"]
    return pd.DataFrame(rows, columns=cols)


def tipping_grid(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Share of seeds tipped and mean final DM share on the grid of two swept parameters.

    Returns:
        One row per (y, x) cell: ``y``, ``x``, ``n`` (runs), ``tipped_share``,
        ``dm_market_share_final_mean``.
    """
    def mean(sub: pd.DataFrame, col: str) -> float:
        return float(_numeric(sub[col]).mean()) if col in sub else math.nan

    rows = [{y: yv, x: xv, "n": len(sub), "tipped_share": mean(sub, "tipped"),
             "dm_market_share_final_mean": mean(sub, "dm_market_share_final")}
            for (yv, xv), sub in _groups(df, [y, x])]
    return pd.DataFrame(rows, columns=[y, x, "n", "tipped_share", "dm_market_share_final_mean"])


def default_strategy_reference(df: pd.DataFrame, key: str = "strategy") -> Any:
    """The "do nothing" strategy: the first of ``NO_STRATEGY`` present, else the one spending least."""
    values = df[key].dropna().unique().tolist()
    for name in NO_STRATEGY:
        if name in values:
            return name
    spend = _numeric(df[COST]) if COST in df else pd.Series(0.0, df.index)
    return spend.groupby(df[key]).mean().idxmin()


def strategy_ranking(df: pd.DataFrame, reference: Any = None, key: str = "strategy",
                     effects: Sequence[str] = EFFECTS, cost: str = COST,
                     confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Strategies ranked by effect per USD of extra public spend, against a reference strategy.

    Effects and spend are paired (same seed, same other parameters) differences against the
    reference; with a reference that spends nothing the extra spend is the strategy's own
    ``public_spend_usd_total``. Effect per USD = mean effect / mean extra spend (NaN when the
    strategy spends no more than the reference).

    Args:
        df: The runs table with a ``key`` column.
        reference: The reference strategy (default :func:`default_strategy_reference`).
        key: The strategy column.
        effects: Metrics whose paired differences are the effects.
        cost: The spend metric.
        confidence: Level of the effect intervals.

    Returns:
        One row per context and strategy: ``n_pairs``, ``extra_spend_usd``, per effect
        ``E_diff``, ``E_ci_low``, ``E_ci_high``, ``E_per_usd``, and ``rank`` (1 = most DM market
        share per USD, within each context); sorted by context and rank. Empty if ``key`` has
        fewer than two values.
    """
    if key not in df.columns or df[key].nunique() < 2:
        return pd.DataFrame()
    if reference is None:
        reference = default_strategy_reference(df, key)
    effects = [e for e in effects if e in df.columns]
    pairs = paired_runs(df, reference, key, [*effects, cost])
    context = [c for c in group_columns(df) if c not in (key, REPLICATE)]
    rows = []
    for gkey, sub in _groups(pairs, [*context, key]):
        spend = float((sub[cost] - sub[f"{cost}_ref"]).mean())
        row: dict[str, Any] = {**dict(zip([*context, key], gkey, strict=True)), "reference": reference,
                               "n_pairs": len(sub), "extra_spend_usd": spend}
        for e in effects:
            _, mean, lo, hi = mean_interval(sub[e] - sub[f"{e}_ref"], confidence)
            lo, hi = (float(v) for v in clip_interval(e, lo, hi, diff=True))
            row.update({f"{e}_diff": mean, f"{e}_ci_low": lo, f"{e}_ci_high": hi,
                        f"{e}_per_usd": mean / spend if spend > 0 else math.nan})
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    primary = f"{effects[0]}_per_usd" if effects else "extra_spend_usd"
    if context:
        out["rank"] = out.groupby(context, dropna=False)[primary].rank(ascending=False, method="min")
    else:
        out["rank"] = out[primary].rank(ascending=False, method="min")
    out["rank"] = out["rank"].astype("Int64")
    return _sort(out, [*context, "rank"]).reset_index(drop=True)


def benefit_cost(df: pd.DataFrame, reference: Any = "centralised", key: str = "scenario",
                 benefits: Sequence[str] = BENEFITS, cost: str = COST,
                 confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Benefit-cost of each group against the ``centralised`` counterfactual, over same-seed pairs.

    Benefit = paired difference of the sum of ``benefits`` (social surplus: consumer surplus +
    local factor incomes − the shadow cost of the labour employed + tariff revenue, USD); cost =
    paired difference of public spend (USD); ratio = mean benefit / mean cost (NaN when the cost
    is not positive); net benefit = benefit - cost per pair.

    Returns:
        One row per context and compared value: ``n_pairs``, ``benefit_usd``,
        ``benefit_ci_low``, ``benefit_ci_high``, ``cost_usd``, ``net_benefit_usd``,
        ``net_benefit_ci_low``, ``net_benefit_ci_high``, ``benefit_cost_ratio``. Empty when no
        run has ``key == reference``.
    """
    if key not in df.columns or not _matches(df[key], reference).any():
        return pd.DataFrame()
    benefits = [b for b in benefits if b in df.columns]
    pairs = paired_runs(df, reference, key, [*benefits, cost])
    context = [c for c in group_columns(df) if c not in (key, REPLICATE)]
    rows = []
    for gkey, sub in _groups(pairs, [*context, key]):
        ben = sum((sub[b] - sub[f"{b}_ref"] for b in benefits), start=pd.Series(0.0, index=sub.index))
        cst = sub[cost] - sub[f"{cost}_ref"]
        n, b_mean, b_lo, b_hi = mean_interval(ben, confidence)
        _, net, net_lo, net_hi = mean_interval(ben - cst, confidence)
        c_mean = float(cst.mean())
        rows.append({**dict(zip([*context, key], gkey, strict=True)), "reference": reference, "n_pairs": n,
                     "benefit_usd": b_mean, "benefit_ci_low": b_lo, "benefit_ci_high": b_hi, "cost_usd": c_mean,
                     "net_benefit_usd": net, "net_benefit_ci_low": net_lo, "net_benefit_ci_high": net_hi,
                     "benefit_cost_ratio": b_mean / c_mean if c_mean > 0 else math.nan})
    return pd.DataFrame(rows)


def fan_quantiles(ts: pd.DataFrame, by: Sequence[str], series: Sequence[str] = FAN_SERIES,
                  quantiles: Sequence[float] = FAN_QUANTILES) -> pd.DataFrame:
    """Quantiles across runs of each series, per group and month.

    Returns:
        Long in quantiles, wide in series: the ``by`` columns, ``month``, ``quantile`` and one
        column per series.
    """
    series = [s for s in series if s in ts.columns]
    rows = []
    for key, sub in _groups(ts, by):
        q = sub.groupby("month")[series].quantile(list(quantiles))
        q.index = q.index.set_names(["month", "quantile"])
        q = q.reset_index()
        for c, v in zip(by, key, strict=True):
            q[c] = v
        rows.append(q)
    if not rows:
        return pd.DataFrame(columns=[*by, "month", "quantile", *series])
    return pd.concat(rows, ignore_index=True)[[*by, "month", "quantile", *series]]


def has_shocks(ts: pd.DataFrame) -> bool:
    """Whether any run has a shock on in any month (``shock_active``; False for runs without the column)."""
    return SHOCK in ts.columns and bool(ts[SHOCK].fillna(False).astype(bool).any())


def shock_shares(ts: pd.DataFrame, by: Sequence[str]) -> list[pd.Series]:
    """Per group of ``by`` (in :func:`_groups` order), the share of its runs with a shock on, indexed by month.

    A run without ``shock_active`` data counts as shock-free.
    """
    out = []
    for _, sub in _groups(ts, by):
        on = sub[SHOCK].fillna(False).astype(bool) if SHOCK in sub else pd.Series(False, index=sub.index)
        out.append(on.astype(float).groupby(sub["month"]).mean())
    return out


def shock_blocks(share: pd.Series) -> list[tuple[int, int, float]]:
    """``(first month, last month, share)`` of each stretch of consecutive months with one share > 0."""
    blocks: list[tuple[int, int, float]] = []
    for m, v in share.items():
        if not v > 0:
            continue
        if blocks and blocks[-1][2] == v and blocks[-1][1] == m - 1:
            blocks[-1] = (blocks[-1][0], int(m), float(v))
        else:
            blocks.append((int(m), int(m), float(v)))
    return blocks


def crisis_summary(df: pd.DataFrame, by: Sequence[str] | None = None,
                   confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Mean and t-based interval across seeds of the crisis figures (``CRISIS``), per group of runs.

    As :func:`summarise_by` (a run without a shock has null ``*_crisis`` figures and ``recovery_months``,
    so those means are over the runs with a shock; ``recovery_months`` over the runs that recovered: its
    ``n``), plus ``n_shock_runs``: the group's runs with ``crisis_months > 0``. Empty when no run has one.
    """
    by = list(group_columns(df) if by is None else by)
    if "crisis_months" not in df.columns or not (_numeric(df["crisis_months"]) > 0).any():
        return pd.DataFrame()
    out = summarise_by(df, by, CRISIS, confidence)
    shocked = [int((_numeric(sub["crisis_months"]) > 0).sum()) for _, sub in _groups(df, by)]
    per_group = [len(s) for _, s in _groups(out, by)]  # rows per group, in the same sorted order
    out.insert(len(by) + 1, "n_shock_runs", np.repeat(shocked, per_group).astype(np.int64))
    return out


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _is_share(metric: str) -> bool:
    return "share" in metric or metric == "tipped"


def _decimals(x: float) -> int:
    """Decimals that show ``x`` compactly: none from 10,000 up, 3 significant figures below 1."""
    a = abs(x)
    if math.isnan(a) or a == 0:
        return 2
    if a >= 1e4:
        return 0
    if a >= 100:
        return 1
    if a >= 1:
        return 2
    return min(6, 2 - math.floor(math.log10(a)))


def _num(x: float, decimals: int | None = None) -> str:
    """A compact number with thousands separators (``decimals`` default: :func:`_decimals`)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    d = _decimals(x) if decimals is None else decimals
    return f"{x:,.{d}f}"


def format_value(metric: str, x: float, diff: bool = False, decimals: int | None = None) -> str:
    """One figure of ``metric``: shares in % (differences in percentage points), others as numbers."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if _is_share(metric):
        return f"{100 * x:+.1f} pp" if diff else f"{100 * x:.1f}%"
    return ("+" if diff and x > 0 else "") + _num(x, decimals)


def format_interval(metric: str, mean: float, lo: float, hi: float, diff: bool = False,
                    style: str = "brackets") -> str:
    """``mean [lo, hi]`` (``style="brackets"``) or ``mean ± half-width`` (``style="pm"``).

    Shares are in percent (differences in percentage points); other figures share one number of
    decimals, chosen from the larger of the mean and the interval's bounds. An interval clipped
    to the figure's range (not centred on the mean) is always shown with its bounds.
    """
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return format_value(metric, mean, diff)
    hw = (hi - lo) / 2
    if not math.isclose(hi - mean, mean - lo, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(mean))):
        style = "brackets"
    if _is_share(metric):
        m = format_value(metric, mean, diff)
        return f"{m} ± {100 * hw:.1f}" if style == "pm" else f"{m} [{100 * lo:.1f}, {100 * hi:.1f}]"
    d = _decimals(max(abs(mean), abs(lo), abs(hi)))
    m = format_value(metric, mean, diff, d)
    return f"{m} ± {_num(hw, d)}" if style == "pm" else f"{m} [{_num(lo, d)}, {_num(hi, d)}]"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def scenario_tables(summary: pd.DataFrame, by: Sequence[str], style: str = "brackets",
                    max_groups: int = 4) -> list[tuple[list[str], list[list[str]]]]:
    """The scenario table as ``(header, rows)`` blocks: metrics as rows, up to ``max_groups`` groups as columns."""
    if summary.empty:
        return []
    groups_df = summary.drop_duplicates(list(by))[list(by)] if by else summary.head(1)
    labels, _ = group_labels(groups_df, by) if by else (["all runs"], [])
    # Both lists are in the same sorted group order; position, not the key, matches them (NaN != NaN).
    keys = list(range(len(_groups(groups_df, by))))
    per_group = [s for _, s in _groups(summary, by)]
    metrics = list(dict.fromkeys(summary["metric"]))
    blocks = []
    for start in range(0, len(keys), max_groups):
        chunk = list(range(start, min(start + max_groups, len(keys))))
        header = ["", *[labels[i] for i in chunk]]
        rows = [["runs", *[str(int(per_group[keys[i]]["n_runs"].iloc[0])) for i in chunk]]]
        for m in metrics:
            row = [LABELS.get(m, m)]
            for i in chunk:
                r = per_group[keys[i]].set_index("metric").loc[m]
                row.append(format_interval(m, r["mean"], r["ci_low"], r["ci_high"], style=style))
            rows.append(row)
        blocks.append((header, rows))
    return blocks


def crisis_tables(crisis: pd.DataFrame, by: Sequence[str], style: str = "brackets",
                  max_groups: int = 4) -> list[tuple[list[str], list[list[str]]]]:
    """The crisis table (:func:`crisis_summary`) as :func:`scenario_tables` blocks.

    Under the run count: the runs that had a shock, and those that recovered (``recovery_months`` not null).
    """
    blocks = scenario_tables(crisis, by, style, max_groups)
    per_group = [s for _, s in _groups(crisis, by)]
    for start, (_, rows) in zip(range(0, len(per_group), max_groups), blocks, strict=True):
        chunk = per_group[start:start + max_groups]
        shocked = [int(g["n_shock_runs"].iloc[0]) for g in chunk]
        recovered = [int(g.set_index("metric").loc["recovery_months", "n"]) if "recovery_months" in set(g["metric"])
                     else 0 for g in chunk]
        rows[1:1] = [["runs with a shock", *[str(n) for n in shocked]],
                     ["runs recovered by the end", *[f"{r} of {n}" for r, n in zip(recovered, shocked, strict=True)]]]
    return blocks


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_scenario_bars(summary: pd.DataFrame, by: Sequence[str], path: Path) -> None:
    """One panel per headline metric: a bar per group with its 95% interval."""
    metrics = list(dict.fromkeys(summary["metric"]))
    groups_df = summary.drop_duplicates(list(by))[list(by)]
    labels, _ = group_labels(groups_df, by)
    ncol = 4
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = new_figure(nrow, ncol, figsize=(4 * ncol, 2.9 * nrow + 0.4), constrained_layout=True,
                             squeeze=False)
    per_group = [s.set_index("metric") for _, s in _groups(summary, by)]
    xs = np.arange(len(per_group))
    for ax, m in zip(axes.flat, metrics, strict=False):
        mean = np.array([g.loc[m, "mean"] for g in per_group], dtype=float)
        lo = np.array([g.loc[m, "ci_low"] for g in per_group], dtype=float)
        hi = np.array([g.loc[m, "ci_high"] for g in per_group], dtype=float)
        err = np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)])
        ax.bar(xs, np.nan_to_num(mean), yerr=err, capsize=3, color=[f"C{i % 10}" for i in xs])
        ax.set_title(LABELS.get(m, m), fontsize=9)
        ax.set_xticks(xs, labels, rotation=30 if len(labels) > 2 else 0, ha="right" if len(labels) > 2 else "center",
                      fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle("Mean across seeds with 95% interval")
    fig.savefig(path, dpi=80, format="png")


def plot_paired_intervals(paired: pd.DataFrame, path: Path) -> None:
    """Width of each paired interval as a share of the unpaired one, per metric and compared group."""
    metrics = list(dict.fromkeys(paired["metric"]))
    fig, ax = new_figure(figsize=(8, 0.35 * len(metrics) + 1.6), constrained_layout=True)
    ys = np.arange(len(metrics))
    context_key = list(paired.columns[: list(paired.columns).index("metric")])
    labels, label_cols = group_labels(paired, context_key)
    for i, ((_, sub), label) in enumerate(zip(_groups(paired, context_key), labels, strict=True)):
        ratio = sub.set_index("metric")["width_ratio"].reindex(metrics).to_numpy(dtype=float)
        ax.scatter(100 * ratio, ys, color=f"C{i % 10}", label=label, zorder=3)
    ax.axvline(100, color="k", lw=1, ls="--")
    ax.set_yticks(ys, [LABELS.get(m, m) for m in metrics], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("paired interval width, % of the unpaired width (< 100: pairing tightens)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, title=" / ".join(label_cols), title_fontsize=7)
    fig.savefig(path, dpi=80, format="png")


def _shade_shocks(axes: Sequence[Axes], shares: Sequence[pd.Series], pooled: pd.Series) -> Patch:
    """Shade on every panel the months with a shock on; returns the legend entry.

    Full height, in grey: a month with a shock on in a share p of all runs gets alpha ``SHOCK_ALPHA * p``
    (one span per stretch of months with one share). When the groups' shock months differ, each group
    also gets a strip of its colour at the bottom of the panel over its own shock months, with alpha
    ``SHOCK_STRIP_ALPHA * p`` for a share p of its runs (coloured full-height shadings would mix into
    one muddy colour where groups overlap).
    """
    same = all(s.equals(shares[0]) for s in shares[1:])
    strip = min(SHOCK_STRIP, 0.2 / len(shares))  # height of a group's strip (axes fraction)
    for ax in axes:
        for first, last, p in shock_blocks(pooled):
            ax.axvspan(first - 0.5, last + 0.5, color="0.4", alpha=SHOCK_ALPHA * p, lw=0, zorder=0)
        if same:
            continue
        for i, share in enumerate(shares):
            for first, last, p in shock_blocks(share):
                ax.axvspan(first - 0.5, last + 0.5, ymin=i * strip, ymax=(i + 1) * strip, color=f"C{i % 10}",
                           alpha=SHOCK_STRIP_ALPHA * p, lw=0, zorder=0.5)
    label = "shock" if same else "shock (strips: per group)"
    return Patch(color="0.4", alpha=SHOCK_ALPHA, lw=0, label=label)


def plot_fan_charts(ts: pd.DataFrame, by: Sequence[str], path: Path, series: Sequence[str] = FAN_SERIES,
                    crisis_series: Sequence[str] = CRISIS_FAN_SERIES) -> Figure:
    """Median and 25–75% / 5–95% bands across seeds over time, per group, one panel per series.

    When some run has a shock on (``shock_active``), every panel shades the months with a shock on
    (:func:`_shade_shocks`) and the ``crisis_series`` get panels of their own.

    Returns:
        The figure (also saved as PNG at ``path``).
    """
    shocks = has_shocks(ts)
    series = [s for s in dict.fromkeys([*series, *(crisis_series if shocks else ())]) if s in ts.columns]
    q = fan_quantiles(ts, by, series)
    groups_df = ts.drop_duplicates(list(by))[list(by)] if by else ts.head(1)
    labels, _ = group_labels(groups_df, by) if by else (["all runs"], [])
    groups = _groups(q, by)
    outer = len(groups) <= 4  # the 5-95% band clutters the chart with many groups
    nrow = max(2, math.ceil(len(series) / 2))
    fig, axes = new_figure(nrow, 2, figsize=(12, 4 * nrow), constrained_layout=True, squeeze=False)
    for ax, s in zip(axes.flat, series, strict=False):
        for i, ((_, sub), label) in enumerate(zip(groups, labels, strict=True)):
            w = sub.pivot(index="month", columns="quantile", values=s)
            color = f"C{i % 10}"
            if outer:
                ax.fill_between(w.index, w[0.05], w[0.95], color=color, alpha=0.12, lw=0)
            ax.fill_between(w.index, w[0.25], w[0.75], color=color, alpha=0.3, lw=0)
            ax.plot(w.index, w[0.5], color=color, lw=1.8, label=label)
        ax.set(title=LABELS.get(s, s), xlabel="month")
        if _is_share(s):
            ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(series):]:
        ax.set_visible(False)
    bands = "median, 25–75% and 5–95% bands" if outer else "median and 25–75% band"
    if shocks:
        patch = _shade_shocks(list(axes.flat)[:len(series)], shock_shares(ts, by), shock_shares(ts, [])[0])
        handles, names = axes[0, 0].get_legend_handles_labels()
        axes[0, 0].legend([*handles, patch], [*names, patch.get_label()], fontsize=8)
        fig.suptitle(f"Across seeds: {bands}; shaded: months with a shock on (darker: in more of the runs)")
    else:
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"Across seeds: {bands}")
    fig.savefig(path, dpi=80, format="png")
    return fig


def plot_tipping_heatmap(grid: pd.DataFrame, x: str, y: str, path: Path) -> None:
    """Two heat maps on the (x, y) grid: share of seeds tipped, and mean final DM market share."""
    fig, axes = new_figure(1, 2, figsize=(12, 4.8), constrained_layout=True)
    for ax, col, title in ((axes[0], "tipped_share", "share of seeds tipped"),
                           (axes[1], "dm_market_share_final_mean", "mean final DM market share")):
        w = grid.pivot(index=y, columns=x, values=col).sort_index().sort_index(axis=1)
        vals = w.to_numpy(dtype=float)
        im = ax.imshow(vals, origin="lower", aspect="auto", cmap="viridis", vmin=0.0,
                       vmax=1.0 if col == "tipped_share" else max(float(np.nanmax(vals)) if vals.size else 1.0, 1e-9))
        ax.set_xticks(range(w.shape[1]), [_fmt_param(v) for v in w.columns], fontsize=8)
        ax.set_yticks(range(w.shape[0]), [_fmt_param(v) for v in w.index], fontsize=8)
        ax.set(xlabel=x, ylabel=y, title=title)
        for (i, j), v in np.ndenumerate(vals):
            if not math.isnan(v):
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8,
                        color="white" if v < 0.6 * (im.norm.vmax or 1) else "black")
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.savefig(path, dpi=80, format="png")


# --------------------------------------------------------------------------------------------
# The report (one list of blocks rendered as Markdown and as HTML)
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    """A document of headings, paragraphs, tables and images, rendered as Markdown or HTML."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """A second-level heading."""
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        """A paragraph (Markdown inline code with backticks is kept in HTML as ``<code>``)."""
        self.blocks.append(("p", text))

    def bullets(self, items: Sequence[str]) -> None:
        """A bulleted list."""
        self.blocks.append(("ul", list(items)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table with a header row."""
        self.blocks.append(("table", (list(header), [list(r) for r in rows])))

    def image(self, name: str, alt: str) -> None:
        """An image file beside the report."""
        self.blocks.append(("img", (name, alt)))

    def to_markdown(self) -> str:
        """The report as Markdown."""
        out = [f"# {self.title}", ""]
        for kind, body in self.blocks:
            if kind == "h2":
                out += [f"## {body}", ""]
            elif kind == "p":
                out += [body, ""]
            elif kind == "ul":
                out += [f"- {i}" for i in body] + [""]
            elif kind == "table":
                header, rows = body
                esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
                out.append("| " + " | ".join(esc(h) for h in header) + " |")
                out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
                out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
                out.append("")
            elif kind == "img":
                out += [f"![{body[1]}]({body[0]})", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        """The report as a standalone HTML page."""

        def inline(text: str) -> str:
            return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))

        out = ["<!doctype html>", '<html><head><meta charset="utf-8">', f"<title>{html.escape(self.title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
               "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
               "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
               "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style>",
               "</head><body>", f"<h1>{html.escape(self.title)}</h1>"]
        for kind, body in self.blocks:
            if kind == "h2":
                out.append(f"<h2>{inline(body)}</h2>")
            elif kind == "p":
                out.append(f"<p>{inline(body)}</p>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in body) + "</ul>")
            elif kind == "table":
                header, rows = body
                out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                           + "</tr></thead><tbody>")
                out += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</tbody></table>")
            elif kind == "img":
                out.append(f'<p><img src="{html.escape(body[0])}" alt="{html.escape(body[1])}"></p>')
        out.append("</body></html>")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# The whole comparison
# --------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What :func:`compare` computed and where it wrote it."""

    sweep: Sweep
    by: list[str]
    scenarios: pd.DataFrame
    paired: pd.DataFrame
    reference: tuple[str, Any] | None
    out_dir: Path
    report: Path
    terminal: str
    warnings: list[str] = field(default_factory=list)


def _write_table(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda p: pq.write_table(_to_arrow(df), p))
    else:
        atomic_write(path, lambda p: df.to_csv(p, index=False))


# --------------------------------------------------------------------------------------------
# Replacing the output folder's report as a whole (see "Output safety" in the module docstring)
# --------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (it may still be busy with its own staging folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _move_in(commit: Path, out: Path) -> None:
    """Move a complete report from ``commit`` into ``out``, then remove ``commit``. Safe to repeat after a kill.

    ``report.md``/``report.html`` go first (only while their new copy is still waiting in
    ``commit``: a repeat must not remove the new ones) and come back last, so a report that
    exists always names files of its own comparison.
    """
    try:
        names = [n for n in json.loads((commit / MANIFEST).read_text()) if n in OUTPUTS]
    except (OSError, ValueError):  # no manifest: the commit rename had not happened; not a report
        shutil.rmtree(commit, ignore_errors=True)
        return
    for name in REPORTS:
        if (commit / name).exists():
            (out / name).unlink(missing_ok=True)
    for name in OUTPUTS:  # an earlier comparison's outputs that this one does not have
        if name not in names and name not in REPORTS:
            (out / name).unlink(missing_ok=True)
    for name in sorted(names, key=lambda n: (n in REPORTS, REPORTS.index(n) if n in REPORTS else 0)):
        if (commit / name).exists():
            os.replace(commit / name, out / name)
    shutil.rmtree(commit, ignore_errors=True)


def recover_output_dir(out: Path) -> None:
    """Finish what a killed comparison left in ``out``: complete its moves, remove its staging folder.

    Folders of a comparison whose process still runs on this machine are left alone.
    """
    if not out.is_dir():
        return
    for d in sorted(out.iterdir()):
        for prefix in (COMMITTED, STAGING):
            if not d.name.startswith(prefix) or not d.is_dir():
                continue
            pid = d.name[len(prefix):]
            if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue
            if prefix == COMMITTED:
                _move_in(d, out)
            else:
                shutil.rmtree(d, ignore_errors=True)


class _Staging:
    """Build a report in ``OUT/.compare-staging-PID/``; :meth:`commit` swaps it in, :meth:`discard` drops it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        recover_output_dir(out)
        self.dir = out / f"{STAGING}{os.getpid()}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()

    def commit(self) -> None:
        names = sorted(f.name for f in self.dir.iterdir())
        if set(names) - set(OUTPUTS):  # a new output must be listed in OUTPUTS, or it would never be replaced
            raise RuntimeError(f"compare wrote files not listed in OUTPUTS: {sorted(set(names) - set(OUTPUTS))}")
        atomic_write(self.dir / MANIFEST, lambda p: p.write_text(json.dumps(names)))
        commit = self.out / f"{COMMITTED}{os.getpid()}"
        shutil.rmtree(commit, ignore_errors=True)
        os.rename(self.dir, commit)  # the commit point: from here on the new report replaces the old
        _move_in(commit, self.out)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.created:
            try:
                self.out.rmdir()  # only if still empty: we made it
            except OSError:
                pass


def _values_text(df: pd.DataFrame, col: str, limit: int = 12) -> str:
    vals = [_fmt_param(v) for v in _sort(df[[col]].drop_duplicates(), [col])[col]]
    more = f", … ({len(vals)} values)" if len(vals) > limit else ""
    return ", ".join(vals[:limit]) + more


def compare(sweep_dir: str | Path, reference: str = "baseline", out_dir: str | Path | None = None) -> Comparison:
    """Read a sweep and write the tidy tables, figures and report.

    Args:
        sweep_dir: The sweep (multirun) directory.
        reference: The reference group for paired differences: a value of a swept parameter
            (``baseline``) or ``KEY=VALUE`` (``workshops.initial=10``).
        out_dir: Where to write (default ``SWEEP_DIR/compare``).

    Returns:
        The :class:`Comparison`.

    Outputs replace an earlier report in ``out_dir`` only once they are all written (see
    "Output safety" in the module docstring).

    Raises:
        CompareError: The sweep directory does not exist, holds no finished run, is not a sweep
            folder, or a group mixes configurations (:func:`check_sweep`); nothing is written then.
    """
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir / "compare"
    if (sweep_dir / SUMMARY).is_file():
        raise CompareError(f"{display_path(sweep_dir)} is not a sweep folder: it is one run's directory (it holds "
                           f"{SUMMARY}); compare the folder of a sweep (python -m dmsim -m ...)")
    sweep = load_sweep(sweep_dir, KEY_SERIES, skip=[out])
    if sweep.runs.empty:
        raise CompareError(f"no finished run in {sweep_dir} ({len(sweep.skipped)} run directories without "
                           f"a readable {SUMMARY})")
    check_sweep(sweep, sweep_dir)
    if out.exists() and not out.is_dir():
        raise CompareError(f"--out {display_path(out)} is a file; it must be a folder (made if missing)")
    staging = _Staging(out)
    try:
        result = _write_comparison(sweep, sweep_dir, reference, staging.dir)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    result.out_dir, result.report = out, out / "report.md"
    return result


def few_seed_groups(runs: pd.DataFrame, by: Sequence[str], min_seeds: int = MIN_SEEDS) -> list[tuple[str, int]]:
    """``(label, seeds)`` of the groups with fewer than ``min_seeds`` distinct seeds (runs if no seed column)."""
    labels, _ = group_labels(runs, by)
    out = []
    for label, (_, sub) in zip(labels, _groups(runs, by), strict=True):
        n = sub[REPLICATE].nunique() if REPLICATE in sub else len(sub)
        if n < min_seeds:
            out.append((label, int(n)))
    return out


def _write_comparison(sweep: Sweep, sweep_dir: Path, reference: str, out: Path) -> Comparison:
    """Write every output of the comparison into ``out`` (the staging folder)."""
    runs = sweep.runs
    by = group_columns(runs)
    swept = swept_parameters(runs)
    ts = timeseries_with_parameters(sweep)
    _write_table(runs, out / "runs.parquet")
    _write_table(runs, out / "runs.csv")
    _write_table(ts, out / "timeseries.parquet")

    rep = Report(f"dmsim sweep comparison: {sweep_dir.resolve().name}")
    n_seeds = runs[REPLICATE].nunique() if REPLICATE in runs else 1
    rep.para(f"Sweep `{display_path(sweep_dir)}`: {len(runs)} finished runs, {len(sweep.skipped)} skipped; "
             f"{len(_groups(runs, by))} groups, {n_seeds} distinct seeds.")
    few = few_seed_groups(runs, by)
    warnings = []
    if few:
        shown = ", ".join(f"{label} ({n})" for label, n in few[:6]) + (", …" if len(few) > 6 else "")
        warnings.append(f"{len(few)} of {len(_groups(runs, by))} groups have fewer than {MIN_SEEDS} seeds: "
                        f"{shown}; their 95% intervals are rough (clipped to what each figure can be)")
        rep.para(f"**Warning:** {warnings[-1]}.")
    if sweep.skipped:
        shown = [f"`{d}`: {why}" for d, why in sweep.skipped[:20]]
        more = [f"… and {len(sweep.skipped) - 20} more"] if len(sweep.skipped) > 20 else []
        rep.para("Skipped run directories:")
        rep.bullets(shown + more)
    params = parameter_columns(runs)
    rep.para("Parameters (from each run's overrides; constant ones included):")
    rep.bullets([f"`{p}`: {_values_text(runs, p)}" + (" (swept)" if p in swept else "") for p in params])

    # Scenario table.
    scen = summarise_by(runs, by)
    _write_table(scen, out / "scenarios.csv")
    blocks = scenario_tables(scen, by, "brackets")
    _, label_cols = group_labels(runs, by)
    rep.heading("Groups: mean and 95% interval across seeds")
    rep.para(f"One column per group ({' / '.join(label_cols)}); t-based 95% intervals across seeds; shares in "
             "percent. The share tipped is a mean of 0/1 outcomes (a rough interval with few seeds).")
    for header, rows in blocks:
        rep.table(header, rows)
    plot_scenario_bars(scen, by, out / "scenario_bars.png")
    rep.image("scenario_bars.png", "headline figures per group with 95% intervals")

    # Paired differences.
    ref = find_reference(runs, reference, by)
    paired = pd.DataFrame()
    rep.heading("Paired differences against the reference")
    if ref is None:
        rep.para(f"The reference `{reference}` is not among the runs' values of {', '.join(by) or 'any parameter'}; "
                 "pass `--reference VALUE` or `--reference KEY=VALUE` to compare against one group.")
    else:
        key, value = ref
        paired = paired_differences(runs, value, key)
        _write_table(paired, out / "paired_differences.csv")
        if paired.empty:
            rep.para(f"No run of another group could be paired with a `{key}={_fmt_param(value)}` run of the "
                     "same seed.")
        else:
            _report_paired(rep, paired, key, value)
            plot_paired_intervals(paired, out / "paired_intervals.png")
            rep.image("paired_intervals.png", "paired interval width as a share of the unpaired width")

    # Fan charts.
    if not ts.empty:
        plot_fan_charts(ts, by, out / "fan_charts.png")
        rep.heading("Over time")
        if has_shocks(ts):
            rep.para("Monthly series across seeds per group: the line is the median, the bands hold the middle 50% "
                     "and 90% of runs. Shaded: the months with a shock on (`shock_active`), darker where more of a "
                     "group's runs have one; unmet demand is what buyers chose to buy and could not get.")
            rep.image("fan_charts.png", "fan charts of DM market share, workshops, unit cost, shared-service share "
                      "and unmet demand, with the shock months shaded")
        else:
            rep.para("Monthly series across seeds per group: the line is the median, the bands hold the middle 50% "
                     "and 90% of runs.")
            rep.image("fan_charts.png", "fan charts of DM market share, workshops, unit cost and shared-service share")

    # Crisis months (runs with shocks).
    crisis = crisis_summary(runs, by)
    if not crisis.empty:
        _write_table(crisis, out / "crisis.csv")
        _report_crisis(rep, crisis, by)

    # Tipping-point map.
    if len(swept) == 2:
        x, y = swept
        grid = tipping_grid(runs, x, y)
        _write_table(grid, out / "tipping_grid.csv")
        plot_tipping_heatmap(grid, x, y, out / "tipping_heatmap.png")
        rep.heading("Tipping-point map")
        rep.para(f"Share of seeds that tipped and mean final DM market share on the grid of `{x}` × `{y}`.")
        rep.table([f"{y} \\ {x}", *[_fmt_param(v) for v in _sort(grid[[x]].drop_duplicates(), [x])[x]]],
                  _grid_rows(grid, x, y))
        rep.image("tipping_heatmap.png", "tipping-point heat map")

    # Strategy ranking.
    if "strategy" in runs.columns and runs["strategy"].nunique() > 1:
        sref = ref[1] if ref is not None and ref[0] == "strategy" else None
        ranking = strategy_ranking(runs, sref)
        _write_table(ranking, out / "strategy_ranking.csv")
        _report_ranking(rep, ranking)

    # Benefit-cost against the centralised counterfactual.
    bc = benefit_cost(runs)
    if not bc.empty:
        _write_table(bc, out / "benefit_cost.csv")
        _report_benefit_cost(rep, bc)

    rep.heading("Files")
    # The shock series are null columns in sweeps from before shocks existed: not listed there.
    listed = [s for s in KEY_SERIES if s not in (SHOCK, *CRISIS_FAN_SERIES) or ts[s].notna().any()]
    rep.bullets(["`runs.parquet`, `runs.csv`: one row per finished run (parameters, summary, `run_dir`)",
                 f"`timeseries.parquet`: per run and month: {', '.join(listed)}",
                 "`scenarios.csv`, `paired_differences.csv` and the other CSV files: the tables above"])
    report = out / "report.md"
    atomic_write(out / "report.html", lambda p: p.write_text(rep.to_html()))
    atomic_write(report, lambda p: p.write_text(rep.to_markdown() + "\n"))

    term = [f"{len(runs)} finished runs in {sweep_dir}"
            + (f"; skipped {len(sweep.skipped)} unfinished: " + ", ".join(d for d, _ in sweep.skipped[:5])
               + (" …" if len(sweep.skipped) > 5 else "") if sweep.skipped else ""),
            f"groups: {' / '.join(label_cols)} (mean ± 95% half-width across seeds)", ""]
    for header, rows in scenario_tables(scen, by, "pm"):
        term += [text_table(header, rows), ""]
    if not crisis.empty:
        term += ["crisis months (runs with a shock on; mean ± 95% half-width across seeds)", ""]
        for header, rows in crisis_tables(crisis, by, "pm"):
            term += [text_table(header, rows), ""]
    return Comparison(sweep, by, scen, paired, ref, out, report, "\n".join(term), warnings)


def _report_paired(rep: Report, paired: pd.DataFrame, key: str, value: Any) -> None:
    context = [c for c in paired.columns[: list(paired.columns).index("metric")] if c != key]
    rep.para(f"Each group minus the reference `{key}={_fmt_param(value)}` over runs with the same seed"
             + (f" and the same {', '.join(context)}" if context else "")
             + ". The paired interval is the t interval of the per-seed differences; the unpaired one "
             "(Welch) treats the same runs as two independent samples. Common random numbers make same-seed "
             "runs share their luck: where the two arms are positively correlated (last column) the per-seed "
             "differences vary less than the arms do, and the paired interval is narrower. With few seeds the "
             "paired t has fewer degrees of freedom (n − 1 against up to 2n − 2), so a weak correlation may not "
             "pay for that; a negative one widens the paired interval.")
    ratios = paired["width_ratio"].dropna()
    if len(ratios):
        tighter = int((ratios < 1).sum())
        rep.para(f"Paired interval narrower than the unpaired one in {tighter} of {len(ratios)} comparisons; "
                 f"median width {ratios.median():.0%} of the unpaired width "
                 f"(range {ratios.min():.0%}–{ratios.max():.0%}).")
    cols = [*context, key]
    shown = [c for c in cols if paired[c].nunique(dropna=False) > 1] or [key]
    for gkey, sub in _groups(paired, cols):
        title = ", ".join(f"{c}={_fmt_param(v)}" for c, v in zip(cols, gkey, strict=True) if c in shown)
        rows = []
        for _, r in sub.iterrows():
            m = r["metric"]
            rows.append([LABELS.get(m, m), str(r["n_pairs"]),
                         format_interval(m, r["mean"], r["ci_low"], r["ci_high"], diff=True),
                         format_interval(m, r["mean"], r["unpaired_ci_low"], r["unpaired_ci_high"], diff=True),
                         "n/a" if math.isnan(r["width_ratio"]) else f"{r['width_ratio']:.0%}",
                         "n/a" if math.isnan(r["correlation"]) else f"{r['correlation']:+.2f}"])
        rep.table([f"{title} − reference", "pairs", "paired diff [95% CI]", "unpaired [95% CI]",
                   "paired width / unpaired", "correlation"], rows)


def _report_crisis(rep: Report, crisis: pd.DataFrame, by: Sequence[str]) -> None:
    n_shocked = int(crisis.drop_duplicates(list(by))["n_shock_runs"].sum()) if by else \
        int(crisis["n_shock_runs"].iloc[0])
    rep.heading("Crisis months")
    rep.para(f"{n_shocked} runs had a shock on (`shocks.*`). Per group, mean and t-based 95% interval across seeds "
             "of the run's means over its months with a shock on: DM market share, buyer landed cost (USD/unit) and "
             "the share of the units buyers chose to buy that they could not get (unmet demand); months to recover: "
             "from the end of the last shock until DM share and active workshops are back within 5% of their level "
             "before the first shock, averaged over the runs that recovered by the end (the others have none).")
    for header, rows in crisis_tables(crisis, by, "brackets"):
        rep.table(header, rows)


def _grid_rows(grid: pd.DataFrame, x: str, y: str) -> list[list[str]]:
    xs = list(_sort(grid[[x]].drop_duplicates(), [x])[x])
    rows = []
    for yv in _sort(grid[[y]].drop_duplicates(), [y])[y]:
        row = [_fmt_param(yv)]
        for xv in xs:
            cell = grid[_matches(grid[y], yv) & _matches(grid[x], xv)]
            row.append("" if cell.empty else f"{cell['tipped_share'].iloc[0]:.0%} tipped, "
                       f"DM {cell['dm_market_share_final_mean'].iloc[0]:.1%}")
        rows.append(row)
    return rows


def _per_usd(row: pd.Series, effect: str, scale: float) -> str:
    v = row.get(f"{effect}_per_usd", math.nan)
    return "n/a" if v is None or math.isnan(v) else _num(v * scale)


def _report_ranking(rep: Report, ranking: pd.DataFrame) -> None:
    rep.heading("Strategies: effect per USD of public spend")
    if ranking.empty:
        rep.para("No strategy could be paired with the reference strategy.")
        return
    ref = ranking["reference"].iloc[0]
    rep.para(f"Paired (same-seed) differences against the strategy `{_fmt_param(ref)}`, divided by the extra "
             "public spend; ranked by DM market share gained per million USD.")
    context = [c for c in ranking.columns[: list(ranking.columns).index("strategy")]]
    rows = []
    for _, r in ranking.iterrows():
        ctx = [_fmt_param(r[c]) for c in context]
        rows.append([*ctx, _fmt_param(r["strategy"]), "" if pd.isna(r["rank"]) else str(r["rank"]),
                     str(r["n_pairs"]), _num(r["extra_spend_usd"]),
                     format_value("dm_market_share_final", r.get("dm_market_share_final_diff", math.nan), diff=True),
                     _per_usd(r, "dm_market_share_final", 1e6 * 100),
                     _per_usd(r, "social_surplus_usd_total", 1.0),
                     _per_usd(r, "consumer_surplus_usd_total", 1.0)])
    rep.table([*context, "strategy", "rank", "pairs", "extra public spend, USD", "Δ DM share",
               "pp DM share per M USD", "social surplus per USD", "consumer surplus per USD"], rows)


def _report_benefit_cost(rep: Report, bc: pd.DataFrame) -> None:
    rep.heading("Benefit-cost against the centralised counterfactual")
    rep.para("Benefit = paired difference in social surplus (consumer surplus + local factor incomes − the shadow "
             "cost of the labour employed + tariff revenue; USD, totals); cost = paired difference in public spend "
             "(USD). Ratio = mean benefit / mean cost (n/a when nothing extra is spent).")
    key_end = list(bc.columns).index("reference")
    cols = list(bc.columns[:key_end])
    rows = []
    for _, r in bc.iterrows():
        rows.append([" / ".join(_fmt_param(r[c]) for c in cols), str(r["n_pairs"]),
                     format_interval("usd", r["benefit_usd"], r["benefit_ci_low"], r["benefit_ci_high"], diff=True),
                     _num(r["cost_usd"]),
                     format_interval("usd", r["net_benefit_usd"], r["net_benefit_ci_low"], r["net_benefit_ci_high"],
                                     diff=True),
                     "n/a" if math.isnan(r["benefit_cost_ratio"]) else f"{r['benefit_cost_ratio']:.2f}"])
    rep.table([" / ".join(cols), "pairs", "benefit, USD [95% CI]", "cost, USD", "net benefit, USD [95% CI]",
               "benefit / cost"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: compare a sweep, print the group table and the report's path.

    Returns:
        The exit status (0 on success, 2 when the sweep directory is missing or has no finished run).
    """
    ap = argparse.ArgumentParser(prog="python -m dmsim.compare",
                                 description="Aggregate and compare the runs of a dmsim sweep (Hydra multirun).")
    ap.add_argument("sweep_dir", metavar="SWEEP_DIR", help="the sweep directory (e.g. multirun/2025-01-01_12-00-00)")
    ap.add_argument("--reference", default="baseline",
                    help="reference group for paired differences: a value (baseline) or KEY=VALUE (default: baseline)")
    ap.add_argument("--out", default=None, help="output directory (default: SWEEP_DIR/compare)")
    args = ap.parse_args(argv)
    try:
        result = compare(args.sweep_dir, args.reference, args.out)
    except CompareError as e:
        print(f"dmsim.compare: error: {e}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"dmsim.compare: warning: {w}", file=sys.stderr)
    try:
        print(result.terminal)
        print(f"report: {result.report}")
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into e.g. `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
