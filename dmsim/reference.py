"""Reference implementation of the month's hot phases: per agent, in plain Python.

:class:`ReferenceModel` is a :class:`~dmsim.model.DMModel` whose pricing (phases 1-2), market
(phase 3) and accounting (phase 4) are written out agent by agent — every provider, workshop,
supplier and buyer group is a Mesa agent handled in a Python loop with scalar ``math``
arithmetic — directly from the equations of docs/ODD.md §7.1-7.7 and §7.12.
It shares no hot-path code with ``costs.py``, ``market.py`` or ``accounting.py``: it only
reads the columnar state (``model.ws`` …), model constants and the k-nearest index, and writes
its results into the same structures (:class:`~dmsim.costs.UnitCosts`,
:class:`~dmsim.market.Sales`, :class:`~dmsim.accounting.MonthBooks`, the ledger) element by
element. Learning, make-or-buy, entry, exit and metrics are the shared code of ``DMModel``.

It is slow on purpose and serves as the test oracle for the vectorised step
(``tests/test_reference.py``): the same config and seed must give the same month-by-month
metrics in both models. ``python -m dmsim.bench`` times it against the vectorised step.

Conventions: money in USD, time in months, production time in hours, distances in km,
emissions in kg CO2. A workshop that has exited is no longer a Mesa agent: it offers nothing,
orders nothing and pays nothing, and its rows in the month's arrays stay zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dmsim import market
from dmsim.accounting import MonthBooks
from dmsim.agents import BuyerGroup, SharedServiceProvider, Supplier, Workshop
from dmsim.config import SERVICES
from dmsim.costs import UnitCosts
from dmsim.market import Sales, unmet_units
from dmsim.model import DMModel
from dmsim.state import (
    MODE_GLOBAL,
    MODE_INTERNAL,
    MODE_SHARED,
    PROVIDER_LOCAL,
    SEGMENT_INSTITUTION,
)

# Service positions in the (W, S) arrays, in the order of config.SERVICES.
CERT = SERVICES.index("certification")
DESIGN = SERVICES.index("design")
LOGISTICS = SERVICES.index("logistics")
MARKETING = SERVICES.index("marketing")
MAINTENANCE = SERVICES.index("maintenance")
TRAINING = SERVICES.index("training")

# Second-round thresholds of the market (ODD §7.6): a group re-chooses only if more than
# RATIONED_MIN_UNITS were refused; a workshop takes second-round orders only with more than
# ROOM_MIN_HOURS left.
RATIONED_MIN_UNITS = 1e-12
ROOM_MIN_HOURS = 1e-9


# ---------------------------------------------------------------------------------- agents
class ProviderRef:
    """A shared-service provider during the month (one Mesa agent, its state as scalars)."""

    def __init__(self, model: DMModel, agent: SharedServiceProvider) -> None:
        pv = model.pv
        r = agent.row
        self.model = model
        self.agent = agent
        self.row = r
        self.local = int(pv.kind[r]) == PROVIDER_LOCAL
        self.fixed_usd = float(pv.fixed_usd[r])  # F_k per month
        self.marginal_usd = float(pv.marginal_usd[r])  # m_k per standard client-month
        self.expected_clients = float(pv.expected_clients[r])  # n̂_k, standard clients

    def set_fee(self) -> float:
        """Price to recover cost at the expected clients: ``(F / max(n̂, 1) + m)(1 + γ)`` (USD/month).

        Written to ``pv.fee_usd`` and returned.
        """
        margin = self.model.cfg.services.provider_margin
        subsidy = self.model.subsidy_share_now() if self.local else 0.0  # start-up subsidy lowers the fee
        fixed = self.fixed_usd * (1.0 - subsidy)
        fee = (fixed / max(self.expected_clients, 1.0) + self.marginal_usd) * (1.0 + margin)
        self.model.pv.fee_usd[self.row] = fee
        return fee

    def settle(self, clients: float) -> float:
        """Pay this month's running cost ``F + m·n`` and return the profit before subsidy (USD).

        ``clients`` in standard-client units. A local provider pays its staff and running costs
        locally (``service_staff``); a global one pays its head office abroad (``foreign``). The
        month's fee revenue ``fee · n`` and running cost are recorded in ``pv.revenue_usd`` and
        ``pv.cost_usd`` (USD).
        """
        pv = self.model.pv
        cost = self.fixed_usd + self.marginal_usd * clients
        payee = "service_staff" if self.local else "foreign"
        _pay(self.model, "pv", payee, cost, payer_row=self.row)
        revenue = float(pv.fee_usd[self.row]) * clients
        pv.revenue_usd[self.row] = revenue
        pv.cost_usd[self.row] = cost
        return revenue - cost


class WorkshopRef:
    """A workshop during the month (one Mesa agent): its costs, prices, orders and payments.

    The state is read once, as Python scalars, when the view is made; the month's results
    are kept on the view and written back into the arrays by the model's phase methods.
    """

    def __init__(self, model: DMModel, agent: Workshop) -> None:
        ws = model.ws
        r = agent.row
        self.model = model
        self.agent = agent
        self.row = r
        self.n_products = model.n_products
        self.mode: list[int] = [int(v) for v in ws.mode[r]]
        self.provider: list[int] = [int(v) for v in ws.provider[r]]
        self.network = int(ws.network[r])
        self.capacity_hours = float(ws.capacity_hours[r])
        self.expected_hours = float(ws.expected_hours[r])
        self.lines = sum(bool(v) for v in ws.makes[r])
        self.cum_units: list[float] = [float(v) for v in ws.cum_units[r]]
        self.markup: list[float] = [float(v) for v in ws.markup[r]]  # over unit cost, per product (fraction)
        self.debt_payment_usd = float(ws.debt_payment_usd[r])
        self.debt_usd = float(ws.debt_usd[r])  # equipment loans outstanding
        self.loan_rate = float(ws.loan_rate[r])  # per year
        self.x_km = float(ws.x_km[r])
        self.y_km = float(ws.y_km[r])
        # Market results of the month (phase 3).
        self.ordered_units: list[float] = [0.0] * self.n_products

    # -- services (ODD §7.2) ------------------------------------------------------------
    def client_size(self) -> float:
        """Service needs relative to a standard workshop: ``(C / C_0)^ε`` (dimensionless)."""
        cfg = self.model.cfg
        return (self.capacity_hours / cfg.workshops.capacity_hours_per_month) ** cfg.services.internal_scale_elasticity

    def buys(self, s: int) -> bool:
        """Whether service ``s`` is bought from a provider (shared or global)."""
        return self.mode[s] in (MODE_SHARED, MODE_GLOBAL) and self.provider[s] >= 0

    def internal_effect(self) -> float:
        """Effect of a service done in-house, in [0, 1]: ``min(1, e_0 (C / C_0)^η)``.

        ``e_0`` is a standard-size workshop's in-house effect and ``η`` its elasticity to the
        capacity ``C`` (hours/month; ``C_0`` the standard capacity): a small shop's own
        certification or marketing is worse than a specialist's.
        """
        cfg = self.model.cfg
        sc = cfg.services
        size = self.capacity_hours / cfg.workshops.capacity_hours_per_month
        return min(1.0, sc.internal_effect * size ** sc.internal_effect_scale_elasticity)

    def effect(self, s: int) -> float:
        """Effect of service ``s`` in [0, 1]: the in-house effect, the provider's fit if bought, 0 without."""
        if self.mode[s] == MODE_INTERNAL:
            return self.internal_effect()
        if self.mode[s] in (MODE_SHARED, MODE_GLOBAL):
            return float(self.model.pv.fit[self.provider[s]]) if self.provider[s] >= 0 else 0.0
        return 0.0

    def service_cost_usd(self, s: int) -> float:
        """Monthly cost of service ``s``: ``z·f_s`` in-house, ``z·fee_k`` if bought, 0 without (USD).

        ``f_s`` is the in-house cost of a standard workshop, already scaled by
        ``services.internal_cost_scale`` (``model.internal_cost_usd``).
        """
        if self.mode[s] == MODE_INTERNAL:
            per_standard = float(self.model.internal_cost_usd[s])
        elif self.buys(s):
            per_standard = float(self.model.pv.fee_usd[self.provider[s]])
        else:
            per_standard = 0.0
        return per_standard * self.client_size()

    def setup_usd(self) -> float:
        """Product-line set-up per month, ``S · ℓ · (1 + δ)`` (USD).

        A shared (local) design library cuts set-up below in-house; without full design
        support it costs more.
        """
        sc = self.model.cfg.services
        if self.mode[DESIGN] == MODE_SHARED:
            delta = -sc.design_shared_setup_saving
        else:
            delta = sc.design_setup_penalty * (1.0 - self.effect(DESIGN))
        return self.model.cfg.workshops.setup_usd_per_month_per_product * self.lines * (1.0 + delta)

    def equipment_wear_usd(self) -> float:
        """Monthly wear of the equipment, replaced from abroad: capex per hour × C / life (USD)."""
        wc = self.model.cfg.workshops
        return wc.capex_usd_per_hour_capacity * self.capacity_hours / wc.equipment_life_months

    def capital_usd(self) -> float:
        """Capital cost per month: interest on the equipment debt plus the equipment's wear (USD)."""
        return self.debt_usd * self.loan_rate / 12.0 + self.equipment_wear_usd()

    def replacement_usd(self) -> float:
        """Worn equipment replaced this month (USD): its wear, once no equipment loan is outstanding."""
        return 0.0 if self.debt_usd > 1e-9 else self.equipment_wear_usd()

    def fixed_usd(self) -> float:
        """Monthly set-up, running and capital cost, ``Φ = S·ℓ·(1+δ) + F_ws + debt·r/12 + wear`` (USD)."""
        return self.setup_usd() + self.model.cfg.workshops.fixed_cost_usd_per_month + self.capital_usd()

    # -- costs (ODD §7.1) ----------------------------------------------------------------
    def material_index(self, volume_usd: float, local_supplier: bool) -> float:
        """Delivered material price per USD of base material, at a purchasing volume (USD/month).

        Imported material costs ``(1 + freight + tariff)(1 + distributor margin)`` less a volume
        discount; while a local supplier is active, it supplies a share at its own price (no
        discount).
        """
        cfg = self.model.cfg
        s, imp = cfg.suppliers, cfg.imports
        at_port = 1.0 + imp.freight + imp.tariff
        discount = min(s.max_discount,
                       s.volume_discount * math.log10(1.0 + volume_usd / s.discount_reference_usd_per_month))
        imported = at_port * (1.0 + s.distributor_margin) * (1.0 - discount)
        if not local_supplier:
            return imported
        local = s.local_price_factor * at_port * (1.0 + s.distributor_margin)
        share = s.local_material_share
        return (1.0 - share) * imported + share * local

    def hours_per_unit(self, p: int, learning_stock: float) -> float:
        """Production hours per unit of product ``p``.

        ``L_p · (1 + τ_trn (1 − e_training)) · (1 + Q̃/Q0)^(−b)``, ``b = −log2(progress ratio)``,
        with ``learning_stock`` = Q̃ (units, spillovers included).
        """
        cfg = self.model.cfg
        b = -math.log2(cfg.learning.progress_ratio)
        training = 1.0 + cfg.services.training_labour_penalty * (1.0 - self.effect(TRAINING))
        learning = (1.0 + learning_stock / cfg.learning.q0_units) ** (-b)
        return float(self.model.labour_hours[p]) * training * learning

    def expected_hours_floor(self) -> float:
        """Production hours per month the fixed costs are spread over (hours).

        ``max(Ĥ, u* · C, q_min)``: expected hours, but at least normal capacity (target
        utilisation × capacity) and ``min_expected_hours``.
        """
        wc = self.model.cfg.workshops
        return max(self.expected_hours, wc.target_utilisation * self.capacity_hours, wc.min_expected_hours)

    # -- market (ODD §7.5) ---------------------------------------------------------------
    def certified(self, effects: list[float]) -> bool:
        """Whether the certification effect reaches the threshold for institutional sales."""
        return effects[CERT] >= self.model.cfg.services.certification_threshold

    def utility_const(self, effects: list[float], local_supplier: bool) -> float:
        """``K_i``: utility of lead time, perceived quality and visibility (marketing)."""
        m = self.model.cfg.market
        quality = m.dm_base_quality + m.certification_quality * effects[CERT]
        net = self.model.cfg.network
        listed = net.type == "platform" and int(self.model.ws.network[self.row]) >= 0
        return (-m.lead_time_weight * self.model.lead_time_months(local_supplier) + m.quality_weight * (quality - 1.0)
                - m.visibility_weight * (1.0 - effects[MARKETING]) + (net.platform_visibility if listed else 0.0))

    def delivery_usd_per_km(self, p: int, effects: list[float]) -> float:
        """Delivery cost of one unit of ``p`` per km (USD/km), cut by the logistics service."""
        cfg = self.model.cfg
        rate = cfg.market.dm_delivery_cost_per_100km / 100.0
        return float(self.model.import_price_usd[p]) * rate * (1.0 - cfg.services.logistics_saving * effects[LOGISTICS])

    def inbound_kg_co2_per_t(self, local_supplier: bool) -> float:
        """CO2 of inbound material per tonne of product (kg/t): by sea, then by road from the port.

        Inbound material is taken to weigh as much as the product; the local supplier's share
        travels no distance.
        """
        cfg = self.model.cfg
        imp = cfg.imports
        px, py = self.model.towns.port
        port_km = math.hypot(self.x_km - px, self.y_km - py) + cfg.region.port_distance_km
        imported = 1.0 - (cfg.suppliers.local_material_share if local_supplier else 0.0)
        return imported * (imp.sea_km * imp.sea_kg_co2_per_t_km + port_km * imp.road_kg_co2_per_t_km)

    def reach_km(self, effects: list[float]) -> float:
        """How far buyers find this workshop (km), from its marketing effect ``e``.

        ``r_0 + (r_max − r_0) e`` with ``r_max`` = ``workshops.delivery_reach_km`` and ``r_0`` =
        ``services.marketing_reach_none_km`` (at most ``r_max``): word of mouth without marketing.
        """
        cfg = self.model.cfg
        top = cfg.workshops.delivery_reach_km
        low = min(cfg.services.marketing_reach_none_km, top)
        return low + (top - low) * effects[MARKETING]

    def available_hours(self, effects: list[float]) -> float:
        """Production hours available this month, after downtime without maintenance."""
        downtime = self.model.cfg.services.maintenance_downtime * (1.0 - effects[MAINTENANCE])
        return self.capacity_hours * (1.0 - downtime)


@dataclass
class WorkshopTerms:
    """A workshop's buyer-facing terms of the month (from its service effects)."""

    row: int
    certified: bool
    const: float  # K_i, utility
    delivery_per_km: list[float]  # per product, USD per unit-km
    inbound_kg_per_t: float  # kg CO2 of inbound material per tonne of product
    reach_km: float  # buyers farther away do not find it (marketing)


@dataclass
class Offer:
    """One workshop option of a buyer group for one product."""

    ws_row: int
    utility: float
    delivery_usd: float  # per unit
    emissions_kg: float  # per unit
    ordered: float = 0.0  # units asked for in this round (a probability until times demand)
    received: float = 0.0  # units delivered on this link, both rounds

    def again(self) -> Offer:
        """The same option for a second-round choice: same utility, no orders yet."""
        return Offer(self.ws_row, self.utility, self.delivery_usd, self.emissions_kg)


@dataclass
class GroupChoice:
    """A buyer group's nested-logit choice for one product."""

    offers: list[Offer] = field(default_factory=list)
    p_dm: float = 0.0
    p_import: float = 0.0
    p_none: float = 1.0
    logsum: float = 0.0  # log(e^IV + e^U0 + 1), utility (USD × α)
    inclusive_value: float = -math.inf


class BuyerRef:
    """A buyer group (households of a settlement, or an institution) during the month."""

    def __init__(self, model: DMModel, agent: BuyerGroup) -> None:
        bg = model.bg
        r = agent.row
        m = model.cfg.market
        self.model = model
        self.agent = agent
        self.row = r
        self.institution = int(bg.segment[r]) == SEGMENT_INSTITUTION
        self.port_km = float(bg.port_km[r])
        self.potential_units: list[float] = [float(v) for v in bg.potential_units[r]]
        self.sensitivity = m.price_sensitivity_institution if self.institution else m.price_sensitivity_household
        self.local_pref = m.local_preference_institution if self.institution else m.local_preference_household
        self.emissions_weight = m.emissions_weight_institution if self.institution else m.emissions_weight_household

    def alpha(self, p: int) -> float:
        """Utility per USD for product ``p``: sensitivity scaled by its import factory price."""
        return self.sensitivity / float(self.model.import_price_usd[p])

    def import_landed_usd(self, p: int) -> float:
        """Imported ``p`` delivered here: ``P (1 + freight + tariff)(1 + margin)(1 + ι d_port/100)`` (USD/unit)."""
        imp = self.model.cfg.imports
        factory = float(self.model.import_price_usd[p])
        at_port = factory * (1.0 + imp.freight + imp.tariff) * (1.0 + imp.distribution_margin)
        return at_port * (1.0 + imp.inland_cost_per_100km * self.port_km / 100.0)

    def import_emissions_kg(self, p: int) -> float:
        """CO2 of one imported unit of ``p``: sea freight and road from the port (kg)."""
        imp = self.model.cfg.imports
        tonnes = float(self.model.weight_kg[p]) / 1000.0
        return tonnes * (imp.sea_km * imp.sea_kg_co2_per_t_km + self.port_km * imp.road_kg_co2_per_t_km)

    def import_utility(self, p: int) -> float:
        """``U_g0 = α (V − P^L) − β T_imp + θ (q_imp − 1) − φ E^imp``."""
        m = self.model.cfg.market
        return (self.alpha(p) * (float(self.model.valuation_usd[p]) - self.import_landed_usd(p))
                - m.lead_time_weight * m.import_lead_time_months + m.quality_weight * (m.import_quality - 1.0)
                - self.emissions_weight * self.import_emissions_kg(p))

    def last_resort(self, p: int) -> tuple[float, float]:
        """Choice between the import and not buying alone, for buyers no workshop can serve.

        Returns the log-sum ``log(e^U0 + 1)`` (utility, USD × α) and the import share
        ``e^U0 / (e^U0 + 1)``.
        """
        u0 = self.import_utility(p)
        top = max(u0, 0.0)
        logsum = top + math.log(math.exp(u0 - top) + math.exp(-top))
        return logsum, math.exp(u0 - logsum)

    def preference_usd(self, p: int, dm_units: float, dm_kg_co2: float, import_units: float) -> float:
        """Value of procurement preferences on what was bought of ``p`` (USD).

        ``(λ · DM units − φ · (CO2 of the DM units + import units × CO2 per import)) / α``:
        the local preference ``λ`` and emissions weight ``φ`` steer choices (they are in the
        utilities) but are not consumption benefits, so they are reported apart from surplus.
        """
        emissions = dm_kg_co2 + import_units * self.import_emissions_kg(p)
        return (self.local_pref * dm_units - self.emissions_weight * emissions) / self.alpha(p)

    def offer(self, shop: WorkshopTerms, p: int, price_usd: float, dist_km: float) -> Offer:
        """Utility, delivery cost and emissions of buying ``p`` from a workshop ``dist_km`` away.

        ``U = α (V − price − t) + K + λ − φ E``, ``t = delivery per km × d``,
        ``E = W (inbound per tonne + d ε_road)`` (W in tonnes, ε in kg CO2 per t-km).
        """
        delivery = shop.delivery_per_km[p] * dist_km
        road = self.model.cfg.imports.road_kg_co2_per_t_km
        emissions = float(self.model.weight_kg[p]) / 1000.0 * (shop.inbound_kg_per_t + dist_km * road)
        u = (self.alpha(p) * (float(self.model.valuation_usd[p]) - price_usd - delivery)
             + shop.const + self.local_pref - self.emissions_weight * emissions)
        return Offer(shop.row, u, delivery, emissions)

    def choose(self, offers: list[Offer], u_import: float) -> GroupChoice:
        """Nested logit: the offers form one nest (dissimilarity ρ) beside import and no purchase.

        ``IV = ρ log Σ exp(U_i/ρ)``; ``P(DM) = e^IV / (e^IV + e^U0 + 1)``;
        ``P(i | DM) = exp(U_i/ρ) / Σ_j exp(U_j/ρ)``; every exponent is shifted by its maximum.
        Fills each offer's ``ordered`` share as a probability (not yet times demand). The
        second market round calls it again with the open workshops' offers only.
        """
        rho = self.model.cfg.market.nest_rho
        ch = GroupChoice(offers=offers)
        if offers:
            scaled = [o.utility / rho for o in offers]
            top = max(scaled)
            weights = [math.exp(x - top) for x in scaled]
            inner = sum(weights)
            ch.inclusive_value = rho * (top + math.log(inner))
        else:
            weights, inner = [], 1.0
        shift = max(ch.inclusive_value, u_import, 0.0)
        e_dm = math.exp(ch.inclusive_value - shift)  # exp(-inf) = 0: no DM option
        e_imp = math.exp(u_import - shift)
        e_none = math.exp(-shift)
        total = e_dm + e_imp + e_none
        ch.p_dm, ch.p_import, ch.p_none = e_dm / total, e_imp / total, e_none / total
        ch.logsum = shift + math.log(total)
        for o, w in zip(offers, weights, strict=True):
            o.ordered = w / inner * ch.p_dm
        return ch


def _pay(model: DMModel, payer: str, payee: str, amount: float, payer_row: int | None = None,
         payee_row: int | None = None) -> float:
    """One payment of ``amount`` USD through the ledger; rows for agent tables, None for sinks."""
    if amount == 0.0:
        return 0.0
    return model.ledger.pay(payer, payee, amount,
                            payer_rows=None if payer_row is None else np.array([payer_row]),
                            payee_rows=None if payee_row is None else np.array([payee_row]))


# ---------------------------------------------------------------------------------- model
class ReferenceModel(DMModel):
    """``DMModel`` with per-agent, plain-Python pricing, market clearing and accounting.

    Decisions, learning and metrics are inherited unchanged, so a difference between the two
    models' outputs is a difference in phases 1-4.
    """

    # -- agents, in row order (Mesa keeps insertion order; rows make it explicit) --------
    def _agents(self, kind: type) -> list:
        return sorted(self.agents_by_type.get(kind, ()), key=lambda a: a.row)

    def _workshops(self) -> list[WorkshopRef]:
        return [WorkshopRef(self, a) for a in self._agents(Workshop) if self.ws.active[a.row]]

    def _providers(self) -> list[ProviderRef]:
        return [ProviderRef(self, a) for a in self._agents(SharedServiceProvider) if self.pv.active[a.row]]

    def lead_time_months(self, local_supplier: bool) -> float:
        """Months from a DM order to delivery: production, then the wait for material.

        The material wait is the supply-weighted mean of the distributor's and the local
        supplier's lead times.
        """
        cfg = self.cfg
        s = cfg.suppliers
        if local_supplier:
            wait = (1.0 - s.local_material_share) * s.distributor_lead_time_months \
                + s.local_material_share * s.local_lead_time_months
        else:
            wait = s.distributor_lead_time_months
        return cfg.market.dm_lead_time_months + wait

    def _local_supplier(self) -> int | None:
        """Row of the active local supplier, if any (the first, should there be several)."""
        for a in self._agents(Supplier):
            if self.sp.active[a.row] and self.sp.local[a.row]:
                return a.row
        return None

    # -- phases 1-2 ----------------------------------------------------------------------
    def price(self) -> tuple[np.ndarray, np.ndarray, UnitCosts, np.ndarray]:
        """Phases 1-2, per agent: provider fees, service effects and costs, unit costs, prices.

        A price is the full unit cost on expected volume times ``1 + μ_ip``, the workshop's
        current markup on the product (``ws.markup``; adjusted to load by the shared learning
        phase, not here).

        Returns:
            Service effects (W, S), service costs (W, S) in USD/month, unit costs (USD/unit,
            hours/unit) and prices (W, P) in USD/unit; zero rows for exited workshops.
        """
        cfg = self.cfg
        nw, n_p, n_s = self.ws.n, self.n_products, len(SERVICES)
        for prov in self._providers():
            prov.set_fee()
        shops = self._workshops()
        local_supplier = self._local_supplier() is not None
        volume = self._purchasing_volumes(shops)
        stock = self._learning_stocks(shops)

        effects = np.zeros((nw, n_s))
        overhead_ws = np.zeros((nw, n_s))
        parts = {name: np.zeros((nw, n_p)) for name in ("material", "labour", "setup", "overhead", "hours")}
        material_index = np.zeros(nw)
        overhead_usd = np.zeros(nw)
        fixed_usd = np.zeros(nw)
        setup_usd = np.zeros(nw)
        capital_usd = np.zeros(nw)
        replacement_usd = np.zeros(nw)
        price = np.zeros((nw, n_p))
        wage = cfg.labour.wage_usd_per_hour
        for w in shops:
            r = w.row
            costs_s = [w.service_cost_usd(s) for s in range(n_s)]
            for s in range(n_s):
                effects[r, s] = w.effect(s)
                overhead_ws[r, s] = costs_s[s]
            pi = w.material_index(volume[r], local_supplier)
            overhead = sum(costs_s)  # O_i, USD per month
            fixed = w.fixed_usd()  # Φ_i, USD per month
            h_hat = w.expected_hours_floor()
            material_index[r], overhead_usd[r], fixed_usd[r] = pi, overhead, fixed
            setup_usd[r], capital_usd[r], replacement_usd[r] = w.setup_usd(), w.capital_usd(), w.replacement_usd()
            for p in range(n_p):
                hours = w.hours_per_unit(p, stock[r][p])
                share = hours / h_hat  # the unit's share of the month's expected hours
                material = float(self.material_usd[p]) * pi
                labour = hours * wage
                setup = fixed * share
                over = overhead * share
                parts["material"][r, p] = material
                parts["labour"][r, p] = labour
                parts["setup"][r, p] = setup
                parts["overhead"][r, p] = over
                parts["hours"][r, p] = hours
                # Cost plus the workshop's own markup on this product (it adapts to load in learning).
                # never below variable cost × (1 + min markup)
                price[r, p] = max((material + labour + setup + over) * (1.0 + w.markup[p]),
                                  (material + labour) * (1.0 + cfg.workshops.min_markup))
                self.ws.price_usd[r, p] = price[r, p]
        unit = UnitCosts(
            material=parts["material"], labour=parts["labour"], setup=parts["setup"],
            overhead=parts["overhead"], hours=parts["hours"], material_index=material_index,
            overhead_usd=overhead_usd, fixed_usd=fixed_usd, setup_usd=setup_usd, capital_usd=capital_usd,
            replacement_usd=replacement_usd,
        )
        return effects, overhead_ws, unit, price

    def _purchasing_volumes(self, shops: list[WorkshopRef]) -> dict[int, float]:
        """Material volume each workshop is priced at, USD/month (ODD §7.1, without double pooling).

        Own spend last month. A client of a local logistics provider is priced at the pooled
        spend of all that provider's active clients. Any other network member under
        coordination c adds c × (the spend of the other active members that are not logistics
        clients): a logistics client's spend is pooled once, through its provider.
        """
        def logistics_client(w: WorkshopRef) -> bool:
            return w.mode[LOGISTICS] == MODE_SHARED and w.provider[LOGISTICS] >= 0

        own = {w.row: float(self.material_spend[w.row]) for w in shops}
        provider_total: dict[int, float] = defaultdict(float)
        for w in shops:
            if logistics_client(w):
                provider_total[w.provider[LOGISTICS]] += own[w.row]
        volume = {w.row: provider_total[w.provider[LOGISTICS]] if logistics_client(w) else own[w.row]
                  for w in shops}
        c = self.cfg.network.coordination
        if c > 0:
            network_total: dict[int, float] = defaultdict(float)
            for w in shops:
                if w.network >= 0 and not logistics_client(w):
                    network_total[w.network] += own[w.row]
            for w in shops:
                if w.network >= 0 and not logistics_client(w):
                    volume[w.row] += c * (network_total[w.network] - own[w.row])
        return volume

    def _learning_stocks(self, shops: list[WorkshopRef]) -> dict[int, list[float]]:
        """Effective cumulative output per workshop and product, Q̃ (units; ODD §7.1).

        Own cumulative output, plus κ_d × the other clients' output where design is bought
        from a local provider, plus κ_c·c × the other active network members' output.
        """
        lc = self.cfg.learning
        c = self.cfg.network.coordination
        n_p = self.n_products
        design_pool: dict[int, list[float]] = defaultdict(lambda: [0.0] * n_p)
        network_pool: dict[int, list[float]] = defaultdict(lambda: [0.0] * n_p)
        for w in shops:
            for p in range(n_p):
                if w.mode[DESIGN] == MODE_SHARED and w.provider[DESIGN] >= 0:
                    design_pool[w.provider[DESIGN]][p] += w.cum_units[p]
                if w.network >= 0:
                    network_pool[w.network][p] += w.cum_units[p]
        stock = {}
        for w in shops:
            q = list(w.cum_units)
            for p in range(n_p):
                own = w.cum_units[p]
                if w.mode[DESIGN] == MODE_SHARED and w.provider[DESIGN] >= 0:
                    q[p] += lc.spillover_design * (design_pool[w.provider[DESIGN]][p] - own)
                if c > 0 and w.network >= 0:
                    q[p] += lc.spillover_coordination * c * (network_pool[w.network][p] - own)
            stock[w.row] = q
        return stock

    # -- phase 3 -------------------------------------------------------------------------
    def clear_market(self, price: np.ndarray, unit: UnitCosts, effects: np.ndarray) -> Sales:
        """Phase 3, per buyer group: two rounds of nested-logit choice, capacity, overflow, imports.

        Round 1: every group chooses among the workshops that reach it (within the workshop's
        marketing reach, km); workshops fill orders pro rata within their hours; in a
        coordinated network peers with spare hours make a share of the unfilled orders.
        Round 2: the units still refused (rationed) are chosen again, with fresh tastes and the
        round-1 utilities, among the workshops that filled all their orders and have hours left,
        the import and not buying; those workshops fill them pro rata within their room.
        Whoever is refused again buys the import or nothing by their odds. Consumer surplus
        (USD) is counted on what buyers got, less the value of procurement preferences.

        Reads the month's prices (W, P, USD/unit), hours per unit (``unit.hours``) and
        service effects (W, S) element by element; sets ``inclusive_value`` (G, P, round 1)
        and ``buyer_terms`` for entrants.
        """
        cfg = self.cfg
        nw, g_n, n_p = self.ws.n, self.bg.n, self.n_products
        prices = price.tolist()
        hours = unit.hours.tolist()
        eff = effects.tolist()
        local_supplier = self._local_supplier() is not None
        self.dm_lead_time_months = self.lead_time_months(local_supplier)
        shops = {w.row: w for w in self._workshops()}
        terms = {
            r: WorkshopTerms(
                row=r, certified=w.certified(eff[r]), const=w.utility_const(eff[r], local_supplier),
                delivery_per_km=[w.delivery_usd_per_km(p, eff[r]) for p in range(n_p)],
                inbound_kg_per_t=w.inbound_kg_co2_per_t(local_supplier), reach_km=w.reach_km(eff[r]),
            )
            for r, w in shops.items()
        }
        buyers = [BuyerRef(self, a) for a in self._agents(BuyerGroup)]
        self.buyer_terms = market.buyer_terms(self)  # entrants' view of the buyers (setup data)
        self.inclusive_value = np.full((g_n, n_p), -np.inf)
        index_rows = [r.tolist() for r in self.index.rows]
        index_dist = [d.tolist() for d in self.index.dist_km]

        # Round 1: buyers choose; orders accumulate at the workshops.
        choices: dict[int, list[GroupChoice]] = {}
        for b in buyers:
            mine = []
            for p in range(n_p):
                offers = []
                for r, d in zip(index_rows[p][b.row], index_dist[p][b.row], strict=True):
                    if r < 0 or r not in shops:  # empty slot, or a workshop that has exited
                        continue
                    if bool(self.requires_cert[p]) and b.institution and not terms[r].certified:
                        continue
                    if d > terms[r].reach_km:  # beyond its marketing reach: these buyers do not find it
                        continue
                    offers.append(b.offer(terms[r], p, prices[r][p], d))
                ch = b.choose(offers, b.import_utility(p))
                self.inclusive_value[b.row, p] = ch.inclusive_value
                for o in offers:
                    o.ordered *= b.potential_units[p]
                    shops[o.ws_row].ordered_units[p] += o.ordered
                mine.append(ch)
            choices[b.row] = mine

        # Workshops fill orders pro rata within their hours.
        fill, unfilled, spare = {}, {}, {}
        hours_ordered = np.zeros(nw)  # round 1, hours
        hours_available = np.zeros(nw)
        for r, w in shops.items():
            h = sum(w.ordered_units[p] * hours[r][p] for p in range(n_p))
            a = w.available_hours(eff[r])
            f = min(1.0, a / h) if h > 0 else 1.0
            fill[r], unfilled[r], spare[r] = f, h * (1.0 - f), a - h * f
            hours_ordered[r], hours_available[r] = h, a

        # Coordinated peers make a share of the network's unfilled hours, pro rata to spare.
        routed = dict.fromkeys(shops, 0.0)
        hours_in = np.zeros(nw)
        c = cfg.network.coordination
        if c > 0:
            u_net: dict[int, float] = defaultdict(float)
            s_net: dict[int, float] = defaultdict(float)
            for r, w in shops.items():
                if w.network >= 0:
                    u_net[w.network] += unfilled[r]
                    s_net[w.network] += spare[r]
            for r, w in shops.items():
                if w.network < 0:
                    continue
                big_u, big_s = u_net[w.network], s_net[w.network]
                share = c * min(1.0, big_s / big_u) if big_u > 0 else 0.0
                routed[r] = share
                hours_in[r] = share * big_u * spare[r] / big_s if big_s > 0 else 0.0
        served = {r: fill[r] + (1.0 - fill[r]) * routed[r] for r in shops}  # share of round-1 orders delivered

        # Round-1 deliveries; the units a group wanted from DM and did not get are rationed.
        rationed: dict[tuple[int, int], float] = {}
        for b in buyers:
            for p, ch in enumerate(choices[b.row]):
                bought = 0.0
                for o in ch.offers:
                    o.received = o.ordered * served[o.ws_row]
                    bought += o.received
                rationed[b.row, p] = max(0.0, b.potential_units[p] * ch.p_dm - bought)

        # Round 2: the rationed choose again among the workshops that filled all their orders
        # and still have hours (own production only; no overflow routing).
        room = {r: max(0.0, hours_available[r] - hours_ordered[r] * fill[r] - hours_in[r]) for r in shops}
        open_rows = {r for r in shops if fill[r] >= 1.0 and room[r] > ROOM_MIN_HOURS}
        second: dict[tuple[int, int], tuple[GroupChoice, list[Offer]]] = {}
        ordered2 = np.zeros((nw, n_p))  # round-2 orders, units
        if open_rows:
            for b in buyers:
                for p, ch in enumerate(choices[b.row]):
                    left = rationed[b.row, p]
                    if left <= RATIONED_MIN_UNITS:
                        continue
                    first = [o for o in ch.offers if o.ws_row in open_rows]
                    again = [o.again() for o in first]
                    ch2 = b.choose(again, b.import_utility(p))
                    for o2 in again:
                        o2.ordered *= left
                        ordered2[o2.ws_row, p] += o2.ordered
                    second[b.row, p] = (ch2, first)
        hours2 = np.zeros(nw)
        fill2 = {}
        for r in shops:
            hours2[r] = sum(ordered2[r, p] * hours[r][p] for p in range(n_p))
            fill2[r] = min(1.0, room[r] / hours2[r]) if hours2[r] > 0 else 1.0

        # Workshops' sales: round-1 orders served (own and by peers), round-2 orders filled.
        units = np.zeros((nw, n_p))
        own_units = np.zeros((nw, n_p))
        ordered_units = np.zeros((nw, n_p))
        hours_own = np.zeros(nw)
        hours_out = np.zeros(nw)
        for r, w in shops.items():
            hours_own[r] = hours_ordered[r] * fill[r] + hours2[r] * fill2[r]
            hours_out[r] = unfilled[r] * routed[r]
            for p in range(n_p):
                ordered_units[r, p] = w.ordered_units[p]
                units[r, p] = w.ordered_units[p] * served[r] + ordered2[r, p] * fill2[r]
                own_units[r, p] = w.ordered_units[p] * fill[r] + ordered2[r, p] * fill2[r]

        # Buyers receive what was delivered; the rest turns to imports or is not bought.
        pairs: dict[str, list] = {k: [] for k in ("group", "ws", "product", "units", "delivery", "emissions")}
        import_units = np.zeros((g_n, n_p))
        landed = np.zeros((g_n, n_p))
        import_em = np.zeros((g_n, n_p))
        surplus = np.zeros((g_n, n_p))
        preference = np.zeros((g_n, n_p))
        wanted = 0.0  # units buyers first chose to buy, from DM or the import
        for b in buyers:
            for p, ch in enumerate(choices[b.row]):
                demand = b.potential_units[p]
                wanted += demand - demand * ch.p_none
                refused = rationed[b.row, p]
                imported = demand * ch.p_import  # chose the import in round 1
                utility = (demand - refused) * ch.logsum  # served, or chose import/nothing, in round 1
                left = refused  # still to place after round 2
                if (b.row, p) in second:
                    ch2, first = second[b.row, p]
                    bought2 = 0.0
                    for o, o2 in zip(first, ch2.offers, strict=True):
                        got = o2.ordered * fill2[o.ws_row]
                        o.received += got
                        bought2 += got
                    imported += refused * ch2.p_import
                    left = max(0.0, refused * ch2.p_dm - bought2)
                    utility += (refused - left) * ch2.logsum
                # Refused twice (or with no round 2): the import or nothing, by their odds.
                logsum_last, import_share_last = b.last_resort(p)
                imported += left * import_share_last
                utility += left * logsum_last
                dm_units = dm_kg = 0.0
                for o in ch.offers:
                    if o.received > 0:
                        for key, v in zip(pairs, (b.row, o.ws_row, p, o.received, o.delivery_usd, o.emissions_kg),
                                          strict=True):
                            pairs[key].append(v)
                        dm_units += o.received
                        dm_kg += o.received * o.emissions_kg
                import_units[b.row, p] = imported
                landed[b.row, p] = b.import_landed_usd(p)
                import_em[b.row, p] = b.import_emissions_kg(p)
                preference[b.row, p] = b.preference_usd(p, dm_units, dm_kg, imported)
                # Consumer surplus over not buying, on what the buyers got, net of preferences (USD).
                surplus[b.row, p] = utility / b.alpha(p) - preference[b.row, p]

        def ints(key: str) -> np.ndarray:
            return np.array(pairs[key], dtype=np.int64)

        def floats(key: str) -> np.ndarray:
            return np.array(pairs[key], dtype=np.float64)

        return Sales(
            units=units, own_units=own_units, hours_ordered=hours_ordered + hours2, hours_available=hours_available,
            hours_own=hours_own, hours_out=hours_out, hours_in=hours_in,
            pair_group=ints("group"), pair_ws=ints("ws"), pair_product=ints("product"),
            pair_units=floats("units"), pair_delivery_usd=floats("delivery"), pair_emissions_kg=floats("emissions"),
            import_units=import_units, import_landed_usd=landed, import_emissions_kg=import_em,
            potential_units=self.bg.potential_units[:g_n].copy(), surplus_usd=surplus,
            ordered_units=ordered_units, preference_usd=preference,
            wanted_units=wanted, unmet_units=unmet_units(wanted, float(units.sum()) + float(import_units.sum())),
        )

    # -- phase 4 -------------------------------------------------------------------------
    def settle(self, sales: Sales, unit: UnitCosts, overhead_ws: np.ndarray) -> None:
        """Phase 4, per agent: every payment of the month through the ledger (ODD §7.7).

        Sets ``model.books`` (USD; its ``wages`` are production and set-up wages, without
        service staff), each workshop's revenue and (cash-flow) profit, and each provider's
        clients, fee revenue and running cost.
        """
        cfg = self.cfg
        imp, sup, wc = cfg.imports, cfg.suppliers, cfg.workshops
        ws, sp, pv = self.ws, self.sp, self.pv
        nw = ws.n
        wage = cfg.labour.wage_usd_per_hour
        shops = self._workshops()
        start_cash = {w.row: float(ws.cash_usd[w.row]) for w in shops}
        prices = ws.price_usd[:nw].tolist()
        units = sales.units.tolist()
        material_index = unit.material_index.tolist()
        service_cost = overhead_ws.tolist()

        # Buyers pay workshops for DM goods and transport for their delivery.
        links: dict[int, list[tuple[int, int, float, float]]] = defaultdict(list)
        for g, r, p, u, d in zip(sales.pair_group.tolist(), sales.pair_ws.tolist(), sales.pair_product.tolist(),
                                 sales.pair_units.tolist(), sales.pair_delivery_usd.tolist(), strict=True):
            links[g].append((r, p, u, d))
        revenue = defaultdict(float)
        dm_revenue = delivery_spend = import_spend = trade_margin = 0.0
        import_units = sales.import_units.tolist()
        landed = sales.import_landed_usd.tolist()
        at_port_factor = 1.0 + imp.freight + imp.tariff
        for agent in self._agents(BuyerGroup):
            g = agent.row
            bought = links.get(g, [])
            if bought:
                spend = [u * prices[r][p] for r, p, u, _ in bought]
                dm_revenue += self.ledger.pay("bg", "ws", np.array(spend), payer_rows=np.full(len(bought), g),
                                              payee_rows=np.array([r for r, _, _, _ in bought]))
                for (r, _, _, _), s in zip(bought, spend, strict=True):
                    revenue[r] += s
                delivery_spend += _pay(self, "bg", "transport", sum(u * d for _, _, u, d in bought), payer_row=g)
            # Imports: factory and freight abroad, tariff, traders' margin, inland distribution.
            factory = sum(import_units[g][p] * float(self.import_price_usd[p]) for p in range(self.n_products))
            landed_total = sum(import_units[g][p] * landed[g][p] for p in range(self.n_products))
            at_port = factory * at_port_factor
            _pay(self, "bg", "foreign", factory * (1.0 + imp.freight), payer_row=g)
            _pay(self, "bg", "government", factory * imp.tariff, payer_row=g)
            trade_margin += _pay(self, "bg", "trade", at_port * imp.distribution_margin, payer_row=g)
            _pay(self, "bg", "transport", landed_total - at_port * (1.0 + imp.distribution_margin), payer_row=g)
            import_spend += landed_total

        # A platform's commission on its members' DM revenue goes to the operator (trade).
        net = cfg.network
        if net.type == "platform":
            for w in shops:
                if int(ws.network[w.row]) >= 0 and revenue[w.row] > 0:
                    _pay(self, "ws", "trade", revenue[w.row] * net.platform_commission, payer_row=w.row)

        # Materials: workshops buy from the importing distributor (row 0) and a local supplier.
        local_row = self._local_supplier()
        local_share = sup.local_material_share if local_row is not None else 0.0
        local_price = sup.local_price_factor * at_port_factor * (1.0 + sup.distributor_margin)
        self.material_spend[:nw] = 0.0  # exited workshops bought nothing
        distributor_sales = local_sales = base_imported = 0.0
        for w in shops:
            r = w.row
            base = sum(units[r][p] * float(self.material_usd[p]) for p in range(self.n_products))
            paid = base * material_index[r]
            local_paid = base * local_share * local_price
            self.material_spend[r] = paid
            distributor_sales += _pay(self, "ws", "sp", paid - local_paid, payer_row=r, payee_row=0)
            if local_row is not None:
                local_sales += _pay(self, "ws", "sp", local_paid, payer_row=r, payee_row=local_row)
            base_imported += base * (1.0 - local_share)
        # The distributor buys abroad and pays the tariff; it keeps its margin net of discounts.
        _pay(self, "sp", "foreign", base_imported * (1.0 + imp.freight), payer_row=0)
        _pay(self, "sp", "government", base_imported * imp.tariff, payer_row=0)
        sp.sales_usd[: sp.n] = 0.0
        sp.sales_usd[0] = distributor_sales
        supplier_local_margin = 0.0
        if local_row is not None:
            local_costs = sup.local_variable_cost_share * local_sales + sup.local_fixed_cost_usd_per_month
            _pay(self, "sp", "local_inputs", local_costs, payer_row=local_row)
            sp.sales_usd[local_row] = local_sales
            supplier_local_margin = local_sales - local_costs

        # Workshops: production and set-up wages, rent, services, debt service. In-house
        # service teams are paid as service staff, not production wages.
        wages = provider_revenue = 0.0
        for w in shops:
            r = w.row
            wages += _pay(self, "ws", "labour", sales.hours_own[r] * wage + w.setup_usd(), payer_row=r)
            _pay(self, "ws", "local_inputs", wc.fixed_cost_usd_per_month, payer_row=r)
            _pay(self, "ws", "foreign", w.replacement_usd(), payer_row=r)  # worn equipment replaced, loan repaid
            in_house = sum(service_cost[r][s] for s in range(len(SERVICES)) if w.mode[s] == MODE_INTERNAL)
            _pay(self, "ws", "service_staff", in_house, payer_row=r)
            for s in range(len(SERVICES)):
                if w.buys(s):
                    provider_revenue += _pay(self, "ws", "pv", service_cost[r][s], payer_row=r,
                                             payee_row=w.provider[s])
            debt = float(ws.debt_usd[r])
            rate = float(ws.loan_rate[r]) / 12.0  # per month
            payment = min(w.debt_payment_usd, debt * (1.0 + rate))
            _pay(self, "ws", "lenders", payment, payer_row=r)
            ws.debt_usd[r] = max(0.0, debt + debt * rate - payment)
            if ws.debt_usd[r] <= 1e-9:  # paid off: the annuity stops
                ws.debt_payment_usd[r] = 0.0

        # Subcontracting: in each network, originators pay the peers for the hours they made.
        by_network: dict[int, list[WorkshopRef]] = defaultdict(list)
        for w in shops:
            if w.network >= 0 and (sales.hours_out[w.row] > 0 or sales.hours_in[w.row] > 0):
                by_network[w.network].append(w)
        rate_usd = wage * (1.0 + wc.markup)  # per subcontracted hour
        for members in by_network.values():
            out = [w.row for w in members if sales.hours_out[w.row] > 0]
            into = [w.row for w in members if sales.hours_in[w.row] > 0]
            if not out or not into:
                continue
            self.ledger.transfer("ws", np.array(out), np.array([sales.hours_out[r] * rate_usd for r in out]),
                                 "ws", np.array(into), np.array([sales.hours_in[r] * rate_usd for r in into]))
            for r in into:
                wages += _pay(self, "ws", "labour", sales.hours_in[r] * wage, payer_row=r)

        # Providers: count clients (standard-client units), pay running costs; subsidies.
        clients: dict[int, float] = defaultdict(float)
        for w in shops:
            for s in range(len(SERVICES)):
                if w.buys(s):
                    clients[w.provider[s]] += w.client_size()
        pv.clients[: pv.n] = 0.0
        pv.revenue_usd[: pv.n] = 0.0  # closed providers earn and spend nothing
        pv.cost_usd[: pv.n] = 0.0
        provider_profit = 0.0
        providers = self._providers()
        for prov in providers:
            pv.clients[prov.row] = clients[prov.row]
            provider_profit += prov.settle(clients[prov.row])
        subsidies = self._pay_subsidies(providers)

        ws.revenue_usd[:nw] = 0.0
        ws.profit_usd[:nw] = 0.0
        workshop_profit = 0.0
        for w in shops:
            ws.revenue_usd[w.row] = revenue[w.row]
            # Cash-flow profit: the cash change during accounting.
            ws.profit_usd[w.row] = float(ws.cash_usd[w.row]) - start_cash[w.row]
            workshop_profit += float(ws.profit_usd[w.row])
        self.books = MonthBooks(
            dm_revenue=dm_revenue, import_spend=import_spend, delivery_spend=delivery_spend, wages=wages,
            workshop_profit=workshop_profit, provider_revenue=provider_revenue, provider_profit=provider_profit,
            supplier_local_margin=supplier_local_margin, trade_margin=trade_margin,
            local_supplier_sales=local_sales, subsidies=subsidies,
        )

    def _pay_subsidies(self, providers: list[ProviderRef]) -> float:
        """Government start-up subsidy to active local providers within the budget (ODD §7.12).

        Each gets ``provider_subsidy_share × F`` while month < ``provider_subsidy_months``,
        scaled down pro rata when the remaining budget is short. Returns the USD paid.
        """
        pol = self.cfg.policy
        if pol.provider_subsidy_share <= 0 or self.month >= pol.provider_subsidy_months:
            return 0.0
        want = {p.row: pol.provider_subsidy_share * p.fixed_usd for p in providers if p.local}
        asked = sum(want.values())
        left = max(0.0, pol.budget_usd - self.public_spend_usd)
        scale = left / asked if asked > left else 1.0
        paid = 0.0
        for row, amount in want.items():
            paid += _pay(self, "government", "pv", amount * scale, payee_row=row)
        self.public_spend_usd += paid
        self.public_spend_month += paid
        return paid

