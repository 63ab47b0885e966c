"""A sweep killed at any moment (SIGKILL) leaves its finished runs intact and nothing half-done
that looks finished; re-running completes exactly the missing runs."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

ARGS = ["-m", "hydra/launcher=basic", "+scenario=baseline,shared_services", "seed=0,1,2", "steps=60",
        "region.buyer_groups=300", "output.quiet=true"]


def test_sigkill_mid_sweep_then_resume(tmp_path):
    cmd = [sys.executable, "-m", "dmsim", *ARGS, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(tmp_path.rglob("summary.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    runs = [p for p in (tmp_path / "sweep").iterdir() if p.is_dir()]
    finished = [d for d in runs if (d / "summary.json").exists()]
    assert 2 <= len(finished) < 6, "the kill should land mid-sweep"
    for d in finished:  # finished runs are complete and readable
        json.loads((d / "summary.json").read_text())
        assert len(pd.read_parquet(d / "timeseries.parquet")) == 60
    stamps = {d: (d / "summary.json").stat().st_mtime_ns for d in finished}
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("skipped") == len(finished)
    runs = [p for p in (tmp_path / "sweep").iterdir() if p.is_dir()]
    assert len(runs) == 6 and all((d / "summary.json").exists() for d in runs)
    assert all((d / "summary.json").stat().st_mtime_ns == t for d, t in stamps.items())
    assert not list(tmp_path.rglob(".*.tmp"))  # no temporary files left behind
