"""Monthly settlement: every payment of the month, through the ledger (USD).

Buyers pay workshops and transport for DM goods, and foreign factories, the government
(tariffs), traders and transport for imports. Workshops pay suppliers, wages, rent, their
services (in-house staff or provider fees), lenders, and peers for subcontracted hours.
Providers pay their staff (local) or head office (global); the distributor pays foreign
suppliers and tariffs; a local supplier pays its local inputs.

No BLAS (``np.dot``, ``@``): its threaded reductions change the last bit with the number of
threads or cores; sums of products use ``np.einsum`` (no ``optimize``), single-threaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsim import shocks
from dmsim.costs import UnitCosts, local_supply_share
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_SHARED, PROVIDER_LOCAL

if TYPE_CHECKING:
    from dmsim.market import Sales
    from dmsim.model import DMModel


@dataclass
class MonthBooks:
    """The month's totals that metrics need (USD unless named otherwise)."""

    dm_revenue: float
    import_spend: float
    delivery_spend: float
    wages: float
    workshop_profit: float
    provider_revenue: float
    provider_profit: float
    supplier_local_margin: float
    trade_margin: float
    local_supplier_sales: float
    subsidies: float


def settle(model: DMModel, sales: Sales, unit: UnitCosts, overhead_ws: np.ndarray) -> MonthBooks:
    """Book every payment of the month and update each workshop's revenue and profit."""
    cfg = model.cfg
    led = model.ledger
    ws, sp = model.ws, model.sp
    nw = ws.n
    start_cash = ws.cash_usd[:nw].copy()
    wage = cfg.labour.wage_usd_per_hour

    # Buyers pay for DM goods (to workshops) and their delivery (to transport).
    price = ws.price_usd[:nw]
    spend = sales.pair_units * sales.price_per_pair(price)
    revenue = np.bincount(sales.pair_ws, weights=spend, minlength=nw)
    dm_revenue = led.transfer("bg", None, sales.sum_by_group(spend), "ws", None, revenue)
    delivery = led.pay("bg", "transport", sales.sum_by_group(sales.pair_units * sales.pair_delivery_usd))
    # A platform takes its commission on its members' DM revenue (a local operator: trade).
    platform = model.on_platform()
    if platform.any():
        led.pay("ws", "trade", np.where(platform, revenue * cfg.network.platform_commission, 0.0))

    # Buyers pay for imports: factory and freight abroad, tariff, traders, inland transport.
    # Foreign-currency costs are in local terms: a devaluation (shock ``fx``) scales them, and
    # the tariff is levied on their local value; freight follows its shock too.
    imp = cfg.imports
    shock = model.shock
    foreign_factor = shock.fx * (1 + imp.freight * shock.freight)  # = 1 + freight without shocks
    factory = np.einsum("gp,p->g", sales.import_units, model.import_price_usd)  # (G,) ex-works value
    led.pay("bg", "foreign", factory * foreign_factor)
    led.pay("bg", "government", factory * (shock.fx * imp.tariff))
    at_port = factory * model.import_cost_factor
    trade = led.pay("bg", "trade", at_port * imp.distribution_margin)
    landed_total = np.einsum("gp,gp->g", sales.import_units, sales.import_landed_usd)
    led.pay("bg", "transport", landed_total - at_port * (1 + imp.distribution_margin))
    import_spend = float(landed_total.sum())
    if sales.informal_units is not None:  # informal or second-hand goods, bought from local traders
        price_inf = np.array([cfg.products[name].informal_price_usd or 0.0 for name in model.product_names])
        led.pay("bg", "trade", np.einsum("gp,p->g", sales.informal_units, price_inf))

    # Materials: the importing distributor (row 0) and a local supplier share.
    base_material = sales.units * model.material_usd[None, :]  # at base price (W, P)
    material_paid = base_material.sum(axis=1) * unit.material_index
    model.material_spend[:nw] = material_paid
    local_row = model.local_supplier_row()
    s = cfg.suppliers
    local_share = local_supply_share(model)
    local_price = s.local_price_factor * model.material_cost_factor * (1 + s.distributor_margin)
    local_paid = base_material.sum(axis=1) * local_share * local_price
    imported_paid = material_paid - local_paid
    wrows = np.arange(nw)
    led.pay("ws", "sp", imported_paid, payer_rows=wrows, payee_rows=np.zeros(nw, dtype=np.int64))
    base_imported = base_material.sum() * (1 - local_share)
    material_tariff = imp.tariff if imp.material_tariff is None else imp.material_tariff
    led.pay("sp", "foreign", base_imported * foreign_factor, payer_rows=np.array([0]))
    led.pay("sp", "government", base_imported * (shock.fx * material_tariff), payer_rows=np.array([0]))
    if cfg.region.port_distance_km > 0:  # the corridor haul from a distant port to the region
        led.pay("sp", "transport", base_imported * shocks.material_haul_usd_per_usd(cfg), payer_rows=np.array([0]))
    local_sales = 0.0
    sp.sales_usd[: sp.n] = 0.0
    sp.sales_usd[0] = imported_paid.sum()
    supplier_local_margin = 0.0
    if local_row is not None:
        lr = np.array([local_row])
        local_sales = led.pay("ws", "sp", local_paid, payer_rows=wrows, payee_rows=np.full(nw, local_row))
        costs_local = s.local_variable_cost_share * local_sales + s.local_fixed_cost_usd_per_month
        led.pay("sp", "local_inputs", costs_local, payer_rows=lr)
        sp.sales_usd[local_row] = local_sales
        supplier_local_margin = local_sales - costs_local

    # Wages for own production, product-line set-up, fixed operating costs.
    active = ws.active[:nw]
    labour = sales.hours_own * wage
    wages = led.pay("ws", "labour", np.where(active, labour + unit.setup_usd, 0.0), payer_rows=wrows)
    led.pay("ws", "local_inputs", np.where(active, cfg.workshops.fixed_cost_usd_per_month, 0.0),
            payer_rows=wrows)
    # Worn equipment is replaced from abroad once the loan that bought it is repaid.
    led.pay("ws", "foreign", np.where(active, unit.replacement_usd, 0.0), payer_rows=wrows)

    # Services: in-house staff, or fees to providers.
    mode = ws.mode[:nw]
    internal = np.where(active[:, None] & (mode == MODE_INTERNAL), overhead_ws, 0.0).sum(axis=1)
    led.pay("ws", "service_staff", internal, payer_rows=wrows)
    buys = active[:, None] & ((mode == MODE_SHARED) | (mode == MODE_GLOBAL)) & (ws.provider[:nw] >= 0)
    bi, bs = np.nonzero(buys)
    fees = overhead_ws[bi, bs]
    provider_revenue = led.pay("ws", "pv", fees, payer_rows=bi, payee_rows=ws.provider[:nw][bi, bs])

    # Debt service: interest and principal to lenders.
    debt = ws.debt_usd[:nw]
    pay = np.where(active, np.minimum(ws.debt_payment_usd[:nw], debt * (1 + ws.loan_rate[:nw] / 12)), 0.0)
    led.pay("ws", "lenders", pay, payer_rows=wrows)
    interest = debt * ws.loan_rate[:nw] / 12
    ws.debt_usd[:nw] = np.maximum(0.0, debt + interest - pay)
    ws.debt_payment_usd[:nw] = np.where(ws.debt_usd[:nw] > 1e-9, ws.debt_payment_usd[:nw], 0.0)

    # Subcontracting within networks: originators pay peers, peers pay their workers.
    if sales.hours_out.sum() > 0:
        rate = wage * (1 + cfg.workshops.markup)
        out_rows, in_rows = np.flatnonzero(sales.hours_out > 0), np.flatnonzero(sales.hours_in > 0)
        led.transfer("ws", out_rows, sales.hours_out[out_rows] * rate,
                     "ws", in_rows, sales.hours_in[in_rows] * rate)
        wages += led.pay("ws", "labour", sales.hours_in[in_rows] * wage, payer_rows=in_rows)

    # Providers: staff and running costs (local) or head office (global); subsidies.
    provider_profit = _settle_providers(model)
    subsidies = _provider_subsidies(model)

    ws.revenue_usd[:nw] = revenue
    # Cash-flow profit: the change in cash this month (owners' and lenders' capital moves
    # happen later, in decisions).
    ws.profit_usd[:nw] = ws.cash_usd[:nw] - start_cash
    books = MonthBooks(
        dm_revenue=dm_revenue, import_spend=import_spend, delivery_spend=delivery, wages=wages,
        workshop_profit=float(ws.profit_usd[:nw][active].sum()),
        provider_revenue=provider_revenue, provider_profit=provider_profit,
        supplier_local_margin=supplier_local_margin, trade_margin=trade,
        local_supplier_sales=local_sales, subsidies=subsidies,
    )
    model.books = books
    return books


def _settle_providers(model: DMModel) -> float:
    """Providers pay their monthly costs; returns their total profit before subsidies (USD)."""
    pv = model.pv
    n = pv.n
    if n == 0:
        return 0.0
    led = model.ledger
    clients = model.count_clients()
    pv.clients[:n] = clients
    cost = np.where(pv.active[:n], pv.fixed_usd[:n] + pv.marginal_usd[:n] * clients, 0.0)
    local = pv.kind[:n] == PROVIDER_LOCAL
    rows = np.arange(n)
    led.pay("pv", "service_staff", np.where(local, cost, 0.0), payer_rows=rows)
    led.pay("pv", "foreign", np.where(local, 0.0, cost), payer_rows=rows)
    revenue = np.where(pv.active[:n], pv.fee_usd[:n] * clients, 0.0)
    pv.revenue_usd[:n] = revenue
    pv.cost_usd[:n] = cost
    return float((revenue - cost)[pv.active[:n]].sum())


def _provider_subsidies(model: DMModel) -> float:
    """Public start-up subsidy to local providers, within the policy budget (USD this month)."""
    pv = model.pv
    n = pv.n
    share = model.subsidy_share_now()  # scaled down to what the budget can still pay
    if n == 0 or share <= 0:
        return 0.0
    eligible = pv.active[:n] & (pv.kind[:n] == PROVIDER_LOCAL)
    paid = model.ledger.pay("government", "pv", np.where(eligible, share * pv.fixed_usd[:n], 0.0),
                            payee_rows=np.arange(n))
    model.public_spend_usd += paid
    model.public_spend_month += paid
    return paid
