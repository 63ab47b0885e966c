"""Benchmark: ``python -m dmsim.bench [--size S|M|L|XL] [--json PATH]``.

For each size it runs the model once in a fresh process and prints wall time, time per month
by phase, buyer-option evaluations per second (buyer groups × k options × products per
second of market phase) and peak memory (max RSS). ``--json`` writes the figures, plus the
speed-up of the vectorised step over the per-agent reference implementation at 10,000 buyer
groups × 1,000 workshops. Results and the machine they ran on: experiments/performance/.

Sizes M-XL hold the number of workshops fixed (exits off) under ``shared_services`` so that
every month does the same work; S is the default run (``python -m dmsim``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES: dict[str, list[str]] = {
    "S": [],
    "M": ["region.population=2500000", "region.buyer_groups=10000", "region.institutions=300",
          "region.size_km=400", "workshops.initial=1000"],
    "L": ["region.population=5000000", "region.buyer_groups=30000", "region.institutions=1000",
          "region.size_km=600", "workshops.initial=3000"],
    "XL": ["region.population=10000000", "region.buyer_groups=100000", "region.institutions=3000",
           "region.size_km=1000", "workshops.initial=10000"],
}
HOLD = ["+scenario=shared_services", "workshops.exit_negative_cash_months=100000",
        "workshops.exit_loss_months=100000"]
REFERENCE = ["region.buyer_groups=10000", "region.institutions=0", "region.size_km=400",
             "region.population=2500000", "workshops.initial=1000", *HOLD]


SCALING_MONTHS = 24
SCALING_GROUPS = [12_500, 25_000, 50_000, 100_000]  # at 1,000 workshops
SCALING_WORKSHOPS = [1_000, 2_500, 5_000, 10_000]  # at 25,000 buyer groups


def scaling_overrides(groups: int, workshops: int) -> list[str]:
    """A size with the given buyer groups and workshops (density as in XL: 100 people a group)."""
    people = groups * 100
    side = round(1000 * (groups / 100_000) ** 0.5)
    return [f"region.population={people}", f"region.buyer_groups={groups}", "region.institutions=0",
            f"region.size_km={side}", f"workshops.initial={workshops}", f"steps={SCALING_MONTHS}",
            *HOLD, "output.dashboard=false"]


def overrides(size: str) -> list[str]:
    """Config overrides of a benchmark size."""
    return [*SIZES[size], *(HOLD if size != "S" else []), "output.dashboard=false"]


def measure(size: str, extra: list[str] | None = None) -> dict[str, Any]:
    """Run one size (or explicit overrides) in this process and return its figures."""
    from dmsim.model import DMModel
    from dmsim.run import compose_config

    cfg = compose_config(extra if extra is not None else overrides(size))
    t0 = time.perf_counter()
    model = DMModel(cfg)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    model.metrics.frame()
    t3 = time.perf_counter()
    months = cfg.steps
    groups = model.bg.n
    evals = groups * cfg.market.k_nearest * model.n_products * months
    return {
        "wall_s": t3 - t0,
        "init_s": t1 - t0,
        "model_s": t2 - t1,
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "months": months,
        "buyer_groups": groups,
        "workshops": int(model.ws.active[: model.ws.n].sum()),
        "workshops_initial": cfg.workshops.initial,
        "products": model.n_products,
        "ms_per_month": {k: 1000 * v / months for k, v in model.phase_seconds.items()},
        "option_evals_per_s": evals / max(model.phase_seconds["market"], 1e-9),
        "index_builds": model.index.builds,
    }


def _seconds_per_month(model: Any, months: int) -> float:
    model.step()  # warm-up month (builds the spatial index for both), not timed
    t0 = time.perf_counter()
    for _ in range(months):
        model.step()
    return (time.perf_counter() - t0) / months


def measure_reference(months: int = 3) -> dict[str, float]:
    """Seconds per month of the reference and the vectorised step at 10,000 × 1,000."""
    from dmsim.model import DMModel
    from dmsim.reference import ReferenceModel
    from dmsim.run import compose_config

    cfg = compose_config([*REFERENCE, f"steps={months + 1}", "output.dashboard=false"])
    ref = _seconds_per_month(ReferenceModel(cfg), months)
    vec = _seconds_per_month(DMModel(cfg), months)
    return {"reference_s_per_month": ref, "vectorised_s_per_month": vec, "speedup": ref / vec}


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "dmsim.bench", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark sizes, each in a fresh process, and report."""
    ap = argparse.ArgumentParser(description="dmsim benchmark")
    ap.add_argument("--size", choices=[*SIZES, "all"], default="all")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference comparison")
    ap.add_argument("--scaling", action="store_true",
                    help="cost per month against buyer groups and against workshops instead of the sizes")
    ap.add_argument("--child", choices=[*SIZES, "reference", "scaling"], help=argparse.SUPPRESS)
    ap.add_argument("--groups", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workshops", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        if a.child == "reference":
            res = measure_reference()
        elif a.child == "scaling":
            res = measure("scaling", scaling_overrides(a.groups, a.workshops))
        else:
            res = measure(a.child)
        print(json.dumps(res))
        return
    if a.scaling:
        results = {"by_groups": [], "by_workshops": []}
        grid = [("by_groups", g, 1_000) for g in SCALING_GROUPS] + [
            ("by_workshops", 25_000, w) for w in SCALING_WORKSHOPS]
        for key, g, w in grid:
            r = _child(["--child", "scaling", "--groups", str(g), "--workshops", str(w)])
            per_month = 1000 * r["model_s"] / r["months"]
            results[key].append({"buyer_groups": g, "workshops": w, "ms_per_month": per_month,
                                 "market_ms_per_month": r["ms_per_month"]["market"]})
            print(f"{g:>7,} groups {w:>6,} workshops: {per_month:7.1f} ms/month "
                  f"(market {r['ms_per_month']['market']:.1f})", flush=True)
        if a.json:
            a.json.write_text(json.dumps(results, indent=2) + "\n")
        return
    sizes = list(SIZES) if a.size == "all" else [a.size]
    results: dict[str, Any] = {}
    for size in sizes:
        r = _child(["--child", size])
        results[size] = r
        ph = "  ".join(f"{k} {v:.1f}" for k, v in r["ms_per_month"].items())
        print(f"{size:>2}: {r['buyer_groups']:>7,} groups {r['workshops_initial']:>6,} workshops "
              f"{r['months']} months: wall {r['wall_s']:6.2f} s (model {r['model_s']:.2f} s), "
              f"peak {r['peak_mem_mb']:,.0f} MB, {r['option_evals_per_s'] / 1e6:.1f} M option evals/s", flush=True)
        print(f"    ms/month: {ph}", flush=True)
    if not a.no_reference:
        ref = _child(["--child", "reference"])
        results["reference"] = ref
        results["speedup_vs_reference"] = ref["speedup"]
        print(f"reference at 10,000 groups × 1,000 workshops: {ref['reference_s_per_month']:.2f} s/month, "
              f"vectorised {ref['vectorised_s_per_month'] * 1000:.1f} ms/month: {ref['speedup']:.0f}× faster")
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "processor": platform.processor()}
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
