"""Patterns the model must reproduce (pattern-oriented modelling, issue 3)."""

import numpy as np
import pytest

from dmsim.costs import DESIGN
from dmsim.model import DMModel
from dmsim.run import run
from dmsim.state import MODE_SHARED

SEEDS = range(6)


def _share(make_config, extra):
    return np.array([run(make_config([f"seed={s}", "output.dashboard=false", *extra])).summary["dm_market_share_final"]
                     for s in SEEDS])


@pytest.mark.parametrize("key,low,high", [("imports.tariff", 0.0, 0.4), ("imports.freight", 0.068, 0.2),
                                          ("imports.inland_cost_per_100km", 0.0, 0.3)])
def test_dearer_imports_shift_share_to_dm(make_config, key, low, high):
    """Higher tariffs, sea freight (Africa 11.4% vs developed economies 6.8% of value, UNCTAD Review of
    Maritime Transport 2015) or inland transport from the port move buyers to DM (paired seeds)."""
    cheap = _share(make_config, [f"{key}={low}"])
    dear = _share(make_config, [f"{key}={high}"])
    assert (dear > cheap).sum() >= len(SEEDS) - 1
    assert (dear - cheap).mean() > 0.02


def test_log_unit_labour_cost_recovers_the_progress_ratio(make_config):
    """Regress log labour cost per unit on log cumulative output (product fixed effects)."""
    ratio = 0.8
    model = DMModel(make_config(["+scenario=shared_services", "seed=2", f"learning.progress_ratio={ratio}",
                                 "learning.spillover_design=0", "learning.spillover_coordination=0",
                                 "learning.spillover_entry=0", "services.training_labour_penalty=0", "steps=60"]))
    xs, ys, ps = [], [], []
    for _ in range(60):
        model.step()
        ws = model.ws
        n = ws.n
        _, _, unit, _ = model.price()
        q = ws.cum_units[:n]
        ok = ws.active[:n, None] & ws.makes[:n] & (q > 20 * model.cfg.learning.q0_units)
        xs.append(np.log(q[ok]))
        ys.append(np.log(unit.labour[ok]))
        ps.append(np.nonzero(ok)[1])
    x, y, p = np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)
    assert x.size > 100
    for k in np.unique(p):  # demean within product: the base labour hours differ by product
        x[p == k] -= x[p == k].mean()
        y[p == k] -= y[p == k].mean()
    slope = (x * y).sum() / (x * x).sum()
    assert 2 ** slope == pytest.approx(ratio, abs=0.02)


def _run(make_config, extra, seed):
    return run(make_config([*extra, f"seed={seed}", "+scenario=shared_services", "output.dashboard=false"]))


def test_product_variety_helps_thin_markets_while_specialists_gain_experience(make_config):
    thin = ["region.population=700000", "workshops.initial=12"]
    thick = ["region.population=3000000", "workshops.initial=20"]
    share = "dm_market_share_final"
    # Thin market: making four products gives more workshops enough orders to survive, and DM
    # sells more; with one product each, fewer survive.
    many = [_run(make_config, [*thin, "product_variety=4"], s).summary for s in range(4)]
    one = [_run(make_config, [*thin, "product_variety=1"], s).summary for s in range(4)]
    dm_many, dm_one = (np.array([r[share] for r in rs]) for rs in (many, one))
    ws_many, ws_one = (np.array([r["workshops_active_final"] for r in rs]) for rs in (many, one))
    assert (dm_many > dm_one).sum() >= 3 and dm_many.mean() > 1.3 * dm_one.mean()
    assert ws_many.mean() > 1.5 * ws_one.mean()
    # Thick market: specialists win, and each gains more experience per product (own output,
    # the learning-by-doing stock). Generalists have four lines to spread a design library over:
    # they buy shared design, specialists go without, so generalists learn from the library's
    # other clients instead (docs/ODD.md §7.1) and their hours per unit can end lower.
    spec = [_run(make_config, [*thick, "product_variety=1"], s) for s in range(2)]
    gen = [_run(make_config, [*thick, "product_variety=4"], s) for s in range(2)]
    assert np.mean([r.summary[share] for r in spec]) > np.mean([r.summary[share] for r in gen])

    def experience(r):  # mean own cumulative output per (active maker, product), units
        ws = r.model.ws
        made = ws.makes[:ws.n] & ws.active[:ws.n, None]
        return ws.cum_units[:ws.n][made].mean()

    def design_shared(r):
        ws = r.model.ws
        return (ws.mode[:ws.n, DESIGN][ws.active[:ws.n]] == MODE_SHARED).mean()

    assert min(experience(r) for r in spec) > 1.5 * max(experience(r) for r in gen)
    assert min(design_shared(r) for r in gen) > 0.8 > 0.2 > max(design_shared(r) for r in spec)


def test_lead_time_is_production_plus_the_supplier_weighted_material_wait(make_config):
    """T_DM = T_make + (1 − s_L) T_dist + s_L T_local once a local supplier is in business (analytic)."""
    df = run(make_config(["+scenario=shared_services", "seed=0", "output.dashboard=false"])).timeseries
    local = df["local_suppliers"].shift(1, fill_value=0) > 0  # buyers see last month's suppliers
    assert local.any() and (~local).any()
    np.testing.assert_allclose(df.loc[~local, "dm_lead_time_months"], 0.5 + 0.5)
    np.testing.assert_allclose(df.loc[local, "dm_lead_time_months"], 0.5 + 0.5 * 0.5 + 0.5 * 0.1)


def test_slower_material_supply_costs_dm_share(make_config):
    """A slower port distributor lengthens DM delivery and moves buyers to imports (paired seeds)."""
    fast = _share(make_config, ["suppliers.distributor_lead_time_months=0.1"])
    slow = _share(make_config, ["suppliers.distributor_lead_time_months=2.5"])
    assert (fast > slow).sum() >= len(SEEDS) - 1


def test_coordination_lowers_the_tipping_threshold(make_config):
    """Thirteen initial workshops with seeded providers, just below the uncoordinated threshold:
    coordination (pooled service purchasing, shared know-how, overflow) tips them (paired seeds).

    ``experiments/coordination_threshold`` maps the whole threshold.
    """
    def tipped(coordination):
        return np.array([run(make_config(["+scenario=shared_services", "network.type=mesh", "workshops.initial=13",
                                          f"network.coordination={coordination}", f"seed={s}",
                                          "output.dashboard=false"])).summary["tipped"] for s in SEEDS])

    alone, coordinated = tipped(0.0), tipped(1.0)
    assert coordinated.sum() >= len(SEEDS) - 1
    assert alone.sum() <= len(SEEDS) // 2
