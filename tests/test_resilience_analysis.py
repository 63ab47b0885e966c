"""experiments/resilience/analyse.py on a real mini sweep: pairing, the resilience-value formula, calm cost, CLI.

The sweep: shared_services and centralised × no shock and the freight spike (month 48 on, so 12 crisis
months in a 60-month run) × seeds 0 and 1, 300 buyer groups (about 4 s). Every expected number is
computed here from the runs' own timeseries.parquet, not through the analysis.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "resilience" / "analyse.py"
STEPS, START = 60, 48  # freight_spike starts at month 48 (configs/shock/freight_spike.yaml)


def _load_module():
    spec = importlib.util.spec_from_file_location("resilience_analyse", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


analyse = _load_module()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("res") / "sweep"
    cmd = [sys.executable, "-m", "dmsim", "-m", "+scenario=shared_services,centralised", "+shock=none,freight_spike",
           "seed=0,1", f"steps={STEPS}", "region.buyer_groups=300", "hydra/launcher=basic",
           "output.dashboard=false", "output.quiet=true", f"hydra.sweep.dir={d}"]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=120)
    return d


def _series(sweep: Path, scenario: str, shock: str, seed: int) -> pd.DataFrame:
    """One run's time series, read straight from its folder (independent of dmsim.compare)."""
    [run] = [p for p in sweep.iterdir() if f"+scenario={scenario}," in p.name and f"+shock={shock}," in p.name
             and f"seed={seed}," in p.name]
    return pd.read_parquet(run / "timeseries.parquet")


@pytest.fixture(scope="module")
def tables(sweep: Path) -> dict[str, pd.DataFrame]:
    runs, ts = analyse.load(sweep)
    pairs = analyse.crisis_pairs(runs, ts)
    calm = analyse.calm_by_seed(runs, ts)
    return {"pairs": pairs, "by_seed": analyse.resilience_by_seed(pairs), "calm": calm,
            "value": analyse.resilience_value(analyse.resilience_by_seed(pairs), calm)}


def test_calm_twins_have_no_crisis_and_shocked_runs_the_shock_months(tables: dict[str, pd.DataFrame]) -> None:
    p = tables["pairs"]
    assert len(p) == 8
    assert (p.loc[p["shock"] == "none", "crisis_months"] == 0).all()
    assert p.loc[p["shock"] == "none", "landed_cost_rise"].isna().all()
    shocked = p[p["shock"] == "freight_spike"]
    assert (shocked["crisis_months"] == STEPS - START).all() and (shocked["first_month"] == START).all()
    # the freight spike makes imports dearer: centralised buyers' landed cost rises in every seed
    assert (shocked.loc[shocked["scenario"] == "centralised", "landed_cost_rise"] > 1.0).all()


def test_resilience_value_is_the_formula_on_each_seed(sweep: Path, tables: dict[str, pd.DataFrame]) -> None:
    by_seed = tables["by_seed"].set_index("seed")
    crisis = slice(START, STEPS - 1)
    expected = []
    for seed in (0, 1):
        rise = {}
        for sc in ("shared_services", "centralised"):
            s = _series(sweep, sc, "freight_spike", seed).set_index("month")
            c = _series(sweep, sc, "none", seed).set_index("month")
            assert s.loc[crisis, "shock_active"].all() and not s.loc[: START - 1, "shock_active"].any()
            rise[sc] = (s.loc[crisis, "buyer_landed_cost_usd_mean"].mean()
                        - c.loc[crisis, "buyer_landed_cost_usd_mean"].mean())
            if sc == "shared_services":
                units = (s.loc[crisis, "dm_units"] + s.loc[crisis, "import_units"]).sum()
                unmet_dm = s.loc[crisis, "unmet_demand_units"].sum()
            else:
                unmet_central = s.loc[crisis, "unmet_demand_units"].sum()
        value = (rise["centralised"] - rise["shared_services"]) * units
        expected.append(value)
        row = by_seed.loc[seed]
        assert row["value_usd"] == pytest.approx(value, rel=1e-9)
        assert row["unmet_units_avoided"] == pytest.approx(unmet_central - unmet_dm, rel=1e-9, abs=1e-6)
    # mean and 95% t interval over the two seeds: t(1) = 12.71
    v = tables["value"].iloc[0]
    x = np.array(expected)
    hw = stats.t.ppf(0.975, 1) * x.std(ddof=1) / np.sqrt(2)
    assert (v["n"], v["value_usd"]) == (2, pytest.approx(x.mean()))
    assert (v["value_usd_lo"], v["value_usd_hi"]) == (pytest.approx(x.mean() - hw), pytest.approx(x.mean() + hw))


def test_calm_cost_is_landed_cost_difference_from_month_48(sweep: Path, tables: dict[str, pd.DataFrame]) -> None:
    calm = tables["calm"].set_index("seed")
    for seed in (0, 1):
        s = _series(sweep, "shared_services", "none", seed)
        c = _series(sweep, "centralised", "none", seed)
        diff = (s.loc[s["month"] >= START, "buyer_landed_cost_usd_mean"].mean()
                - c.loc[c["month"] >= START, "buyer_landed_cost_usd_mean"].mean())
        late = s[s["month"] >= START]
        per_month = (late["dm_units"] + late["import_units"]).sum() / len(late)
        assert calm.loc[seed, "landed_cost_diff"] == pytest.approx(diff, rel=1e-9)
        assert calm.loc[seed, "extra_cost_usd_per_month"] == pytest.approx(diff * per_month, rel=1e-9)
    # months of calm cost paid back by one crisis: the ratio of the two means
    v = tables["value"].iloc[0]
    assert v["calm_months_paid"] == pytest.approx(v["value_usd"] / calm["extra_cost_usd_per_month"].mean())


def test_cli_writes_tables_and_figures_and_refuses_a_non_sweep(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(SCRIPT), str(sweep), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for name in ("resilience_value.csv", "calm_cost.csv", "crisis_effects.csv", "crisis_pairs.csv",
                 "crisis_effects.png", "crisis_timeseries.png", "resilience_value.png"):
        assert (out / name).stat().st_size > 0, name
    effects = pd.read_csv(out / "crisis_effects.csv")
    assert set(effects["scenario"]) == {"shared_services", "centralised"} and set(effects["shock"]) == {"freight_spike"}

    # one run's folder is not a sweep over +scenario and +shock: one line, exit 2, nothing written
    one_run = next(p for p in sweep.iterdir() if p.is_dir())
    bad_out = tmp_path / "bad"
    r = subprocess.run([sys.executable, str(SCRIPT), str(one_run), "--out", str(bad_out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("analyse.py: error:") and r.stderr.count("\n") == 1
    assert not bad_out.exists()
