"""Where do the defaults sit? Initial density and market size under baseline and shared_services.

Run from the repository root:

    .venv/bin/python experiments/calibration/run.py            # 10 seeds, ~10 minutes on 2 cores
    .venv/bin/python experiments/calibration/run.py --seeds 3  # quicker look
    .venv/bin/python experiments/calibration/run.py --plot-only

Two sweeps, each over paired seeds:

- initial workshops {5, 10, 20, 40, 80, 160} under ``baseline`` (no provider at month 0: any
  provider must enter on its own) and ``shared_services`` (one provider per service at month 0,
  the initial workshops its clients);
- market size (population 0.5, 1, 2 and 4 million) at the default start of 20 workshops.

Writes ``results.csv`` (one row per run: sweep, scenario, initial workshops, population, the
whole ``summary.json``, and the final number of local providers) and ``calibration.png`` beside
this file. The check comes before any scenario comparison: a thin baseline should stay in the
low-density trap, a dense start should grow its own providers, shared services should help, and
a tipping point should lie in between.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dmsim.run import compose_config, run  # noqa: E402

HERE = Path(__file__).resolve().parent
INITIAL = [5, 10, 20, 40, 80, 160]
POPULATION = [500_000, 1_000_000, 2_000_000, 4_000_000]
SCENARIOS = ["baseline", "shared_services"]


def one(args: tuple[str, str, int, int, int]) -> dict:
    sweep, scenario, n0, people, seed = args
    cfg = compose_config([f"+scenario={scenario}", f"workshops.initial={n0}", f"region.population={people}",
                          f"seed={seed}", "output.dashboard=false"])
    r = run(cfg)
    return {"sweep": sweep, "scenario": scenario, "workshops_initial": n0, "population": people,
            "providers_local_end": int(r.timeseries["providers_local_active"].iloc[-1]), **r.summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plot-only", action="store_true", help="redraw from results.csv")
    a = ap.parse_args()
    if a.plot_only:
        plot(pd.read_csv(HERE / "results.csv"))
        return
    grid = [("initial", s, n, 1_000_000, k) for s, n, k in itertools.product(SCENARIOS, INITIAL, range(a.seeds))]
    grid += [("population", s, 20, p, k) for s, p, k in itertools.product(SCENARIOS, POPULATION, range(a.seeds))]
    with ProcessPoolExecutor(a.workers) as pool:
        rows = list(pool.map(one, grid, chunksize=2))
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "results.csv", index=False)
    plot(df)
    print(table(df).to_string())


def table(df: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per sweep, scenario and setting, with counts of seeds tipped and keeping a provider."""
    cols = ["workshops_active_final", "dm_market_share_final", "dm_fill_rate_final", "mean_unit_cost_usd_final",
            "overhead_share_final", "markup_mean_final", "none_service_share_final", "jobs_final"]
    g = df.groupby(["sweep", "scenario", "workshops_initial", "population"])
    out = g[cols].mean().round(3)
    out["tipped"] = g["tipped"].sum().astype(int)
    out["with_provider_at_end"] = g["providers_local_end"].apply(lambda x: int((x > 0).sum()))
    out["seeds"] = g.size()
    return out


def plot(df: pd.DataFrame) -> None:
    fig, ax = plt.subplots(1, 4, figsize=(19, 4.5), constrained_layout=True)
    ini = df[df["sweep"] == "initial"]
    pop = df[df["sweep"] == "population"]
    for scenario, marker in zip(SCENARIOS, "os", strict=True):
        d = ini[ini.scenario == scenario]
        jitter = (d["seed"] - d["seed"].mean()) * 0.01
        x = d["workshops_initial"] * (1 + jitter)
        ax[0].scatter(x, d["dm_market_share_final"], marker=marker, alpha=0.6, label=scenario)
        ax[1].scatter(x, d["workshops_active_final"], marker=marker, alpha=0.6, label=scenario)
        ax[2].plot(d.groupby("workshops_initial")["tipped"].mean(), marker=marker, label=scenario)
        p = pop[pop.scenario == scenario].groupby("population")["workshops_active_final"].mean()
        ax[3].plot(p.index / 1e6, p.to_numpy(), marker=marker, label=scenario)
    for a, title in zip(ax[:3], ["DM market share (final)", "workshops active (final)", "share of seeds tipped"],
                        strict=True):
        a.set_xscale("log")
        a.set_xticks(INITIAL, [str(n) for n in INITIAL])
        a.minorticks_off()
        a.set(xlabel="initial workshops (1 million people)", title=title)
        a.legend()
    ax[3].set(xlabel="population, millions (20 initial workshops)", title="workshops active (final)")
    ax[3].legend()
    fig.savefig(HERE / "calibration.png", dpi=90)


if __name__ == "__main__":
    main()
