"""Shocks: what DM is worth when imports fail, and that nothing moves when they are off."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsim.cli import CONFIG_DIR, group_options
from dmsim.config import SHOCK_KINDS
from dmsim.metrics import recovery_months
from dmsim.model import DMModel
from dmsim.run import compose_config, run
from dmsim.shocks import schedule

DATA = Path(__file__).resolve().parent / "data"
SMALL = ["region.buyer_groups=400", "output.dashboard=false"]
WINDOW = ["start_month=24", "months=18"]


def shock(kind: str, size: float, start: int = 24, months: int = 18) -> list[str]:
    return [f"shocks.{kind}.size={size}", f"shocks.{kind}.start_month={start}", f"shocks.{kind}.months={months}"]


def series(overrides: list[str]) -> tuple[pd.DataFrame, dict]:
    r = run(compose_config([*SMALL, *overrides]))
    return r.timeseries, r.summary


def test_with_every_shock_off_a_run_is_bit_identical_to_the_model_without_shocks():
    """Summaries stored from the code before shocks existed (same seed, same config)."""
    stored = json.loads((DATA / "no_shock_summaries.json").read_text())
    for case in stored.values():
        summary = run(compose_config(case["overrides"])).summary
        for key, value in case["summary"].items():
            assert summary[key] == value, key
        assert summary["crisis_months"] == 0 and summary["recovery_months"] is None


def test_a_shock_of_size_zero_changes_nothing():
    a, _ = series(["+scenario=shared_services", "seed=1", "steps=36"])
    b, _ = series(["+scenario=shared_services", "seed=1", "steps=36", *shock("freight", 0.0), "shocks.fx.months=12"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not b["shock_active"].any()


def test_freight_spike_raises_dm_share_in_the_crisis_months():
    calm, _ = series(["+scenario=shared_services", "seed=4", "steps=48"])
    hit, summary = series(["+scenario=shared_services", "seed=4", "steps=48", *shock("freight", 3.0)])
    on = hit["shock_active"].to_numpy()
    assert on.sum() == 18 and on[24] and not on[23] and not on[42]
    assert summary["crisis_months"] == 18
    assert summary["dm_market_share_crisis"] == pytest.approx(hit.loc[on, "dm_market_share"].mean())
    assert (hit.loc[on, "dm_market_share"] - calm.loc[on, "dm_market_share"]).mean() > 0.03
    pd.testing.assert_frame_equal(hit.iloc[:24], calm.iloc[:24], check_exact=True)  # paired: same until the shock
    assert (hit.loc[on, "buyer_landed_cost_usd_mean"] > calm.loc[on, "buyer_landed_cost_usd_mean"]).all()


def _landed_cost_rise(scenario: str, kind: str, size: float, seed: int) -> float:
    calm, _ = series([f"+scenario={scenario}", f"seed={seed}", "steps=48"])
    hit, _ = series([f"+scenario={scenario}", f"seed={seed}", "steps=48", *shock(kind, size)])
    on = hit["shock_active"].to_numpy()
    return float((hit.loc[on, "buyer_landed_cost_usd_mean"] - calm.loc[on, "buyer_landed_cost_usd_mean"]).mean())


@pytest.mark.parametrize("kind,size", [("freight", 3.0), ("fx", 0.5)])
def test_a_tipped_ecosystem_cushions_buyers_better_than_centralised(kind, size):
    tipped = _landed_cost_rise("shared_services", kind, size, seed=1)
    centralised = _landed_cost_rise("centralised", kind, size, seed=1)
    assert 0 < tipped < centralised


def test_import_disruption_leaves_demand_unmet_and_dm_fills_part_of_it():
    calm, _ = series(["+scenario=shared_services", "seed=2", "steps=48"])
    hit, summary = series(["+scenario=shared_services", "seed=2", "steps=48", *shock("import_disruption", 0.5)])
    cen, cen_summary = series(["+scenario=centralised", "seed=2", "steps=48", *shock("import_disruption", 0.5)])
    on = hit["shock_active"].to_numpy()
    assert (hit.loc[on, "unmet_demand_units"] > calm.loc[on, "unmet_demand_units"]).all()
    assert (hit.loc[on, "dm_units"] > calm.loc[on, "dm_units"]).all()  # turned-away import buyers go to DM
    assert summary["unmet_demand_share_crisis"] < cen_summary["unmet_demand_share_crisis"]
    # Without workshops every first choice is the import; each ask (retries included) fails with
    # probability 0.5, so between 0.5² and 0.5 of the units asked for go unmet, and the rest are imports.
    share = cen.loc[on, "unmet_demand_share"]
    assert ((share > 0.25) & (share < 0.5)).all()
    wanted = cen.loc[on, "unmet_demand_units"] / share
    assert np.allclose(cen.loc[on, "import_units"] + cen.loc[on, "unmet_demand_units"], wanted, rtol=1e-9)
    assert (cen.loc[~on, "unmet_demand_units"].abs() < 1e-6).all()


def test_outages_cost_output_and_maintenance_protects():
    base = ["+scenario=shared_services", "seed=3", "steps=24"]
    calm, _ = series(base)
    hit, _ = series([*base, *shock("outages", 0.6, start=12, months=12), "shocks.outage_maintenance_protection=0"])
    kept, _ = series([*base, *shock("outages", 0.6, start=12, months=12), "shocks.outage_maintenance_protection=1"])
    on = hit["shock_active"].to_numpy()
    assert hit.loc[on, "dm_units"].sum() < calm.loc[on, "dm_units"].sum()
    # The first outage month: same orders (paired), fewer hours; maintained workshops keep more.
    first = calm["utilisation"][12], kept["utilisation"][12], hit["utilisation"][12]
    assert first[0] < first[1] < first[2]
    # 60% of hours lost: first-round orders / 0.4 (second-round orders differ a little)
    assert hit["utilisation"][12] == pytest.approx(calm["utilisation"][12] / 0.4, rel=0.03)


def test_demand_surge_raises_one_products_demand_only():
    model = DMModel(cfg=compose_config([*SMALL, "steps=6", *shock("demand_surge", 2.0, start=2, months=2)]))
    before = model.bg.potential_units[: model.bg.n].copy()
    p = model.product_names.index("medical_consumables")
    for month in range(5):
        model.step()
        now = model.bg.potential_units[: model.bg.n]
        factor = 3.0 if month in (2, 3) else 1.0
        assert np.array_equal(now[:, p], before[:, p] * factor)
        others = [q for q in range(model.n_products) if q != p]
        assert np.array_equal(now[:, others], before[:, others])


def test_fx_devaluation_makes_imports_and_materials_dearer_in_step():
    calm = DMModel(cfg=compose_config([*SMALL, "steps=3"]))
    hit = DMModel(cfg=compose_config([*SMALL, "steps=3", *shock("fx", 0.5, start=0, months=3)]))
    hit.apply_shocks()
    assert hit.import_cost_factor == pytest.approx(1.5 * calm.import_cost_factor)
    assert hit.material_cost_factor == pytest.approx(1.5 * calm.material_cost_factor)


def test_material_tariff_protects_goods_without_taxing_inputs():
    """With inputs duty-free, a higher tariff on finished goods does not lower DM's share."""
    base = ["+scenario=shared_services", "seed=5", "steps=36", "imports.material_tariff=0"]
    low, _ = series([*base, "imports.tariff=0.1"])
    high, _ = series([*base, "imports.tariff=0.3"])
    assert high["dm_market_share"].tail(12).mean() >= low["dm_market_share"].tail(12).mean()
    m = DMModel(cfg=compose_config([*SMALL, "steps=3", "imports.material_tariff=0", "imports.tariff=0.3"]))
    assert m.material_cost_factor == pytest.approx(1 + m.cfg.imports.freight)
    assert m.import_cost_factor == pytest.approx(1.3 + m.cfg.imports.freight)


def test_recurrence_is_seeded_and_kinds_share_no_draws():
    cfg = compose_config([*SMALL, "steps=240", "shocks.freight.size=1", "shocks.freight.months=3",
                          "shocks.freight.rate_per_year=0.5", "shocks.freight.start_month=1200"])
    both = compose_config([*SMALL, "steps=240", "shocks.freight.size=1", "shocks.freight.months=3",
                           "shocks.freight.rate_per_year=0.5", "shocks.freight.start_month=1200",
                           "shocks.fx.size=1", "shocks.fx.months=2", "shocks.fx.rate_per_year=1"])
    a = schedule(cfg, np.random.default_rng([0, 9]))
    b = schedule(both, np.random.default_rng([0, 9]))
    f = SHOCK_KINDS.index("freight")
    assert np.array_equal(a[f], b[f])  # switching fx on does not move freight's episodes
    assert 0 < a[f].sum() < 240 and b[SHOCK_KINDS.index("fx")].any()
    assert np.array_equal(a, schedule(cfg, np.random.default_rng([0, 9])))
    starts = np.flatnonzero(np.diff(a[f].astype(int)) == 1).size + int(a[f][0])
    assert 3 <= starts <= 20  # 0.5 a year over 20 years, overlapping episodes merged


def test_recovery_months_on_a_hand_made_series():
    share = [0.3] * 12 + [0.5] * 6 + [0.4, 0.34, 0.31, 0.3, 0.3, 0.3, 0.3]
    df = pd.DataFrame({"dm_market_share": share, "workshops_active": [20] * len(share)})
    crisis = np.array([False] * 12 + [True] * 6 + [False] * 7)
    # 3-month means from the shock's end (month 18): 0.35, 0.317, 0.303 -> back at month 20
    assert recovery_months(df, crisis) == 2
    assert recovery_months(df, np.zeros(len(share), bool)) is None
    assert recovery_months(df, np.array([True] * 3 + [False] * (len(share) - 3))) is None  # no months before


@pytest.mark.parametrize("name", [n for n in group_options("shock") if n != "none"])
def test_every_shock_file_runs_alone_and_names_its_history(name):
    text = (CONFIG_DIR / "shock" / f"{name}.yaml").read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "source" in header.lower() or "assumption" in header.lower()
    _, summary = series([f"+shock={name}", "steps=60"])
    assert summary["crisis_months"] > 0


def test_shock_files_compose_and_bad_ones_are_refused(tmp_path):
    names = group_options("shock")
    assert {"freight_spike", "fx_devaluation", "import_disruption", "power_outages", "demand_surge",
            "polycrisis"} <= set(names)
    cfg = compose_config([f"+shock=[{names[0]},{names[1]}]"])
    assert sum(getattr(cfg.shocks, k).size > 0 for k in SHOCK_KINDS) >= 2
    none = compose_config(["+shock=none"])
    assert all(getattr(none.shocks, k).size == 0 for k in SHOCK_KINDS)
    for args, key in [(["+shock=no_such_shock"], "shock"), (["shocks.outages.size=2"], "shocks.outages.size"),
                      (["shocks.freight.size=nan"], "shocks.freight.size"),
                      (["shocks.demand_surge.size=1", "shocks.demand_surge.product=caviar"],
                       "shocks.demand_surge.product")]:
        r = subprocess.run([sys.executable, "-m", "dmsim", *args, f"hydra.run.dir={tmp_path / 'run'}"],
                           capture_output=True, text=True, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode != 0 and len(lines) == 1 and key in lines[0], r.stderr
        assert not (tmp_path / "run").exists()


def test_money_is_conserved_through_every_kind_of_shock():
    on = [f"shocks.{k}.{f}" for k in SHOCK_KINDS for f in ("start_month=6", "months=12")]
    sizes = ["shocks.freight.size=2", "shocks.fx.size=0.4", "shocks.import_disruption.size=0.3",
             "shocks.outages.size=0.2", "shocks.demand_surge.size=1.5"]
    ts, summary = series(["+scenario=shared_services", "seed=6", "steps=30", "imports.material_tariff=0.05",
                          *on, *sizes])
    assert summary["crisis_months"] == 12
    scale = ts["buyer_landed_cost_usd_mean"].mean() * ts["potential_units"].mean()
    assert (ts["money_residual_usd"].abs() < 1e-9 * scale * 30).all()


def test_a_distant_port_and_chronic_outages_keep_money_balanced_and_tax_every_import():
    from dmsim.market import import_landed_usd

    near = DMModel(cfg=compose_config([*SMALL, "steps=3"]))
    far = DMModel(cfg=compose_config([*SMALL, "steps=3", "region.port_distance_km=500"]))
    rate = far.cfg.imports.trunk_haul_usd_per_tonne_km
    # A finished import pays the corridor haul by weight: rate x 500 km x its tonnes, on top.
    assert np.allclose(import_landed_usd(far) - import_landed_usd(near), rate * 500 * far.weight_kg / 1000)
    assert far.material_cost_factor > near.material_cost_factor
    ts, _ = series(["+scenario=shared_services", "seed=2", "steps=24", "region.port_distance_km=500",
                    "region.power_outage_share=0.1"])
    scale = ts["potential_units"].mean() * 50
    assert (ts["money_residual_usd"].abs() < 1e-9 * scale).all()
    calm, _ = series(["+scenario=shared_services", "seed=2", "steps=1"])
    cut, _ = series(["+scenario=shared_services", "seed=2", "steps=1", "region.power_outage_share=0.1"])
    assert cut["utilisation"][0] > calm["utilisation"][0]  # same orders, fewer hours
