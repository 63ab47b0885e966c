"""Costs and prices: service effects, provider fees, material prices, unit costs.

All functions are vectorised over workshops (W), products (P) and services (S); money in USD,
time in months.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsim.config import SERVICES
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_SHARED, PROVIDER_LOCAL

if TYPE_CHECKING:
    from dmsim.model import DMModel

CERT, DESIGN, LOGISTICS, MARKETING, FINANCE, MAINTENANCE, TRAINING = range(len(SERVICES))
MAX_MARKUP = 5.0  # the schema's bound on workshops.markup: prices never exceed 6 × unit cost


def loan_rate(model: DMModel, finance_effect: np.ndarray | float) -> np.ndarray:
    """Interest rate per year on new loans: from the informal to the formal rate with finance's effect."""
    fin = model.cfg.finance
    return np.asarray(fin.informal_rate_per_year - finance_effect * (fin.informal_rate_per_year
                                                                     - fin.formal_rate_per_year), dtype=float)


def annuity(principal: np.ndarray | float, rate_per_year: np.ndarray | float, months: int) -> np.ndarray:
    """Monthly payment that repays ``principal`` (USD) with interest over ``months``."""
    r = np.asarray(rate_per_year, dtype=float) / 12.0
    safe = np.where(r > 0, r, 1.0)
    return np.where(r > 0, principal * safe / (1 - (1 + safe) ** -months), principal / months)


def client_size(model: DMModel, capacity_hours: np.ndarray) -> np.ndarray:
    """Service needs of workshops of the given capacity relative to a standard one (z, dimensionless).

    ``(capacity / standard capacity) ** internal_scale_elasticity``: a bigger workshop needs more
    of each service, less than proportionally; in-house costs and fees scale with it.
    """
    base = model.cfg.workshops.capacity_hours_per_month
    return (np.asarray(capacity_hours) / base) ** model.cfg.services.internal_scale_elasticity


def internal_effect(model: DMModel, capacity_hours: np.ndarray) -> np.ndarray:
    """Effect of a service done in-house by workshops of the given capacity (hours/month), in [0, 1].

    ``min(1, e_0 · (C / C_0)^η)``: a two-person shop's own certification, maintenance or
    marketing is worse than a specialist's; a bigger workshop can afford dedicated staff.
    """
    sc = model.cfg.services
    base = model.cfg.workshops.capacity_hours_per_month
    return np.minimum(1.0, sc.internal_effect * (capacity_hours / base) ** sc.internal_effect_scale_elasticity)


def reach_km(model: DMModel, marketing_effect: np.ndarray) -> np.ndarray:
    """How far buyers find a workshop (km), from its marketing effect.

    From ``marketing_reach_none_km`` (word of mouth: a market town's catchment) without
    marketing to ``workshops.delivery_reach_km`` at full effect, linearly.
    """
    top = model.cfg.workshops.delivery_reach_km
    low = min(model.cfg.services.marketing_reach_none_km, top)
    return low + (top - low) * marketing_effect


def service_effects(model: DMModel) -> np.ndarray:
    """Effect of each workshop's sourcing of each service, (W, S) in [0, 1].

    In-house: :func:`internal_effect` of the workshop's size; a local shared provider: 1 (a
    specialist); a global one: its ``fit``; none: 0.
    """
    ws, pv = model.ws, model.pv
    mode = ws.mode[: ws.n]
    prov = ws.provider[: ws.n]
    fit = np.where(prov >= 0, pv.fit[np.maximum(prov, 0)], 0.0) if pv.n else np.zeros(mode.shape)
    inside = internal_effect(model, ws.capacity_hours[: ws.n])
    eff = np.where(mode == MODE_INTERNAL, inside[:, None], 0.0)
    return np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fit, eff)


def provider_fees(model: DMModel) -> None:
    """Set each provider's fee to recover cost at its expected clients (docs/ODD.md §7.3).

    ``fee = (F · (1 − σ) / max(n̂, 1) + m) · (1 + margin)``, with σ the share of a local
    provider's fixed cost that a start-up subsidy pays this month (0 without one): the subsidy
    reaches clients as a lower fee, which is how it helps them arrive.
    """
    pv = model.pv
    n = pv.n
    margin = model.cfg.services.provider_margin
    subsidy = np.where(pv.kind[:n] == PROVIDER_LOCAL, model.subsidy_share_now(), 0.0)
    pv.fee_usd[:n] = (pv.fixed_usd[:n] * (1.0 - subsidy) / np.maximum(pv.expected_clients[:n], 1.0)
                      + pv.marginal_usd[:n]) * (1.0 + margin)


def break_even_clients(fixed: float, marginal: float, internal: float, margin: float) -> float:
    """Analytic client count ``n*`` at which a fee priced at n* equals the in-house cost.

    ``n* = F / (f_internal / (1 + margin) - m)``; infinite when the provider cannot undercut.
    """
    gap = internal / (1.0 + margin) - marginal
    return fixed / gap if gap > 0 else float("inf")


def local_supply_share(model: DMModel) -> float:
    """Share of material a local supplier supplies this month: ``local_material_share`` once one is active, else 0."""
    return model.cfg.suppliers.local_material_share if model.local_supplier_row() is not None else 0.0


def volume_discount(model: DMModel, volume_usd: np.ndarray) -> np.ndarray:
    """Discount on imported material at a monthly purchasing volume (USD), a fraction."""
    s = model.cfg.suppliers
    return np.minimum(s.max_discount,
                      s.volume_discount * np.log10(1.0 + volume_usd / s.discount_reference_usd_per_month))


def material_index_at(model: DMModel, discount: np.ndarray | float) -> np.ndarray:
    """Delivered material price per USD of base material, given the discount on the imported share.

    Imported material carries freight, the material tariff and the distributor's margin less the
    discount (all in local terms: shocks to freight and the exchange rate pass through); a
    local supplier, while active, supplies its share at its own price (no discount).
    """
    s = model.cfg.suppliers
    at_port = model.material_cost_factor * (1.0 + s.distributor_margin)
    share = local_supply_share(model)
    return (1.0 - share) * at_port * (1.0 - np.asarray(discount)) + share * s.local_price_factor * at_port


def material_price_index(model: DMModel) -> np.ndarray:
    """Delivered material price per USD of base material, per workshop (W,).

    The discount follows the volume a workshop buys at: last month's own spend, its logistics
    provider's pool if it buys logistics from a local provider, plus network peers' spend under
    coordination (:func:`material_index_at`, docs/ODD.md §7.1).
    """
    cfg = model.cfg
    ws = model.ws
    n = ws.n
    vol = model.material_spend[:n].copy()
    # A shared logistics provider consolidates its clients' inbound orders: each client is
    # priced at the pooled volume.
    logi = ws.provider[:n, LOGISTICS]
    pooled = (ws.mode[:n, LOGISTICS] == MODE_SHARED) & (logi >= 0) & ws.active[:n]
    if pooled.any():
        pool = np.bincount(logi[pooled], weights=vol[pooled], minlength=model.pv.n)
        vol[pooled] = pool[logi[pooled]]
    coord = cfg.network.coordination
    if coord > 0 and n:
        net = ws.network[:n]
        member = (net >= 0) & ws.active[:n] & ~pooled  # logistics clients are priced at their pool already
        if member.any():
            pool = np.bincount(net[member], weights=vol[member])
            vol[member] += coord * (pool[net[member]] - vol[member])
    return material_index_at(model, volume_discount(model, vol))


@dataclass
class UnitCosts:
    """Per-unit cost components (W, P) in USD, and per-unit hours."""

    material: np.ndarray
    labour: np.ndarray
    setup: np.ndarray  # product-line set-up, running cost and capital cost, spread by hours
    overhead: np.ndarray  # service overhead O_i spread by hours
    hours: np.ndarray  # production hours per unit (after learning)
    material_index: np.ndarray  # (W,) delivered material price index
    overhead_usd: np.ndarray  # (W,) O_i per month
    fixed_usd: np.ndarray  # (W,) product-line set-up + running cost + capital cost per month
    setup_usd: np.ndarray  # (W,) product-line set-up per month (paid as wages)
    capital_usd: np.ndarray  # (W,) interest on equipment debt + equipment wear per month
    replacement_usd: np.ndarray  # (W,) worn equipment replaced this month, cash (no loan outstanding)

    @property
    def total(self) -> np.ndarray:
        """Full unit cost incl. overhead (W, P)."""
        return self.material + self.labour + self.setup + self.overhead


def service_overhead(model: DMModel) -> np.ndarray:
    """Monthly cost of each workshop's services, (W, S): in-house cost or provider fee.

    Both scale with the workshop's service needs (``DMModel.client_size``).
    """
    ws, pv = model.ws, model.pv
    mode = ws.mode[: ws.n]
    prov = ws.provider[: ws.n]
    fee = pv.fee_usd[np.maximum(prov, 0)] if pv.n else np.zeros(mode.shape)
    internal = np.broadcast_to(model.internal_cost_usd, mode.shape)
    per_standard = np.where(mode == MODE_INTERNAL, internal,
                            np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fee, 0.0))
    return per_standard * model.client_size()[:, None]


def learning_factor(model: DMModel) -> np.ndarray:
    """Labour multiplier ``(1 + Q_eff/Q0)^(-b)`` per workshop and product, (W, P).

    ``Q_eff`` adds spillovers: ``κ_design`` of the other clients' output where design is
    shared through the same provider, and ``κ_coord · coordination`` of network peers'.
    """
    cfg = model.cfg.learning
    ws = model.ws
    n = ws.n
    q = ws.cum_units[:n]
    q_eff = q.copy()
    design_prov = ws.provider[:n, DESIGN]
    shared = (ws.mode[:n, DESIGN] == MODE_SHARED) & (design_prov >= 0) & ws.active[:n]
    if shared.any() and cfg.spillover_design > 0:
        pool = np.zeros((model.pv.n, q.shape[1]))
        np.add.at(pool, design_prov[shared], q[shared])
        q_eff[shared] += cfg.spillover_design * (pool[design_prov[shared]] - q[shared])
    coord = model.cfg.network.coordination
    member = (ws.network[:n] >= 0) & ws.active[:n]
    if coord > 0 and member.any() and cfg.spillover_coordination > 0:
        net = ws.network[:n][member]
        pool = np.zeros((net.max() + 1, q.shape[1]))
        np.add.at(pool, net, q[member])
        q_eff[member] += cfg.spillover_coordination * coord * (pool[net] - q[member])
    b = -np.log2(cfg.progress_ratio)
    return (1.0 + q_eff / cfg.q0_units) ** (-b)


def equipment_wear_usd(model: DMModel, capacity_hours: np.ndarray) -> np.ndarray:
    """Monthly wear of a workshop's equipment (USD/month), (W,): its depreciation.

    Equipment worth ``capex_usd_per_hour_capacity`` × capacity lasts ``equipment_life_months``,
    straight-line. A workshop with no equipment loan outstanding replaces it as it wears
    (``UnitCosts.replacement_usd``); one still repaying its loan does not yet.
    """
    wc = model.cfg.workshops
    return wc.capex_usd_per_hour_capacity * capacity_hours / wc.equipment_life_months


def spread_hours(model: DMModel) -> np.ndarray:
    """Production hours per month that fixed cost and service overhead are spread over, (W,).

    Expected hours, but at least the workshop's normal capacity (``target_utilisation`` ×
    capacity) and ``min_expected_hours``: fixed overheads are allocated at normal capacity, so
    a unit's share of them does not grow because the plant stands idle (the rule of IAS 2
    Inventories, para. 13). A small workshop therefore carries a high overhead per unit
    because it is small, not because it had a bad month — and a crowded market shows in
    prices cut towards variable cost and in losses, not in prices spiralling up.
    """
    ws = model.ws
    wc = model.cfg.workshops
    n = ws.n
    normal = wc.target_utilisation * ws.capacity_hours[:n]
    return np.maximum(np.maximum(ws.expected_hours[:n], normal), wc.min_expected_hours)


def unit_costs(model: DMModel, effects: np.ndarray, overhead_ws: np.ndarray) -> UnitCosts:
    """Unit cost of every workshop and product (docs/ODD.md §7.1, overhead spread by hours).

    ``c_ip = material_p·π_i + hours_ip·wage + Φ_i·hours_ip/Ĥ_i`` and overhead
    ``O_i·hours_ip/Ĥ_i``, with Φ_i = set-up + running cost + interest on equipment debt +
    equipment wear and Ĥ_i = :func:`spread_hours` (at least normal capacity).
    """
    cfg = model.cfg
    ws = model.ws
    n = ws.n
    pi = material_price_index(model)
    train_pen = cfg.services.training_labour_penalty * (1.0 - effects[:, TRAINING])
    hours = model.labour_hours[None, :] * (1.0 + train_pen)[:, None] * learning_factor(model)
    lines = ws.makes[:n].sum(axis=1)
    # Without design support set-up costs more; a shared design library (ready designs,
    # jigs, documentation) cuts it below in-house.
    design_pen = np.where(ws.mode[:n, DESIGN] == MODE_SHARED, -cfg.services.design_shared_setup_saving,
                          cfg.services.design_setup_penalty * (1.0 - effects[:, DESIGN]))
    setup = cfg.workshops.setup_usd_per_month_per_product * lines * (1.0 + design_pen)
    # Capital costs what the accounts say it costs: interest on the equipment debt and the
    # equipment's wear. Repaying a loan's principal is financing, not cost; and a workshop still
    # repaying the loan for its equipment does not replace it yet (cash, in accounting).
    wear = equipment_wear_usd(model, ws.capacity_hours[:n])
    capital = ws.debt_usd[:n] * ws.loan_rate[:n] / 12.0 + wear
    fixed = setup + cfg.workshops.fixed_cost_usd_per_month + capital
    overhead = overhead_ws.sum(axis=1)
    h_hat = spread_hours(model)
    per_hour = hours / h_hat[:, None]
    return UnitCosts(
        material=model.material_usd[None, :] * pi[:, None] * np.ones_like(hours),
        labour=hours * cfg.labour.wage_usd_per_hour,
        setup=fixed[:, None] * per_hour,
        overhead=overhead[:, None] * per_hour,
        hours=hours,
        material_index=pi,
        overhead_usd=overhead,
        fixed_usd=fixed,
        setup_usd=setup,
        capital_usd=capital,
        replacement_usd=np.where(ws.debt_usd[:n] > 1e-9, 0.0, wear),
    )


def price_floor(model: DMModel, costs: UnitCosts) -> np.ndarray:
    """Lowest price a workshop accepts, (W, P): variable cost × (1 + ``min_markup``) (USD/unit).

    Material and labour: below this every unit sold loses money. Between it and full cost a
    unit still pays part of the fixed cost — what a workshop with idle hours settles for.
    """
    return (costs.material + costs.labour) * (1.0 + model.cfg.workshops.min_markup)


def prices(model: DMModel, costs: UnitCosts) -> np.ndarray:
    """Prices (W, P): full unit cost × (1 + the workshop's markup), never below the floor (USD/unit).

    Unit cost is the full cost on expected volume (overhead and fixed cost included); the
    markup adapts to the workshop's load (:func:`adjust_markups`) and may turn negative down to
    :func:`price_floor`.
    """
    return np.maximum(costs.total * (1.0 + model.ws.markup[: model.ws.n]), price_floor(model, costs))


def adjust_markups(model: DMModel, costs: UnitCosts, hours_ordered: np.ndarray, hours_available: np.ndarray) -> None:
    """Prices respond to the month's orders: markups move with the load on each workshop.

    ``μ ← clip(μ + a · clip(load − u*, −1, 1), μ_low, μ_max)`` with load = hours ordered /
    hours available, u* = ``target_utilisation``, a = ``price_adjustment_per_month``, μ_low the
    markup at which the price reaches :func:`price_floor` (negative: below full cost) and μ_max the
    schema's bound on ``markup``. A workshop that turns buyers away raises its price until its
    orders fit its hours; one with idle hours cuts it, below full cost if it must, but never
    below variable cost. Rows of workshops that entered after the market keep their starting
    markup.
    """
    wc = model.cfg.workshops
    ws = model.ws
    n = hours_ordered.shape[0]
    load = np.where(hours_available > 0, hours_ordered / np.maximum(hours_available, 1e-12), 0.0)
    signal = np.clip(load - wc.target_utilisation, -1.0, 1.0)
    full = costs.total
    low = np.where(full > 0, price_floor(model, costs) / np.maximum(full, 1e-12) - 1.0, 0.0)
    mu = np.clip(ws.markup[:n] + wc.price_adjustment_per_month * signal[:, None], low, MAX_MARKUP)
    ws.markup[:n] = np.where(ws.active[:n, None], mu, ws.markup[:n])
