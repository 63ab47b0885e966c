"""Entry of new workshops: prospective owners test a business plan against the market.

Prospects arrive at a steady rate and each picks a site where demand is unmet. A prospect
knows what the local ecosystem knows: it starts with a share of local makers' know-how
(``learning.spillover_entry``), buys material at a newcomer's price, and chooses the sourcing
of each service as an incumbent would (:mod:`dmsim.sourcing`: in-house, a provider it has
heard of, or none). It prices like an incumbent starting out — cost plus the starting markup
with fixed costs spread over its normal capacity — and predicts its
orders from last month's market: its option is added to the DM nest of every buyer group
within reach (the nested logit's inclusive value makes this exact for one added option), so
it expects many orders where incumbents are dear or turn buyers away, and few where they are
cheap. It enters if the predicted monthly profit beats the owner's outside option. In a thin
ecosystem a newcomer's overhead makes it too dear to win orders, so few enter; once shared
providers exist, the same plan can pass — both sides of the loop can tip.
"""

from __future__ import annotations

import itertools
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
    loan_rate,
    material_index_at,
    reach_km,
)
from dmsim.market import workshop_terms, workshop_utility
from dmsim.sourcing import best_sourcing, local_providers
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_SHARED, SEGMENT_HOUSEHOLD
from dmsim.valuation import Position

if TYPE_CHECKING:
    from dmsim.model import DMModel


@dataclass
class Plans:
    """Business plans of k prospects (per month; USD, units, hours), one row each."""

    profit_usd: np.ndarray  # (k,)
    units: np.ndarray  # (k, P) predicted units sold
    units_institution: np.ndarray  # (k, P) of which to institutions
    price_usd: np.ndarray  # (k, P)
    variable_usd: np.ndarray  # (k, P) material and labour per unit
    delivery_usd: np.ndarray  # (k, P) delivery per unit its buyers pay
    hours: np.ndarray  # (k, P) production hours per unit
    material_usd: np.ndarray  # (k,) material spend
    effects: np.ndarray  # (k, S) service effects of its sourcing


def _plan_effects(model: DMModel, mode: np.ndarray, prov: np.ndarray) -> np.ndarray:
    """Service effects (k, S) of standard-size newcomers with the given sourcing (k, S)."""
    fit = np.where(prov >= 0, model.pv.fit[np.maximum(prov, 0)], 0.0) if model.pv.n else np.zeros(mode.shape)
    inside = float(internal_effect(model, np.array([model.cfg.workshops.capacity_hours_per_month]))[0])
    return np.where(mode == MODE_INTERNAL, inside,
                    np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fit, 0.0))


def start_up_capital_cost(model: DMModel, finance_effect: np.ndarray) -> np.ndarray:
    """A newcomer's monthly capital cost (USD): interest on its equipment loan, plus wear.

    The loan is ``loan_share`` of the standard capacity's equipment, at the rate its finance
    sourcing gives (``DMModel.finance_equipment``); as for incumbents, repaying principal is not
    a cost (``costs.unit_costs``).
    """
    wc = model.cfg.workshops
    cap = wc.capacity_hours_per_month
    loan = wc.loan_share * wc.capex_usd_per_hour_capacity * cap
    return loan * loan_rate(model, finance_effect) / 12.0 + equipment_wear_usd(model, np.full(np.shape(finance_effect),
                                                                                              cap))


def entry_know_how(model: DMModel) -> np.ndarray:
    """Learning stock a newcomer starts with, (P,) units: a share of active makers' mean."""
    ws = model.ws
    n = ws.n
    makers = ws.active[:n, None] & ws.makes[:n]
    mean = (ws.cum_units[:n] * makers).sum(axis=0) / np.maximum(makers.sum(axis=0), 1)
    return model.cfg.learning.spillover_entry * mean


def visibility_horizon(model: DMModel) -> np.ndarray:
    """How near a newcomer must be to a buyer group to be among its k nearest makers, (P, G) km.

    The distance of the farthest active maker in the group's list, or infinity where the list
    has a free slot or a closed workshop's (an entrant takes that slot: ``NeighbourIndex.insert``).
    """
    idx = model.index
    active = model.ws.active[: model.ws.n]
    out = []
    for p in range(model.n_products):
        r0 = idx.rows0[p]
        live = idx.slot[p] & (active[r0] if active.size else False)
        out.append(np.where(live.all(axis=0), np.where(live, idx.dist0_km[p], 0.0).max(axis=0, initial=0.0),
                            np.inf))
    return np.array(out) if out else np.zeros((0, model.bg.n))


@dataclass
class Catchments:
    """The buyer groups around k sites: one row per (site, group) pair within the delivery reach."""

    site: np.ndarray  # (n,) which site
    group: np.ndarray  # (n,) buyer group row
    dist_km: np.ndarray  # (n,)
    visible: np.ndarray  # (P, n) a newcomer there would be among the group's k nearest makers


def catchments(model: DMModel, x: np.ndarray, y: np.ndarray) -> Catchments:
    """Buyer groups within ``delivery_reach_km`` of each site (x, y) km, and where a newcomer would be seen."""
    lists = model.index.tree.query_ball_point(np.column_stack([x, y]), model.cfg.workshops.delivery_reach_km,
                                              return_sorted=True)
    sizes = np.fromiter((len(lst) for lst in lists), dtype=np.int64, count=len(lists))
    site = np.repeat(np.arange(len(lists)), sizes)
    group = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(sizes.sum()))
    dist = np.hypot(model.bg.x_km[group] - x[site], model.bg.y_km[group] - y[site])
    horizon = visibility_horizon(model)
    visible = dist[None, :] < horizon[:, group] if horizon.size else np.ones((model.n_products, group.size), bool)
    keep = visible.any(axis=0)  # groups that see k nearer makers of every product drop out here
    return Catchments(site[keep], group[keep], dist[keep], visible[:, keep])


def business_plans(model: DMModel, x: np.ndarray, y: np.ndarray, makes: np.ndarray, mode: np.ndarray,
                   prov: np.ndarray, know_how: np.ndarray, around: Catchments) -> Plans:
    """Prospects' predicted month at sites (x, y) km, (k,) each, from last month's market.

    Each prospect is judged alone against last month's market, so the k plans are computed
    together: every (prospect, buyer group) pair within its marketing reach where it would be
    among the group's k nearest makers (``around``, :func:`catchments`) at once.
    """
    cfg = model.cfg
    wc = cfg.workshops
    sc = cfg.services
    k, n_p = makes.shape
    eff = _plan_effects(model, mode, prov)
    cap = wc.capacity_hours_per_month
    normal = wc.target_utilisation * cap  # fixed costs are spread as an incumbent does (costs.spread_hours)
    b = -np.log2(cfg.learning.progress_ratio)
    hours = (model.labour_hours[None, :] * (1.0 + sc.training_labour_penalty * (1.0 - eff[:, TRAINING]))[:, None]
             * ((1.0 + know_how / cfg.learning.q0_units) ** (-b))[None, :])
    fee = model.pv.fee_usd[np.maximum(prov, 0)] if model.pv.n else np.zeros(mode.shape)
    overhead = np.where(mode == MODE_INTERNAL, model.internal_cost_usd[None, :],
                        np.where((mode == MODE_SHARED) | (mode == MODE_GLOBAL), fee, 0.0)).sum(axis=1)
    design = np.where(mode[:, DESIGN] == MODE_SHARED, -sc.design_shared_setup_saving,
                      sc.design_setup_penalty * (1 - eff[:, DESIGN]))
    fixed = (wc.setup_usd_per_month_per_product * makes.sum(axis=1) * (1 + design) + wc.fixed_cost_usd_per_month
             + start_up_capital_cost(model, eff[:, FINANCE]))
    pi = material_index_at(model, 0.0)  # a newcomer has no volume to be discounted on
    variable = model.material_usd[None, :] * pi + hours * cfg.labour.wage_usd_per_hour
    cost = variable + (fixed + overhead)[:, None] * hours / normal
    price = cost * (1 + wc.markup)
    units, units_inst, delivered = np.zeros((k, n_p)), np.zeros((k, n_p)), np.zeros((k, n_p))
    # Orders: add each prospect to the DM nest of every group within its reach.
    buyers = model.buyer_terms
    reach = reach_km(model, eff[:, MARKETING])
    in_reach = around.dist_km <= reach[around.site]
    if in_reach.any():
        who, near, dist = around.site[in_reach], around.group[in_reach], around.dist_km[in_reach]
        visible = around.visible[:, in_reach]
        terms = workshop_terms(model, eff, x, y, np.full(k, model.cfg.network.type == "platform"))
        rho = cfg.market.nest_rho
        inst = buyers.institution[near]
        for p in range(n_p):
            sel = makes[who, p] & visible[p]
            if not sel.any():
                continue
            g, i = near[sel], who[sel]
            u, deliv, _ = workshop_utility(model, buyers, terms, p, g, i[:, None], price[i, p][:, None],
                                           dist[sel][:, None])
            u = u[:, 0]
            if model.requires_cert[p]:
                u = np.where(inst[sel] & ~terms.certified[i], -np.inf, u)
            iv_old = model.inclusive_value[g, p]
            iv_new = rho * np.logaddexp(iv_old / rho, u / rho)
            u0 = buyers.u_import[g, p]
            out = 0.0 if buyers.u_outside is None else buyers.u_outside[g, p]  # not buying (and informal goods)
            top = np.maximum(np.maximum(iv_new, u0), out)
            p_nest = np.exp(iv_new - top) / (np.exp(iv_new - top) + np.exp(u0 - top) + np.exp(out - top))
            within = np.where(np.isfinite(u), np.exp((u - np.where(np.isfinite(iv_new), iv_new, 0.0)) / rho), 0.0)
            got = model.bg.potential_units[g, p] * p_nest * within
            units[:, p] = np.bincount(i, weights=got, minlength=k)
            units_inst[:, p] = np.bincount(i, weights=got * inst[sel], minlength=k)
            delivered[:, p] = np.bincount(i, weights=got * deliv[:, 0], minlength=k)
    delivery = np.where(units > 0, delivered / np.maximum(units, 1e-12), 0.0)
    avail = cap * (1 - sc.maintenance_downtime * (1 - eff[:, MAINTENANCE]))
    used = (units * hours).sum(axis=1)
    squeeze = np.where(used > avail, avail / np.maximum(used, 1e-12), 1.0)[:, None]
    units *= squeeze
    units_inst *= squeeze
    commission = cfg.network.platform_commission if cfg.network.type == "platform" else 0.0
    profit = (units * (price * (1 - commission) - variable)).sum(axis=1) - fixed - overhead
    return Plans(profit_usd=profit, units=units, units_institution=units_inst, price_usd=price,
                 variable_usd=variable, delivery_usd=delivery, hours=hours,
                 material_usd=(units * model.material_usd[None, :]).sum(axis=1) * pi, effects=eff)


def plan_sourcing(model: DMModel, plans: Plans, x: np.ndarray, y: np.ndarray, makes: np.ndarray,
                  mode: np.ndarray, aware: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sourcing prospects would choose given first plans: the best option per service, (k, S) each."""
    k = makes.shape[0]
    wc = model.cfg.workshops
    cap = np.full(k, wc.capacity_hours_per_month)
    hours = (plans.units * plans.hours).sum(axis=1)
    loan = wc.loan_share * wc.capex_usd_per_hour_capacity * wc.capacity_hours_per_month  # it is about to borrow
    pos = Position(
        units=plans.units, units_institution=plans.units_institution,
        margin_usd=plans.price_usd - plans.variable_usd, delivery_usd=plans.delivery_usd,
        hours_ordered=hours, hours_sold=hours, capacity_hours=cap,
        labour_usd=hours * model.cfg.labour.wage_usd_per_hour, lines=makes.sum(axis=1),
        loan_base_usd=np.full(k, loan), material_usd=plans.material_usd,
        effects=plans.effects, mode=mode, x_km=x, y_km=y,
    )
    new_mode, new_prov, _ = best_sourcing(model, pos, np.full(mode.shape, -1), aware, model.institution_ratio)
    return new_mode, new_prov


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
    start = np.full((k, n_s), MODE_INTERNAL, dtype=np.int8)
    around = catchments(model, x, y)
    first = business_plans(model, x, y, makes, start, np.full((k, n_s), -1), know_how, around)
    modes, provs = plan_sourcing(model, first, x, y, makes, start, aware)
    plans = business_plans(model, x, y, makes, modes, provs, know_how, around)
    go = plans.profit_usd >= wc.entry_profit_reference_usd_per_month
    if not go.any():
        return
    rows = model.add_workshops(x[go], y[go], rng, makes=makes[go],
                               cum_units=np.where(makes[go], know_how[None, :], 0.0))
    ws.aware[rows] = aware[go]
    ws.mode[rows] = modes[go]
    ws.provider[rows] = provs[go]
    model.finance_equipment(rows, loan_rate(model, plans.effects[go, FINANCE]), np.full(rows.size, wc.loan_term_months))
    if model.pv.n:
        model.pv.clients[: model.pv.n] = model.count_clients()
    model.entries += int(go.sum())
