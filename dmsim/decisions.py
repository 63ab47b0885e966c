"""Learning, expectations and the periodic decisions of workshops, providers and suppliers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmsim import entry
from dmsim.config import SERVICES
from dmsim.costs import (
    CERT,
    FINANCE,
    adjust_markups,
    annuity,
    client_size,
    equipment_wear_usd,
    loan_rate,
)
from dmsim.sourcing import (
    current_values,
    global_providers,
    local_providers,
    make_or_buy,
    position,
    spread_awareness,
)
from dmsim.state import MODE_INTERNAL, PROVIDER_GLOBAL, PROVIDER_LOCAL
from dmsim.valuation import Position, capacity_value, institution_ratio, service_values

if TYPE_CHECKING:
    from dmsim.costs import UnitCosts
    from dmsim.market import Sales
    from dmsim.model import DMModel


def learn(model: DMModel, sales: Sales, unit: UnitCosts) -> None:
    """Grow cumulative output; update expected volumes, markups and providers' expected clients."""
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
    adjust_markups(model, unit, sales.hours_ordered, sales.hours_available)
    pv = model.pv
    k = pv.n
    if k:
        a = cfg.services.provider_expectation_smoothing
        pv.expected_clients[:k] = (1 - a) * pv.expected_clients[:k] + a * pv.clients[:k]
    model.unmet_units = np.maximum(
        0.0, sales.potential_units.sum(axis=1)
        - sales.units_by_group())


def decide(model: DMModel, effects: np.ndarray, sales: Sales, unit: UnitCosts) -> None:
    """Run this month's decisions in a fixed order (see DMModel's schedule)."""
    cfg = model.cfg
    month = model.month
    spread_awareness(model)
    ws = model.ws
    rows = np.flatnonzero(ws.active[: ws.n])
    if (month + 1) % cfg.services.switch_interval_months == 0 and rows.size:
        pos = position(model, sales, unit, effects, rows)
        certified = effects[rows, CERT] >= cfg.services.certification_threshold
        model.institution_ratio = institution_ratio(model, pos.units, pos.units_institution, certified)
        # A provider opens at a review, so the workshops it tells can sign at once: opening
        # between reviews would leave it three months of pricing on clients who cannot come yet.
        provider_entry(model, pos, rows)
        make_or_buy(model, rows, cfg.services.switch_probability, model.streams.monthly("switching", month),
                    pos, model.institution_ratio)
    invest(model, effects, sales, unit)
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


def invest(model: DMModel, effects: np.ndarray, sales: Sales, unit: UnitCosts) -> None:
    """Busy workshops add capacity when it pays and they can finance it.

    A step adds ``invest_capacity_step`` × the standard capacity (hours), up to
    ``max_capacity_hours_per_month``. It is taken by workshops whose smoothed load is at least
    ``invest_utilisation`` when the extra contribution beats its cost. The new hours (at the
    target utilisation) first make the orders now turned away, at today's price; the rest are
    sold by cutting the price as far as the workshop's buyers need (orders ∝ exp(−α Δp / ρ);
    ``valuation.capacity_value``). The cost is the interest on the step's loan, its wear and the
    service needs of a bigger workshop. The workshop's rate then applies to all its debt,
    weighted by principal. It pays part in cash (it must keep two months of fixed and
    service costs) and borrows the rest at a rate that falls from the informal to the formal
    rate with the finance service's effect; the equipment is bought abroad.
    """
    cfg = model.cfg
    wc = cfg.workshops
    ws = model.ws
    n = sales.units.shape[0]  # workshops at market time (entrants came after)
    step = wc.invest_capacity_step * wc.capacity_hours_per_month
    cap = ws.capacity_hours[:n]
    candidates = np.flatnonzero(ws.active[:n] & (cap + step <= wc.max_capacity_hours_per_month + 1e-9)
                                & (ws.utilisation[:n] >= wc.invest_utilisation))
    if candidates.size == 0:
        return
    r = candidates
    rate = loan_rate(model, effects[r, FINANCE])
    capex = wc.capex_usd_per_hour_capacity * step * np.ones(r.size)
    term = wc.loan_term_months
    down = (1 - wc.loan_share) * capex
    # Capital cost of the step as the accounts will show it: interest on its loan and its wear.
    capital = (capex - down) * rate / 12.0 + equipment_wear_usd(model, np.full(r.size, step))
    # Extra hours sold: first the orders turned away now, then new buyers won by a price cut.
    avail_new = step * sales.hours_available[r] / np.maximum(cap[r], 1e-12)
    margin = ws.price_usd[r] - unit.material[r] - unit.labour[r]
    gain = capacity_value(model, sales.units[r], margin, sales.hours_own[r] + sales.hours_out[r],
                          sales.hours_ordered[r], sales.hours_available[r], avail_new)
    size_up = client_size(model, cap[r] + step) / client_size(model, cap[r]) - 1.0
    services_up = unit.overhead_usd[r] * size_up
    monthly = wc.fixed_cost_usd_per_month + unit.overhead_usd[r]
    go = (gain > capital + services_up) & (ws.cash_usd[r] >= down + 2 * monthly)
    rows = r[go]
    if rows.size == 0:
        return
    rate, capex, down = rate[go], capex[go], down[go]
    loan = capex - down
    model.ledger.pay("ws", "foreign", down, payer_rows=rows)
    model.ledger.pay("lenders", "foreign", loan.sum())
    old = ws.debt_usd[rows]
    ws.loan_rate[rows] = (old * ws.loan_rate[rows] + loan * rate) / (old + loan)  # interest on all its debt
    ws.debt_usd[rows] += loan
    ws.debt_payment_usd[rows] += annuity(loan, rate, term)
    grow = (ws.capacity_hours[rows] + step) / ws.capacity_hours[rows]
    ws.capacity_hours[rows] += step
    ws.utilisation[rows] /= grow
    model.investments += rows.size


def pay_out(model: DMModel) -> None:
    """Owners draw cash beyond a buffer of ``payout_cash_months`` of fixed, service and loan payments."""
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
    """Workshops exit after sustained losses, or sooner when their cash is negative and still falling."""
    wc = model.cfg.workshops
    ws = model.ws
    n = ws.n
    active = ws.active[:n]
    # Creditors carry a workshop in arrears while it is paying them down: a month counts
    # towards closure only if cash is negative and the month lost money.
    distress = active & (ws.cash_usd[:n] < 0) & (ws.profit_usd[:n] < 0)
    ws.neg_cash_months[:n] = np.where(distress, ws.neg_cash_months[:n] + 1, 0)
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
    """Providers, local or global, whose cash falls below the exit line close; clients go in-house."""
    pv = model.pv
    n = pv.n
    if n == 0:
        return
    line = model.cfg.services.provider_exit_cash_usd
    rows = np.flatnonzero(pv.active[:n] & (pv.cash_usd[:n] < line))
    if rows.size == 0:
        return
    _close(model, "pv", rows)
    ws = model.ws
    orphan = np.isin(ws.provider[: ws.n], rows)
    ws.mode[: ws.n][orphan] = MODE_INTERNAL
    ws.provider[: ws.n][orphan] = -1
    pv.clients[:n] = model.count_clients()
    model.provider_exits += rows.size


def would_be_clients(model: DMModel, pos: Position, rows: np.ndarray, s: int, fit: float,
                     shared: bool) -> tuple[np.ndarray, np.ndarray]:
    """What a new provider of service ``s`` could charge each active workshop (USD per standard client).

    Workshop i would switch to it at a fee below its threshold: the value of the provider's
    effect (``fit``) relative to its current sourcing, plus what that sourcing costs now, less
    the switching threshold, per standard client (pooled purchasing is left out: a new
    logistics provider has no pool yet). Returns the thresholds and the workshops'
    sizes in standard clients, both (k,).
    """
    sc = model.cfg.services
    size = client_size(model, pos.capacity_hours)
    value = service_values(model, pos, s, np.full(len(rows), fit), shared, model.institution_ratio)
    now = current_values(model, pos, model.ws.provider[rows])[:, s]
    friction = sc.switch_saving_threshold * size * model.internal_cost_usd[s]
    return (value - now - friction) / size, size


def viable_clients(fixed: float, marginal: float, margin: float, threshold: np.ndarray, size: np.ndarray,
                   share: float, hurdle: float) -> float:
    """Clients a would-be provider can plan on, or 0 if none would carry it (standard clients).

    At a fee priced on n clients, ``fee(n) = (F / n + m)(1 + margin)``, the workshops whose
    threshold exceeds the fee would switch; the provider expects ``share`` of them. It plans on
    the largest n whose expected clients cover ``hurdle`` × n (0 if there is none).
    """
    if threshold.size == 0:
        return 0.0
    order = np.argsort(-threshold)
    thr, cum = threshold[order], np.cumsum(size[order])
    total = float(cum[-1])
    grid = np.geomspace(1.0, max(total, 1.0), 64) if total >= 1.0 else np.array([1.0])
    fee = (fixed / grid + marginal) * (1.0 + margin)
    # Standard clients with a threshold above each fee (thresholds sorted descending).
    k = np.searchsorted(-thr, -fee, side="left")
    pool = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
    ok = share * pool >= hurdle * grid
    return float(share * pool[ok][-1]) if ok.any() else 0.0


def provider_entry(model: DMModel, pos: Position, rows: np.ndarray) -> None:
    """Providers enter where the workshops that would buy from them carry their cost.

    For each service with room for another local provider (and, where a global provider is
    offered in the region, none active), a would-be provider surveys the active workshops:
    which of them would switch to it at a fee priced on a given number of clients
    (:func:`would_be_clients`, :func:`viable_clients`). If some client count is covered by
    ``provider_entry_hurdle`` times over, it enters with ``provider_entry_probability`` and
    prices on the clients it expects.
    """
    sc = model.cfg.services
    rng = model.streams.monthly("providers", model.month)
    draws = rng.random((2, len(SERVICES)))
    if rows.size == 0:
        return
    for s, name in enumerate(SERVICES):
        if local_providers(model, s).size < sc.max_local_providers:
            thr, size = would_be_clients(model, pos, rows, s, 1.0, True)
            n_hat = viable_clients(model.provider_fixed_usd[s], model.provider_marginal_usd[s], sc.provider_margin,
                                   thr, size, sc.provider_initial_expected_share, sc.provider_entry_hurdle)
            if n_hat > 0 and draws[0, s] < sc.provider_entry_probability:
                model.add_provider(s, PROVIDER_LOCAL, expected_clients=n_hat)
                model.provider_entries += 1
        if model.cfg.service(name).global_provider and global_providers(model, s).size == 0:
            fixed = sc.global_fixed_cost_usd_per_month
            marginal = sc.global_marginal_cost_factor * model.internal_cost_usd[s]
            thr, size = would_be_clients(model, pos, rows, s, sc.global_fit, False)
            n_hat = viable_clients(fixed, marginal, sc.provider_margin, thr, size, sc.provider_initial_expected_share,
                                   sc.provider_entry_hurdle)
            if n_hat > 0 and draws[1, s] < sc.provider_entry_probability:
                model.add_provider(s, PROVIDER_GLOBAL, expected_clients=n_hat)
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
