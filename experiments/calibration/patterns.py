r"""Calibration to patterns (pattern-oriented modelling, Grimm et al. 2005): the defaults, then a sampled search.

Run from the repository root (``scripts/experiments.sh calibration`` runs all three steps):

    .venv/bin/python experiments/calibration/patterns.py defaults      # 10 seeds x 2 scenarios, about a minute
    # the sampled search: a Latin hypercube of the decisive parameters, run through the sweep machinery
    .venv/bin/python -m dmsim.sensitivity sample --method lhs --n 48 --keys K1,... \
        --out experiments/calibration/sample_lhs.parquet
    .venv/bin/python -m dmsim -m +experiment=sensitivity network.type=independent output.agent_snapshots=true \
        sample.file=experiments/calibration/sample_lhs.parquet 'sample.index=range(0,48)' seed=0,1 \
        hydra.sweep.dir=multirun/calibration_search                       # baseline
    #   ... the same with scenario=shared_services hydra.sweep.dir=multirun/calibration_search_shared
    .venv/bin/python experiments/calibration/patterns.py search multirun/calibration_search \
        multirun/calibration_search_shared

Each pattern (:data:`PATTERNS`) is one number per run, computed from the run's ``timeseries.parquet``,
``workshops.parquet`` (``output.agent_snapshots=true``) and ``summary.json`` by the functions below; a
parameter set reproduces a pattern when the mean over its seeds lies in the pattern's target range.

Writes beside this file: ``patterns_defaults.csv`` (one row per default run and pattern),
``patterns_table.csv`` (the README table), ``patterns_search.csv`` (one row per sample row: parameters, the
seed-mean of every pattern, pass/fail), ``patterns_accepted.csv`` (accepted ranges and the defaults'
percentile) and ``patterns.png``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEEDS = 10
SETTLE_MONTHS = 12  # the crowded start thins in the first year; exits after it are the steady churn
SIZE_CLASS_TOLERANCE = 1.25  # capacity <= 1.25 x a new workshop's: still at the entry size (steps are x1.5)


# --------------------------------------------------------------------------------------------
# Pattern measures: one number per run (NaN where undefined)
# --------------------------------------------------------------------------------------------


def annual_exit_rate(ts: pd.DataFrame, start: int = SETTLE_MONTHS) -> float:
    """Workshop exits per workshop-year from month ``start`` on (share/year; NaN without workshops).

    exits summed over months >= start / (mean workshops active over those months x years covered).
    """
    t = ts[ts["month"] >= start]
    years = len(t) / 12.0
    active = float(t["workshops_active"].mean()) if len(t) else 0.0
    if years <= 0 or active <= 0:
        return math.nan
    return float(t["exits"].sum()) / (active * years)


def entry_size_share(snapshots: pd.DataFrame, new_capacity_hours: float) -> float:
    """Share of active workshops at the last snapshot still at a new workshop's size (NaN without any).

    A workshop counts as entry-sized when its capacity is at most 1.25 x ``new_capacity_hours``
    (hours/month of a new workshop); capacity grows in steps of half that.
    """
    last = snapshots[(snapshots["month"] == snapshots["month"].max()) & snapshots["active"].astype(bool)]
    if last.empty:
        return math.nan
    return float((last["capacity_hours"] <= SIZE_CLASS_TOLERANCE * new_capacity_hours).mean())


def overhead_share(ts: pd.DataFrame, months: int = 12) -> float:
    """Service-overhead share of DM unit cost, mean over the last ``months`` (0-1; NaN if DM made nothing)."""
    v = ts["overhead_share"].iloc[-months:].dropna()
    return float(v.mean()) if len(v) else math.nan


def stalled(ts: pd.DataFrame, summary: dict) -> float:
    """1 if the run ends with DM workshops but not tipped (a stalled cluster), else 0.

    Extinction (no workshop in the last month) is not a stall: it is DM priced out.
    """
    return float(int(ts["workshops_active"].iloc[-1]) > 0 and not bool(summary["tipped"]))


def growth_ratio(ts: pd.DataFrame, months: int = 12) -> float:
    """Workshops active, mean over the last ``months``, over those at month 0 (ratio; NaN without a start)."""
    start = float(ts["workshops_active"].iloc[0])
    return float(ts["workshops_active"].iloc[-months:].mean()) / start if start > 0 else math.nan


@dataclass(frozen=True)
class Pattern:
    """An observed pattern: its measure in the model, its target range and where the target comes from."""

    name: str
    scenario: str  # the scenario whose runs measure it
    low: float  # target range, inclusive (-inf / inf for one-sided)
    high: float
    target: str  # the observed target as the README states it
    source: str
    measure: str  # what the model number is


PATTERNS: tuple[Pattern, ...] = (
    Pattern("exit_rate", "baseline", 0.04, 0.15,
            "8.2% of small firms die a year (half within 6 years); accepted band 4-15%/year (assumption: "
            "about half to twice the mean)",
            "McKenzie & Paffhausen (2019), Review of Economics and Statistics, 16 panels in 12 developing countries",
            "workshop exits / workshop-years, months 12-119 (after the first year's shake-out), baseline"),
    Pattern("entry_size_share", "baseline", 0.5, 1.0,
            "many small, few larger: the number of firms declines smoothly with size; testable reading "
            "(assumption): at least half of the workshops in the smallest of the model's three size classes",
            "Hsieh & Olken (2014), Journal of Economic Perspectives 28(3), manufacturing in India, Indonesia, Mexico",
            "share of active workshops at month 119 with capacity <= 1.25 x a new workshop's, baseline"),
    Pattern("overhead_share", "baseline", 0.20, 0.30,
            "indirect costs 20-30% of African firms' total costs",
            "Iarossi (2009), 'Benchmarking Africa's costs and competitiveness', Africa Competitiveness Report, "
            "World Bank (from Enterprise Survey data; Eifert, Gelb & Ramachandran 2008)",
            "service-overhead share of DM unit cost, mean of the last 12 months, baseline"),
    Pattern("stalled", "baseline", 0.5, 1.0,
            "clusters stop at early stages (qualitative): a thin region stalls in at least half of the seeds",
            "McCormick (1999), World Development 27(9): six African clusters, 'groundwork' ones that only "
            "prepare the way beside 'industrializing' and 'complex industrial' ones",
            "share of seeds ending with workshops but not tipped, baseline (1 M people, 20 workshops)"),
    Pattern("growth", "shared_services", 1.0, math.inf,
            "once an ecosystem forms it grows (qualitative; Nepal's 3D printers: 1 in 2015, ~50 in 2017, "
            ">100 in 2018, high hundreds in 2021): workshops at the end above the start",
            "Frontier Tech Hub (2021), 'Fab Lab Nepal - in the foothills of the Digital Himalayas'",
            "workshops, mean of the last 12 months / month 0, shared_services"),
)
MEASURES: dict[str, Callable[..., float]] = {
    "exit_rate": lambda ts, snaps, summary, cap: annual_exit_rate(ts),
    "entry_size_share": lambda ts, snaps, summary, cap: entry_size_share(snaps, cap),
    "overhead_share": lambda ts, snaps, summary, cap: overhead_share(ts),
    "stalled": lambda ts, snaps, summary, cap: stalled(ts, summary),
    "growth": lambda ts, snaps, summary, cap: growth_ratio(ts),
}


def measure_run(ts: pd.DataFrame, snaps: pd.DataFrame, summary: dict, new_capacity_hours: float,
                scenario: str) -> dict[str, float]:
    """Every pattern measured on ``scenario`` from one run (patterns of other scenarios are left out)."""
    return {p.name: MEASURES[p.name](ts, snaps, summary, new_capacity_hours)
            for p in PATTERNS if p.scenario == scenario}


def reproduced(name: str, value: float) -> bool:
    """``value`` (a seed-mean) lies in the target range of pattern ``name`` (NaN never does)."""
    p = next(q for q in PATTERNS if q.name == name)
    return bool(not math.isnan(value) and p.low <= value <= p.high)


# --------------------------------------------------------------------------------------------
# Step 1: the defaults, 10 seeds
# --------------------------------------------------------------------------------------------


def _one_default(args: tuple[str, int]) -> list[dict]:
    from dmsim.run import compose_config, run

    scenario, seed = args
    cfg = compose_config([f"+scenario={scenario}", f"seed={seed}", "output.dashboard=false",
                          "output.agent_snapshots=true"])
    r = run(cfg)
    snaps = pd.concat(r.model.metrics.snapshots, ignore_index=True)
    values = measure_run(r.timeseries, snaps, r.summary, cfg.workshops.capacity_hours_per_month, scenario)
    return [{"scenario": scenario, "seed": seed, "pattern": k, "value": v} for k, v in values.items()]


def run_defaults(seeds: int, workers: int) -> pd.DataFrame:
    """One row per (scenario, seed, pattern) at the defaults; also writes the README table."""
    grid = [(s, k) for s in sorted({p.scenario for p in PATTERNS}) for k in range(seeds)]
    t0 = time.time()
    with ProcessPoolExecutor(workers) as pool:
        rows = [r for rs in pool.map(_one_default, grid) for r in rs]
    print(f"patterns: {len(grid)} default runs in {time.time() - t0:.0f} s with {workers} workers")
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "patterns_defaults.csv", index=False, float_format="%.6g")
    table = defaults_table(df)
    table.to_csv(HERE / "patterns_table.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))
    return df


def defaults_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: target, source, the defaults' mean, min and max over seeds and whether the mean is in range."""
    rows = []
    for p in PATTERNS:
        v = df.loc[df["pattern"] == p.name, "value"].astype(float)
        mean = float(v.mean())  # a NaN seed makes the mean NaN: an undefined measure never passes
        rows.append({"pattern": p.name, "scenario": p.scenario, "target_low": p.low, "target_high": p.high,
                     "target": p.target, "source": p.source, "measure": p.measure, "seeds": len(v),
                     "mean": mean, "min": float(v.min()), "max": float(v.max()),
                     "reproduced": reproduced(p.name, mean)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Step 2: the sampled search
# --------------------------------------------------------------------------------------------


def read_sweep(sweep: Path) -> pd.DataFrame:
    """One row per finished run of a sample-driven sweep: sample_index, seed, scenario and its patterns."""
    import json

    import yaml

    from dmsim.compare import find_run_dirs

    finished, _ = find_run_dirs(sweep)
    rows = []
    for d in finished:
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        summary = json.loads((d / "summary.json").read_text())
        ts = pd.read_parquet(d / "timeseries.parquet")
        snaps = pd.read_parquet(d / "workshops.parquet")
        scenario = cfg["scenario"]
        values = measure_run(ts, snaps, summary, float(cfg["workshops"]["capacity_hours_per_month"]), scenario)
        rows.append({"sample_index": int(cfg["sample"]["index"]), "seed": int(cfg["seed"]),
                     "scenario": scenario, **values})
    return pd.DataFrame(rows)


def search_table(runs: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """Per sample row: its parameters, the seed-mean of each pattern, pass/fail per pattern and overall.

    Only rows with every seed of every scenario count; the seed-mean of a pattern with an undefined
    (NaN) seed is NaN and fails.
    """
    n_seeds = runs.groupby("scenario")["seed"].nunique()
    out = sample.copy()
    out.index.name = "sample_index"
    complete = pd.Series(True, index=out.index)
    for p in PATTERNS:
        r = runs[runs["scenario"] == p.scenario]
        g = r.groupby("sample_index")[p.name]
        mean = g.apply(lambda x: float(x.mean()) if not x.isna().any() else math.nan)
        full = g.size() == n_seeds.get(p.scenario, 0)
        complete &= full.reindex(out.index, fill_value=False)
        out[p.name] = mean.reindex(out.index)
        out[f"{p.name}_ok"] = [reproduced(p.name, v) for v in out[p.name]]
    out["complete"] = complete
    out["accepted"] = out[[f"{p.name}_ok" for p in PATTERNS]].all(axis=1) & out["complete"]
    return out.reset_index()


def accepted_ranges(table: pd.DataFrame, names: list[str], defaults: dict[str, float]) -> pd.DataFrame:
    """Per parameter: sampled range, accepted min, quartiles, max and the default's percentile among the accepted."""
    from scipy.stats import percentileofscore

    acc = table[table["accepted"]]
    rows = []
    for k in names:
        a = acc[k].astype(float)
        rows.append({"parameter": k, "default": defaults[k], "sampled_min": float(table[k].min()),
                     "sampled_max": float(table[k].max()), "accepted": len(a),
                     "accepted_min": float(a.min()) if len(a) else math.nan,
                     "accepted_q25": float(a.quantile(0.25)) if len(a) else math.nan,
                     "accepted_median": float(a.median()) if len(a) else math.nan,
                     "accepted_q75": float(a.quantile(0.75)) if len(a) else math.nan,
                     "accepted_max": float(a.max()) if len(a) else math.nan,
                     "default_percentile": float(percentileofscore(a, defaults[k])) if len(a) else math.nan})
    return pd.DataFrame(rows)


def config_defaults(names: list[str]) -> dict[str, float]:
    """The default value of each dotted key (the baseline scenario's composed config)."""
    from dmsim.run import compose_config

    cfg = compose_config(["+scenario=baseline"])
    out = {}
    for k in names:
        v = cfg
        for part in k.split("."):
            v = v[part] if isinstance(v, dict) else getattr(v, part)
        out[k] = float(v)
    return out


def run_search(sweeps: list[Path], sample_path: Path) -> None:
    """Read the sweeps, keep the sample rows whose seed-means reproduce every pattern, write the tables."""
    from dmsim.sensitivity import read_sample

    sample, meta = read_sample(sample_path)
    names = list(meta["names"])
    runs = pd.concat([read_sweep(s) for s in sweeps], ignore_index=True)
    missing = sorted({p.scenario for p in PATTERNS} - set(runs.get("scenario", pd.Series(dtype=str))))
    if missing:
        raise SystemExit(f"patterns: error: no finished {', '.join(missing)} run in {', '.join(map(str, sweeps))}: "
                         "sweep every scenario of PATTERNS")
    table = search_table(runs, sample[names])
    done = table[table["complete"]]
    # Beside the strict rule (every pattern), the sets that do as well as the defaults: those reproducing
    # the patterns the defaults reproduce (patterns_table.csv from the `defaults` step).
    table_path = HERE / "patterns_table.csv"
    at_defaults = (pd.read_csv(table_path).query("reproduced")["pattern"].tolist() if table_path.exists() else [])
    table["accepted_as_defaults"] = (table[[f + "_ok" for f in at_defaults]].all(axis=1) & table["complete"]
                                     if at_defaults else False)
    table.to_csv(HERE / "patterns_search.csv", index=False, float_format="%.6g")
    defaults = config_defaults(names)
    ranges = pd.concat([
        accepted_ranges(table, names, defaults).assign(patterns="all"),
        accepted_ranges(table.assign(accepted=table["accepted_as_defaults"]), names, defaults)
        .assign(patterns="+".join(at_defaults) or "none")], ignore_index=True)
    ranges.to_csv(HERE / "patterns_accepted.csv", index=False, float_format="%.4g")
    done = table[table["complete"]]
    print(f"patterns: {len(runs)} runs, {len(done)}/{len(table)} sample rows complete; "
          f"accepted (every pattern) {int(done['accepted'].sum())}/{len(done)}; "
          f"reproducing the {len(at_defaults)} patterns the defaults reproduce ({', '.join(at_defaults)}) "
          f"{int(done['accepted_as_defaults'].sum())}/{len(done)}")
    oks = done[[p.name + "_ok" for p in PATTERNS]]
    print(f"  patterns reproduced jointly by one set: at most {int(oks.sum(axis=1).max())} of {len(PATTERNS)}")
    for p in PATTERNS:
        print(f"  {p.name}: reproduced by {int(done[p.name + '_ok'].sum())}/{len(done)}")
    print(ranges.to_string(index=False))
    defaults = pd.read_csv(HERE / "patterns_defaults.csv") if (HERE / "patterns_defaults.csv").exists() else None
    plot(done, defaults)


def plot(table: pd.DataFrame, defaults: pd.DataFrame | None) -> None:
    """One panel per pattern: the search points' seed-means, the target range and the defaults' seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PATTERNS), figsize=(4 * len(PATTERNS), 3.6), constrained_layout=True)
    for ax, p in zip(axes, PATTERNS, strict=True):
        v = table[p.name].dropna()
        ax.hist(v, bins=16, color="tab:gray", alpha=0.7, label=f"search ({len(v)} points)")
        lo = p.low if np.isfinite(p.low) else v.min()
        hi = p.high if np.isfinite(p.high) else max(v.max(), p.low * 1.5)
        ax.axvspan(lo, hi, color="tab:green", alpha=0.15, label="target")
        if defaults is not None:
            d = defaults.loc[defaults["pattern"] == p.name, "value"].dropna()
            ax.plot(d, np.full(len(d), 0.3), "|", color="tab:red", ms=14, mew=2, label="defaults (seeds)")
            ax.axvline(d.mean(), color="tab:red", lw=1.5)
        ax.set(title=f"{p.name} ({p.scenario})", xlabel=p.name)
        ax.legend(fontsize=7)
    fig.suptitle("Patterns: sampled search (seed-means), target ranges and the defaults")
    fig.savefig(HERE / "patterns.png", dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    d = sub.add_parser("defaults", help="the patterns at the defaults, 10 seeds")
    d.add_argument("--seeds", type=int, default=SEEDS)
    d.add_argument("--workers", type=int, default=2)
    s = sub.add_parser("search", help="read the search sweeps and keep the parameter sets reproducing every pattern")
    s.add_argument("sweeps", nargs="+", type=Path)
    s.add_argument("--sample", type=Path, default=HERE / "sample_lhs.parquet")
    a = ap.parse_args()
    if a.step == "defaults":
        run_defaults(a.seeds, a.workers)
    else:
        run_search(a.sweeps, a.sample)


if __name__ == "__main__":
    main()
