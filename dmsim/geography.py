"""The region: settlements, buyer groups, and the k-nearest-workshop index.

The port/capital sits on the west edge, so distance from the port runs across the region.
Reachability uses a k-d tree over the workshops that make each product (k nearest within a
delivery reach) — never a dense buyer × workshop matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dmsim.config import DMSimConfig


@dataclass
class Settlements:
    """Town centres (km) and their population weights; town 0 is the port/capital."""

    x_km: np.ndarray
    y_km: np.ndarray
    weight: np.ndarray

    @property
    def port(self) -> tuple[float, float]:
        """Position of the port/capital (km)."""
        return float(self.x_km[0]), float(self.y_km[0])


def make_settlements(cfg: DMSimConfig, rng: np.random.Generator) -> Settlements:
    """Place towns: the capital at the port, the rest uniformly; Zipf-like sizes."""
    size = cfg.region.size_km
    n = cfg.region.towns
    x = rng.uniform(0.15 * size, 0.95 * size, n)
    y = rng.uniform(0.05 * size, 0.95 * size, n)
    x[0], y[0] = 0.05 * size, 0.5 * size
    weight = 1.0 / np.arange(1, n + 1)  # rank-size rule (Zipf)
    return Settlements(x, y, weight / weight.sum())


def scatter_around_people(
    towns: Settlements, n: int, urban_share: float, size_km: float, spread_km: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` positions: a share around towns (normal, s.d. ``spread_km``), the rest rural."""
    urban = rng.random(n) < urban_share
    town = rng.choice(len(towns.weight), size=n, p=towns.weight)
    x = np.where(urban, towns.x_km[town] + rng.normal(0, spread_km, n), rng.uniform(0, size_km, n))
    y = np.where(urban, towns.y_km[town] + rng.normal(0, spread_km, n), rng.uniform(0, size_km, n))
    return np.clip(x, 0, size_km), np.clip(y, 0, size_km)


class NeighbourIndex:
    """For each product, the k nearest active makers within reach of every buyer group.

    ``rows[p]`` is (G, k) workshop rows (``-1`` where fewer than k are within reach) and
    ``dist_km[p]`` the matching distances. Rebuilt only when workshops enter; exits are
    masked by the market through ``active``.
    """

    def __init__(self, buyer_xy: np.ndarray, k: int, reach_km: float) -> None:
        self.buyer_xy = buyer_xy
        self.k = k
        self.reach_km = reach_km
        self.rows: list[np.ndarray] = []
        self.dist_km: list[np.ndarray] = []
        # Derived once per build for the market: rows with -1 clipped to 0, which slots
        # hold a workshop, distances with 0 in empty slots, and the flat link layout.
        self.rows0: list[np.ndarray] = []
        self.slot: list[np.ndarray] = []
        self.dist0_km: list[np.ndarray] = []
        self.link_group = np.zeros(0, dtype=np.int64)
        self.link_product = np.zeros(0, dtype=np.int64)
        self.link_ws = np.zeros(0, dtype=np.int64)
        self._buffers: dict[str, np.ndarray] = {}
        self.builds = 0

    def rebuild(self, ws_xy: np.ndarray, makes: np.ndarray, active: np.ndarray) -> None:
        """Query the k nearest makers of each product for all buyer groups."""
        g = self.buyer_xy.shape[0]
        self.rows, self.dist_km = [], []
        for p in range(makes.shape[1]):
            cand = np.flatnonzero(active & makes[:, p])
            k = min(self.k, cand.size)
            rows = np.full((g, self.k), -1, dtype=np.int64)
            dist = np.full((g, self.k), np.inf)
            if k:
                d, j = cKDTree(ws_xy[cand]).query(
                    self.buyer_xy, k=k, distance_upper_bound=self.reach_km
                )
                d, j = d.reshape(g, k), j.reshape(g, k)
                ok = np.isfinite(d)
                rows[:, :k] = np.where(ok, cand[np.minimum(j, cand.size - 1)], -1)
                dist[:, :k] = d
            self.rows.append(rows)
            self.dist_km.append(dist)
        self._derive()
        self.builds += 1

    def _derive(self) -> None:
        self.slot = [r >= 0 for r in self.rows]
        self.rows0 = [np.maximum(r, 0) for r in self.rows]
        self.dist0_km = [np.where(s, d, 0.0) for s, d in zip(self.slot, self.dist_km, strict=True)]
        p, g, k = len(self.rows), self.buyer_xy.shape[0], self.k
        self.link_ws = np.stack(self.rows0).ravel() if p else np.zeros(0, dtype=np.int64)
        if self.link_group.size != p * g * k:
            self.link_group = np.broadcast_to(np.arange(g)[None, :, None], (p, g, k)).ravel()
            self.link_product = np.broadcast_to(np.arange(p)[:, None, None], (p, g, k)).ravel()

    def link_buffers(self, n_products: int, n_groups: int) -> dict[str, np.ndarray]:
        """Work arrays (P, G, K) for the market's per-link figures, reused month to month."""
        shape = (n_products, n_groups, self.k)
        if not self._buffers or self._buffers["units"].shape != shape:
            self._buffers = {name: np.empty(shape) for name in ("units", "price", "delivery", "emissions")}
        return self._buffers
