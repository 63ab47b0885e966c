"""Service sourcing: awareness of providers and the make-or-buy choice.

Make-or-buy is gradual: a workshop only considers a local provider once it is aware of one
(awareness spreads by word of mouth and coordination), reviews its sourcing every
``switch_interval_months``, and acts on a review with ``switch_probability``. This is the
coordination failure in time of DESIGN.md §4: a new provider prices on the clients it
expects and survives only if they arrive before its cash runs out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dmsim.config import SERVICES
from dmsim.state import MODE_GLOBAL, MODE_INTERNAL, MODE_NONE, MODE_SHARED, PROVIDER_GLOBAL, PROVIDER_LOCAL

if TYPE_CHECKING:
    from dmsim.model import DMModel


def local_providers(model: DMModel, service: int) -> np.ndarray:
    """Rows of the active local providers of ``service``."""
    pv = model.pv
    n = pv.n
    return np.flatnonzero(pv.active[:n] & (pv.kind[:n] == PROVIDER_LOCAL) & (pv.service[:n] == service))


def spread_awareness(model: DMModel) -> None:
    """Workshops learn of local providers: a base rate, word of mouth and coordination."""
    sc = model.cfg.services
    ws = model.ws
    n = ws.n
    active = ws.active[:n]
    n_active = max(int(active.sum()), 1)
    rng = model.streams.monthly("awareness", model.month)
    draws = rng.random((n, len(SERVICES)))  # one draw per cell keeps the stream aligned
    for s in range(len(SERVICES)):
        rows = local_providers(model, s)
        if rows.size == 0:
            continue
        clients = model.count_clients(head_count=True)[rows].sum()
        p = (sc.awareness_base_per_month + sc.awareness_word_of_mouth * clients / n_active
             + sc.awareness_coordination * model.cfg.network.coordination)
        ws.aware[:n, s] |= active & (draws[:, s] < min(p, 1.0))


def best_sourcing(
    model: DMModel, mode: np.ndarray, prov: np.ndarray, aware: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cheapest known sourcing of every service for workshops in the given state.

    Options: in-house (cost ``f_s``), the cheapest local provider the workshop is aware of
    (its fee), a global provider (fee plus the in-house top-up of its weaker fit). A workshop
    without the service (``none``) can only adopt a provider. Costs are per standard client
    per month (USD).

    Args:
        model: the model (providers and in-house costs).
        mode: (k, S) current sourcing modes.
        prov: (k, S) current provider rows (-1 for none).
        aware: (k, S) whether each workshop knows of local providers of each service.

    Returns:
        Best mode, best provider, best cost and current cost, each (k, S).
    """
    pv = model.pv
    k, n_s = mode.shape
    new_mode = mode.copy()
    new_prov = prov.copy()
    best = np.zeros((k, n_s))
    current = np.zeros((k, n_s))
    fee = pv.fee_usd[: pv.n]
    for s in range(n_s):
        f = model.internal_cost_usd[s]
        local = local_providers(model, s)
        glob = np.flatnonzero(pv.active[: pv.n] & (pv.kind[: pv.n] == PROVIDER_GLOBAL) & (pv.service[: pv.n] == s))
        best_local = local[np.argmin(fee[local])] if local.size else -1
        best_glob = glob[np.argmin(fee[glob])] if glob.size else -1
        c_local = fee[best_local] if best_local >= 0 else np.inf
        c_glob = fee[best_glob] + (1 - pv.fit[best_glob]) * f if best_glob >= 0 else np.inf
        m, p = mode[:, s], np.maximum(prov[:, s], 0)
        prov_fee = fee[p] if pv.n else np.full(k, f)
        prov_fit = pv.fit[p] if pv.n else np.ones(k)
        current[:, s] = np.select([m == MODE_SHARED, m == MODE_GLOBAL],
                                  [prov_fee, prov_fee + (1 - prov_fit) * f], default=f)
        options = np.stack([
            np.where(m == MODE_NONE, np.inf, f),  # in-house
            np.where(aware[:, s], c_local, np.inf),
            np.full(k, c_glob),
        ])
        choice = options.argmin(axis=0)
        best[:, s] = options.min(axis=0)
        pick = np.isfinite(best[:, s])
        new_mode[pick, s] = np.array([MODE_INTERNAL, MODE_SHARED, MODE_GLOBAL])[choice[pick]]
        new_prov[pick, s] = np.array([-1, best_local, best_glob])[choice[pick]]
    return new_mode, new_prov, best, current


def make_or_buy(model: DMModel, rows: np.ndarray, probability: float, rng: np.random.Generator) -> None:
    """Review the sourcing of every service of the workshops in ``rows``.

    With ``probability``, each moves to the cheapest option it knows if that saves more than
    the switching threshold.
    """
    sc = model.cfg.services
    ws, pv = model.ws, model.pv
    draws = rng.random((ws.n, len(SERVICES)))[rows]  # per row: common random numbers
    if rows.size == 0:
        return
    mode, prov = ws.mode[rows], ws.provider[rows]
    new_mode, new_prov, best, current = best_sourcing(model, mode, prov, ws.aware[rows])
    changes = (new_prov != prov) | (new_mode != mode)
    act = changes & (best < current * (1 - sc.switch_saving_threshold)) & (draws < probability)
    ws.mode[rows] = np.where(act, new_mode, mode)
    ws.provider[rows] = np.where(act, new_prov, prov)
    if pv.n:
        pv.clients[: pv.n] = model.count_clients()
