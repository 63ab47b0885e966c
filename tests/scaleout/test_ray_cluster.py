"""dmsim sweeps on a real Ray head (attached to, as on a cluster): same bits, killed workers, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import SWEEP, dmsim_sweep, run_dirs

pytestmark = pytest.mark.ray


def launcher(head, sweep_dir) -> list[str]:
    # An absolute sweep folder: Ray's workers run in the head's folder, not in the driver's.
    return ["hydra/launcher=ray_attach", f"hydra.launcher.ray.init.address={head.address}",
            f"hydra.sweep.dir={sweep_dir}"]


def same_bits(runs: dict, reference: dict) -> None:
    assert runs.keys() == reference.keys()
    for name, run in runs.items():
        for output in ("summary.json", "timeseries.parquet"):
            assert (run / output).read_bytes() == (reference[name] / output).read_bytes(), (name, output)


def sweep_killing_a_worker(head, cwd, args: list[str], once=lambda: True) -> tuple[subprocess.CompletedProcess, int]:
    """Start the sweep, SIGKILL the first worker seen running a run once ``once()``; return the outcome and PID."""
    proc = subprocess.Popen([str(head.python), "-m", "dmsim", "-m", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        workers = head.workers() if once() else []
        if workers:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the sweep hung after its worker was killed")
    assert killed is not None, f"no worker was seen running a job; the sweep said: {err[-2000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), killed


def test_a_sweep_on_an_attached_ray_cluster_gives_the_basic_launchers_bits(ray_head, basic_reference, tmp_path):
    sweep_dir = tmp_path / "multirun" / "ray"
    r = dmsim_sweep(ray_head.python, tmp_path, *launcher(ray_head, sweep_dir), *SWEEP)
    assert r.returncode == 0, r.stderr
    same_bits(run_dirs(sweep_dir), basic_reference)
    assert not (ray_head.root / "multirun").exists()  # nothing went astray into the workers' folder


def test_a_killed_worker_is_retried_and_the_results_are_the_same(ray_head, basic_reference, tmp_path):
    sweep_dir = tmp_path / "multirun" / "ray"
    r, _ = sweep_killing_a_worker(ray_head, tmp_path, [*launcher(ray_head, sweep_dir), *SWEEP])
    assert r.returncode == 0, r.stderr
    same_bits(run_dirs(sweep_dir), basic_reference)


def test_without_retries_a_killed_worker_fails_the_sweep_and_the_same_command_redoes_only_its_run(
        ray_head, tmp_path):
    sweep_dir = tmp_path / "multirun" / "ray"
    # Four runs, two at a time: once the first two are done, a worker running one of the last two is killed.
    # The launcher collects results in order, so it fails on that run; the driver's exit ends the other.
    small = [a for a in SWEEP if not a.startswith(("+scenario=", "seed="))]
    args = [*launcher(ray_head, sweep_dir), "hydra.launcher.ray.remote.max_retries=0", "+scenario=baseline",
            "seed=0,1,2,3", *small]

    def two_done() -> bool:
        return len(list(sweep_dir.glob("*/summary.json"))) >= 2

    r, _ = sweep_killing_a_worker(ray_head, tmp_path, args, once=two_done)
    assert r.returncode != 0
    assert "WorkerCrashedError" in r.stderr.strip().splitlines()[-1]  # the last line says what happened
    finished = {name: (run / "summary.json").stat().st_mtime_ns for name, run in run_dirs(sweep_dir).items()
                if (run / "summary.json").exists()}
    assert 2 <= len(finished) <= 3

    r = dmsim_sweep(ray_head.python, tmp_path, *args)
    assert r.returncode == 0, r.stderr
    after = run_dirs(sweep_dir)
    assert len(after) == 4 and all((run / "summary.json").exists() for run in after.values())
    assert {name: (after[name] / "summary.json").stat().st_mtime_ns for name in finished} == finished
    # (Workers' "finished already, skipped" lines are not counted: Ray de-duplicates repeated log lines.)
