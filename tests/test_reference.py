"""The vectorised step against the per-agent reference implementation (dmsim/reference.py).

Both models are built from the same config and seed; decisions, learning and metrics are
shared code, so any difference comes from phases 1-4 (pricing, market, accounting). Small
regions keep the per-agent reference fast.
"""

import numpy as np
import pandas as pd
import pytest

from dmsim import accounting, costs, market
from dmsim.model import DMModel
from dmsim.reference import ReferenceModel

SMALL = ["region.buyer_groups=150", "region.institutions=8", "steps=24"]
NO_EXITS = ["workshops.exit_negative_cash_months=1000", "workshops.exit_loss_months=1000"]
MESH = ["network.type=mesh", "network.coordination=0.7"]
SUBSIDY = ["policy.budget_usd=20000", "policy.provider_subsidy_share=0.5", "policy.provider_subsidy_months=12"]
CROWDED = ["workshops.initial=8", "region.population=4000000"]  # orders exceed capacity from month 3

CASES = {
    "baseline": ["workshops.initial=20"],
    "shared_services": ["+scenario=shared_services", "workshops.initial=20"],
    "subsidy": ["+scenario=shared_services", "workshops.initial=20", *SUBSIDY],
    "variety_1": ["workshops.initial=20", "product_variety=1"],
    "variety_4": ["workshops.initial=20", "product_variety=4"],
    # Overloaded workshops in one coordinated network: overflow subcontracting, pooled
    # procurement, coordination spillovers; with and without exits.
    "mesh": ["workshops.initial=12", *MESH, *NO_EXITS],
    "mesh_with_exits": ["workshops.initial=20", *MESH],
    # Shared services in a network: logistics pooling beside network pooling, design and
    # coordination spillovers.
    "mesh_shared": ["+scenario=shared_services", "workshops.initial=20", *MESH],
    # A dear logistics provider: clients and non-clients share a network until it closes.
    "mesh_mixed_logistics": ["+scenario=shared_services", "workshops.initial=20", *MESH, *NO_EXITS,
                             "services.logistics.provider_fixed_cost_usd_per_month=9000"],
    # Global providers (fit < 1) and services not sourced at all (effect 0).
    "global_and_none": ["workshops.initial=20",
                        "services.certification.global_provider=true", "services.certification.initial_mode=global",
                        "services.marketing.global_provider=true", "services.marketing.initial_mode=global",
                        "services.design.initial_mode=none", "services.training.initial_mode=none"],
    # Few workshops for many buyers: rationed buyers choose again among the workshops with
    # hours left (round 2), and some are turned away twice.
    "rationed": CROWDED,
    # The same in a coordinated network: overflow to peers first, then round 2 in the room
    # left after the peers' hours.
    "rationed_mesh": [*CROWDED, *MESH],
    # No marketing: workshops reach only buyers within marketing_reach_none_km.
    "short_reach": ["workshops.initial=20", "services.marketing.initial_mode=none"],
    # Institutions value local DM goods and weigh emissions: procurement preferences non-zero.
    "responsible_procurement": ["+scenario=responsible_procurement", "workshops.initial=20"],
}
TABLES = ("ws", "pv", "sp", "bg")


def _run_both(make_config, overrides):
    cfg = make_config([*SMALL, *overrides])
    vec, ref = DMModel(cfg), ReferenceModel(cfg)
    vec.run()
    ref.run()
    return vec, ref


def _assert_same_results(vec, ref):
    fv, fr = vec.metrics.frame(), ref.metrics.frame()
    # Rounding noise in the money residual is absolute (sums of millions of USD), not relative.
    scale = max(1.0, float(fv["dm_revenue_usd"].abs().max()))
    assert fv["money_residual_usd"].abs().max() < 1e-9 * scale
    assert fr["money_residual_usd"].abs().max() < 1e-9 * scale
    pd.testing.assert_frame_equal(fv.drop(columns="money_residual_usd"), fr.drop(columns="money_residual_usd"),
                                  check_exact=False, rtol=1e-9, atol=1e-9)
    for t in TABLES:
        a, b = getattr(vec, t), getattr(ref, t)
        assert a.n == b.n, t
        np.testing.assert_allclose(b.cash_usd[: b.n], a.cash_usd[: a.n], rtol=1e-9, atol=1e-6, err_msg=t)
    for k, v in vec.ledger.external.items():
        assert ref.ledger.external[k] == pytest.approx(v, rel=1e-9, abs=1e-6), k


def _cases():
    params = [pytest.param(o, id=name) for name, o in CASES.items()]
    return params


@pytest.mark.parametrize("overrides", _cases())
def test_reference_and_vectorised_agree(make_config, overrides):
    vec, ref = _run_both(make_config, overrides)
    _assert_same_results(vec, ref)


# --------------------------------------------------------------------------- phase by phase
class _Capture:
    """Mixin recording each month's phase outputs (before decisions change the state)."""

    def price(self):
        self.rec = {"active": self.ws.active[: self.ws.n].copy()}
        out = super().price()
        self.rec["price"] = tuple(x.copy() if isinstance(x, np.ndarray) else x for x in out)
        return out

    def clear_market(self, price, unit, effects):
        sales = super().clear_market(price, unit, effects)
        self.rec["sales"] = sales
        self.rec["inclusive_value"] = self.inclusive_value.copy()
        # Which branches the month exercised: second-round orders (hours ordered beyond the
        # first round's), and index slots of active workshops beyond their marketing reach.
        self.rec["round2_hours"] = float(sales.hours_ordered.sum() - (sales.ordered_units * unit.hours).sum())
        reach = costs.reach_km(self, effects[:, costs.MARKETING])
        active = self.ws.active[: self.ws.n]
        beyond = 0
        for rows, dist in zip(self.index.rows, self.index.dist_km, strict=True):
            held = rows >= 0
            beyond += int((held & active[np.maximum(rows, 0)] & (dist > reach[np.maximum(rows, 0)])).sum())
        self.rec["beyond_reach"] = beyond
        return sales

    def settle(self, sales, unit, overhead_ws):
        super().settle(sales, unit, overhead_ws)
        self.rec["books"] = self.books
        self.rec["flows"] = dict(self.ledger.flows)
        self.rec["cash"] = {t: getattr(self, t).cash_usd[: getattr(self, t).n].copy() for t in TABLES}
        pv = self.pv
        open_ = pv.active[: pv.n]  # a closed provider's fee is stale in the vectorised table
        self.rec["providers"] = {name: getattr(pv, name)[: pv.n][open_].copy()
                                 for name in ("fee_usd", "clients", "revenue_usd", "cost_usd")}


class _VecCapture(_Capture, DMModel):
    pass


class _RefCapture(_Capture, ReferenceModel):
    pass


def _close(a, b, what):
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, err_msg=what)


def _links(sales, shape):
    """Units bought on every (group, workshop, product) link, dense (G, W, P)."""
    dense = np.zeros(shape)
    np.add.at(dense, (sales.pair_group, sales.pair_ws, sales.pair_product), sales.pair_units)
    return dense


def _by_group(sales, per_unit, groups):
    return np.bincount(sales.pair_group, weights=sales.pair_units * per_unit, minlength=groups)


LOCKSTEP = ("shared_services", "mesh", "mesh_mixed_logistics", "rationed_mesh", "short_reach",
            "responsible_procurement")


@pytest.mark.parametrize("case", LOCKSTEP)
def test_phase_outputs_agree_month_by_month(make_config, case):
    """Every phase's output, month by month: a failure names the month and the quantity."""
    cfg = make_config([*SMALL, *CASES[case]])
    vec, ref = _VecCapture(cfg), _RefCapture(cfg)
    subcontracted = round2_hours = preference = 0.0
    beyond_reach = 0
    for month in range(cfg.steps):
        vec.step()
        ref.step()
        a, b = vec.rec, ref.rec
        act = a["active"]
        assert (act == b["active"]).all(), month
        (ea, oa, ua, pa), (eb, ob, ub, pb) = a["price"], b["price"]
        # Exited workshops have no agent in the reference: compare the active rows.
        for name in ("effects", "overhead_ws", "price"):
            x, y = {"effects": (ea, eb), "overhead_ws": (oa, ob), "price": (pa, pb)}[name]
            _close(x[act], y[act], f"month {month}: {name}")
        for name in ("material", "labour", "setup", "overhead", "hours", "material_index", "overhead_usd",
                     "fixed_usd"):
            _close(getattr(ua, name)[act], getattr(ub, name)[act], f"month {month}: unit.{name}")
        sa, sb = a["sales"], b["sales"]
        for name in ("units", "own_units", "hours_ordered", "hours_available", "hours_own", "hours_out", "hours_in",
                     "import_units", "import_landed_usd", "import_emissions_kg", "potential_units", "surplus_usd",
                     "ordered_units", "preference_usd"):
            _close(getattr(sa, name), getattr(sb, name), f"month {month}: sales.{name}")
        g = vec.bg.n
        shape = (g, vec.ws.n, vec.n_products)
        _close(_links(sa, shape), _links(sb, shape), f"month {month}: units per link")
        _close(_by_group(sa, sa.pair_delivery_usd, g), _by_group(sb, sb.pair_delivery_usd, g),
               f"month {month}: pair_delivery_usd")
        if sa.pair_emissions_kg is not None:  # per link only where emissions enter utility
            _close(_by_group(sa, sa.pair_emissions_kg, g), _by_group(sb, sb.pair_emissions_kg, g),
                   f"month {month}: pair_emissions_kg")
        _close(np.array([sa.dm_emissions()]), np.array([sb.dm_emissions()]), f"month {month}: DM emissions")
        _close(a["inclusive_value"], b["inclusive_value"], f"month {month}: inclusive value")
        for name, value in vars(a["books"]).items():
            assert getattr(b["books"], name) == pytest.approx(value, rel=1e-9, abs=1e-6), (month, name)
        flows = set(a["flows"]) | set(b["flows"])
        for key in flows:
            assert b["flows"].get(key, 0.0) == pytest.approx(a["flows"].get(key, 0.0), rel=1e-9, abs=1e-6), (month, key)
        for t in TABLES:
            _close(a["cash"][t], b["cash"][t], f"month {month}: cash of {t}")
        for name, value in a["providers"].items():
            _close(value, b["providers"][name], f"month {month}: pv.{name}")
        subcontracted += float(sa.hours_out.sum())
        round2_hours += b["round2_hours"]
        beyond_reach += b["beyond_reach"]
        preference += float(np.abs(sb.preference_usd).sum())
    if cfg.network.coordination > 0:
        assert subcontracted > 0, "the networked case should exercise overflow subcontracting"
    if case.startswith("rationed"):
        assert round2_hours > 0, "the crowded case should exercise the second round"
    if case == "short_reach":
        assert beyond_reach > 0, "some workshops should be out of reach of buyers that list them"
    if case == "responsible_procurement":
        assert preference > 0, "institutions' procurement preferences should be valued"


def test_reference_uses_none_of_the_vectorised_hot_path(make_config, monkeypatch):
    """The oracle is independent: it runs with the vectorised phase functions disabled.

    (``market.buyer_terms`` stays: the reference hands it to entrants as setup data.)
    """
    def banned(*args, **kwargs):
        raise AssertionError("the reference called a vectorised hot-path function")

    for mod, names in ((costs, ("provider_fees", "service_effects", "service_overhead", "material_price_index",
                                "learning_factor", "unit_costs", "prices", "reach_km")),
                       (market, ("nested_logit", "clear", "_rechoose", "workshop_terms", "workshop_utility")),
                       (accounting, ("settle", "_settle_providers", "_provider_subsidies"))):
        for name in names:
            monkeypatch.setattr(mod, name, banned)
    model = ReferenceModel(make_config([*SMALL, "+scenario=shared_services", "workshops.initial=12", *MESH,
                                        *SUBSIDY, "steps=4"]))
    for _ in range(4):
        model.step()
    assert np.isfinite(model.metrics.frame()["dm_units"]).all()


# ------------------------------------------------------------------- minimal reproductions
def test_exited_workshop_spend_does_not_move_peers_material_price(make_config):
    model = DMModel(make_config([*SMALL, "workshops.initial=12", *MESH]))
    model.step()  # month 0: everyone buys material
    model.agents_by_row["ws"].pop(0).exit()  # workshop 0 closes; its spend last month stays on record
    before = costs.material_price_index(model)[1:]
    model.material_spend[0] = 0.0  # the closed workshop's record alone changes
    after = costs.material_price_index(model)[1:]
    np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("kind", ["hub_spoke", "platform"])
def test_network_types_match_the_reference(make_config, kind):
    vec, ref = _run_both(make_config, ["+scenario=shared_services", "workshops.initial=20",
                                       f"network.type={kind}", "network.coordination=0.6"])
    _assert_same_results(vec, ref)
