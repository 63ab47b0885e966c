"""Consumer surplus on what buyers actually got: a two-buyer, one-workshop market by hand,
re-choice of rationed buyers, procurement preferences reported apart, and the benefit-cost
decomposition against the centralised twin."""

import math

import numpy as np
import pytest

from dmsim.model import DMModel
from dmsim.run import run

ONE_PRODUCT = ["~products.assistive_devices", "~products.medical_consumables", "~products.spare_parts",
               "region.institutions=0", "region.size_km=20", "services.internal_effect=1", "product_variety=1",
               "output.dashboard=false"]


def _month(make_config, extra, demand, setup=None):
    """Price and clear one month of a tiny market; returns the model, prices, unit costs and sales."""
    model = DMModel(make_config([*ONE_PRODUCT, *extra]))
    model.bg.potential_units[: model.bg.n] = demand
    if setup:
        setup(model)
    model.refresh_index()
    effects, _, unit, price = model.price()
    return model, price, unit, model.clear_market(price, unit, effects)


def test_two_buyers_one_workshop_rationed_by_hand(make_config):
    """One workshop (every service in-house at full effect), two household groups of 200,000
    potential units of farm tools a month each: orders exceed its hours, so buyers are turned away;
    with no other workshop they buy the import or nothing."""
    d = 200_000.0
    model, price, unit, sales = _month(make_config, ["region.buyer_groups=2", "workshops.initial=1"], d)
    # Inputs read off the model: the workshop's price and hours per unit, and the geography.
    p, h = float(price[0, 0]), float(unit.hours[0, 0])
    ws, bg = model.ws, model.bg
    dist = [math.hypot(bg.x_km[g] - ws.x_km[0], bg.y_km[g] - ws.y_km[0]) for g in range(2)]
    # By hand (docs/ODD.md §7.5-7.6), default parameters: factory price 12, valuation 24.
    alpha = 2.3 / 12  # household sensitivity / factory price, utility per USD
    k = -0.1 * (0.5 + 0.5) + 1.5 * (0.8 + 0.15 - 1.0)  # lead time 1 month; certified quality 0.95
    surplus, imports, units = [], [], []
    u_dm = [alpha * (24 - p - 12 * 0.12 / 100 * (1 - 0.4) * dist[g]) + k for g in range(2)]
    u_imp = [alpha * (24 - 12 * 1.214 * 1.25 * (1 + 0.08 * bg.port_km[g] / 100)) - 0.1 * 3 for g in range(2)]
    denom = [math.exp(u_dm[g]) + math.exp(u_imp[g]) + 1 for g in range(2)]  # one option: IV = U
    orders = [d * math.exp(u_dm[g]) / denom[g] for g in range(2)]
    fill = min(1.0, 480 / (h * sum(orders)))  # all hours available: maintenance at full effect
    assert fill < 0.8  # buyers are turned away
    for g in range(2):
        rationed = orders[g] * (1 - fill)
        p_imp_last = math.exp(u_imp[g]) / (math.exp(u_imp[g]) + 1)  # turned away: import or nothing
        units.append(orders[g] * fill)
        imports.append(d * math.exp(u_imp[g]) / denom[g] + rationed * p_imp_last)
        cs = (d - rationed) * math.log(denom[g]) + rationed * math.log(math.exp(u_imp[g]) + 1)
        surplus.append(cs / alpha)
    assert sales.units_by_group() == pytest.approx(units, rel=1e-9)
    assert sales.import_units[:, 0] == pytest.approx(imports, rel=1e-9)
    assert sales.surplus_usd[:, 0] == pytest.approx(surplus, rel=1e-9)
    assert sales.ordered_units.sum() == pytest.approx(sum(orders), rel=1e-9)
    # Counting the rationed as if served (the old, unrationed figure) overstates surplus.
    unrationed = sum(d * math.log(denom[g]) / alpha for g in range(2))
    assert sales.surplus_usd.sum() < unrationed


def test_turned_away_buyers_choose_again_among_workshops_with_room(make_config):
    """A full workshop's turned-away buyers reach one with room; every potential unit is
    accounted for (DM, import or nothing) and the second workshop sells more than it was asked for
    in the first round."""
    def two_shops(model):
        ws = model.ws
        ws.makes[: ws.n] = True
        ws.capacity_hours[1] = 960.0  # room to spare
        ws.markup[1] = 0.6  # dearer: few first choices

    model, price, unit, sales = _month(make_config, ["region.buyer_groups=40", "workshops.initial=2"], 3000.0,
                                       two_shops)
    assert sales.hours_ordered[0] > sales.hours_available[0]  # the first is full
    assert sales.units[1, 0] > sales.ordered_units[1, 0]  # the second took re-choosers
    assert sales.units[1, 0] * unit.hours[1, 0] <= sales.hours_available[1] + 1e-9
    bought = sales.units_by_group() + sales.import_units[:, 0]
    assert np.all(bought <= model.bg.potential_units[: model.bg.n, 0] + 1e-9)
    assert sales.units.sum() <= sales.ordered_units.sum() + 1e-9  # fill rate in [0, 1]


def test_procurement_preference_is_reported_apart_from_surplus(make_config):
    """Institutions' local preference steers their choice; its value is not consumer surplus."""
    common = ["seed=1", "steps=12", "output.dashboard=false"]
    pref = run(make_config([*common, "market.local_preference_institution=0.6"])).summary
    plain = run(make_config(common)).summary
    assert plain["procurement_preference_usd_total"] == 0.0
    assert pref["procurement_preference_usd_total"] > 0.0


def test_benefit_is_surplus_plus_net_local_incomes_plus_tariffs(make_config):
    cfg = make_config(["+scenario=big_push", "seed=2", "steps=36", "output.counterfactual=true",
                       "output.dashboard=false"])
    s = run(cfg).summary
    twin = run(make_config(["+scenario=centralised", "seed=2", "steps=36", "output.dashboard=false"])).summary

    def d(key):
        return s[key] - twin[key]

    net_local = d("local_factor_income_usd_total") - d("labour_shadow_cost_usd_total")
    assert s["local_net_value_vs_centralised_usd"] == pytest.approx(net_local)
    assert s["benefit_vs_centralised_usd"] == pytest.approx(
        d("consumer_surplus_usd_total") + net_local + d("tariff_revenue_usd_total"))
    assert d("tariff_revenue_usd_total") < 0  # DM replaces imports that paid duty
    # Factor incomes are local value added less rent, power, transport and trade (bought at cost).
    ts = run(make_config(["+scenario=big_push", "seed=2", "steps=36", "output.dashboard=false"])).timeseries
    assert 0 < s["local_factor_income_usd_total"] < s["local_value_added_usd_total"]
    assert (ts["local_factor_income_usd"] <= ts["local_value_added_usd"]).all()
    assert s["public_cost_vs_centralised_usd"] == pytest.approx(s["public_spend_usd_total"])
    assert s["public_spend_usd_total"] > 0
    assert s["benefit_cost_ratio"] == pytest.approx(s["benefit_vs_centralised_usd"] / s["public_spend_usd_total"])
    # Shadow wages: valuing production labour at its full wage removes the labour rent.
    full = run(make_config(["+scenario=big_push", "seed=2", "steps=36", "output.counterfactual=true",
                            "output.dashboard=false", "labour.shadow_wage_factor=1"])).summary
    assert full["benefit_vs_centralised_usd"] < s["benefit_vs_centralised_usd"]
