"""Sweeps: a stable sweep directory, resume of finished runs, same results on every launcher."""

import json
import subprocess
import sys

import pytest

SMALL = ["steps=6", "region.buyer_groups=200", "output.dashboard=false", "output.quiet=true"]


def sweep(cwd, *args):
    r = subprocess.run([sys.executable, "-m", "dmsim", "-m", *args, *SMALL], cwd=cwd,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def runs(cwd):
    return sorted(p.parent for p in (cwd / "multirun").rglob("config.yaml") if p.parent.name != ".hydra")


def test_rerun_skips_finished_and_redoes_cut_off_runs(tmp_path):
    sweep(tmp_path, "+scenario=baseline,shared_services", "seed=0")
    done = runs(tmp_path)
    assert len(done) == 2 and all((d / "summary.json").exists() for d in done)
    # Simulate a run killed before it finished: no summary, a half-written series.
    cut, kept = done
    (cut / "summary.json").unlink()
    (cut / "timeseries.parquet").write_bytes(b"garbage")
    kept_stamp = (kept / "summary.json").stat().st_mtime_ns
    r = sweep(tmp_path, "+scenario=baseline,shared_services", "seed=0")
    assert f"skipped: {kept}" in r.stdout
    assert str(cut) not in r.stdout
    assert (kept / "summary.json").stat().st_mtime_ns == kept_stamp  # not rewritten
    assert (cut / "summary.json").exists()
    assert runs(tmp_path) == done  # same stable sweep directory, no new one


def test_changed_config_is_not_taken_for_finished(tmp_path):
    from dmsim.run import compose_config, is_finished, run

    cfg = compose_config(["seed=1", *SMALL])
    run(cfg, tmp_path)
    assert is_finished(tmp_path, cfg)
    assert not is_finished(tmp_path, compose_config(["seed=1", "imports.tariff=0.2", *SMALL]))


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_launchers_give_the_serial_results(tmp_path, launcher):
    serial, other = tmp_path / "serial", tmp_path / launcher
    serial.mkdir()
    other.mkdir()
    args = ["+scenario=baseline,shared_services", "seed=0,1"]
    sweep(serial, "hydra/launcher=basic", *args)
    extra = ["hydra.launcher.timeout_min=10"] if launcher == "submitit_local" else ["hydra.launcher.n_jobs=2"]
    sweep(other, f"hydra/launcher={launcher}", *extra, *args)
    a = {d.name: json.loads((d / "summary.json").read_text()) for d in runs(serial)}
    b = {d.name: json.loads((d / "summary.json").read_text()) for d in runs(other)}
    assert len(a) == 4 and a == b


def test_a_sample_row_overrides_the_config(tmp_path):
    import pandas as pd

    from dmsim.config import ConfigError
    from dmsim.run import compose_config, run

    table = tmp_path / "samples.parquet"
    pd.DataFrame({"workshops.initial": [5, 30], "imports.tariff": [0.0, 0.3]}).to_parquet(table)
    cfg = compose_config([f"sample.file={table}", "sample.index=1", *SMALL])
    assert (cfg.workshops.initial, cfg.imports.tariff) == (30, 0.3)
    run(cfg, tmp_path / "run")
    assert "initial: 30" in (tmp_path / "run" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="sample.index"):
        compose_config([f"sample.file={table}", "sample.index=2", *SMALL])
    pd.DataFrame({"workshops.initial": [-4]}).to_parquet(table)
    with pytest.raises(ConfigError, match="workshops.initial"):
        compose_config([f"sample.file={table}", "sample.index=0", *SMALL])
