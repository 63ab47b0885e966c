"""Service sourcing: awareness of providers and the make-or-buy choice.

Every service can be done in-house (its cost, an effect that grows with the workshop's size),
bought from a local shared provider (its fee, a specialist's full effect), bought from a global
provider (its fee, a weaker fit) or not done at all (``none``: informal, no cost, no effect).
A workshop values each option with :mod:`dmsim.valuation` and picks the one worth most net of
cost.

Make-or-buy is gradual: a workshop only considers a local provider once it is aware of one
(awareness spreads by word of mouth and coordination), reviews its sourcing every
``switch_interval_months``, acts on a review with ``switch_probability``, and switches only
for a gain above ``switch_saving_threshold`` × its in-house cost of the service. This is the
coordination failure in time: a new provider prices on the clients it expects and survives
only if they arrive before its cash runs out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmsim.config import SERVICES
from dmsim.costs import LOGISTICS, client_size, internal_effect, volume_discount
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_NONE, MODE_SHARED, PROVIDER_GLOBAL, PROVIDER_LOCAL
from dmsim.valuation import Position, service_values

if TYPE_CHECKING:
    from dmsim.costs import UnitCosts
    from dmsim.market import Sales
    from dmsim.model import DMModel

OPTION_MODES = np.array([MODE_NONE, MODE_INTERNAL, MODE_SHARED, MODE_GLOBAL], dtype=np.int8)


def local_providers(model: DMModel, service: int) -> np.ndarray:
    """Rows of the active local providers of ``service``."""
    pv = model.pv
    n = pv.n
    return np.flatnonzero(pv.active[:n] & (pv.kind[:n] == PROVIDER_LOCAL) & (pv.service[:n] == service))


def global_providers(model: DMModel, service: int) -> np.ndarray:
    """Rows of the active global providers of ``service``."""
    pv = model.pv
    n = pv.n
    return np.flatnonzero(pv.active[:n] & (pv.kind[:n] == PROVIDER_GLOBAL) & (pv.service[:n] == service))


def spread_awareness(model: DMModel) -> None:
    """Workshops learn of local providers: a base rate, word of mouth and coordination."""
    sc = model.cfg.services
    ws = model.ws
    n = ws.n
    active = ws.active[:n]
    n_active = max(int(active.sum()), 1)
    rng = model.streams.monthly("awareness", model.month)
    draws = rng.random((n, len(SERVICES)))  # one draw per cell keeps the stream aligned
    heads = None
    for s in range(len(SERVICES)):
        rows = local_providers(model, s)
        if rows.size == 0:
            continue
        if heads is None:
            heads = model.count_clients(head_count=True)
        p = (sc.awareness_base_per_month + sc.awareness_word_of_mouth * heads[rows].sum() / n_active
             + sc.awareness_coordination * model.cfg.network.coordination)
        ws.aware[:n, s] |= active & (draws[:, s] < min(p, 1.0))


def position(model: DMModel, sales: Sales, unit: UnitCosts, effects: np.ndarray, rows: np.ndarray) -> Position:
    """The month's business of the workshops in ``rows``, read off the market, costs and effects (W, S)."""
    cfg = model.cfg
    ws = model.ws
    nw, p_n = sales.units.shape
    key = sales.pair_ws * p_n + sales.pair_product
    inst = model.bg.segment[: model.bg.n] == 1
    first = int(np.argmax(inst)) if inst.any() else inst.size
    if sales.dense_shape is not None and inst[first:].all():
        # Institutions are the last groups: in the (P, K, G) layout their links are one slice.
        shape = sales.dense_shape
        units_inst = np.bincount(key.reshape(shape)[:, :, first:].ravel(),
                                 weights=sales.pair_units.reshape(shape)[:, :, first:].ravel(),
                                 minlength=nw * p_n).reshape(nw, p_n)
    else:
        units_inst = np.bincount(key, weights=sales.pair_units * inst[sales.pair_group],
                                 minlength=nw * p_n).reshape(nw, p_n)
    delivered = np.bincount(key, weights=sales.pair_units * sales.pair_delivery_usd,
                            minlength=nw * p_n).reshape(nw, p_n)
    # Valued at the volume the workshop expects (smoothed hours sold) with last month's mix, so
    # that one slow month — the first ones above all — does not make every service look worthless.
    sold = sales.hours_own + sales.hours_out + sales.hours_in
    scale = np.where(sold > 0, ws.expected_hours[:nw] / np.maximum(sold, 1e-12), 0.0)
    units = sales.units * scale[:, None]
    units_inst = units_inst * scale[:, None]
    delivery = np.where(sales.units > 0, delivered / np.maximum(sales.units, 1e-12), 0.0)
    # A unit of demand is worth at least the normal margin (full cost plus the starting markup,
    # less variable cost): a workshop pricing near variable cost in a slack month still knows
    # that orders are what lets it price normally again.
    variable = unit.material + unit.labour
    normal = unit.total * (1.0 + cfg.workshops.markup) - variable
    margin = np.where(ws.makes[:nw], np.maximum(ws.price_usd[:nw] - variable, normal), 0.0)
    wc = cfg.workshops
    capex = wc.capex_usd_per_hour_capacity * wc.invest_capacity_step * wc.capacity_hours_per_month
    # Finance lowers the rate on new loans only: what it is worth depends on the loan a busy
    # workshop is about to take for its next capacity step.
    room = ws.capacity_hours[:nw] + wc.invest_capacity_step * wc.capacity_hours_per_month \
        <= wc.max_capacity_hours_per_month + 1e-9
    planned = np.where(room & (ws.utilisation[:nw] >= wc.invest_utilisation), wc.loan_share * capex, 0.0)
    return Position(
        units=units[rows], units_institution=units_inst[rows], margin_usd=margin[rows],
        delivery_usd=delivery[rows], hours_ordered=sales.hours_ordered[rows] * scale[rows],
        hours_sold=sold[rows] * scale[rows],
        capacity_hours=ws.capacity_hours[rows],
        labour_usd=sales.hours_own[rows] * scale[rows] * cfg.labour.wage_usd_per_hour,
        lines=ws.makes[rows].sum(axis=1), loan_base_usd=planned[rows],
        material_usd=model.material_spend[rows] * scale[rows], effects=effects[rows], mode=ws.mode[rows],
        x_km=ws.x_km[rows], y_km=ws.y_km[rows],
    )


def option_values(model: DMModel, pos: Position, prov: np.ndarray, aware: np.ndarray,
                  ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Net value (USD/month) of each sourcing option of every service, and its provider.

    Options, in the order of :data:`OPTION_MODES`: none, in-house, the cheapest local provider
    (only if aware of one), the cheapest global provider. Net value = the value of the option's
    effect relative to now (:func:`dmsim.valuation.service_values`) − its monthly cost; an
    unavailable option is −inf. Costs scale with the workshop's service needs (client size).

    Returns:
        Net values (k, S, 4) and provider rows (S, 4) (−1 where none).
    """
    pv = model.pv
    k, n_s = pos.mode.shape
    size = client_size(model, pos.capacity_hours)
    inside = internal_effect(model, pos.capacity_hours)
    fee = pv.fee_usd[: pv.n]
    values = np.full((k, n_s, 4), -np.inf)
    rows = np.full((n_s, 4), -1, dtype=np.int64)
    # Shared logistics pools purchasing: a client is priced at its provider's pooled volume.
    own_d = volume_discount(model, pos.material_usd)
    log_now = (pos.mode[:, LOGISTICS] == MODE_SHARED) & (prov[:, LOGISTICS] >= 0)
    pool_of = np.zeros(pv.n)
    if log_now.any() or local_providers(model, LOGISTICS).size:
        ws = model.ws
        client = ws.active[: ws.n] & (ws.mode[: ws.n, LOGISTICS] == MODE_SHARED) & (ws.provider[: ws.n, LOGISTICS] >= 0)
        pool_of = np.bincount(ws.provider[: ws.n, LOGISTICS][client], weights=model.material_spend[: ws.n][client],
                              minlength=pv.n)
    d_now = np.where(log_now, volume_discount(model, pool_of[np.maximum(prov[:, LOGISTICS], 0)] if pv.n
                                              else np.zeros(k)), own_d)
    for s in range(n_s):
        f = model.internal_cost_usd[s]
        pool_back = (own_d - d_now) / np.maximum(1.0 - d_now, 1e-12) if s == LOGISTICS else None
        values[:, s, 0] = service_values(model, pos, s, np.zeros(k), False, ratio, pool_back)
        values[:, s, 1] = service_values(model, pos, s, inside, False, ratio, pool_back) - size * f
        local = local_providers(model, s)
        if local.size:
            best = int(local[np.argmin(fee[local])])
            rows[s, 2] = best
            gain = None
            if s == LOGISTICS:
                pooled = pool_of[best] + np.where(prov[:, LOGISTICS] == best, 0.0, pos.material_usd)
                d_new = volume_discount(model, pooled)
                gain = (d_new - d_now) / np.maximum(1.0 - d_now, 1e-12)
            v = service_values(model, pos, s, np.full(k, pv.fit[best]), True, ratio, gain) - size * fee[best]
            values[:, s, 2] = np.where(aware[:, s], v, -np.inf)
        glob = global_providers(model, s)
        if glob.size:
            best = int(glob[np.argmin(fee[glob])])
            rows[s, 3] = best
            values[:, s, 3] = (service_values(model, pos, s, np.full(k, pv.fit[best]), False, ratio, pool_back)
                               - size * fee[best])
    return values, rows


def current_values(model: DMModel, pos: Position, prov: np.ndarray) -> np.ndarray:
    """Net value of the current sourcing of each service: minus what it costs now, (k, S)."""
    pv = model.pv
    size = client_size(model, pos.capacity_hours)
    fee = pv.fee_usd[np.maximum(prov, 0)] if pv.n else np.zeros(prov.shape)
    cost = np.select([pos.mode == MODE_INTERNAL, (pos.mode == MODE_SHARED) | (pos.mode == MODE_GLOBAL)],
                     [np.broadcast_to(model.internal_cost_usd, pos.mode.shape), fee], default=0.0)
    return -size[:, None] * cost


def best_sourcing(model: DMModel, pos: Position, prov: np.ndarray, aware: np.ndarray,
                  ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best known sourcing of every service, (k, S) each: mode, provider row, gain (USD/month).

    The gain is the best option's net value minus the current sourcing's.
    """
    values, rows = option_values(model, pos, prov, aware, ratio)
    choice = values.argmax(axis=2)
    best = np.take_along_axis(values, choice[:, :, None], axis=2)[:, :, 0]
    mode = OPTION_MODES[choice]
    provider = rows[np.arange(rows.shape[0])[None, :], choice]
    return mode, provider, best - current_values(model, pos, prov)


def make_or_buy(model: DMModel, rows: np.ndarray, probability: float, rng: np.random.Generator,
                pos: Position, ratio: np.ndarray) -> None:
    """Review the sourcing of every service of the workshops in ``rows`` (positions ``pos``).

    With ``probability``, each moves to the best option it knows if the gain exceeds
    ``switch_saving_threshold`` × its in-house cost of the service (switching costs, trust).
    """
    sc = model.cfg.services
    ws, pv = model.ws, model.pv
    draws = rng.random((ws.n, len(SERVICES)))[rows]  # per row: common random numbers
    if rows.size == 0:
        return
    mode, prov = ws.mode[rows], ws.provider[rows]
    new_mode, new_prov, gain = best_sourcing(model, pos, prov, ws.aware[rows], ratio)
    size = client_size(model, pos.capacity_hours)
    friction = sc.switch_saving_threshold * size[:, None] * model.internal_cost_usd[None, :]
    changes = (new_prov != prov) | (new_mode != mode)
    act = changes & (gain > friction) & (draws < probability)
    ws.mode[rows] = np.where(act, new_mode, mode)
    ws.provider[rows] = np.where(act, new_prov, prov)
    if pv.n:
        pv.clients[: pv.n] = model.count_clients()
        # A provider knows whom it has signed: it never prices on fewer clients than that.
        pv.expected_clients[: pv.n] = np.maximum(pv.expected_clients[: pv.n], pv.clients[: pv.n])
