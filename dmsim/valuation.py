"""What a service is worth to a workshop: the money value of its effect (USD per month).

A workshop does not know its demand curve; it knows last month's business — units sold (to
households and to institutions), their contribution margin, hours ordered and available, its
wage bill, set-up cost and debt — and the local response of its orders to anything buyers
value: under the nested logit an option's orders scale as ``exp(ΔU / ρ)`` when its utility
moves by ΔU and its share of the nest is small. From these it values, for each service, the
effect a sourcing mode would deliver, relative to the effect it has now:

- certification: eligibility for institutional buyers of products that require it, and
  perceived quality (utility ``θ_q · certification_quality · e``);
- design: product-line set-up cost (a shared library cuts it below in-house);
- logistics: delivery cost to buyers (utility), and pooled material purchasing when shared;
- marketing: visibility (utility ``−v · (1 − e)``) and reach (orders scale with the potential
  demand within reach, :class:`dmsim.geography.Catchment`);
- finance: the interest on the loan of a planned investment;
- maintenance: the hours lost to downtime — what they would sell, by :func:`capacity_value`;
- training: the extra labour hours an untrained team needs — its wage bill, and the capacity
  they take up.

Every option is then ``value − cost``, and make-or-buy (``sourcing.py``) picks the best one
the workshop knows of; ``none`` (informal: no cost, no effect) is always an option. Values
are estimates with last month's margins — a bounded-rational rule, not the model's own
outcome of the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsim.costs import CERT, DESIGN, FINANCE, LOGISTICS, MAINTENANCE, MARKETING, TRAINING, reach_km
from dmsim.state import MODE_SHARED

if TYPE_CHECKING:
    from dmsim.model import DMModel


@dataclass
class Position:
    """A workshop's recent business, the basis of its valuation. Arrays over k workshops.

    Attributes:
        units: (k, P) units sold per month.
        units_institution: (k, P) of which to institutions.
        margin_usd: (k, P) contribution per unit: price − material − labour, at least the normal
            margin of cost-plus pricing (USD).
        delivery_usd: (k, P) delivery cost per unit its buyers pay, at its current logistics
            effect (USD).
        hours_ordered: (k,) production hours ordered per month.
        hours_sold: (k,) production hours of the units sold per month.
        capacity_hours: (k,) production hours per month before downtime.
        labour_usd: (k,) production wage bill per month (USD).
        lines: (k,) product lines made.
        loan_base_usd: (k,) the loan of an investment it plans (USD); finance changes the rate of
            new loans, not of debt already taken.
        material_usd: (k,) material spend per month at its current price (USD).
        effects: (k, S) current service effects.
        mode: (k, S) current sourcing modes.
        x_km, y_km: (k,) site.
    """

    units: np.ndarray
    units_institution: np.ndarray
    margin_usd: np.ndarray
    delivery_usd: np.ndarray
    hours_ordered: np.ndarray
    hours_sold: np.ndarray
    capacity_hours: np.ndarray
    labour_usd: np.ndarray
    lines: np.ndarray
    loan_base_usd: np.ndarray
    material_usd: np.ndarray
    effects: np.ndarray
    mode: np.ndarray
    x_km: np.ndarray
    y_km: np.ndarray


def capacity_value(model: DMModel, units: np.ndarray, margin_usd: np.ndarray, hours_sold: np.ndarray,
                   hours_ordered: np.ndarray, hours_available: np.ndarray, delta_available: np.ndarray) -> np.ndarray:
    """What a change in available hours is worth to workshops, USD per month, (k,).

    A workshop aims to fill ``target_utilisation`` (u*) of its available hours A and raises its
    price until its orders fit (``costs.adjust_markups``). So a workshop at or above u* sells
    u*·ΔA more hours: first orders it now turns away, at today's price, then orders won by a
    price cut of ρ/α · ln(g) per unit on all it sells (its orders scale as exp(−α Δp / ρ)); a
    capacity loss sells fewer hours at a higher price. A workshop below u* sells what is ordered
    and gains nothing from extra hours, loses only the hours a loss cuts below its orders.
    Contribution per hour from ``margin_usd`` (k, P) on ``units`` (k, P) over ``hours_sold``.
    """
    cfg = model.cfg
    u = cfg.workshops.target_utilisation
    h = np.maximum(hours_sold, 1e-12)
    per_hour = np.where(hours_sold > 0, (margin_usd * units).sum(axis=1) / h, 0.0)
    bound = hours_ordered >= u * hours_available
    after = hours_available + delta_available
    delta = np.where(bound, u * delta_available,
                     np.minimum(hours_ordered, u * after) - np.minimum(hours_ordered, u * hours_available))
    turned_away = np.maximum(hours_ordered - hours_available, 0.0)
    free = np.where(bound, np.clip(delta, 0.0, turned_away), delta)
    growth = np.maximum(h + delta, 1e-12) / np.maximum(h + free, 1e-12)
    alpha = cfg.market.price_sensitivity_household / model.import_price_usd
    spread = (cfg.market.nest_rho / alpha[None, :] * units).sum(axis=1) * np.maximum(h + delta, 0.0) / h
    return np.where(hours_sold > 0, per_hour * delta - np.log(growth) * spread, 0.0)


def institution_ratio(model: DMModel, units: np.ndarray, units_institution: np.ndarray,
                      certified: np.ndarray) -> np.ndarray:
    """Institutional units per household unit a certified maker of each product sells, (P,).

    Read off last month's certified sellers; where none sold a product, from the split of
    potential demand (an uncertified workshop cannot observe institutions' orders itself).
    """
    seg_inst = model.bg.segment[: model.bg.n] == 1
    pot = model.bg.potential_units[: model.bg.n]
    pot_ratio = pot[seg_inst].sum(axis=0) / np.maximum(pot[~seg_inst].sum(axis=0), 1e-12)
    inst = (units_institution * certified[:, None]).sum(axis=0)
    house = ((units - units_institution) * certified[:, None]).sum(axis=0)
    return np.where(house > 0, inst / np.maximum(house, 1e-12), pot_ratio)


def service_values(model: DMModel, pos: Position, s: int, effect: np.ndarray, shared: bool,
                   ratio: np.ndarray, pooled_discount: np.ndarray | None = None) -> np.ndarray:
    """Value (USD/month) of sourcing service ``s`` at ``effect`` (k,), relative to now, (k,).

    ``shared`` marks a local shared provider (a shared design library's deeper set-up saving);
    ``pooled_discount`` (k,) is the extra material discount a shared logistics pool brings.
    ``ratio`` is :func:`institution_ratio` (for certification).
    """
    cfg = model.cfg
    sc = cfg.services
    m = cfg.market
    rho = m.nest_rho
    e0 = pos.effects[:, s]
    contribution = pos.margin_usd * pos.units  # (k, P) USD per month
    if s == MARKETING:
        # Visibility (utility) and reach: orders scale with the potential demand in reach.
        du = m.visibility_weight * (effect - e0)
        cat = model.catchment
        now = cat.within(pos.x_km, pos.y_km, reach_km(model, e0))
        then = cat.within(pos.x_km, pos.y_km, reach_km(model, effect))
        scale = np.where(now > 0, then / np.maximum(now, 1e-12), 1.0)
        return (contribution * (scale * np.exp(du / rho)[:, None] - 1.0)).sum(axis=1)
    if s == CERT:
        thr = sc.certification_threshold
        req = model.requires_cert[None, :]
        now = (e0 >= thr)[:, None]
        then = (effect >= thr)[:, None]
        house = pos.units - pos.units_institution
        eligible = np.where(req & now & ~then, house,
                            np.where(req & ~now & then, pos.units + house * ratio[None, :], pos.units))
        du = m.quality_weight * m.certification_quality * (effect - e0)
        return (pos.margin_usd * (eligible * np.exp(du / rho)[:, None] - pos.units)).sum(axis=1)
    if s == LOGISTICS:
        saving = sc.logistics_saving
        base = pos.delivery_usd / np.maximum(1.0 - saving * e0, 1e-12)[:, None]  # before any saving
        alpha = cfg.market.price_sensitivity_household / model.import_price_usd[None, :]
        du = alpha * saving * base * (effect - e0)[:, None]
        value = (contribution * np.expm1(du / rho)).sum(axis=1)
        if pooled_discount is not None:
            value = value + pos.material_usd * pooled_discount
        return value
    down = sc.maintenance_downtime
    available = pos.capacity_hours * (1.0 - down * (1.0 - pos.effects[:, MAINTENANCE]))
    if s == MAINTENANCE:  # downtime: the hours it can sell
        delta = pos.capacity_hours * down * (effect - e0)
        return capacity_value(model, pos.units, pos.margin_usd, pos.hours_sold, pos.hours_ordered, available, delta)
    if s == TRAINING:  # labour per unit: its wage bill, and what its hours can make
        tau = sc.training_labour_penalty
        saving = pos.labour_usd * tau * (effect - e0) / (1.0 + tau * (1.0 - e0))
        as_hours = available * ((1.0 + tau * (1.0 - e0)) / (1.0 + tau * (1.0 - effect)) - 1.0)
        return saving + capacity_value(model, pos.units, pos.margin_usd, pos.hours_sold, pos.hours_ordered,
                                       available, as_hours)
    if s == DESIGN:
        setup = cfg.workshops.setup_usd_per_month_per_product * pos.lines
        now_shared = pos.mode[:, DESIGN] == MODE_SHARED
        delta0 = np.where(now_shared, -sc.design_shared_setup_saving, sc.design_setup_penalty * (1.0 - e0))
        delta = -sc.design_shared_setup_saving if shared else sc.design_setup_penalty * (1.0 - effect)
        return setup * (delta0 - delta)
    if s == FINANCE:
        fin = cfg.finance
        spread = fin.informal_rate_per_year - fin.formal_rate_per_year
        return pos.loan_base_usd * spread * (effect - e0) / 12.0
    raise ValueError(f"unknown service index {s}")
