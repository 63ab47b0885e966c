"""Learning, expectations and the periodic decisions of workshops, providers and suppliers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmsim import entry
from dmsim.config import SERVICES
from dmsim.costs import FINANCE, break_even_clients
from dmsim.sourcing import local_providers, make_or_buy, spread_awareness
from dmsim.state import (
    MODE_INTERNAL,
    PROVIDER_LOCAL,
)

if TYPE_CHECKING:
    from dmsim.market import Sales
    from dmsim.model import DMModel


def learn(model: DMModel, sales: Sales) -> None:
    """Grow cumulative output and update expected volumes and providers' expected clients."""
    cfg = model.cfg
    ws = model.ws
    n = ws.n
    ws.cum_units[:n] += sales.own_units
    ws.units[:n] = sales.units
    w = cfg.workshops.volume_smoothing
    sold_hours = sales.hours_own + sales.hours_out + sales.hours_in
    ws.expected_hours[:n] = (1 - w) * ws.expected_hours[:n] + w * sold_hours
    load = sales.hours_ordered / np.maximum(sales.hours_available, 1e-9)
    ws.utilisation[:n] = (1 - w) * ws.utilisation[:n] + w * np.minimum(load, 2.0)
    pv = model.pv
    k = pv.n
    if k:
        a = cfg.services.provider_expectation_smoothing
        pv.expected_clients[:k] = (1 - a) * pv.expected_clients[:k] + a * pv.clients[:k]
    model.unmet_units = np.maximum(
        0.0, sales.potential_units.sum(axis=1)
        - sales.units_by_group())


def decide(model: DMModel, effects: np.ndarray) -> None:
    """Run this month's decisions in a fixed order (see DMModel's schedule)."""
    cfg = model.cfg
    month = model.month
    spread_awareness(model)
    if (month + 1) % cfg.services.switch_interval_months == 0:
        make_or_buy(model, np.flatnonzero(model.ws.active[: model.ws.n]),
                    cfg.services.switch_probability, model.streams.monthly("switching", month))
        provider_entry(model)
    invest(model, effects)
    provider_exit(model)
    workshop_exit(model)
    pay_out(model)
    if (month + 1) % cfg.workshops.entry_interval_months == 0:
        entry.workshop_entry(model)
    local_supplier_entry_exit(model)
    fund_strategies(model)


def fund_strategies(model: DMModel) -> None:
    """Pay this month's cost of every chosen strategy (USD), from its payer to its payee.

    Government money draws on what is left of ``policy.budget_usd``; once it runs out a
    programme is paid pro rata and the shortfall is recorded (``strategy_unfunded_usd``).
    Workshops pay their share each (the per-month cost split evenly).
    """
    model.strategy_cost_month = dict.fromkeys(model.cfg.strategies, 0.0)
    model.strategy_unfunded_month = 0.0
    ws = model.ws
    rows = np.flatnonzero(ws.active[: ws.n])
    for name, st in model.cfg.strategies.items():
        once = st.cost_usd_once if model.month == 0 else 0.0
        monthly = st.cost_usd_per_month + st.cost_usd_per_workshop_month * rows.size
        amount = once + (monthly if model.month < st.months else 0.0)
        if amount <= 0:
            continue
        led = model.ledger
        if st.payer == "workshops":
            if rows.size == 0:
                continue
            paid = led.pay("ws", st.payee, np.full(rows.size, amount / rows.size), payer_rows=rows)
        elif st.payer == "donor":
            paid = led.pay("donor", st.payee, amount)
        else:
            left = max(0.0, model.cfg.policy.budget_usd - model.public_spend_usd)
            paid = led.pay("government", st.payee, min(amount, left))
            model.public_spend_usd += paid
            model.public_spend_month += paid
            model.strategy_unfunded_month += amount - paid
        model.strategy_cost_month[name] = paid


def invest(model: DMModel, effects: np.ndarray) -> None:
    """Busy, financed workshops add capacity: part cash, part loan at their cost of capital.

    The loan rate falls from the informal to the formal rate with the finance service's
    effect.
    """
    cfg = model.cfg
    wc = cfg.workshops
    ws = model.ws
    n = ws.n
    capex = wc.capex_usd_per_hour_capacity * wc.invest_capacity_step * ws.capacity_hours[:n]
    down = (1 - wc.loan_share) * capex
    monthly = wc.fixed_cost_usd_per_month + model.internal_cost_usd.sum()
    room = ws.capacity_hours[:n] * (1 + wc.invest_capacity_step) <= wc.max_capacity_hours_per_month
    go = (ws.active[:n] & room & (ws.utilisation[:n] >= wc.invest_utilisation)
          & (ws.cash_usd[:n] >= down + 2 * monthly))
    rows = np.flatnonzero(go)
    if rows.size == 0:
        return
    fin = cfg.finance
    rate = fin.informal_rate_per_year - effects[rows, FINANCE] * (fin.informal_rate_per_year - fin.formal_rate_per_year)
    loan = capex[rows] - down[rows]
    model.ledger.pay("ws", "foreign", down[rows], payer_rows=rows)
    model.ledger.pay("lenders", "foreign", loan.sum())
    r = rate / 12
    term = wc.loan_term_months
    annuity = np.where(r > 0, loan * r / (1 - (1 + r) ** -term), loan / term)
    ws.debt_usd[rows] += loan
    ws.debt_payment_usd[rows] += annuity
    ws.loan_rate[rows] = rate
    ws.capacity_hours[rows] *= 1 + wc.invest_capacity_step
    ws.utilisation[rows] /= 1 + wc.invest_capacity_step
    model.investments += rows.size


def pay_out(model: DMModel) -> None:
    """Owners draw cash beyond a buffer of ``payout_cash_months`` of fixed and service costs."""
    wc = model.cfg.workshops
    ws = model.ws
    n = ws.n
    monthly = (wc.fixed_cost_usd_per_month + wc.setup_usd_per_month_per_product * ws.makes[:n].sum(axis=1)
               + model.internal_cost_usd.sum() * model.client_size() + ws.debt_payment_usd[:n])
    excess = np.where(ws.active[:n], np.maximum(0.0, ws.cash_usd[:n] - wc.payout_cash_months * monthly), 0.0)
    if excess.any():
        model.ledger.pay("ws", "owners", excess, payer_rows=np.arange(n))


def _close(model: DMModel, table: str, rows: np.ndarray) -> None:
    """Settle the cash of closing agents with owners (surplus) or lenders (shortfall)."""
    cash = getattr(model, table).cash_usd[rows]
    led = model.ledger
    led.pay(table, "owners", np.maximum(cash, 0.0), payer_rows=rows)
    led.pay("lenders", table, np.maximum(-cash, 0.0), payee_rows=rows)
    for row in rows:
        model.agents_by_row[table].pop(int(row)).exit()


def workshop_exit(model: DMModel) -> None:
    """Workshops exit after sustained negative cash or sustained losses."""
    wc = model.cfg.workshops
    ws = model.ws
    n = ws.n
    active = ws.active[:n]
    ws.neg_cash_months[:n] = np.where(active & (ws.cash_usd[:n] < 0), ws.neg_cash_months[:n] + 1, 0)
    ws.loss_months[:n] = np.where(active & (ws.profit_usd[:n] < 0), ws.loss_months[:n] + 1, 0)
    leave = active & ((ws.neg_cash_months[:n] >= wc.exit_negative_cash_months)
                      | (ws.loss_months[:n] >= wc.exit_loss_months))
    rows = np.flatnonzero(leave)
    if rows.size == 0:
        return
    _close(model, "ws", rows)
    ws.debt_usd[rows] = 0.0  # written off by lenders
    ws.debt_payment_usd[rows] = 0.0
    ws.provider[rows] = -1
    model.exits += rows.size
    model.exits_since_build += rows.size
    if model.pv.n:
        model.pv.clients[: model.pv.n] = model.count_clients()


def provider_exit(model: DMModel) -> None:
    """Local providers whose cash falls below the exit line close; clients go in-house."""
    pv = model.pv
    n = pv.n
    if n == 0:
        return
    line = model.cfg.services.provider_exit_cash_usd
    rows = np.flatnonzero(pv.active[:n] & (pv.kind[:n] == PROVIDER_LOCAL) & (pv.cash_usd[:n] < line))
    if rows.size == 0:
        return
    _close(model, "pv", rows)
    ws = model.ws
    orphan = np.isin(ws.provider[: ws.n], rows)
    ws.mode[: ws.n][orphan] = MODE_INTERNAL
    ws.provider[: ws.n][orphan] = -1
    pv.clients[:n] = model.count_clients()
    model.provider_exits += rows.size


def provider_entry(model: DMModel) -> None:
    """Spontaneous entry of local providers.

    A provider may enter a service market where the workshops it could expect to win would
    carry it past break-even by a hurdle margin.
    """
    sc = model.cfg.services
    rng = model.streams.monthly("providers", model.month)
    draws = rng.random(len(SERVICES))
    n_ws = int(model.ws.active[: model.ws.n].sum())
    for s in range(len(SERVICES)):
        if local_providers(model, s).size >= sc.max_local_providers:
            continue
        n_star = break_even_clients(model.provider_fixed_usd[s], model.provider_marginal_usd[s],
                                    model.internal_cost_usd[s], sc.provider_margin)
        expected = sc.provider_initial_expected_share * n_ws
        if expected >= sc.provider_entry_hurdle * n_star and draws[s] < sc.provider_entry_probability:
            model.add_provider(s, PROVIDER_LOCAL)
            model.provider_entries += 1


def local_supplier_entry_exit(model: DMModel) -> None:
    """Local material supply.

    A local supplier enters once workshops' material demand is large enough, and closes when
    its cash runs out.
    """
    s = model.cfg.suppliers
    row = model.local_supplier_row()
    spend = float(model.material_spend.sum())
    if row is None:
        threshold = s.local_entry_material_usd_per_month
        if (threshold > 0 and spend >= threshold) or (threshold == 0 and spend > 0):
            model.add_local_supplier()
    elif model.sp.cash_usd[row] < 0:
        _close(model, "sp", np.array([row]))
