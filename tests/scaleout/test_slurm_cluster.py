"""dmsim sweeps on a real SLURM cluster (one node, accounting on): same bits, clear failure, resume."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import SWEEP, dmsim_sweep, run_dirs
from local_slurm import PARTITION

pytestmark = pytest.mark.slurm

LAUNCHER = ["hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}"]


def wait_for_empty_queue(cluster, timeout_s: float = 60) -> None:
    """Until no job of the cluster is pending or running (the array's other tasks run on after a failure)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        q = subprocess.run(["squeue", "-h", "-o", "%i"], env=cluster.env, capture_output=True, text=True, timeout=30)
        if q.returncode == 0 and not q.stdout.strip():
            return
        time.sleep(0.5)
    pytest.fail(f"SLURM jobs still queued after {timeout_s} s")


def test_a_sweep_on_slurm_gives_the_basic_launchers_bits_with_one_cpu_and_1_gb_per_run(
        slurm_cluster, basic_reference, tmp_path):
    r = dmsim_sweep(sys.executable, tmp_path, *LAUNCHER, *SWEEP, env=slurm_cluster.env)
    assert r.returncode == 0, r.stderr
    (sweep_dir,) = (tmp_path / "multirun").glob("sweep-*")
    runs = run_dirs(sweep_dir)
    assert runs.keys() == basic_reference.keys()
    for name, run in runs.items():
        for output in ("summary.json", "timeseries.parquet"):
            assert (run / output).read_bytes() == (basic_reference[name] / output).read_bytes(), (name, output)
    # The runs went through SLURM as the launcher config asks: 4 array tasks named dmsim, 1 CPU and 1 GB each.
    deadline = time.monotonic() + 60  # slurmdbd records finished jobs a moment after they end
    while True:
        acct = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,JobName,State,AllocCPUS,ReqMem"],
                              env=slurm_cluster.env, capture_output=True, text=True, timeout=30, check=True).stdout
        rows = [line.split("|") for line in acct.splitlines() if "|dmsim|" in line]
        if len(rows) >= 4 and all(row[2] == "COMPLETED" for row in rows) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(rows) >= 4
    assert all(state == "COMPLETED" and cpus == "1" and mem in ("1G", "1024M") for _, _, state, cpus, mem in rows)


def test_a_cancelled_job_fails_the_sweep_and_the_same_command_redoes_only_its_run(slurm_cluster, tmp_path):
    args = [*LAUNCHER, *(a for a in SWEEP if not a.startswith("steps=")), "steps=24"]  # runs of ~2 s
    sweep = subprocess.Popen([sys.executable, "-m", "dmsim", "-m", *args], cwd=tmp_path, env=slurm_cluster.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cancelled = None
    deadline = time.monotonic() + 60
    while cancelled is None and time.monotonic() < deadline and sweep.poll() is None:
        q = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], env=slurm_cluster.env, capture_output=True,
                           text=True, timeout=30)
        running = q.stdout.split()
        if running:  # a run whose Python is starting or running: it cannot have written its summary yet
            cancelled = running[0]
            subprocess.run(["scancel", cancelled], env=slurm_cluster.env, check=True, timeout=30)
        time.sleep(0.05)
    assert cancelled is not None, f"no job was seen running; the sweep said: {sweep.communicate()[1][-2000:]}"
    try:
        _, err = sweep.communicate(timeout=150)  # submitit learns the state from sacct, then waits 15 s for output
    except subprocess.TimeoutExpired:
        sweep.kill()
        pytest.fail("the sweep hung after its job was cancelled")
    assert sweep.returncode != 0
    assert f"job {cancelled} " in err and "state: CANCELLED" in err, err[-2000:]  # which job, and why
    wait_for_empty_queue(slurm_cluster)
    (sweep_dir,) = (tmp_path / "multirun").glob("sweep-*")
    runs = run_dirs(sweep_dir)
    finished = {name: (run / "summary.json").stat().st_mtime_ns for name, run in runs.items()
                if (run / "summary.json").exists()}
    assert len(finished) == 3  # only the cancelled run is missing (its folder may not even exist yet)

    r = dmsim_sweep(sys.executable, tmp_path, *args, env=slurm_cluster.env)
    assert r.returncode == 0, r.stderr
    after = run_dirs(sweep_dir)
    assert len(after) == 4 and all((run / "summary.json").exists() for run in after.values())
    assert {name: (runs[name] / "summary.json").stat().st_mtime_ns for name in finished} == finished  # kept
    last = err.strip().splitlines()[-1]
    # dmsim catches the launcher's error: one line naming the job, its state and what to do
    assert last.startswith("dmsim: error: sweep stopped:") and "CANCELLED" in last, last
    assert "Traceback" not in err
