"""Columnar agent state: one growable structure of arrays per agent type.

Rows are never reused: a workshop that exits keeps its row with ``active = False``, so a row
index is a stable identity for the whole run. Mesa agents (see ``agents.py``) hold a row index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

MODE_NONE, MODE_INTERNAL, MODE_SHARED, MODE_GLOBAL = 0, 1, 2, 3
SEGMENT_HOUSEHOLD, SEGMENT_INSTITUTION = 0, 1
SEGMENTS: tuple[str, ...] = ("household", "institution")
PROVIDER_LOCAL, PROVIDER_GLOBAL = 0, 1


@dataclass
class Table:
    """Base of a growable structure of arrays; subclasses declare array fields only."""

    n: int = 0

    def _arrays(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "n"]

    def ensure(self, rows: int) -> None:
        """Grow every array (doubling) so that ``rows`` rows fit."""
        cap = len(getattr(self, self._arrays()[0]))
        if rows <= cap:
            return
        new_cap = max(rows, 2 * cap, 8)
        for name in self._arrays():
            old = getattr(self, name)
            new = np.zeros((new_cap, *old.shape[1:]), dtype=old.dtype)
            if old.dtype == np.int32 or old.dtype == np.int64:
                new[:] = -1 if name.endswith(("provider", "network")) else 0
            new[: len(old)] = old
            setattr(self, name, new)

    def add(self, count: int) -> np.ndarray:
        """Append ``count`` zeroed rows and return their indices."""
        start = self.n
        self.ensure(start + count)
        self.n = start + count
        return np.arange(start, start + count)


def _z(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass
class WorkshopTable(Table):
    """DM workshops. ``P`` products, ``S`` services."""

    active: np.ndarray = field(default_factory=lambda: _z(0, dtype=bool))
    x_km: np.ndarray = field(default_factory=lambda: _z(0))
    y_km: np.ndarray = field(default_factory=lambda: _z(0))
    makes: np.ndarray = field(default_factory=lambda: _z(0, 0, dtype=bool))  # (W, P)
    capacity_hours: np.ndarray = field(default_factory=lambda: _z(0))  # per month
    cash_usd: np.ndarray = field(default_factory=lambda: _z(0))
    debt_usd: np.ndarray = field(default_factory=lambda: _z(0))
    debt_payment_usd: np.ndarray = field(default_factory=lambda: _z(0))  # per month
    loan_rate: np.ndarray = field(default_factory=lambda: _z(0))  # per year
    cum_units: np.ndarray = field(default_factory=lambda: _z(0, 0))  # (W, P) learning stock
    expected_hours: np.ndarray = field(default_factory=lambda: _z(0))  # smoothed, per month
    utilisation: np.ndarray = field(default_factory=lambda: _z(0))  # smoothed order/capacity
    mode: np.ndarray = field(default_factory=lambda: _z(0, 0, dtype=np.int8))  # (W, S)
    provider: np.ndarray = field(default_factory=lambda: _z(0, 0, dtype=np.int32))  # (W, S)
    aware: np.ndarray = field(default_factory=lambda: _z(0, 0, dtype=bool))  # (W, S)
    network: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    neg_cash_months: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    loss_months: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    entry_month: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    # Last month's results, read by decisions and metrics.
    markup: np.ndarray = field(default_factory=lambda: _z(0, 0))  # (W, P) over unit cost, adapts to load
    units: np.ndarray = field(default_factory=lambda: _z(0, 0))  # (W, P) sold
    price_usd: np.ndarray = field(default_factory=lambda: _z(0, 0))  # (W, P)
    revenue_usd: np.ndarray = field(default_factory=lambda: _z(0))
    profit_usd: np.ndarray = field(default_factory=lambda: _z(0))

    @classmethod
    def empty(cls, n_products: int, n_services: int) -> WorkshopTable:
        """A table with zero rows and the right trailing shapes."""
        t = cls()
        for name in ("makes", "cum_units", "markup", "units", "price_usd"):
            setattr(t, name, np.zeros((0, n_products), dtype=getattr(t, name).dtype))
        for name in ("mode", "provider", "aware"):
            setattr(t, name, np.zeros((0, n_services), dtype=getattr(t, name).dtype))
        return t


@dataclass
class ProviderTable(Table):
    """Shared-service providers (local, or global with a regional presence)."""

    active: np.ndarray = field(default_factory=lambda: _z(0, dtype=bool))
    service: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    kind: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    fixed_usd: np.ndarray = field(default_factory=lambda: _z(0))  # per month
    marginal_usd: np.ndarray = field(default_factory=lambda: _z(0))  # per client-month
    fit: np.ndarray = field(default_factory=lambda: _z(0))  # effect relative to in-house
    cash_usd: np.ndarray = field(default_factory=lambda: _z(0))
    expected_clients: np.ndarray = field(default_factory=lambda: _z(0))
    clients: np.ndarray = field(default_factory=lambda: _z(0))
    fee_usd: np.ndarray = field(default_factory=lambda: _z(0))  # per client-month
    entry_month: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    # Last month's fee revenue and running cost (USD): whether it pays its way without subsidy.
    revenue_usd: np.ndarray = field(default_factory=lambda: _z(0))
    cost_usd: np.ndarray = field(default_factory=lambda: _z(0))


@dataclass
class SupplierTable(Table):
    """Material suppliers; row 0 is the importing distributor at the port."""

    active: np.ndarray = field(default_factory=lambda: _z(0, dtype=bool))
    local: np.ndarray = field(default_factory=lambda: _z(0, dtype=bool))
    cash_usd: np.ndarray = field(default_factory=lambda: _z(0))
    sales_usd: np.ndarray = field(default_factory=lambda: _z(0))  # last month


@dataclass
class BuyerTable(Table):
    """Buyer groups: household settlements and institutions."""

    x_km: np.ndarray = field(default_factory=lambda: _z(0))
    y_km: np.ndarray = field(default_factory=lambda: _z(0))
    people: np.ndarray = field(default_factory=lambda: _z(0))
    segment: np.ndarray = field(default_factory=lambda: _z(0, dtype=np.int32))
    port_km: np.ndarray = field(default_factory=lambda: _z(0))  # distance to the port
    potential_units: np.ndarray = field(default_factory=lambda: _z(0, 0))  # (G, P) per month
    cash_usd: np.ndarray = field(default_factory=lambda: _z(0))  # spending drives it negative

    @classmethod
    def empty(cls, n_products: int) -> BuyerTable:
        """A table with zero rows and the right trailing shapes."""
        t = cls()
        t.potential_units = np.zeros((0, n_products))
        return t
