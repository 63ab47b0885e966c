"""Shocks to the world DM lives in: when each kind is on, and what it changes in a month.

The schedule of a run is fixed at set-up: each kind is on for ``months`` months from
``start_month`` and, with ``rate_per_year`` > 0, also from random start months drawn from the
``shocks`` stream (one uniform draw per kind and month, all kinds at once, whatever is switched
on: a run with and without a shock shares every other draw, and every shock kind's own draws).
What a shock changes is read by the phases from :class:`ShockState` (docs/ODD.md §7.14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmsim.config import SHOCK_KINDS, DMSimConfig


@dataclass(frozen=True)
class ShockState:
    """What the shocks of one month change (all neutral when no shock is on)."""

    freight: float = 1.0  # multiplier of international freight cost
    fx: float = 1.0  # multiplier of foreign-currency costs in local terms
    import_unavailable: float = 0.0  # share of import units asked for that cannot be delivered
    import_lead_time: float = 1.0  # multiplier of the import lead time
    outage_share: float = 0.0  # share of workshop hours lost before maintenance protection
    demand: tuple[float, ...] = ()  # per product demand multiplier; () = all 1

    @property
    def neutral(self) -> bool:
        """No shock is on."""
        return (self.freight == 1.0 and self.fx == 1.0 and self.import_unavailable == 0.0
                and self.outage_share == 0.0 and all(d == 1.0 for d in self.demand))


def schedule(cfg: DMSimConfig, rng: np.random.Generator) -> np.ndarray:
    """(kinds, months) bool: whether each kind of shock is on in each month of the run."""
    months = cfg.steps
    draws = rng.random((len(SHOCK_KINDS), months))  # always drawn: common random numbers
    on = np.zeros((len(SHOCK_KINDS), months), dtype=bool)
    for k, kind in enumerate(SHOCK_KINDS):
        shock = getattr(cfg.shocks, kind)
        if shock.size <= 0 or shock.months <= 0:
            continue
        starts = [shock.start_month] if shock.start_month < months else []
        if shock.rate_per_year > 0:
            starts += list(np.flatnonzero(draws[k] < shock.rate_per_year / 12.0))
        for start in starts:
            on[k, start:start + shock.months] = True
    return on


def state_at(cfg: DMSimConfig, on: np.ndarray, month: int, products: list[str]) -> ShockState:
    """The shock state of ``month`` given the schedule ``on`` (beyond the schedule: neutral)."""
    if month >= on.shape[1] or not on[:, month].any():
        return ShockState(demand=(1.0,) * len(products))
    s = cfg.shocks
    active = dict(zip(SHOCK_KINDS, on[:, month], strict=True))

    def size(kind: str) -> float:
        return getattr(s, kind).size if active[kind] else 0.0

    surge = size("demand_surge")
    return ShockState(
        freight=1.0 + size("freight"),
        fx=1.0 + size("fx"),
        import_unavailable=size("import_disruption"),
        import_lead_time=1.0 + size("import_disruption"),
        outage_share=size("outages"),
        demand=tuple(1.0 + surge if p == s.demand_surge.product else 1.0 for p in products),
    )


def import_cost_factors(cfg: DMSimConfig, state: ShockState) -> tuple[float, float]:
    """Landed cost per USD of factory price: (finished goods at the port, makers' materials in the region).

    Foreign-currency costs (factory price and freight) scale with ``fx``; the tariff is levied on
    their value in local terms. Materials also pay the haul from a distant port to the region's
    main town (``region.port_distance_km``), as finished goods do (theirs is in each buyer's
    distance); within the region the distributor's margin covers distribution. Without shocks
    and with the port in the region: ``1 + freight + tariff`` (bit for bit).
    """
    imp = cfg.imports
    material_tariff = imp.tariff if imp.material_tariff is None else imp.material_tariff
    freight = imp.freight * state.freight
    goods = state.fx * (1.0 + freight + imp.tariff)
    materials = state.fx * (1.0 + freight + material_tariff)
    if cfg.region.port_distance_km > 0:
        materials += material_haul_usd_per_usd(cfg)  # trucking is paid in local terms: no fx
    return goods, materials


def goods_haul_usd(cfg: DMSimConfig, weight_kg: np.ndarray) -> np.ndarray:
    """The corridor haul of one finished import from the port to the region (USD per unit, by product)."""
    return cfg.imports.trunk_haul_usd_per_tonne_km * cfg.region.port_distance_km * weight_kg / 1000.0


def material_haul_usd_per_usd(cfg: DMSimConfig) -> float:
    """The corridor haul of makers' materials, per USD of base material (materials weigh what products do).

    The demand basket's kilograms per USD of base material, times the haul per kilogram.
    """
    demand = np.array([p.demand_per_person_per_month for p in cfg.products.values()])
    kg = np.array([p.weight_kg for p in cfg.products.values()])
    usd = cfg.scales.material * np.array([p.material_usd for p in cfg.products.values()])
    kg_per_usd = float((demand * kg).sum() / max((demand * usd).sum(), 1e-12))
    return cfg.imports.trunk_haul_usd_per_tonne_km * cfg.region.port_distance_km * kg_per_usd / 1000.0


def outage_hours_lost(cfg: DMSimConfig, state: ShockState, maintenance_effect: np.ndarray) -> np.ndarray:
    """Share of each workshop's hours lost to power outages this month (W,): chronic and shock."""
    protection = cfg.shocks.outage_maintenance_protection
    share = 1.0 - (1.0 - cfg.region.power_outage_share) * (1.0 - state.outage_share)
    return share * (1.0 - protection * maintenance_effect)
