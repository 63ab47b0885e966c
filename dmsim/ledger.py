"""Money accounting: every payment has a payer and a payee.

Agents' cash lives in their tables (``cash_usd`` arrays); the rest of the world is a set of
named external accounts (``foreign``, ``labour``, ``government`` …). All cash changes go
through :class:`Ledger`, which also records the month's flows between account kinds, so that
"cash changes of all agents plus external balances net to zero" can be checked every month.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from dmsim.state import Table

EXTERNAL: tuple[str, ...] = (
    "foreign",  # factories, freight and equipment abroad; global providers
    "government",  # tariffs in, subsidies out
    "labour",  # production wages to local households (workshops' own and peers' workers)
    "service_staff",  # service work: workshops' in-house service teams and local providers' staff
    "local_inputs",  # rent, power, local materials' own costs
    "transport",  # delivery and inland distribution
    "trade",  # import distribution margins (local traders)
    "owners",  # equity put into entrants, taken out at exit
    "lenders",  # loans out, repayments and interest in, write-offs
    "donor",  # outside funders of strategies (not public money)
)


class Ledger:
    """Double-entry bookkeeping between agent tables and external accounts (USD)."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.external: dict[str, float] = dict.fromkeys(EXTERNAL, 0.0)
        self.flows: defaultdict[tuple[str, str], float] = defaultdict(float)

    def new_month(self) -> None:
        """Forget last month's flow record."""
        self.flows.clear()

    def _debit(self, who: str, rows: np.ndarray | None, amount: np.ndarray | float) -> float:
        return self._credit(who, rows, -np.asarray(amount, dtype=float)) * -1.0

    def _credit(self, who: str, rows: np.ndarray | None, amount: np.ndarray | float) -> float:
        amount = np.asarray(amount, dtype=float)
        if who in self.external:
            total = float(amount.sum())
            self.external[who] += total
            return total
        cash = self.tables[who].cash_usd
        if rows is None:
            cash[: amount.shape[0]] += amount
        else:
            rows = np.asarray(rows)
            if amount.ndim == 0:
                amount = np.full(rows.shape, float(amount))
            cash += np.bincount(rows, weights=amount, minlength=cash.shape[0])
        return float(amount.sum())

    def pay(
        self,
        payer: str,
        payee: str,
        amount: np.ndarray | float,
        payer_rows: np.ndarray | None = None,
        payee_rows: np.ndarray | None = None,
    ) -> float:
        """Move ``amount`` from payer to payee and return the total moved (USD).

        ``amount`` is a scalar or an array aligned with the given rows. For a table, rows
        ``None`` means the array is aligned with the table's first rows.
        """
        amount = np.asarray(amount, dtype=float)
        out = self._debit(payer, payer_rows, amount)
        into = self._credit(payee, payee_rows, amount)
        assert abs(out - into) <= 1e-6 * max(1.0, abs(out)), (payer, payee, out, into)
        self.flows[(payer, payee)] += into
        return into

    def transfer(
        self,
        payer: str,
        payer_rows: np.ndarray | None,
        payer_amounts: np.ndarray,
        payee: str,
        payee_rows: np.ndarray | None,
        payee_amounts: np.ndarray,
    ) -> float:
        """A pooled many-to-many payment: payers' amounts and payees' amounts sum alike.

        Rows ``None`` means the amounts are aligned with the table's first rows.
        """
        out = self._debit(payer, payer_rows, payer_amounts)
        into = self._credit(payee, payee_rows, payee_amounts)
        assert abs(out - into) <= 1e-6 * max(1.0, abs(out)), (payer, payee, out, into)
        self.flows[(payer, payee)] += into
        return into

    def agent_cash(self) -> dict[str, float]:
        """Total cash held by each agent table (USD)."""
        return {k: float(t.cash_usd[: t.n].sum()) for k, t in self.tables.items()}

    def total(self) -> float:
        """Agents' cash plus external balances: zero at all times if money is conserved."""
        return sum(self.agent_cash().values()) + sum(self.external.values())
