"""Mesa agents: handles onto rows of the model's columnar state.

Agents give identity and lifecycle (entry, exit) and readable properties for inspection in
notebooks; the monthly pricing, market and accounting run over the arrays in ``state.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from dmsim.config import MODES, SERVICES

if TYPE_CHECKING:
    from dmsim.model import DMModel


class RowAgent(mesa.Agent):
    """An agent whose state is row ``row`` of a table of the model."""

    table_name: str = ""

    def __init__(self, model: DMModel, row: int) -> None:
        super().__init__(model)
        self.row = int(row)

    @property
    def table(self):  # noqa: ANN201 - one of the state tables
        """The table holding this agent's state."""
        return getattr(self.model, self.table_name)

    @property
    def cash_usd(self) -> float:
        """Cash held (USD)."""
        return float(self.table.cash_usd[self.row])


class Workshop(RowAgent):
    """A DM node: micro-factory, makerspace, fab lab or small job shop."""

    table_name = "ws"

    @property
    def capacity_hours(self) -> float:
        """Production hours available per month."""
        return float(self.table.capacity_hours[self.row])

    @property
    def sourcing(self) -> dict[str, str]:
        """How each service is sourced: none, internal, shared or global."""
        return {s: MODES[int(m)] for s, m in zip(SERVICES, self.table.mode[self.row], strict=True)}

    def exit(self) -> None:
        """Leave the market; the row stays, inactive, for the record."""
        self.table.active[self.row] = False
        self.remove()


class SharedServiceProvider(RowAgent):
    """Offers one service to many workshops for a fee."""

    table_name = "pv"

    @property
    def service(self) -> str:
        """The service offered."""
        return SERVICES[int(self.table.service[self.row])]

    def exit(self) -> None:
        """Close down; clients fall back to doing the service in-house."""
        self.table.active[self.row] = False
        self.remove()


class Supplier(RowAgent):
    """A material supplier: the importing distributor (row 0) or a local supplier."""

    table_name = "sp"

    def exit(self) -> None:
        """Close down."""
        self.table.active[self.row] = False
        self.remove()


class BuyerGroup(RowAgent):
    """A settlement's households or an institution, buying per product each month."""

    table_name = "bg"

    @property
    def segment(self) -> str:
        """``household`` or ``institution``."""
        from dmsim.state import SEGMENTS

        return SEGMENTS[int(self.table.segment[self.row])]
