"""Entry of new workshops: prospective owners test a business plan against the market.

Prospects arrive at a steady rate and each picks a site where demand is unmet. A prospect
knows what the local ecosystem knows: it starts with a share of local makers' know-how
(``learning.spillover_entry``), buys material at a newcomer's price, and chooses the sourcing
of each service as an incumbent would (:mod:`dmsim.sourcing`: in-house, a provider it has
heard of, or none). It prices like an incumbent starting out — cost plus the starting markup
on its planned volume, never above the landed import price at its site — and predicts its
orders from last month's market: its option is added to the DM nest of every buyer group
within reach (the nested logit's inclusive value makes this exact for one added option), so
it expects many orders where incumbents are dear or turn buyers away, and few where they are
cheap. It enters if the predicted monthly profit beats the owner's outside option. In a thin
ecosystem a newcomer's overhead makes it too dear to win orders, so few enter; once shared
providers exist, the same plan can pass — both sides of the loop can tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsim.config import SERVICES
from dmsim.costs import (
    DESIGN,
    FINANCE,
    MAINTENANCE,
    MARKETING,
    TRAINING,
    equipment_wear_usd,
    internal_effect,
    reach_km,
)
from dmsim.market import workshop_terms, workshop_utility
from dmsim.sourcing import best_sourcing, local_providers
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_SHARED, SEGMENT_HOUSEHOLD
from dmsim.valuation import Position

if TYPE_CHECKING:
    from dmsim.model import DMModel


@dataclass
class Plan:
    """A prospect's business plan at a site (per month; USD, units, hours)."""

    profit_usd: float
    units: np.ndarray  # (P,) predicted units sold
    units_institution: np.ndarray  # (P,) of which to institutions
    price_usd: np.ndarray  # (P,)
    variable_usd: np.ndarray  # (P,) material and labour per unit
    delivery_usd: np.ndarray  # (P,) delivery per unit its buyers pay
    hours: np.ndarray  # (P,) production hours per unit
    material_usd: float  # material spend
    effects: np.ndarray  # (S,) service effects of its sourcing


def _plan_effects(model: DMModel, mode: np.ndarray, prov: np.ndarray) -> np.ndarray:
    """Service effects (S,) of a standard-size newcomer with the given sourcing."""
    fit = np.where(prov >= 0, model.pv.fit[np.maximum(prov, 0)], 0.0) if model.pv.n else np.zeros(mode.shape)
    inside = float(internal_effect(model, np.array([model.cfg.workshops.capacity_hours_per_month]))[0])
    return np.where(mode == MODE_INTERNAL, inside,
                    np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fit, 0.0))


def _newcomer_material_index(model: DMModel) -> float:
    """Delivered material price per USD of base material for a buyer with no volume yet."""
    s = model.cfg.suppliers
    imported = model.import_cost_factor * (1.0 + s.distributor_margin)
    if model.local_supplier_row() is None:
        return imported
    local = s.local_price_factor * model.import_cost_factor * (1.0 + s.distributor_margin)
    return (1.0 - s.local_material_share) * imported + s.local_material_share * local


def loan_rate(model: DMModel, finance_effect: np.ndarray | float) -> np.ndarray | float:
    """Interest rate per year on new loans: from the informal to the formal rate with finance's effect."""
    fin = model.cfg.finance
    return fin.informal_rate_per_year - finance_effect * (fin.informal_rate_per_year - fin.formal_rate_per_year)


def start_up_annuity(model: DMModel, finance_effect: float) -> float:
    """Monthly payment on a newcomer's equipment loan (USD), see ``DMModel.finance_equipment``."""
    wc = model.cfg.workshops
    loan = wc.loan_share * wc.capex_usd_per_hour_capacity * wc.capacity_hours_per_month
    r = float(loan_rate(model, finance_effect)) / 12.0
    return loan * r / (1 - (1 + r) ** -wc.loan_term_months) if r > 0 else loan / wc.loan_term_months


def entry_know_how(model: DMModel) -> np.ndarray:
    """Learning stock a newcomer starts with, (P,) units: a share of active makers' mean."""
    ws = model.ws
    n = ws.n
    makers = ws.active[:n, None] & ws.makes[:n]
    mean = (ws.cum_units[:n] * makers).sum(axis=0) / np.maximum(makers.sum(axis=0), 1)
    return model.cfg.learning.spillover_entry * mean


def business_plan(model: DMModel, x: float, y: float, makes: np.ndarray, mode: np.ndarray,
                  prov: np.ndarray, know_how: np.ndarray) -> Plan:
    """A prospect's predicted month at site (x, y) km, from last month's market."""
    cfg = model.cfg
    wc = cfg.workshops
    sc = cfg.services
    eff = _plan_effects(model, mode, prov)
    cap = wc.capacity_hours_per_month
    planned = wc.initial_utilisation * cap
    b = -np.log2(cfg.learning.progress_ratio)
    hours = (model.labour_hours * (1.0 + sc.training_labour_penalty * (1.0 - eff[TRAINING]))
             * (1.0 + know_how / cfg.learning.q0_units) ** (-b))
    fee = model.pv.fee_usd[np.maximum(prov, 0)] if model.pv.n else np.zeros(len(SERVICES))
    overhead = float(np.where(mode == MODE_INTERNAL, model.internal_cost_usd,
                              np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fee, 0.0)).sum())
    if mode[DESIGN] == MODE_SHARED:
        design = -sc.design_shared_setup_saving
    else:
        design = sc.design_setup_penalty * (1 - eff[DESIGN])
    fixed = (wc.setup_usd_per_month_per_product * makes.sum() * (1 + design) + wc.fixed_cost_usd_per_month
             + start_up_annuity(model, eff[FINANCE]) + float(equipment_wear_usd(model, np.array([cap]))[0]))
    pi = _newcomer_material_index(model)
    variable = model.material_usd * pi + hours * cfg.labour.wage_usd_per_hour
    cost = variable + (fixed + overhead) * hours / planned
    price = cost * (1 + wc.markup)
    n_p = model.n_products
    units, units_inst, delivery = np.zeros(n_p), np.zeros(n_p), np.zeros(n_p)
    # Orders: add the prospect to the DM nest of every group within reach.
    buyers = model.buyer_terms
    reach = float(reach_km(model, eff[MARKETING]))
    near = np.asarray(model.index.tree.query_ball_point([x, y], reach), dtype=np.int64)
    if near.size:
        terms = workshop_terms(model, eff[None, :], np.array([x]), np.array([y]),
                               np.array([model.cfg.network.type == "platform"]))
        dist = np.hypot(model.bg.x_km[near] - x, model.bg.y_km[near] - y)[:, None]
        rho = cfg.market.nest_rho
        inst = buyers.institution[near]
        for p in np.flatnonzero(makes):
            u, deliv, _ = workshop_utility(model, buyers, terms, int(p), near, np.zeros((near.size, 1), dtype=np.int64),
                                           np.full((near.size, 1), price[p]), dist)
            u = u[:, 0]
            if model.requires_cert[p]:
                u = np.where(inst & ~terms.certified[0], -np.inf, u)
            iv_old = model.inclusive_value[near, p]
            iv_new = rho * np.logaddexp(iv_old / rho, u / rho)
            u0 = buyers.u_import[near, p]
            top = np.maximum(np.maximum(iv_new, u0), 0.0)
            p_nest = np.exp(iv_new - top) / (np.exp(iv_new - top) + np.exp(u0 - top) + np.exp(-top))
            within = np.where(np.isfinite(u), np.exp((u - np.where(np.isfinite(iv_new), iv_new, 0.0)) / rho), 0.0)
            got = model.bg.potential_units[near, p] * p_nest * within
            units[p] = float(got.sum())
            units_inst[p] = float(got[inst].sum())
            delivery[p] = float((got * deliv[:, 0]).sum() / units[p]) if units[p] > 0 else 0.0
    avail = cap * (1 - sc.maintenance_downtime * (1 - eff[MAINTENANCE]))
    used = float((units * hours).sum())
    if used > avail:
        units *= avail / used
        units_inst *= avail / used
    commission = cfg.network.platform_commission if cfg.network.type == "platform" else 0.0
    profit = float((units * (price * (1 - commission) - variable)).sum() - fixed - overhead)
    return Plan(profit_usd=profit, units=units, units_institution=units_inst, price_usd=price,
                variable_usd=variable, delivery_usd=delivery, hours=hours,
                material_usd=float((units * model.material_usd).sum() * pi), effects=eff)


def plan_sourcing(model: DMModel, plan: Plan, x: float, y: float, makes: np.ndarray, mode: np.ndarray,
                  aware: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sourcing a prospect would choose given a first plan: the best option per service, (S,) each."""
    cap = model.cfg.workshops.capacity_hours_per_month
    pos = Position(
        units=plan.units[None, :], units_institution=plan.units_institution[None, :],
        margin_usd=(plan.price_usd - plan.variable_usd)[None, :], delivery_usd=plan.delivery_usd[None, :],
        hours_ordered=np.array([float((plan.units * plan.hours).sum())]), capacity_hours=np.array([cap]),
        labour_usd=np.array([float((plan.units * plan.hours).sum()) * model.cfg.labour.wage_usd_per_hour]),
        lines=np.array([makes.sum()]), loan_base_usd=np.zeros(1), material_usd=np.array([plan.material_usd]),
        effects=plan.effects[None, :], mode=mode[None, :], x_km=np.array([x]), y_km=np.array([y]),
    )
    new_mode, new_prov, _ = best_sourcing(model, pos, np.full((1, len(SERVICES)), -1), aware[None, :],
                                          model.institution_ratio)
    return new_mode[0], new_prov[0]


def workshop_entry(model: DMModel) -> None:
    """Prospects arrive (Poisson), each tests a site; those whose plan pays enter."""
    cfg = model.cfg
    wc = cfg.workshops
    rng = model.streams.monthly("entry", model.month)
    rate = wc.entry_prospects_per_million_per_month * cfg.region.population / 1e6  # per month
    k = int(rng.poisson(rate * wc.entry_interval_months))
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
    n_s = len(SERVICES)
    aware = np.zeros((k, n_s), dtype=bool)
    heads = model.count_clients(head_count=True)
    draws = rng.random((k, n_s))
    for s in range(n_s):
        loc = local_providers(model, s)
        if loc.size:
            aware[:, s] = draws[:, s] < heads[loc].sum() / n_inc
    know_how = entry_know_how(model)
    start = np.full(n_s, MODE_INTERNAL, dtype=np.int8)
    no_provider = np.full(n_s, -1)
    go = np.zeros(k, dtype=bool)
    modes = np.zeros((k, n_s), dtype=np.int8)
    provs = np.full((k, n_s), -1)
    for i in range(k):
        first = business_plan(model, x[i], y[i], makes[i], start, no_provider, know_how)
        modes[i], provs[i] = plan_sourcing(model, first, x[i], y[i], makes[i], start, aware[i])
        plan = business_plan(model, x[i], y[i], makes[i], modes[i], provs[i], know_how)
        go[i] = plan.profit_usd >= wc.entry_profit_reference_usd_per_month
    if not go.any():
        return
    rows = model.add_workshops(x[go], y[go], rng, makes=makes[go],
                               cum_units=np.where(makes[go], know_how[None, :], 0.0))
    ws.aware[rows] = aware[go]
    ws.mode[rows] = modes[go]
    ws.provider[rows] = provs[go]
    effects = np.array([_plan_effects(model, modes[i], provs[i])[FINANCE] for i in np.flatnonzero(go)])
    model.finance_equipment(rows, loan_rate(model, effects), np.full(rows.size, wc.loan_term_months))
    if model.pv.n:
        model.pv.clients[: model.pv.n] = model.count_clients()
    model.entries += int(go.sum())
