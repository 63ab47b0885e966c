"""Buyer choice (nested logit) and market clearing, vectorised over buyer groups.

Each buyer group chooses, per potential unit, between the reachable workshops (one nest with
dissimilarity ``rho``), the imported product and not buying (utility 0). Putting the
near-identical workshops in one nest avoids the independence-of-irrelevant-alternatives
artefact of a plain logit, where listing more workshops alone would raise DM's share.

No BLAS (``np.dot``, ``@``, ``vdot``): its threaded reductions change the last bit with the
number of threads or cores; sums of products use ``np.einsum`` (no ``optimize``), single-threaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsim import shocks
from dmsim.costs import CERT, LOGISTICS, MAINTENANCE, MARKETING, UnitCosts, local_supply_share, reach_km

if TYPE_CHECKING:
    from dmsim.model import DMModel


@dataclass
class Choice:
    """Choice probabilities for G groups with up to K workshop options each."""

    workshop: np.ndarray  # (G, K), or (K, G) with axis=0: probability of each workshop option
    dm: np.ndarray  # (G,) probability of the DM nest
    imported: np.ndarray  # (G,)
    none: np.ndarray  # (G,)
    logsum: np.ndarray  # (G,) expected maximum utility (consumer surplus × α)
    inclusive_value: np.ndarray  # (G,) of the DM nest; -inf without options


def nested_logit(u_ws: np.ndarray, u_import: np.ndarray, rho: float, axis: int = 1,
                 u_outside: np.ndarray | None = None) -> Choice:
    """Nested-logit probabilities with the workshops in one nest and U(no purchase) = 0.

    Args:
        u_ws: (G, K) utilities of the workshop options (or (K, G) with ``axis=0``);
            ``-inf`` marks an unavailable one.
        u_import: (G,) utility of the imported product.
        rho: nest dissimilarity in (0, 1]; 1 gives the plain multinomial logit.
        axis: the axis of ``u_ws`` that runs over a group's options.
        u_outside: (G,) log-sum of the outside options, ``log(1 + exp(u_informal))`` where an
            informal good is sold (``None``: not buying alone, 0); ``none`` is then their share.

    Returns:
        The probabilities and the log-sum, computed with max-shifts so that large utilities
        neither overflow nor underflow.
    """
    scaled = u_ws * (1.0 / rho)  # the one copy; the rest works in place
    top = np.max(scaled, axis=axis, initial=-np.inf)
    has = top > -np.inf
    top[~has] = 0.0
    scaled -= np.expand_dims(top, axis)
    w = np.exp(scaled, out=scaled)  # exp(-inf) = 0 for unavailable options
    inner = w.sum(axis=axis)
    inner[~has] = 1.0
    iv = np.where(has, rho * (top + np.log(inner)), -np.inf)
    out = 0.0 if u_outside is None else u_outside
    m = np.maximum(np.maximum(iv, u_import), out)
    e_dm, e_imp, e_none = np.exp(iv - m), np.exp(u_import - m), np.exp(out - m)
    total = e_dm + e_imp + e_none
    p_dm = e_dm / total
    w *= np.expand_dims(p_dm / inner, axis)  # within-nest share × nest probability
    return Choice(
        workshop=w,
        dm=p_dm,
        imported=e_imp / total,
        none=e_none / total,
        logsum=m + np.log(total),
        inclusive_value=iv,
    )


@dataclass
class Sales:
    """One month's market outcome.

    Workshop-side arrays are (W, P) or (W,); buyer pairs are flat arrays over (group,
    workshop, product) links — the vectorised market lists every slot of the k-nearest index
    (unused slots carry zero units), the reference market only links that sold.
    """

    units: np.ndarray  # (W, P) sold (own production plus orders subcontracted to peers)
    own_units: np.ndarray  # (W, P) produced in-house
    hours_ordered: np.ndarray  # (W,)
    hours_available: np.ndarray  # (W,)
    hours_own: np.ndarray  # (W,) production hours worked in-house for own orders
    hours_out: np.ndarray  # (W,) hours subcontracted to network peers
    hours_in: np.ndarray  # (W,) hours produced for peers
    pair_group: np.ndarray
    pair_ws: np.ndarray
    pair_product: np.ndarray
    pair_units: np.ndarray
    pair_delivery_usd: np.ndarray  # per unit
    pair_emissions_kg: np.ndarray | None  # per unit; None where only the total was needed
    import_units: np.ndarray  # (G, P)
    import_landed_usd: np.ndarray  # (G, P) per unit
    import_emissions_kg: np.ndarray  # (G, P) per unit
    potential_units: np.ndarray  # (G, P)
    surplus_usd: np.ndarray  # (G, P) consumer surplus over not buying, on what buyers got
    ordered_units: np.ndarray  # (W, P) first choices: units buyers asked each workshop for
    preference_usd: np.ndarray  # (G, P) value of procurement preferences on what was bought
    dm_emissions_kg: float | None = None  # transport CO2 of the DM units sold; from the links if None
    pair_price_usd: np.ndarray | None = None  # per unit; gathered from workshop prices if None
    group_units: np.ndarray | None = None  # (G,) DM units bought per group; summed if None
    dense_shape: tuple[int, int, int] | None = None  # (P, K, G) when links fill the whole index
    wanted_units: float | None = None  # units buyers first chose to buy (DM or import), all groups
    unmet_units: float = 0.0  # of those, units that ended unbought: rationed DM, undelivered imports
    informal_units: np.ndarray | None = None  # (G, P) informal or second-hand units bought; None: none sold

    def price_per_pair(self, price: np.ndarray) -> np.ndarray:
        """Price paid per unit on every link, given the workshops' (W, P) prices (USD)."""
        if self.pair_price_usd is None:
            self.pair_price_usd = price[self.pair_ws, self.pair_product]
        return self.pair_price_usd

    def sum_by_group(self, values: np.ndarray) -> np.ndarray:
        """Sum a per-link array over each buyer group's links, (G,)."""
        if self.dense_shape is not None:  # links laid out (P, K, G): a reshape, no scatter
            return values.reshape(self.dense_shape).sum(axis=(0, 1))
        return np.bincount(self.pair_group, weights=values, minlength=self.potential_units.shape[0])

    def dm_emissions(self) -> float:
        """Transport CO2 of the DM units sold this month (kg): material inbound and delivery."""
        if self.dm_emissions_kg is None:
            self.dm_emissions_kg = float(np.einsum("i,i->", self.pair_units, self.pair_emissions_kg))
        return self.dm_emissions_kg

    def units_by_group(self) -> np.ndarray:
        """DM units bought by each buyer group this month, (G,)."""
        if self.group_units is None:
            self.group_units = np.bincount(self.pair_group, weights=self.pair_units,
                                           minlength=self.potential_units.shape[0])
        return self.group_units


def _utility_scale(model: DMModel) -> np.ndarray:
    """α per USD, (segments, P): price sensitivity relative to the import factory price."""
    m = model.cfg.market
    sens = np.array([m.price_sensitivity_household, m.price_sensitivity_institution])
    return sens[:, None] / model.import_price_usd[None, :]


def import_landed_usd(model: DMModel) -> np.ndarray:
    """Price of the imported product delivered to each buyer group, (G, P) USD per unit."""
    imp = model.cfg.imports
    at_port = model.import_price_usd * model.import_cost_factor * (1.0 + imp.distribution_margin)
    inland = 1.0 + imp.inland_cost_per_100km * model.bg.port_km[: model.bg.n] / 100.0
    landed = at_port[None, :] * inland[:, None]
    if model.cfg.region.port_distance_km > 0:  # the corridor haul from a distant port, by weight
        landed += shocks.goods_haul_usd(model.cfg, model.weight_kg)[None, :]
    return landed


@dataclass
class BuyerTerms:
    """Buyer-side utility terms of the month, (G, P) or (G,)."""

    alpha: np.ndarray  # (G, P) utility per USD
    local_pref: np.ndarray  # (G,)
    emissions_weight: np.ndarray  # (G,) utility per kg CO2
    institution: np.ndarray  # (G,) bool
    u_import: np.ndarray  # (G, P)
    import_landed_usd: np.ndarray  # (G, P)
    import_emissions_kg: np.ndarray  # (G, P) per unit
    u_outside: np.ndarray | None = None  # (G, P) log-sum of not buying and the informal good; None: 0
    informal_share: np.ndarray | None = None  # (G, P) of those taking the outside options, the informal good's share


@dataclass
class WorkshopTerms:
    """Workshop-side utility terms, (W,)."""

    certified: np.ndarray
    const: np.ndarray  # lead time, quality and visibility utility
    delivery_rate: np.ndarray  # delivery cost per km as a fraction of the import price
    inbound_kg_per_kg: np.ndarray  # inbound-material CO2 per kg of product
    reach_km: np.ndarray  # how far buyers find it (marketing)


def buyer_terms(model: DMModel) -> BuyerTerms:
    """Utility terms of the buyers and of the imported option."""
    m = model.cfg.market
    imp = model.cfg.imports
    bg = model.bg
    g = bg.n
    seg = bg.segment[:g]
    alpha = _utility_scale(model)[seg]
    phi = np.array([m.emissions_weight_household, m.emissions_weight_institution])[seg]
    landed = import_landed_usd(model)
    em = (model.weight_kg[None, :] / 1000.0
          * (imp.sea_km * imp.sea_kg_co2_per_t_km
             + (bg.port_km[:g, None] + model.cfg.region.port_distance_km) * imp.road_kg_co2_per_t_km))
    lead_time = m.import_lead_time_months * model.shock.import_lead_time  # longer in an import disruption
    u_imp = (alpha * (model.valuation_usd[None, :] - landed) - m.lead_time_weight * lead_time
             + m.quality_weight * (m.import_quality - 1.0) - phi[:, None] * em)
    u_out = informal_share = None
    price = [model.cfg.products[name].informal_price_usd for name in model.product_names]
    if any(v is not None for v in price):
        # An informal or second-hand good households fall back on (institutions may not buy it):
        # with not buying, the outside options; their log-sum replaces not buying's utility 0.
        price_inf = np.array([np.nan if v is None else v for v in price])
        u_inf = alpha * (model.valuation_usd[None, :] - price_inf) + m.quality_weight * (m.informal_quality - 1.0)
        u_inf = np.where(np.isnan(price_inf)[None, :] | (seg == 1)[:, None], -np.inf, u_inf)
        u_out = np.logaddexp(0.0, u_inf)
        informal_share = np.exp(u_inf - u_out)
    return BuyerTerms(
        alpha=alpha,
        local_pref=np.array([m.local_preference_household, m.local_preference_institution])[seg],
        emissions_weight=phi, institution=seg == 1, u_import=u_imp,
        import_landed_usd=landed, import_emissions_kg=em, u_outside=u_out, informal_share=informal_share,
    )


def dm_lead_time_months(model: DMModel) -> float:
    """Delivery lead time of a DM order (months): production plus the wait for material.

    The wait is the supply-weighted mean of the suppliers' lead times: the local supplier,
    once present, supplies ``local_material_share`` of the material.
    """
    s = model.cfg.suppliers
    local = local_supply_share(model)
    wait = (1.0 - local) * s.distributor_lead_time_months + local * s.local_lead_time_months
    return model.cfg.market.dm_lead_time_months + wait


def workshop_terms(model: DMModel, effects: np.ndarray, x_km: np.ndarray, y_km: np.ndarray,
                   on_platform: np.ndarray) -> WorkshopTerms:
    """Utility terms of workshops with the given service effects (W, S) and positions.

    Platform members are listed where buyers look (``network.platform_visibility``).
    """
    cfg = model.cfg
    m = cfg.market
    imp = cfg.imports
    quality = m.dm_base_quality + m.certification_quality * effects[:, CERT]
    px, py = model.towns.port
    port_km = np.hypot(x_km - px, y_km - py) + cfg.region.port_distance_km
    imported = 1.0 - local_supply_share(model)
    return WorkshopTerms(
        certified=effects[:, CERT] >= cfg.services.certification_threshold,
        const=(-m.lead_time_weight * dm_lead_time_months(model) + m.quality_weight * (quality - 1.0)
               - m.visibility_weight * (1.0 - effects[:, MARKETING])
               + cfg.network.platform_visibility * on_platform),
        delivery_rate=m.dm_delivery_cost_per_100km / 100.0
        * (1.0 - cfg.services.logistics_saving * effects[:, LOGISTICS]),
        inbound_kg_per_kg=imported * (imp.sea_km * imp.sea_kg_co2_per_t_km + port_km * imp.road_kg_co2_per_t_km),
        reach_km=reach_km(model, effects[:, MARKETING]),
    )


def workshop_utility(
    model: DMModel, buyers: BuyerTerms, terms: WorkshopTerms, p: int, groups: np.ndarray | slice,
    rows: np.ndarray, price_usd: np.ndarray, dist_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Utility of workshop options for product ``p``.

    ``rows`` (G, K) index ``terms``; ``price_usd`` and ``dist_km`` are aligned with ``rows``.
    Returns utility, delivery cost (USD/unit) and emissions (kg CO2/unit), all (G, K).
    """
    delivery = model.import_price_usd[p] * terms.delivery_rate[rows] * dist_km
    em = model.weight_kg[p] / 1000.0 * (terms.inbound_kg_per_kg[rows]
                                       + dist_km * model.cfg.imports.road_kg_co2_per_t_km)
    u = (buyers.alpha[groups, p, None] * (model.valuation_usd[p] - price_usd - delivery)
         + terms.const[rows] + buyers.local_pref[groups, None] - buyers.emissions_weight[groups, None] * em)
    return u, delivery, em


def _rechoose(u: np.ndarray, u_import: np.ndarray, rho: float, open_slot: np.ndarray, cols: np.ndarray,
              u_outside: np.ndarray | None = None) -> Choice:
    """Second-round choice of buyers turned away: the same options minus the full workshops.

    ``u`` (K, G) holds the first round's utilities, ``open_slot`` (K, G) whether a slot's
    workshop can still take orders; only the columns ``cols`` are chosen again.
    """
    u2 = np.where(open_slot[:, cols], u[:, cols], -np.inf)
    return nested_logit(u2, u_import[cols], rho, axis=0, u_outside=None if u_outside is None else u_outside[cols])


def unmet_units(wanted: float, bought: float) -> float:
    """Units chosen but not bought; below rounding (1e-9 of what was wanted) it is 0, not noise."""
    unmet = wanted - bought
    return unmet if unmet > 1e-9 * max(wanted, 1.0) else 0.0


def clear(model: DMModel, price: np.ndarray, unit: UnitCosts, effects: np.ndarray) -> Sales:
    """Allocate every buyer group's demand across workshops, imports and no purchase.

    Round 1: every group chooses by nested logit; workshops fill orders up to available hours,
    pro rata; under coordination a share of the unfilled orders is made by network peers with
    spare hours. Round 2: buyers still turned away choose again, with fresh tastes, among the
    workshops that have hours left, the import and not buying; those workshops fill the new
    orders up to their spare hours. Whoever is turned away again buys the import or nothing,
    in proportion to their odds. Consumer surplus is counted on what buyers got (ODD §7.6).
    """
    cfg = model.cfg
    m = cfg.market
    ws, bg = model.ws, model.bg
    nw, g, p_n = ws.n, bg.n, model.n_products
    if model.buyer_terms is None:  # static over a run: buyers, imports and their prices
        model.buyer_terms = buyer_terms(model)
    buyers = model.buyer_terms
    terms = workshop_terms(model, effects, ws.x_km[:nw], ws.y_km[:nw], model.on_platform())
    model.dm_lead_time_months = dm_lead_time_months(model)  # the lead time buyers saw this month
    alpha, institution = buyers.alpha, buyers.institution
    active = ws.active[:nw]
    model.inclusive_value = np.full((g, p_n), -np.inf)  # DM nest IV, read by entrants
    rho = m.nest_rho

    idx = model.index
    links = idx.link_buffers(p_n, g)  # (P, K, G) arrays reused month to month
    road = cfg.imports.road_kg_co2_per_t_km
    lam_on = bool(np.any(buyers.local_pref))
    phi_on = bool(np.any(buyers.emissions_weight))
    short_reach = bool(np.any(terms.reach_km[active] < idx.reach_km))  # else the index's reach is everyone's
    reach_open = np.where(active, terms.reach_km, -1.0)
    orders = []
    choices = []
    ordered_units = np.zeros((nw, p_n))
    informal = buyers.u_outside is not None

    def outside(p: int) -> np.ndarray | None:
        return buyers.u_outside[:, p] if informal else None

    for p in range(p_n):
        r0, dist = idx.rows0[p], idx.dist0_km[p]
        if nw == 0:  # no workshop at all (the centralised counterfactual): imports or nothing
            for name in ("price", "delivery", "emissions"):
                links[name][p] = 0.0
            links["utility"][p] = -np.inf
            ch = nested_logit(np.full(r0.shape, -np.inf), buyers.u_import[:, p], rho, axis=0, u_outside=outside(p))
            model.inclusive_value[:, p] = ch.inclusive_value
            orders.append((r0, ch.workshop))
            choices.append(ch)
            continue
        if short_reach:  # one gather for both: closed workshops reach nobody
            valid = idx.slot[p] & (dist <= reach_open[r0])
        else:
            valid = idx.slot[p] & active[r0]
        if model.requires_cert[p]:
            valid &= ~institution[None, :] | terms.certified[r0]
        price_l = links["price"][p]
        np.take(np.ascontiguousarray(price[:, p]), r0, out=price_l)
        delivery = links["delivery"][p]
        np.take(terms.delivery_rate, r0, out=delivery)
        delivery *= dist
        delivery *= model.import_price_usd[p]
        if phi_on:  # per-link emissions enter utility; otherwise only their total is needed (below)
            em = links["emissions"][p]
            np.take(terms.inbound_kg_per_kg, r0, out=em)
            em += road * dist
            em *= model.weight_kg[p] / 1000.0
        u = links["utility"][p]
        np.subtract(model.valuation_usd[p], price_l, out=u)
        u -= delivery
        u *= alpha[None, :, p]
        u += terms.const[r0]
        if lam_on:
            u += buyers.local_pref[None, :]
        if phi_on:
            u -= buyers.emissions_weight[None, :] * em
        u[~valid] = -np.inf
        ch = nested_logit(u, buyers.u_import[:, p], rho, axis=0, u_outside=outside(p))
        model.inclusive_value[:, p] = ch.inclusive_value
        o = ch.workshop
        o *= bg.potential_units[None, :g, p]
        ordered_units[:, p] = np.bincount(r0.ravel(), weights=o.ravel(), minlength=nw)
        orders.append((r0, o))
        choices.append(ch)

    hours_ordered = (ordered_units * unit.hours).sum(axis=1)
    downtime = cfg.services.maintenance_downtime * (1.0 - effects[:, MAINTENANCE])
    hours_available = ws.capacity_hours[:nw] * (1.0 - downtime)
    if model.shock.outage_share > 0 or cfg.region.power_outage_share > 0:  # power cuts, fewer with maintenance
        hours_available *= 1.0 - shocks.outage_hours_lost(cfg, model.shock, effects[:, MAINTENANCE])
    hours_available = np.where(active, hours_available, 0.0)
    fill = np.where(hours_ordered > 0, np.minimum(1.0, hours_available / np.maximum(hours_ordered, 1e-12)), 1.0)
    unfilled = hours_ordered * (1.0 - fill)
    spare = hours_available - hours_ordered * fill
    routed_frac = np.zeros(nw)
    hours_in = np.zeros(nw)
    coord = cfg.network.coordination
    net = ws.network[:nw]
    member = (net >= 0) & active
    if coord > 0 and member.any():
        n_net = net[member].max() + 1
        u_net = np.bincount(net[member], weights=unfilled[member], minlength=n_net)
        s_net = np.bincount(net[member], weights=spare[member], minlength=n_net)
        frac_net = np.where(u_net > 0, coord * np.minimum(1.0, s_net / np.maximum(u_net, 1e-12)), 0.0)
        routed_frac[member] = frac_net[net[member]]
        routed_net = frac_net * u_net
        s_mine = s_net[net[member]]
        share = spare[member] / np.maximum(s_mine, 1e-12)
        hours_in[member] = np.where(s_mine > 0, routed_net[net[member]] * share, 0.0)
    served = fill + (1.0 - fill) * routed_frac  # share of first-round orders delivered
    hours_out = unfilled * routed_frac

    # Round 1 deliveries; what is left is rationed demand, per group and product. In an import
    # disruption a share of the import units asked for cannot be delivered: those buyers join
    # the ones turned away by full workshops, and every import bought later is rationed alike.
    short = model.shock.import_unavailable
    import_units = np.zeros((g, p_n))
    group_units = np.zeros(g)
    rationed = np.zeros((g, p_n))
    wanted = 0.0
    for p, ((r0, o), ch) in enumerate(zip(orders, choices, strict=True)):
        got = links["units"][p]
        if nw:
            np.take(served, r0, out=got)
            got *= o
        else:
            got[:] = 0.0
        bought = got.sum(axis=0)
        group_units += bought
        rationed[:, p] = np.maximum(bg.potential_units[:g, p] * ch.dm - bought, 0.0)
        import_units[:, p] = bg.potential_units[:g, p] * ch.imported
        wanted += float(bg.potential_units[:g, p].sum() - (bg.potential_units[:g, p] * ch.none).sum())
        if short > 0:
            rationed[:, p] += import_units[:, p] * short
            import_units[:, p] *= 1.0 - short

    # Round 2: the rationed choose again among workshops with hours left (own production).
    room = np.maximum(hours_available - hours_ordered * fill - hours_in, 0.0)
    open_ws = active & (fill >= 1.0) & (room > 1e-9)
    second = []  # per product: (columns, choice, orders (K, J)) or None
    ordered2 = np.zeros((nw, p_n))
    for p in range(p_n):
        cols = np.flatnonzero(rationed[:, p] > 1e-12)
        if nw == 0 or cols.size == 0 or not open_ws.any():
            second.append(None)
            continue
        r0 = idx.rows0[p]
        ch2 = _rechoose(links["utility"][p], buyers.u_import[:, p], rho, open_ws[r0], cols, outside(p))
        o2 = ch2.workshop * rationed[cols, p][None, :]
        ordered2[:, p] = np.bincount(r0[:, cols].ravel(), weights=o2.ravel(), minlength=nw)
        second.append((cols, ch2, o2))
    hours2 = (ordered2 * unit.hours).sum(axis=1)
    fill2 = np.where(hours2 > 0, np.minimum(1.0, room / np.maximum(hours2, 1e-12)), 1.0)

    # Surplus (x α): first-round buyers served get the round-1 log-sum, re-choosers the
    # round-2 one, and those turned away twice the import-or-nothing one (ODD §7.6).
    surplus = np.zeros((g, p_n))
    informal_units = np.zeros((g, p_n))
    for p, ch in enumerate(choices):
        d = bg.potential_units[:g, p]
        ls_last = np.logaddexp(buyers.u_import[:, p], 0.0 if not informal else buyers.u_outside[:, p])  # import or not
        p_last = np.exp(buyers.u_import[:, p] - ls_last)  # share of the last round importing
        r = rationed[:, p]
        util = (d - r) * ch.logsum
        left = r.copy()  # turned away from DM in round 1, still to place
        if second[p] is not None:
            cols, ch2, o2 = second[p]
            r0 = idx.rows0[p]
            got2 = o2 * fill2[r0[:, cols]]
            links["units"][p][:, cols] += got2
            bought2 = got2.sum(axis=0)
            group_units[cols] += bought2
            import_units[cols, p] += r[cols] * ch2.imported * (1.0 - short)
            again = np.maximum(r[cols] * ch2.dm - bought2, 0.0)
            util[cols] += (r[cols] - again) * ch2.logsum
            if short > 0:  # imports chosen but not delivered: no purchase (utility 0), not the log-sum
                util[cols] -= r[cols] * ch2.imported * short * ch2.logsum
            left[cols] = again
            if informal:
                informal_units[cols, p] += r[cols] * ch2.none * buyers.informal_share[cols, p]
        if informal:  # first-round outside choosers, and those turned away twice, who take the informal good
            informal_units[:, p] += (d * ch.none + left * (1.0 - p_last)) * buyers.informal_share[:, p]
        import_units[:, p] += left * p_last * (1.0 - short)
        util += left * ls_last
        if short > 0:
            util -= left * p_last * short * ls_last
        surplus[:, p] = util / alpha[:, p]

    # Procurement preferences (local value λ, emissions weight φ) steer choices but are not
    # consumption benefits: their value on what was bought is reported apart from surplus.
    preference = np.zeros((g, p_n))
    if lam_on or phi_on:
        for p in range(p_n):
            got = links["units"][p]
            dm_units = got.sum(axis=0)
            em_dm = (got * links["emissions"][p]).sum(axis=0) if phi_on else 0.0
            pref = (buyers.local_pref * dm_units
                    - buyers.emissions_weight * (em_dm + import_units[:, p] * buyers.import_emissions_kg[:, p]))
            preference[:, p] = pref / alpha[:, p]
        surplus -= preference

    units = ordered_units * served[:, None] + ordered2 * fill2[:, None]
    # DM transport emissions (kg CO2): inbound material to each workshop, then delivery.
    if phi_on:
        dm_emissions = float(np.einsum("i,i->", links["units"].ravel(), links["emissions"].ravel()))
    else:
        kg_t = model.weight_kg / 1000.0
        delivered_km = np.array([np.einsum("i,i->", links["units"][p].ravel(), idx.dist0_km[p].ravel()) if nw else 0.0
                                 for p in range(p_n)])  # unit-km per product
        dm_emissions = float(np.einsum("w,wp,p->", terms.inbound_kg_per_kg, units, kg_t)
                             + road * np.einsum("p,p->", kg_t, delivered_km))
    own_units = ordered_units * fill[:, None] + ordered2 * fill2[:, None]
    hours_own = hours_ordered * fill + hours2 * fill2
    return Sales(
        units=units, own_units=own_units, hours_ordered=hours_ordered + hours2,
        hours_available=hours_available, hours_own=hours_own, hours_out=hours_out,
        hours_in=hours_in,
        pair_group=idx.link_group, pair_ws=idx.link_ws, pair_product=idx.link_product,
        pair_units=links["units"].ravel(), pair_delivery_usd=links["delivery"].ravel(),
        pair_emissions_kg=links["emissions"].ravel() if phi_on else None, pair_price_usd=links["price"].ravel(),
        group_units=group_units, dense_shape=links["units"].shape,
        import_units=import_units, import_landed_usd=buyers.import_landed_usd,
        import_emissions_kg=buyers.import_emissions_kg,
        potential_units=bg.potential_units[:g].copy(), surplus_usd=surplus,
        ordered_units=ordered_units, preference_usd=preference, dm_emissions_kg=dm_emissions,
        wanted_units=wanted, unmet_units=unmet_units(wanted, float(units.sum()) + float(import_units.sum())),
        informal_units=informal_units if informal else None,
    )
