"""Where do the defaults sit? Sweep initial workshops under baseline and shared_services.

Run from the repository root:

    .venv/bin/python experiments/calibration/run.py            # 10 seeds, ~2 minutes on 2 cores
    .venv/bin/python experiments/calibration/run.py --seeds 3  # quicker look

Writes ``results.csv`` (one row per run: overrides + summary) and ``calibration.png`` beside
this file. DESIGN.md §4 asks for this check before trusting any scenario comparison: the
baseline should stay in the low-density trap for most seeds, shared_services should lower
unit cost and overhead share and raise DM share, and a tipping point should lie in between.
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
INITIAL = [2, 5, 8, 10, 12, 15, 20, 40, 80]
SCENARIOS = ["baseline", "shared_services"]


def one(args: tuple[str, int, int]) -> dict:
    scenario, n0, seed = args
    cfg = compose_config([f"+scenario={scenario}", f"workshops.initial={n0}", f"seed={seed}",
                          "output.dashboard=false"])
    s = run(cfg).summary
    return {"scenario": scenario, "workshops_initial": n0, **s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plot-only", action="store_true", help="redraw from results.csv")
    a = ap.parse_args()
    if a.plot_only:
        plot(pd.read_csv(HERE / "results.csv"))
        return
    grid = list(itertools.product(SCENARIOS, INITIAL, range(a.seeds)))
    with ProcessPoolExecutor(a.workers) as pool:
        rows = list(pool.map(one, grid, chunksize=4))
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "results.csv", index=False)
    plot(df)
    cols = ["workshops_active_final", "dm_market_share_final", "shared_service_share_final",
            "providers_active_final", "mean_unit_cost_usd_final", "overhead_share_final", "tipped"]
    table = df.groupby(["scenario", "workshops_initial"])[cols].mean().round(3)
    print(table.to_string())


def plot(df: pd.DataFrame) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5), constrained_layout=True)
    for scenario, marker in zip(SCENARIOS, "os", strict=True):
        d = df[df.scenario == scenario]
        jitter = (d["seed"] - d["seed"].mean()) * 0.01
        x = d["workshops_initial"] * (1 + jitter)
        ax[0].scatter(x, d["dm_market_share_final"], marker=marker, alpha=0.6, label=scenario)
        ax[1].scatter(x, d["workshops_active_final"], marker=marker, alpha=0.6, label=scenario)
        ax[2].plot(d.groupby("workshops_initial")["tipped"].mean(), marker=marker, label=scenario)
    for a, title in zip(ax, ["DM market share (final)", "workshops active (final)", "share of seeds tipped"],
                        strict=True):
        a.set_xscale("log")
        a.set_xticks(INITIAL, [str(n) for n in INITIAL])
        a.minorticks_off()
        a.set(xlabel="initial workshops", title=title)
        a.legend()
    fig.savefig(HERE / "calibration.png", dpi=90)


if __name__ == "__main__":
    main()
