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


def service_effects(model: DMModel) -> np.ndarray:
    """Effect of each workshop's sourcing of each service, (W, S) in [0, 1].

    In-house and local shared services have full effect; a global one has its provider's
    ``fit``; none has none.
    """
    ws, pv = model.ws, model.pv
    mode = ws.mode[: ws.n]
    prov = ws.provider[: ws.n]
    fit = np.where(prov >= 0, pv.fit[np.maximum(prov, 0)], 0.0) if pv.n else np.zeros(mode.shape)
    eff = np.where(mode == MODE_INTERNAL, 1.0, 0.0)
    return np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fit, eff)


def provider_fees(model: DMModel) -> None:
    """Set each provider's fee to recover cost at its expected clients (DESIGN.md §4).

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


def material_price_index(model: DMModel, effects: np.ndarray) -> np.ndarray:
    """Delivered material price per USD of base material, per workshop (W,).

    Imported material carries freight, tariff and the distributor's margin less a volume
    discount; pooled procurement (coordination) adds network peers' volume to a workshop's
    own. A local supplier, when present, supplies a share at a lower price.
    """
    cfg = model.cfg
    ws = model.ws
    n = ws.n
    s = cfg.suppliers
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
    discount = np.minimum(
        s.max_discount, s.volume_discount * np.log10(1.0 + vol / s.discount_reference_usd_per_month)
    )
    imported = model.import_cost_factor * (1.0 + s.distributor_margin) * (1.0 - discount)
    if model.local_supplier_row() is None:
        return imported
    local = s.local_price_factor * model.import_cost_factor * (1.0 + s.distributor_margin)
    share = s.local_material_share
    return (1.0 - share) * imported + share * local


@dataclass
class UnitCosts:
    """Per-unit cost components (W, P) in USD, and per-unit hours."""

    material: np.ndarray
    labour: np.ndarray
    setup: np.ndarray  # product-line set-up, fixed operating cost and debt service
    overhead: np.ndarray  # service overhead O_i spread by hours
    hours: np.ndarray  # production hours per unit (after learning)
    material_index: np.ndarray  # (W,) delivered material price index
    overhead_usd: np.ndarray  # (W,) O_i per month
    fixed_usd: np.ndarray  # (W,) set-up + fixed + debt service per month

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


def learning_factor(model: DMModel, effects: np.ndarray) -> np.ndarray:
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


def unit_costs(model: DMModel, effects: np.ndarray, overhead_ws: np.ndarray) -> UnitCosts:
    """Unit cost of every workshop and product (DESIGN.md §4, overhead spread by hours).

    ``c_ip = material_p·π_i + hours_ip·wage + (setup_i + fixed + debt)·hours_ip/Ĥ_i`` and
    overhead ``O_i·hours_ip/Ĥ_i`` with ``Ĥ_i = max(expected hours, minimum)``.
    """
    cfg = model.cfg
    ws = model.ws
    n = ws.n
    pi = material_price_index(model, effects)
    train_pen = cfg.services.training_labour_penalty * (1.0 - effects[:, TRAINING])
    hours = model.labour_hours[None, :] * (1.0 + train_pen)[:, None] * learning_factor(model, effects)
    lines = ws.makes[:n].sum(axis=1)
    # Without design support set-up costs more; a shared design library (ready designs,
    # jigs, documentation) cuts it below in-house.
    design_pen = np.where(ws.mode[:n, DESIGN] == MODE_SHARED, -cfg.services.design_shared_setup_saving,
                          cfg.services.design_setup_penalty * (1.0 - effects[:, DESIGN]))
    fixed = (cfg.workshops.setup_usd_per_month_per_product * lines * (1.0 + design_pen)
             + cfg.workshops.fixed_cost_usd_per_month + ws.debt_payment_usd[:n])
    overhead = overhead_ws.sum(axis=1)
    h_hat = np.maximum(ws.expected_hours[:n], cfg.workshops.min_expected_hours)
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
    )


def prices(model: DMModel, costs: UnitCosts) -> np.ndarray:
    """Cost-plus prices on expected volume, (W, P): ``p = c_total · (1 + markup)``."""
    return costs.total * (1.0 + model.cfg.workshops.markup)
