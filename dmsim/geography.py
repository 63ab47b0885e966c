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


class Catchment:
    """Potential demand within a radius of any point, from a summed-area table (units/month).

    The buyer groups' potential units are binned on a square grid once; the demand within
    radius r of (x, y) is approximated by the square of equal area (side r·√π) centred there,
    read off the table with four look-ups per point. Used where a workshop weighs how far its
    marketing reaches, not in the market itself (which uses exact distances).
    """

    def __init__(self, x_km: np.ndarray, y_km: np.ndarray, units: np.ndarray, size_km: float,
                 cells: int = 200) -> None:
        self.cell_km = size_km / cells
        self.cells = cells
        i = np.clip((x_km / self.cell_km).astype(int), 0, cells - 1)
        j = np.clip((y_km / self.cell_km).astype(int), 0, cells - 1)
        grid = np.zeros((units.shape[1], cells, cells))
        for p in range(units.shape[1]):
            np.add.at(grid[p], (i, j), units[:, p])
        self.table = np.zeros((units.shape[1], cells + 1, cells + 1))
        self.table[:, 1:, 1:] = grid.cumsum(axis=1).cumsum(axis=2)

    def within(self, x_km: np.ndarray, y_km: np.ndarray, radius_km: np.ndarray) -> np.ndarray:
        """Potential units per month within each point's radius, (n, P)."""
        half = np.asarray(radius_km) * np.sqrt(np.pi) / 2.0 / self.cell_km
        lo_i = np.clip(np.rint(x_km / self.cell_km - half), 0, self.cells).astype(int)
        hi_i = np.clip(np.rint(x_km / self.cell_km + half), 0, self.cells).astype(int)
        lo_j = np.clip(np.rint(y_km / self.cell_km - half), 0, self.cells).astype(int)
        hi_j = np.clip(np.rint(y_km / self.cell_km + half), 0, self.cells).astype(int)
        t = self.table
        return (t[:, hi_i, hi_j] - t[:, lo_i, hi_j] - t[:, hi_i, lo_j] + t[:, lo_i, lo_j]).T


class NeighbourIndex:
    """For each product, the k nearest active makers within reach of every buyer group.

    ``rows[p]`` is (G, k) workshop rows (``-1`` where fewer than k are within reach) and
    ``dist_km[p]`` the matching distances (not sorted). Entrants are inserted incrementally
    (:meth:`insert`: each replaces the farthest or a closed workshop in the lists of the groups
    it can reach, which keeps the lists exact under entry); exits are masked by the market
    through ``active`` until the model decides a full :meth:`rebuild` is worth it.
    """

    def __init__(self, buyer_xy: np.ndarray, k: int, reach_km: float) -> None:
        self.buyer_xy = buyer_xy
        self.tree = cKDTree(buyer_xy)  # buyer groups, for entrants' catchments
        self.k = k
        self.reach_km = reach_km
        # Stored slot-major, (K, G) per product: reductions over a group's options then run
        # over contiguous rows, several times faster than over a short trailing axis.
        self.rows_kg: list[np.ndarray] = []
        self.dist_kg: list[np.ndarray] = []
        # Derived for the market: rows with -1 clipped to 0, which slots hold a workshop,
        # distances with 0 in empty slots, and the flat (P, K, G) link layout.
        self.rows0: list[np.ndarray] = []
        self.slot: list[np.ndarray] = []
        self.dist0_km: list[np.ndarray] = []
        self.link_group = np.zeros(0, dtype=np.int64)
        self.link_product = np.zeros(0, dtype=np.int64)
        self.link_ws = np.zeros(0, dtype=np.int64)
        self._buffers: dict[str, np.ndarray] = {}
        self.builds = 0

    @property
    def rows(self) -> list[np.ndarray]:
        """Per product, (G, K) workshop rows of each group's options (views)."""
        return [r.T for r in self.rows_kg]

    @property
    def dist_km(self) -> list[np.ndarray]:
        """Per product, (G, K) distances to each group's options (views)."""
        return [d.T for d in self.dist_kg]

    def rebuild(self, ws_xy: np.ndarray, makes: np.ndarray, active: np.ndarray) -> None:
        """Query the k nearest makers of each product for all buyer groups."""
        g = self.buyer_xy.shape[0]
        self.rows_kg, self.dist_kg = [], []
        for p in range(makes.shape[1]):
            cand = np.flatnonzero(active & makes[:, p])
            k = min(self.k, cand.size)
            rows = np.full((self.k, g), -1, dtype=np.int64)
            dist = np.full((self.k, g), np.inf)
            if k:
                d, j = cKDTree(ws_xy[cand]).query(self.buyer_xy, k=k, distance_upper_bound=self.reach_km)
                d, j = d.reshape(g, k).T, j.reshape(g, k).T
                rows[:k] = np.where(np.isfinite(d), cand[np.minimum(j, cand.size - 1)], -1)
                dist[:k] = d
            self.rows_kg.append(rows)
            self.dist_kg.append(dist)
        self._derive()
        self.builds += 1

    def insert(self, rows: np.ndarray, ws_xy: np.ndarray, makes: np.ndarray, active: np.ndarray) -> None:
        """Add entrant workshops ``rows`` to the lists of the groups within their reach.

        In each affected list the entrant replaces a closed workshop or else the farthest
        one, if it is nearer than that one.
        """
        for row in rows:
            near = np.asarray(self.tree.query_ball_point(ws_xy[row], self.reach_km), dtype=np.int64)
            if near.size == 0:
                continue
            d = np.hypot(self.buyer_xy[near, 0] - ws_xy[row, 0], self.buyer_xy[near, 1] - ws_xy[row, 1])
            for p in np.flatnonzero(makes[row]):
                lst, dist = self.rows_kg[p][:, near], self.dist_kg[p][:, near]
                gone = (lst < 0) | ~active[np.maximum(lst, 0)]
                worst_d = np.where(gone, np.inf, dist)
                slot = worst_d.argmax(axis=0)
                better = d < worst_d[slot, np.arange(near.size)]
                g, s = near[better], slot[better]
                self.rows_kg[p][s, g] = row
                self.dist_kg[p][s, g] = d[better]
        self._derive()

    def _derive(self) -> None:
        self.slot = [r >= 0 for r in self.rows_kg]
        # np.intp: np.take converts narrower indices on every call (measured 5.6 against 1.6 ms
        # for a (8, 103,000) gather from 10,000 workshops).
        self.rows0 = [np.maximum(r, 0).astype(np.intp) for r in self.rows_kg]
        self.dist0_km = [np.where(s, d, 0.0) for s, d in zip(self.slot, self.dist_kg, strict=True)]
        p, g, k = len(self.rows_kg), self.buyer_xy.shape[0], self.k
        self.link_ws = np.stack(self.rows0).ravel() if p else np.zeros(0, dtype=np.int64)
        if self.link_group.size != p * k * g:
            self.link_group = np.tile(np.arange(g), p * k)
            self.link_product = np.repeat(np.arange(p), k * g)

    def link_buffers(self, n_products: int, n_groups: int) -> dict[str, np.ndarray]:
        """Work arrays (P, K, G) for the market's per-link figures, reused month to month."""
        shape = (n_products, self.k, n_groups)
        if not self._buffers or self._buffers["units"].shape != shape:
            self._buffers = {name: np.empty(shape)
                             for name in ("units", "price", "delivery", "emissions", "utility")}
        return self._buffers
