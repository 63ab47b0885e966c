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
- maintenance: the hours lost to downtime, valued only where orders would fill them;
- training: the extra labour hours an untrained team needs.

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
    capacity_hours: np.ndarray
    labour_usd: np.ndarray
    lines: np.ndarray
    loan_base_usd: np.ndarray
    material_usd: np.ndarray
    effects: np.ndarray
    mode: np.ndarray
    x_km: np.ndarray
    y_km: np.ndarray


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
    if s == MAINTENANCE:
        down = sc.maintenance_downtime
        made = np.minimum(pos.hours_ordered, pos.capacity_hours * (1.0 - down * (1.0 - effect)))
        made0 = np.minimum(pos.hours_ordered, pos.capacity_hours * (1.0 - down * (1.0 - e0)))
        hours_own = np.maximum(made0, 1e-12)
        per_hour = np.where(made0 > 0, contribution.sum(axis=1) / hours_own, 0.0)
        return per_hour * (made - made0)
    if s == TRAINING:
        tau = sc.training_labour_penalty
        return pos.labour_usd * tau * (effect - e0) / (1.0 + tau * (1.0 - e0))
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
