"""Runs per minute per core of one sweep through each launcher: basic, joblib, SLURM and Ray (docs/scale-out.md).

Brings up the local SLURM cluster and Ray head of this folder's scripts, runs the same sweep of
default-size runs (120 months) through each into a fresh folder, and prints one line per launcher:
wall time, runs per minute, and runs per minute per core used.

    .venv/bin/python scripts/scaleout/measure.py [SEEDS]   # default 10: 20 runs
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import local_ray  # noqa: E402
import local_slurm  # noqa: E402

# Hydra logs one line per job as the launcher hands it over: "[2026-12-02 18:25:55,917][HYDRA] \t#0 : ..."
JOB_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[HYDRA\] \t#\d+ :", re.MULTILINE)


def timed(python: str | Path, cwd: Path, args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall time (s) of ``python -m dmsim -m ARGS`` and the driver's time per job handed over (s).

    Fails loudly if the sweep fails.
    """
    t0 = time.perf_counter()
    r = subprocess.run([str(python), "-m", "dmsim", "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=3600)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"measure: {args[0]} failed: {r.stderr.strip().splitlines()[-1:]}")
    stamps = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f") for m in JOB_LINE.findall(r.stdout + r.stderr)]
    per_job = (stamps[-1] - stamps[0]).total_seconds() / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return wall, per_job


def main() -> None:
    """Measure and print."""
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    sweep = ["+scenario=baseline,shared_services", f"seed=range(0,{seeds})", "output.dashboard=false",
             "output.quiet=true"]
    runs = 2 * seeds
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="dmsim-measure-"))
    results: list[tuple[str, tuple[float, float], int]] = []
    py = sys.executable
    results.append(("basic (one process)", timed(py, root, ["hydra/launcher=basic", "hydra.sweep.dir=basic", *sweep]),
                    1))
    results.append(("joblib", timed(py, root, ["hydra/launcher=joblib", "hydra.sweep.dir=joblib", *sweep]), cores))
    local_slurm.ensure_installed()
    cluster = local_slurm.LocalSlurm(root / "slurm").start()
    try:
        results.append(("SLURM (slurm.yaml)", timed(py, root, ["hydra/launcher=slurm", "hydra.sweep.dir=slurm", *sweep],
                                                    env=cluster.env), cores))
    finally:
        cluster.stop()
    head = local_ray.RayHead(local_ray.ensure_venv(), root / "rayhead", num_cpus=cores).start()
    try:
        results.append(("Ray (ray_attach.yaml)", timed(head.python, root, [
            "hydra/launcher=ray_attach", f"hydra.launcher.ray.init.address={head.address}",
            f"hydra.sweep.dir={root / 'ray'}", *sweep]), cores))
    finally:
        head.stop()
    shutil.rmtree(root, ignore_errors=True)
    print(f"{runs} default-size runs (120 months), {cores} cores:")
    for name, (seconds, per_job), used in results:
        rpm = runs / seconds * 60
        print(f"  {name:24s} {seconds:6.1f} s  {rpm:6.1f} runs/min  {rpm / used:6.1f} runs/min/core  "
              f"driver {per_job * 1000:5.0f} ms/job")


if __name__ == "__main__":
    main()
