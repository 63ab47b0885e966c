"""Resilience value of DM: what a local ecosystem saves buyers in a crisis, against its cost in calm months.

``python experiments/resilience/analyse.py [SWEEP_DIR] [--out DIR]`` (defaults ``multirun/resilience`` and
``experiments/resilience``) reads a sweep of ``+experiment=resilience`` — ecosystem states (``scenario``:
``baseline``, ``shared_services``, ``centralised``) × ``shock`` (``none`` and the shock files) × seeds — with
``dmsim.compare.load_sweep`` and writes:

- ``crisis_pairs.csv``: one row per shocked run and its calm twin (same scenario and seed, shock ``none``):
  over the shocked run's crisis months (``shock_active``) and the same months of the twin, buyers' landed
  cost, unmet demand and DM share, their rises, units bought, consumer surplus, and lasting effects;
- ``crisis_effects.csv``: per state and shock, mean and 95% t interval over seeds of those rises, how many
  runs recovered (``recovery_months``) and their median, ``tipped`` and final workshops against the twins;
- ``resilience_value.csv``: per DM state and shock, paired by seed with ``centralised`` under the same
  shock: (landed-cost rise of centralised − that of the state) × units the state's buyers bought in the
  crisis months (USD over the crisis), unmet units avoided, consumer-surplus loss avoided; mean and interval;
- ``calm_cost.csv``: per DM state, calm runs (shock ``none``) from month ``CALM_FROM``: landed cost minus
  centralised's (USD/unit and USD/month over the state's units) and the social-surplus difference per year;
- ``crisis_effects.png``, ``crisis_timeseries.png``, ``resilience_value.png``.

Every interval is ``dmsim.compare.mean_interval`` (t-based, 95%) over same-seed values.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dmsim import compare
from dmsim.metrics import RECOVERY_TOLERANCE, RECOVERY_WINDOW
from dmsim.plotting import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CENTRAL = "centralised"  # no DM: the counterfactual
CALM = "none"  # the shock value of the calm twins
STATES: tuple[str, ...] = ("baseline", "shared_services", CENTRAL)  # plotting and table order
CALM_FROM = 48  # first month of the calm comparison: the shocks' start, after the ecosystem has settled
SERIES: tuple[str, ...] = ("shock_active", "dm_units", "import_units", "buyer_landed_cost_usd_mean",
                           "unmet_demand_units", "unmet_demand_share", "dm_market_share", "workshops_active",
                           "consumer_surplus_usd", "local_factor_income_usd", "labour_shadow_cost_usd",
                           "tariff_revenue_usd")
# Per-run crisis figures summarised per state and shock (crisis_effects.csv).
EFFECTS: tuple[str, ...] = ("crisis_months", "landed_cost_calm", "landed_cost_rise", "landed_cost_rise_pct",
                            "unmet_share_rise", "dm_share_shock", "dm_share_calm", "dm_share_rise",
                            "consumer_surplus_loss_usd", "social_surplus_loss_usd", "social_surplus_loss_run_usd",
                            "workshops_final_diff",
                            "dm_share_final_diff")
# Per-seed resilience figures of a DM state against centralised under the same shock (resilience_value.csv).
VALUE: tuple[str, ...] = ("landed_cost_rise_central", "landed_cost_rise", "units_bought", "value_usd",
                          "value_usd_per_month", "unmet_units_avoided", "unmet_rise_avoided",
                          "consumer_surplus_loss_avoided_usd", "social_surplus_loss_avoided_usd",
                          "social_surplus_loss_avoided_run_usd")
CALM_METRICS: tuple[str, ...] = ("landed_cost", "landed_cost_central", "landed_cost_diff", "units_per_month",
                                 "extra_cost_usd_per_month", "dm_share", "social_surplus_diff_usd_per_year",
                                 "consumer_surplus_diff_usd_per_year")
TIMESERIES_SHOCKS: tuple[str, ...] = ("freight_spike", "import_disruption", "polycrisis")


class AnalysisError(Exception):
    """The input is not a resilience sweep; the message is one line."""


def load(sweep_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs table and the series in ``SERIES`` (with each run's parameters) of a resilience sweep.

    Raises:
        AnalysisError: not a folder of finished runs with ``scenario``, ``shock`` and ``seed`` overrides,
            calm twins (shock ``none``) and ``centralised`` runs.
    """
    try:
        sweep = compare.load_sweep(sweep_dir, series=SERIES)
    except compare.CompareError as e:
        raise AnalysisError(str(e)) from e
    runs = sweep.runs
    if runs.empty:
        raise AnalysisError(f"no finished run in {sweep_dir}")
    missing = [k for k in ("scenario", "shock", "seed") if k not in runs.columns]
    if missing:
        raise AnalysisError(f"{sweep_dir} is no sweep over +scenario, +shock and seed (missing: {', '.join(missing)})")
    for col, value in (("shock", CALM), ("scenario", CENTRAL)):
        if not (runs[col] == value).any():
            raise AnalysisError(f"{sweep_dir} has no run with {col}={value} (needed as the reference)")
    return runs, compare.timeseries_with_parameters(sweep)


def social_surplus(df: pd.DataFrame) -> pd.Series:
    """Monthly social surplus, USD: as ``social_surplus_usd_total`` (dmsim.metrics), month by month."""
    return (df["consumer_surplus_usd"] + df["local_factor_income_usd"] - df["labour_shadow_cost_usd"]
            + df["tariff_revenue_usd"])


def recovery_vs_twin(s: pd.DataFrame, c: pd.DataFrame, end: int) -> float:
    """Months from ``end`` (first month after the shock) until DM share and workshops are back on the calm twin's path.

    As ``recovery_months`` (dmsim.metrics: ``RECOVERY_WINDOW``-month means, within ``RECOVERY_TOLERANCE``), but
    against the twin's same months instead of the 12 months before the shock: in a growing ecosystem the
    pre-shock level is left behind in calm runs too. NaN when not back by the end of the run.
    """
    cols = ["dm_market_share", "workshops_active"]
    fwd = lambda d: d[cols].rolling(RECOVERY_WINDOW).mean().shift(1 - RECOVERY_WINDOW)  # noqa: E731  months m .. m+w-1
    ss, cc = fwd(s), fwd(c).reindex(s.index)
    ok = ((ss - cc).abs() <= RECOVERY_TOLERANCE * cc.abs()).all(axis=1) & ss.notna().all(axis=1)
    back = ok.index[(ok.index >= end) & ok.to_numpy()]
    return float(back[0] - end) if len(back) else math.nan


def _mean(x: pd.Series) -> float:
    return float(x.mean()) if len(x) and x.notna().any() else math.nan


def crisis_pairs(runs: pd.DataFrame, ts: pd.DataFrame) -> pd.DataFrame:
    """One row per run paired with its calm twin, over the run's crisis months (``shock_active``).

    Calm twins are paired with themselves (0 crisis months, rises NaN), so every run has a row. Landed cost
    and shares are means over the crisis months of the monthly values (as the summary's ``*_crisis`` keys);
    units and surplus are sums over them (units bought = DM + imported units, the landed cost's denominator).
    """
    by_run = {r: sub.set_index("month") for r, sub in ts.groupby("run", sort=False)}
    twin = {(r.scenario, r.seed): r for r in runs[runs["shock"] == CALM].itertuples()}
    rows = []
    for r in runs.itertuples():
        calm = twin.get((r.scenario, r.seed))
        if calm is None or r.run not in by_run or calm.run not in by_run:
            continue
        s, c = by_run[r.run], by_run[calm.run]
        months = s.index[s["shock_active"].fillna(False).astype(bool).to_numpy()]
        months = months[months.isin(c.index)]
        sc, cc = s.loc[months], c.loc[months]
        lc_s, lc_c = _mean(sc["buyer_landed_cost_usd_mean"]), _mean(cc["buyer_landed_cost_usd_mean"])
        row = {
            "scenario": r.scenario, "shock": r.shock, "seed": r.seed, "crisis_months": len(months),
            "first_month": int(months.min()) if len(months) else None,
            "landed_cost_shock": lc_s, "landed_cost_calm": lc_c, "landed_cost_rise": lc_s - lc_c,
            "landed_cost_rise_pct": 100 * (lc_s - lc_c) / lc_c if lc_c else math.nan,
            "unmet_share_shock": _mean(sc["unmet_demand_share"]), "unmet_share_calm": _mean(cc["unmet_demand_share"]),
            "dm_share_shock": _mean(sc["dm_market_share"]), "dm_share_calm": _mean(cc["dm_market_share"]),
            "units_bought": float((sc["dm_units"] + sc["import_units"]).sum()),
            "units_bought_calm": float((cc["dm_units"] + cc["import_units"]).sum()),
            "unmet_units": float(sc["unmet_demand_units"].sum()),
            "unmet_units_calm": float(cc["unmet_demand_units"].sum()),
            "consumer_surplus_loss_usd": float(cc["consumer_surplus_usd"].sum() - sc["consumer_surplus_usd"].sum()),
            "social_surplus_loss_usd": float(social_surplus(cc).sum() - social_surplus(sc).sum()),
            # the whole run (summary totals): the crisis months and whatever the shock leaves behind
            "social_surplus_loss_run_usd": float(calm.social_surplus_usd_total - r.social_surplus_usd_total),
            "recovery_months": r.recovery_months,
            "recovery_vs_twin_months": recovery_vs_twin(s, c, int(months.max()) + 1) if len(months) else math.nan,
            "tipped": bool(r.tipped), "tipped_calm": bool(calm.tipped),
            "workshops_final": float(r.workshops_active_final),
            "workshops_final_calm": float(calm.workshops_active_final),
            "dm_share_final": float(r.dm_market_share_final), "dm_share_final_calm": float(calm.dm_market_share_final),
        }
        if not len(months):  # no crisis: no rise to measure
            for k in ("landed_cost_rise", "landed_cost_rise_pct"):
                row[k] = math.nan
        row["unmet_share_rise"] = row["unmet_share_shock"] - row["unmet_share_calm"]
        row["dm_share_rise"] = row["dm_share_shock"] - row["dm_share_calm"]
        row["workshops_final_diff"] = row["workshops_final"] - row["workshops_final_calm"]
        row["dm_share_final_diff"] = row["dm_share_final"] - row["dm_share_final_calm"]
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["scenario", "shock", "seed"], key=_order, kind="stable").reset_index(drop=True)


def _order(col: pd.Series) -> pd.Series:
    """Sort key: states in ``STATES`` order, the calm shock first, everything else as is."""
    if col.name == "scenario":
        return col.map(lambda v: STATES.index(v) if v in STATES else len(STATES))
    if col.name == "shock":
        return col.map(lambda v: "" if v == CALM else str(v))
    return col


def _intervals(df: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by``: ``n`` and, per metric, its mean and 95% t interval (``compare.mean_interval``)."""
    rows = []
    for key, sub in df.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n"] = len(sub)
        for m in metrics:
            _, mean, lo, hi = compare.mean_interval(sub[m])
            row.update({m: mean, f"{m}_lo": lo, f"{m}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def crisis_effects(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per state and shock: crisis-month rises against the calm twins (mean, interval), recovery, lasting effects."""
    shocked = pairs[pairs["crisis_months"] > 0]
    out = _intervals(shocked, ["scenario", "shock"], EFFECTS)
    extra = shocked.groupby(["scenario", "shock"], sort=False).agg(
        recovered=("recovery_months", lambda x: int(x.notna().sum())),
        recovery_months_median=("recovery_months", "median"),
        recovery_months_max=("recovery_months", "max"),
        recovered_vs_twin=("recovery_vs_twin_months", lambda x: int(x.notna().sum())),
        recovery_vs_twin_median=("recovery_vs_twin_months", "median"),
        recovery_vs_twin_max=("recovery_vs_twin_months", "max"),
        tipped=("tipped", "sum"), tipped_calm=("tipped_calm", "sum")).reset_index()
    out = out.merge(extra, on=["scenario", "shock"])
    return out.sort_values(["scenario", "shock"], key=_order, kind="stable").reset_index(drop=True)


def resilience_by_seed(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per DM state, shock and seed: what the state saves its buyers against centralised under the same shock.

    ``value_usd`` = (landed-cost rise of centralised − rise of the state) × units the state's buyers bought
    in the crisis months; ``unmet_units_avoided`` = centralised's unmet units − the state's over those
    months; ``unmet_rise_avoided`` the same net of each calm twin's unmet units (rationing by full workshops
    that happens in calm months too); ``consumer_surplus_loss_avoided_usd`` = centralised's loss of
    consumer surplus against its twin − the state's (values unmet demand and dearer goods alike); the same
    for social surplus (consumer surplus + local factor incomes − shadow cost of labour + tariff revenue), over the
    crisis months and, ``social_surplus_loss_avoided_run_usd``, over the whole run (lasting effects included).
    """
    shocked = pairs[pairs["crisis_months"] > 0]
    cen = shocked[shocked["scenario"] == CENTRAL]
    dm = shocked[shocked["scenario"] != CENTRAL]
    j = dm.merge(cen, on=["shock", "seed"], suffixes=("", "_central"), how="inner")
    out = j[["scenario", "shock", "seed", "crisis_months", "landed_cost_rise_central", "landed_cost_rise",
             "units_bought"]].copy()
    out["value_usd"] = (j["landed_cost_rise_central"] - j["landed_cost_rise"]) * j["units_bought"]
    out["value_usd_per_month"] = out["value_usd"] / j["crisis_months"]
    out["unmet_units_avoided"] = j["unmet_units_central"] - j["unmet_units"]
    out["unmet_rise_avoided"] = ((j["unmet_units_central"] - j["unmet_units_calm_central"])
                                 - (j["unmet_units"] - j["unmet_units_calm"]))
    out["consumer_surplus_loss_avoided_usd"] = j["consumer_surplus_loss_usd_central"] - j["consumer_surplus_loss_usd"]
    out["social_surplus_loss_avoided_usd"] = j["social_surplus_loss_usd_central"] - j["social_surplus_loss_usd"]
    out["social_surplus_loss_avoided_run_usd"] = (j["social_surplus_loss_run_usd_central"]
                                                  - j["social_surplus_loss_run_usd"])
    return out.reset_index(drop=True)


def calm_by_seed(runs: pd.DataFrame, ts: pd.DataFrame, start: int = CALM_FROM) -> pd.DataFrame:
    """Per DM state and seed, calm runs from month ``start``: landed cost and surplus against centralised.

    ``extra_cost_usd_per_month`` = (state's mean landed cost − centralised's) × the state's mean units
    bought per month: what the state's buyers pay more (negative: less) than they would for imports,
    the same measure as the resilience value. Surplus differences are over the whole run, per year.
    """
    calm = runs[runs["shock"] == CALM]
    t = ts[(ts["shock"] == CALM) & (ts["month"] >= start)]
    per = t.groupby(["scenario", "seed"]).agg(
        landed_cost=("buyer_landed_cost_usd_mean", "mean"), dm_share=("dm_market_share", "mean"),
        units=("dm_units", "sum"), imports=("import_units", "sum"), months=("month", "nunique"))
    per["units_per_month"] = (per["units"] + per["imports"]) / per["months"]
    summ = calm.set_index(["scenario", "seed"])[["social_surplus_usd_total", "consumer_surplus_usd_total", "months"]]
    per = per.drop(columns="months").join(summ)
    cen = per.xs(CENTRAL, level="scenario")
    dm = per.drop(index=CENTRAL, level="scenario").reset_index()
    c = cen.reindex(dm["seed"].to_numpy())
    years = dm["months"].to_numpy(dtype=float) / 12
    out = dm[["scenario", "seed", "landed_cost", "units_per_month", "dm_share"]].copy()
    out["landed_cost_central"] = c["landed_cost"].to_numpy()
    out["landed_cost_diff"] = out["landed_cost"] - out["landed_cost_central"]
    out["extra_cost_usd_per_month"] = out["landed_cost_diff"] * out["units_per_month"]
    out["social_surplus_diff_usd_per_year"] = (dm["social_surplus_usd_total"].to_numpy()
                                               - c["social_surplus_usd_total"].to_numpy()) / years
    out["consumer_surplus_diff_usd_per_year"] = (dm["consumer_surplus_usd_total"].to_numpy()
                                                 - c["consumer_surplus_usd_total"].to_numpy()) / years
    return out.dropna(subset=["landed_cost_central"]).reset_index(drop=True)


def calm_cost(calm: pd.DataFrame) -> pd.DataFrame:
    """Per DM state: mean and interval over seeds of :func:`calm_by_seed`."""
    out = _intervals(calm, ["scenario"], CALM_METRICS)
    return out.sort_values("scenario", key=_order, kind="stable").reset_index(drop=True)


def resilience_value(value: pd.DataFrame, calm: pd.DataFrame) -> pd.DataFrame:
    """Per DM state and shock: mean and interval of :func:`resilience_by_seed`, and what it is worth in calm months.

    ``calm_cost_usd_per_month``: the state's mean ``extra_cost_usd_per_month`` in calm runs;
    ``calm_months_paid``: value of one crisis / that calm cost — how many calm months of DM's extra cost one
    such crisis pays back (NaN when DM costs buyers nothing extra in calm months, or when the interval of the
    landed cost spared reaches 0).
    """
    out = _intervals(value, ["scenario", "shock"], VALUE)
    per_month = calm.groupby("scenario")["extra_cost_usd_per_month"].mean()
    out["calm_cost_usd_per_month"] = out["scenario"].map(per_month)
    cost = out["calm_cost_usd_per_month"].where(out["calm_cost_usd_per_month"] > 0)
    out["calm_months_paid"] = (out["value_usd"] / cost).where(out["value_usd_lo"] > 0)  # spares nothing sure: NaN
    return out.sort_values(["scenario", "shock"], key=_order, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

COLOURS = {"baseline": "tab:orange", "shared_services": "tab:green", CENTRAL: "tab:grey"}


def _shock_order(shocks: Sequence[str]) -> list[str]:
    return sorted((s for s in set(shocks) if s != CALM), key=str)


def _bars(ax: Axes, table: pd.DataFrame, metric: str, scale: float, shocks: Sequence[str]) -> None:
    """Grouped bars of ``metric`` × ``scale`` per shock (x) and state (colour), with the interval as error bars."""
    states = [s for s in STATES if s in set(table["scenario"])]
    x = np.arange(len(shocks))
    w = 0.8 / max(len(states), 1)
    for i, st in enumerate(states):
        sub = table[table["scenario"] == st].set_index("shock").reindex(shocks)
        mean = sub[metric].to_numpy(float) * scale
        err = np.abs(np.vstack([mean - sub[f"{metric}_lo"].to_numpy(float) * scale,
                                sub[f"{metric}_hi"].to_numpy(float) * scale - mean]))
        ax.bar(x + (i - (len(states) - 1) / 2) * w, mean, w, yerr=np.nan_to_num(err), capsize=2,
               color=COLOURS.get(st), label=st)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, [s.replace("_", "\n") for s in shocks], fontsize=8)


def plot_effects(effects: pd.DataFrame, path: Path) -> None:
    """Landed-cost rise (USD/unit), unmet-share rise and DM-share change (pp) in crisis months, per shock and state."""
    shocks = _shock_order(effects["shock"])
    fig, axes = new_figure(1, 3, figsize=(14, 4.2))
    panels = (("landed_cost_rise", 1.0, "rise in buyers' landed cost, USD/unit"),
              ("unmet_share_rise", 100.0, "rise in unmet demand, pp of units wanted"),
              ("dm_share_rise", 100.0, "change in DM market share, pp"))
    for ax, (m, scale, title) in zip(axes, panels, strict=True):
        _bars(ax, effects, m, scale, shocks)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle("Crisis months against the calm twin (same state and seed): mean over seeds, 95% interval")
    fig.savefig(path, dpi=110)


def plot_timeseries(ts: pd.DataFrame, path: Path, shocks: Sequence[str] = TIMESERIES_SHOCKS) -> None:
    """Mean over seeds of landed cost, DM share and unmet share by state; shocked solid, calm twin dashed."""
    shocks = [s for s in shocks if s in set(ts["shock"])]
    states = [s for s in STATES if s in set(ts["scenario"])]
    rows = (("buyer_landed_cost_usd_mean", 1.0, "landed cost, USD/unit"), ("dm_market_share", 100.0, "DM share, %"),
            ("unmet_demand_share", 100.0, "unmet demand, % of wanted"))
    fig, axes = new_figure(len(rows), len(shocks), figsize=(4.6 * len(shocks), 8), sharex=True, squeeze=False)
    for j, shock in enumerate(shocks):
        on = ts[ts["shock"] == shock].groupby("month")["shock_active"].mean()
        for i, (col, scale, label) in enumerate(rows):
            ax = axes[i][j]
            for st in states:
                for sh, style in ((shock, "-"), (CALM, "--")):
                    sub = ts[(ts["scenario"] == st) & (ts["shock"] == sh)]
                    y = sub.groupby("month")[col].mean() * scale
                    ax.plot(y.index, y.to_numpy(), style, color=COLOURS.get(st), lw=1.4 if style == "-" else 0.9,
                            label=st if style == "-" else None)
            for m0, m1, share in compare.shock_blocks(on):
                ax.axvspan(m0 - 0.5, m1 + 0.5, color="tab:red", alpha=0.15 * share, lw=0)
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(shock)
            if i == len(rows) - 1:
                ax.set_xlabel("month")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Mean over seeds: shocked runs (solid) and their calm twins (dashed); crisis months shaded")
    fig.savefig(path, dpi=110)


def plot_value(value: pd.DataFrame, calm: pd.DataFrame, path: Path) -> None:
    """What each DM state saves against centralised per crisis (landed cost, social surplus) beside its calm year."""
    shocks = _shock_order(value["shock"])
    fig, (ax, bx, cx) = new_figure(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [2.2, 2.2, 1.2]})
    _bars(ax, value, "value_usd", 1e-3, shocks)
    ax.set_ylabel("thousand USD over the crisis")
    ax.set_title("Landed cost spared: (rise centralised − rise DM) × units bought", fontsize=10)
    ax.legend(fontsize=8)
    _bars(bx, value, "social_surplus_loss_avoided_usd", 1e-3, shocks)
    bx.set_title("Social-surplus loss avoided against centralised", fontsize=10)
    states = [s for s in STATES if s in set(calm["scenario"])]
    x = np.arange(2)
    w = 0.8 / max(len(states), 1)
    for i, st in enumerate(states):
        row = calm[calm["scenario"] == st].iloc[0]
        mean = np.array([row["extra_cost_usd_per_month"] * 12, -row["social_surplus_diff_usd_per_year"]]) / 1e3
        lo = np.array([row["extra_cost_usd_per_month_lo"] * 12, -row["social_surplus_diff_usd_per_year_hi"]]) / 1e3
        hi = np.array([row["extra_cost_usd_per_month_hi"] * 12, -row["social_surplus_diff_usd_per_year_lo"]]) / 1e3
        cx.bar(x + (i - (len(states) - 1) / 2) * w, mean, w, yerr=np.abs(np.vstack([mean - lo, hi - mean])),
               capsize=2, color=COLOURS.get(st), label=st)
    cx.axhline(0, color="black", lw=0.6)
    cx.set_xticks(x, ["extra landed\ncost", "social surplus\nforgone"], fontsize=8)
    cx.set_ylabel("thousand USD per calm year (> 0: DM costs)")
    cx.set_title("Calm cost of DM vs centralised", fontsize=10)
    fig.suptitle("Resilience value of DM per crisis against its calm cost: mean over 10 paired seeds, 95% interval")
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def analyse(sweep_dir: str | Path, out: str | Path) -> dict[str, pd.DataFrame]:
    """Read the sweep, compute every table, then write the CSVs and figures into ``out`` (created)."""
    runs, ts = load(sweep_dir)
    pairs = crisis_pairs(runs, ts)
    if not (pairs["crisis_months"] > 0).any():
        raise AnalysisError(f"{sweep_dir} has no run with a shock on (shock_active)")
    effects = crisis_effects(pairs)
    by_seed = resilience_by_seed(pairs)
    calm = calm_by_seed(runs, ts)
    ccost = calm_cost(calm)
    value = resilience_value(by_seed, calm)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"crisis_pairs": pairs, "crisis_effects": effects, "resilience_value": value, "calm_cost": ccost,
              "resilience_by_seed": by_seed, "calm_by_seed": calm}
    for name in ("crisis_pairs", "crisis_effects", "resilience_value", "calm_cost"):
        tables[name].to_csv(out / f"{name}.csv", index=False, float_format="%.6g")
    plot_effects(effects, out / "crisis_effects.png")
    plot_timeseries(ts, out / "crisis_timeseries.png")
    plot_value(value, ccost, out / "resilience_value.png")
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", nargs="?", default="multirun/resilience", help="the sweep (+experiment=resilience)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent), help="folder for tables and figures")
    args = p.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"analyse.py: error: --out={args.out!r} is not allowed: a folder", file=sys.stderr)
        return 2
    try:
        tables = analyse(args.sweep_dir, args.out)
    except AnalysisError as e:
        print(f"analyse.py: error: {e}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 200)
    v = tables["resilience_value"]
    print(v[["scenario", "shock", "n", "value_usd", "value_usd_lo", "value_usd_hi", "unmet_units_avoided",
             "calm_months_paid"]].round(1).to_string(index=False))
    calm = tables["calm_cost"][["scenario", "n", "landed_cost_diff", "landed_cost_diff_lo", "landed_cost_diff_hi",
                                "extra_cost_usd_per_month", "social_surplus_diff_usd_per_year"]]
    print(calm.round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
