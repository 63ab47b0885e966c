"""The command line: the public contract of outputs, and clean errors for bad input."""

import json
import subprocess
import sys

import pandas as pd
import pytest

CONTRACT_KEYS = {
    "workshops_active_final", "dm_market_share_final", "dm_units_total", "import_units_total",
    "mean_unit_cost_usd_final", "overhead_share_final", "shared_service_share_final",
    "providers_active_final", "jobs_final", "local_value_added_usd_total",
    "buyer_landed_cost_usd_mean_final", "consumer_surplus_usd_total", "emissions_t_co2_total",
    "public_spend_usd_total", "tipped", "tipping_month", "seed", "scenario",
}
SERIES = {"month", "workshops_active", "entries", "exits", "dm_units", "import_units", "dm_market_share",
          "dm_market_share_household", "dm_market_share_institution", "mean_price_usd", "mean_unit_cost_usd",
          "unit_cost_material_usd", "unit_cost_labour_usd", "unit_cost_overhead_usd", "overhead_share",
          "shared_service_share", "providers_active", "local_suppliers", "jobs", "local_value_added_usd",
          "buyer_landed_cost_usd_mean", "consumer_surplus_usd", "emissions_t_co2", "public_spend_usd"}


def dmsim(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "dmsim", *args, f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=300)


def test_run_writes_the_contract_outputs(tmp_path):
    r = dmsim(tmp_path, "+scenario=shared_services", "steps=24", "seed=3")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert CONTRACT_KEYS <= summary.keys()
    assert summary["scenario"] == "shared_services" and summary["seed"] == 3
    assert isinstance(summary["tipped"], bool)
    assert summary["tipping_month"] is None or isinstance(summary["tipping_month"], int)
    ts = pd.read_parquet(tmp_path / "timeseries.parquet")
    assert SERIES <= set(ts.columns)
    assert list(ts["month"]) == list(range(24))
    for s in ("certification", "design", "logistics", "marketing", "finance", "maintenance", "training"):
        assert f"shared_service_share_{s}" in ts.columns
    assert (tmp_path / "config.yaml").read_text().count("seed: 3") == 1
    assert (tmp_path / "dashboard.png").read_bytes()[:4] == b"\x89PNG"
    # The summary's final figures are the last 12 months of the series.
    assert summary["workshops_active_final"] == pytest.approx(ts["workshops_active"].tail(12).mean())
    assert summary["dm_units_total"] == pytest.approx(ts["dm_units"].sum())
    assert "DM market share" in r.stdout


@pytest.mark.parametrize("args,key,value", [
    (["workshops.initial=-3"], "workshops.initial", "-3"),
    (["network.coordination=2"], "network.coordination", "2"),
    (["no_such_key=1"], "no_such_key", "1"),
    (["+scenario=no_such_scenario"], "scenario", "no_such_scenario"),
    (["workshops.initial=many"], "workshops.initial", "many"),
    (["network.type=star"], "network.type", "star"),
    (["services.design.initial_mode=outsourced"], "services.design.initial_mode", "outsourced"),
    (["-m", "seed=0,-1"], "seed", "-1"),
    (["+strategy=no_such_strategy"], "strategy", "no_such_strategy"),
    (["-m", "+experiment=no_such_experiment"], "experiment", "no_such_experiment"),
    (["+strategy=transport_infrastructure", "policy.budget_usd=1000"], "policy.budget_usd", "1000"),
])
def test_bad_input_fails_with_one_clear_line(tmp_path, args, key, value):
    r = dmsim(tmp_path, *args)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert key in lines[0] and value in lines[0] and "allowed" in lines[0]
    assert not list(tmp_path.rglob("summary.json"))


def test_malformed_yaml_is_one_clear_line(tmp_path, monkeypatch):
    import shutil

    from dmsim import cli
    from dmsim.config import ConfigError

    configs = tmp_path / "configs"
    shutil.copytree(cli.CONFIG_DIR, configs)
    (configs / "scenario" / "broken.yaml").write_text("# @package _global_\nscenario: [unclosed\n")
    monkeypatch.setattr(cli, "CONFIG_DIR", configs)
    with pytest.raises(ConfigError) as e:
        cli.check_overrides(["+scenario=broken"])
    msg = str(e.value)
    assert "\n" not in msg and "broken" in msg and "malformed" in msg and "line" in msg
    cli.check_overrides(["+scenario=shared_services"])  # the valid ones still pass
