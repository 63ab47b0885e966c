"""Prices, capacity, service trade-offs, entry and the tipping rule, each against a property a
modeller relies on: direction of effect, a hand-computed case, or a bound."""

import numpy as np
import pandas as pd
import pytest

from dmsim.costs import MARKETING, adjust_markups, internal_effect, prices, reach_km
from dmsim.decisions import viable_clients
from dmsim.entry import entry_know_how
from dmsim.metrics import TIP_SERVICES, TIP_WINDOW, tipping
from dmsim.model import DMModel
from dmsim.run import run
from dmsim.state import MODE_NONE

QUIET = ["output.dashboard=false"]


def test_markups_rise_when_buyers_are_turned_away_and_fall_to_variable_cost_when_idle(make_config):
    model = DMModel(make_config(["workshops.initial=3", *QUIET]))
    wc = model.cfg.workshops
    model.refresh_index()
    _, _, unit, _ = model.price()
    available = np.full(3, 400.0)
    adjust_markups(model, unit, np.array([800.0, 400.0 * wc.target_utilisation, 0.0]), available)
    mu = model.ws.markup[:3, 0]
    a = wc.price_adjustment_per_month
    assert mu[0] == pytest.approx(wc.markup + a * 1.0)  # load 2: the signal is capped at 1
    assert mu[1] == pytest.approx(wc.markup)  # on target: unchanged
    assert mu[2] == pytest.approx(wc.markup - a * wc.target_utilisation)
    for _ in range(80):  # idle for long: below full cost, down to variable cost, never below
        adjust_markups(model, unit, np.zeros(3), available)
    price = prices(model, unit)[:3]
    variable = (unit.material + unit.labour)[:3]
    makes = model.ws.makes[:3]
    assert np.allclose(price[makes], variable[makes] * (1 + wc.min_markup))
    assert (model.ws.markup[:3][makes] < 0).all()  # below full cost


def test_capacity_grows_in_steps_up_to_the_cap(make_config):
    """Busy workshops in a large market expand 480 → 720 → 960 hours and stop there (no cap bug)."""
    r = run(make_config(["region.population=3000000", "workshops.initial=10", "seed=0",
                         "workshops.entry_prospects_per_million_per_month=0", *QUIET]))
    ws = r.model.ws
    cap = ws.capacity_hours[: ws.n]
    wc = r.model.cfg.workshops
    step = wc.invest_capacity_step * wc.capacity_hours_per_month
    assert np.allclose((cap - wc.capacity_hours_per_month) % step, 0.0)
    assert cap.max() == pytest.approx(wc.max_capacity_hours_per_month)
    assert (cap <= wc.max_capacity_hours_per_month).all()


def test_in_house_service_effect_grows_with_size_to_a_specialists(make_config):
    model = DMModel(make_config(QUIET))
    e = internal_effect(model, np.array([240.0, 480.0, 960.0, 5000.0]))
    assert e[1] == pytest.approx(model.cfg.services.internal_effect)
    assert np.all(np.diff(e) >= 0) and e[0] < e[1] < e[2] and e[-1] == 1.0


def test_marketing_sets_how_far_buyers_find_a_workshop(make_config):
    model = DMModel(make_config(QUIET))
    r = reach_km(model, np.array([0.0, 0.5, 1.0]))
    assert r == pytest.approx([15.0, 37.5, 60.0])


def test_informal_workshops_sell_near_home_and_not_to_institutions(make_config):
    """Without marketing, buyers beyond the word-of-mouth reach do not order; without
    certification, institutions do not buy products that require it."""
    cfg = make_config(["workshops.initial=30", "seed=3", "steps=1", *QUIET])
    model = DMModel(cfg)
    informal = np.arange(15)
    model.ws.mode[informal, :] = MODE_NONE
    model.refresh_index()
    effects, _, unit, price = model.price()
    assert (effects[informal] == 0).all()
    sales = model.clear_market(price, unit, effects)
    bg = model.bg
    far = np.hypot(bg.x_km[sales.pair_group] - model.ws.x_km[sales.pair_ws],
                   bg.y_km[sales.pair_group] - model.ws.y_km[sales.pair_ws]) > cfg.services.marketing_reach_none_km
    mine = np.isin(sales.pair_ws, informal)
    assert sales.pair_units[mine & far].sum() == 0.0
    assert sales.pair_units[~mine & far].sum() > 0.0
    inst = bg.segment[sales.pair_group] == 1
    cert_product = model.requires_cert[sales.pair_product]
    assert sales.pair_units[mine & inst & cert_product].sum() == 0.0
    assert sales.pair_units[~mine & inst & cert_product].sum() > 0.0
    assert effects[15:, MARKETING].min() > 0


def test_viable_clients_by_hand():
    """F = 1000, m = 0, no margin: fee(n) = 1000 / n. Four workshops would pay up to 300 a
    month, one up to 100: at n = 4 the fee is 250 and four switch, so with share 1 and no
    hurdle a provider plans on 4 clients; with hurdle 1.5 it needs 1.5 n clients at fee(n),
    which no n gives (n ≤ 2.67 means a fee ≥ 375 that nobody pays)."""
    thr, size = np.array([300.0, 300, 300, 300, 100]), np.ones(5)
    assert viable_clients(1000.0, 0.0, 0.0, thr, size, 1.0, 1.0) == pytest.approx(4.0)
    assert viable_clients(1000.0, 0.0, 0.0, thr, size, 1.0, 1.5) == 0.0
    assert viable_clients(1000.0, 0.0, 0.0, thr, size, 0.5, 1.0) == 0.0  # half of 4 cannot carry n ≥ 3.3


def test_entrants_start_with_a_share_of_local_know_how(make_config):
    """A newcomer's learning stock is ``spillover_entry`` × the mean of the active makers of each
    product it makes (hired staff, open designs), not zero."""
    model = DMModel(make_config(["seed=0", "region.population=3000000", *QUIET]))
    kappa = model.cfg.learning.spillover_entry
    for _ in range(60):
        model.step()
        ws = model.ws
        new = np.flatnonzero(ws.entry_month[: ws.n] == model.month - 1)
        new = new[new >= model.cfg.workshops.initial]
        if new.size:
            break
    assert new.size, "no entry in 60 months"
    old = ws.active[: ws.n] & (ws.entry_month[: ws.n] < model.month - 1)
    makers = old[:, None] & ws.makes[: ws.n]
    mean = (ws.cum_units[: ws.n] * makers).sum(axis=0) / makers.sum(axis=0)
    expected = np.where(ws.makes[new], kappa * mean[None, :], 0.0)
    np.testing.assert_allclose(ws.cum_units[new], expected, rtol=1e-9)
    assert (ws.cum_units[new][ws.makes[new]] > 0).all()
    assert entry_know_how(model).shape == (model.n_products,)


def _frame(paying):
    return pd.DataFrame({"month": np.arange(len(paying)), "services_with_paying_provider": paying})


def test_tipping_is_read_off_the_trajectory_never_the_start():
    n = 60
    # Providers paying their way from month 0 on: high only once a full window has passed.
    tipped, month = tipping(_frame(np.full(n, TIP_SERVICES)))
    assert tipped and month == TIP_WINDOW - 1
    # Never enough paying providers: not tipped.
    assert tipping(_frame(np.full(n, TIP_SERVICES - 1))) == (False, None)
    # Paying from month 20, with one bad month at 40: tipped, counted from the last recovery.
    paying = np.r_[np.zeros(20), np.full(n - 20, TIP_SERVICES)]
    paying[40] = 0
    assert tipping(_frame(paying)) == (True, 41 + TIP_WINDOW - 1)
    # A run that ends before its window is full has not tipped.
    assert tipping(_frame(np.full(TIP_WINDOW - 1, TIP_SERVICES))) == (False, None)
