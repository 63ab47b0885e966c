"""Entry of new workshops: prospective owners test a business plan against the market.

Prospects arrive at a steady rate and each picks a site where demand is unmet. A prospect
plans its sourcing (the cheapest services it knows of), prices at its planned volume like
an incumbent, and predicts its orders from last month's market: its option is added to the
DM nest of every buyer group within reach (the nested logit's inclusive value makes this
exact for one added option). It enters if the predicted monthly profit beats the owner's
outside option. In a thin ecosystem a newcomer's overhead makes it too dear to win orders,
so nobody enters; once shared providers exist, the same plan can pass — the loop of
DESIGN.md §1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmsim.config import SERVICES
from dmsim.costs import DESIGN, MAINTENANCE, TRAINING
from dmsim.market import workshop_terms, workshop_utility
from dmsim.sourcing import best_sourcing, local_providers, make_or_buy
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_SHARED, SEGMENT_HOUSEHOLD

if TYPE_CHECKING:
    from dmsim.model import DMModel


def _plan_effects(model: DMModel, mode: np.ndarray, prov: np.ndarray) -> np.ndarray:
    fit = np.where(prov >= 0, model.pv.fit[np.maximum(prov, 0)], 0.0) if model.pv.n else 0.0
    return np.where(mode == MODE_INTERNAL, 1.0,
                    np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fit, 0.0))


def expected_profit(model: DMModel, x: float, y: float, makes: np.ndarray, mode: np.ndarray,
                    prov: np.ndarray) -> float:
    """A prospect's predicted monthly profit (USD) at a site, from last month's market."""
    cfg = model.cfg
    wc = cfg.workshops
    sc = cfg.services
    eff = _plan_effects(model, mode[None, :], prov[None, :])
    cap = wc.capacity_hours_per_month
    planned = wc.initial_utilisation * cap
    hours = model.labour_hours * (1.0 + sc.training_labour_penalty * (1.0 - eff[0, TRAINING]))
    fee = model.pv.fee_usd[np.maximum(prov, 0)] if model.pv.n else np.zeros(len(SERVICES))
    overhead = float(np.where(mode == MODE_INTERNAL, model.internal_cost_usd,
                              np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fee, 0.0)).sum())
    if mode[DESIGN] == MODE_SHARED:
        design = -sc.design_shared_setup_saving
    else:
        design = sc.design_setup_penalty * (1 - eff[0, DESIGN])
    fixed = wc.setup_usd_per_month_per_product * makes.sum() * (1 + design) + wc.fixed_cost_usd_per_month
    material = model.material_usd * model.import_cost_factor * (1 + cfg.suppliers.distributor_margin)
    variable = material + hours * cfg.labour.wage_usd_per_hour
    price = (variable + (fixed + overhead) * hours / planned) * (1 + wc.markup)
    # Orders: add the prospect to the DM nest of every group within reach.
    buyers = model.buyer_terms
    near = np.asarray(model.index.tree.query_ball_point([x, y], wc.delivery_reach_km), dtype=np.int64)
    if near.size == 0:
        return -(fixed + overhead)
    terms = workshop_terms(model, eff, np.array([x]), np.array([y]),
                           np.array([model.cfg.network.type == "platform"]))
    dist = np.hypot(model.bg.x_km[near] - x, model.bg.y_km[near] - y)[:, None]
    rho = cfg.market.nest_rho
    units = np.zeros(model.n_products)
    for p in np.flatnonzero(makes):
        u, _, _ = workshop_utility(model, buyers, terms, int(p), near, np.zeros((near.size, 1), dtype=np.int64),
                                   np.full((near.size, 1), price[p]), dist)
        u = u[:, 0]
        if model.requires_cert[p]:
            u = np.where(buyers.institution[near] & ~terms.certified[0], -np.inf, u)
        iv_old = model.inclusive_value[near, p]
        iv_new = rho * np.logaddexp(iv_old / rho, u / rho)
        top = np.maximum(np.maximum(iv_new, buyers.u_import[near, p]), 0.0)
        p_nest = np.exp(iv_new - top) / (np.exp(iv_new - top) + np.exp(buyers.u_import[near, p] - top) + np.exp(-top))
        within = np.exp((u - iv_new) / rho)
        units[p] = float((model.bg.potential_units[near, p] * p_nest * within).sum())
    avail = cap * (1 - sc.maintenance_downtime * (1 - eff[0, MAINTENANCE]))
    used = float((units * hours).sum())
    if used > avail:
        units *= avail / used
    commission = cfg.network.platform_commission if cfg.network.type == "platform" else 0.0
    return float((units * (price * (1 - commission) - variable)).sum() - fixed - overhead)


def workshop_entry(model: DMModel) -> None:
    """Prospects arrive (Poisson), each tests a site; those whose plan pays enter."""
    cfg = model.cfg
    wc = cfg.workshops
    rng = model.streams.monthly("entry", model.month)
    k = int(rng.poisson(wc.entry_prospects_per_month * wc.entry_interval_months))
    bg = model.bg
    weight = np.where(bg.segment[: bg.n] == SEGMENT_HOUSEHOLD, model.unmet_units, 0.0)
    if k == 0 or weight.sum() <= 0 or model.buyer_terms is None:
        return
    g = rng.choice(bg.n, size=k, p=weight / weight.sum())
    x = np.clip(bg.x_km[g] + rng.normal(0, 2.0, k), 0, cfg.region.size_km)
    y = np.clip(bg.y_km[g] + rng.normal(0, 2.0, k), 0, cfg.region.size_km)
    pick = np.argsort(rng.random((k, model.n_products)), axis=1)[:, : cfg.product_variety]
    makes = np.zeros((k, model.n_products), dtype=bool)
    makes[np.arange(k)[:, None], pick] = True
    # Prospects hear of local providers from incumbents: aware with the providers' client share.
    ws = model.ws
    n_inc = max(int(ws.active[: ws.n].sum()), 1)
    aware = np.zeros((k, len(SERVICES)), dtype=bool)
    heads = model.count_clients(head_count=True)
    draws = rng.random((k, len(SERVICES)))
    for s in range(len(SERVICES)):
        loc = local_providers(model, s)
        if loc.size:
            aware[:, s] = draws[:, s] < heads[loc].sum() / n_inc
    start_mode = np.full((k, len(SERVICES)), MODE_INTERNAL, dtype=np.int8)
    plan_mode, plan_prov, _, _ = best_sourcing(model, start_mode, np.full((k, len(SERVICES)), -1), aware)
    go = np.array([expected_profit(model, x[i], y[i], makes[i], plan_mode[i], plan_prov[i])
                   >= wc.entry_profit_reference_usd_per_month for i in range(k)])
    if not go.any():
        return
    rows = model.add_workshops(x[go], y[go], rng, makes=makes[go])
    ws.aware[rows] = aware[go]
    make_or_buy(model, rows, 1.0, rng)
    model.entries += int(go.sum())
