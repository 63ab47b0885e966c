"""Per-month metrics (one row per month, columnar) and the run summary."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dmsim.config import MODES, SERVICES
from dmsim.state import MODE_GLOBAL, MODE_NONE, MODE_SHARED, PROVIDER_LOCAL, SEGMENTS

if TYPE_CHECKING:
    from dmsim.costs import UnitCosts
    from dmsim.market import Sales
    from dmsim.model import DMModel

FINAL_MONTHS = 12  # "final" figures are means over this many last months
# Tipping rule (docs/ODD.md §7.13): the ecosystem is in its high state in a month when, in
# each of the last TIP_WINDOW months, at least TIP_SERVICES service(s) had a local provider
# whose fee revenue covered its running cost (no subsidy counted): shared provision that pays
# its way. The calibration sweep shows two modes: runs that end with no such provider (and
# few workshops) and runs that end with one or more (and two to three times the workshops).
# A run has tipped when it ends in the high state; the tipping month is the first month of
# the uninterrupted high-state run that lasts to the end, never before month TIP_WINDOW − 1,
# since the state is read off the trajectory, not the set-up.
TIP_SERVICES = 1
TIP_WINDOW = 12


# Ratios whose denominator can be zero (no DM sales, no purchases, no capacity) are undefined,
# not 0: a 0 would be averaged into sweep means as if it were a price or a share. They are NaN
# in memory, null in timeseries.parquet and summary.json; no other column is ever missing.
UNDEFINED_WHEN_EMPTY = ("mean_price_usd", "mean_unit_cost_usd", "overhead_share", "utilisation",
                        "buyer_landed_cost_usd_mean", "unit_cost_", "dm_market_share", "dm_fill_rate",
                        "markup_mean", "unmet_demand_share")


def may_be_undefined(column: str) -> bool:
    """Whether ``column`` may be missing (a ratio without denominator) in a month."""
    return column.startswith(UNDEFINED_WHEN_EMPTY)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


class MetricsRecorder:
    """Collects one row of figures per month into plain lists (cheap, columnar at the end)."""

    def __init__(self, model: DMModel) -> None:
        self.model = model
        self.rows: list[dict[str, float]] = []
        self.snapshots: list[pd.DataFrame] = []  # workshops' state, if output.agent_snapshots

    def record(self, sales: Sales, unit: UnitCosts, overhead_ws: np.ndarray) -> dict[str, float]:
        """Compute and store this month's figures."""
        m = self.model
        cfg = m.cfg
        ws, pv, bg = m.ws, m.pv, m.bg
        nw = ws.n
        active = ws.active[:nw]
        books = m.books
        row: dict[str, float] = {"month": m.month}
        row["workshops_active"] = int(active.sum())
        row["entries"] = m.entries
        row["exits"] = m.exits
        dm_units = float(sales.units.sum())
        imp_units = float(sales.import_units.sum())
        row["dm_units"] = dm_units
        ordered = float(sales.ordered_units.sum())
        row["dm_units_ordered"] = ordered
        row["dm_fill_rate"] = _ratio(dm_units, ordered)
        row["import_units"] = imp_units
        row["potential_units"] = float(sales.potential_units.sum())
        row["dm_market_share"] = _ratio(dm_units, dm_units + imp_units)
        seg = bg.segment[: bg.n]
        n_seg = len(SEGMENTS)
        dm_seg = np.bincount(seg, weights=sales.units_by_group(), minlength=n_seg)
        imp_seg = np.bincount(seg, weights=sales.import_units.sum(axis=1), minlength=n_seg)
        for code, name in enumerate(SEGMENTS):
            row[f"dm_market_share_{name}"] = _ratio(dm_seg[code], dm_seg[code] + imp_seg[code])
        dm_by_product = sales.units.sum(axis=0)
        for p, name in enumerate(m.product_names):
            row[f"dm_market_share_{name}"] = _ratio(dm_by_product[p], dm_by_product[p] + sales.import_units[:, p].sum())
        sold_rows = sales.units.shape[0]  # workshops at market time (entrants came after)
        basket = _basket_costs(sales.units, ws.makes[:sold_rows] & ws.active[:sold_rows, None],
                               {"price": ws.price_usd[:sold_rows], "material": unit.material,
                                "labour": unit.labour, "setup": unit.setup, "overhead": unit.overhead},
                               sales.potential_units.sum(axis=0))
        row["mean_price_usd"] = basket["price"]
        for name in ("material", "labour", "setup", "overhead"):
            row[f"unit_cost_{name}_usd"] = basket[name]
        total = sum(basket[k] for k in ("material", "labour", "setup", "overhead"))
        row["mean_unit_cost_usd"] = total
        row["overhead_share"] = _ratio(basket["overhead"], total)
        mode = ws.mode[:nw][active]
        shared = (mode == MODE_SHARED) | (mode == MODE_GLOBAL)
        informal = mode == MODE_NONE
        row["shared_service_share"] = float(shared.mean()) if mode.size else 0.0
        row["none_service_share"] = float(informal.mean()) if mode.size else 0.0
        for s, name in enumerate(SERVICES):
            row[f"shared_service_share_{name}"] = float(shared[:, s].mean()) if mode.size else 0.0
            row[f"none_service_share_{name}"] = float(informal[:, s].mean()) if mode.size else 0.0
        k = pv.n
        alive = pv.active[:k]
        local = alive & (pv.kind[:k] == PROVIDER_LOCAL)
        row["providers_active"] = int(alive.sum())
        row["providers_local_active"] = int(local.sum())
        row["provider_entries"] = m.provider_entries
        row["providers_entered"] = m.provider_entries
        row["provider_exits"] = m.provider_exits
        # Services whose local provider covered its running cost from fees this month (no subsidy).
        paying = local & (pv.revenue_usd[:k] >= pv.cost_usd[:k])
        row["services_with_paying_provider"] = int(np.unique(pv.service[:k][paying]).size)
        for s, name in enumerate(SERVICES):
            sel = local & (pv.service[:k] == s)
            # 0 when no local provider offers the service this month.
            row[f"fee_{name}_usd_per_month"] = float(pv.fee_usd[:k][sel].min()) if sel.any() else 0.0
            row[f"clients_{name}"] = float(pv.clients[:k][sel].sum())
        row["dm_lead_time_months"] = m.dm_lead_time_months
        row["local_suppliers"] = int((m.sp.active[: m.sp.n] & m.sp.local[: m.sp.n]).sum())
        flows = m.ledger.flows
        lab = cfg.labour
        labour = sum(v for (a, b), v in flows.items() if b == "labour")
        staff = sum(v for (a, b), v in flows.items() if b == "service_staff")
        row["production_jobs"] = labour / (lab.wage_usd_per_hour * lab.hours_per_job_month)
        row["service_jobs"] = staff / (lab.service_wage_usd_per_hour * lab.hours_per_job_month)
        row["jobs"] = row["production_jobs"] + row["service_jobs"] + int(active.sum())
        # What the local people employed could have earned otherwise (cost-benefit shadow prices).
        row["labour_shadow_cost_usd"] = (lab.shadow_wage_factor * labour + lab.service_shadow_wage_factor * staff
                                         + cfg.workshops.entry_profit_reference_usd_per_month * int(active.sum()))
        row["tariff_revenue_usd"] = sum(v for (a, b), v in flows.items() if b == "government" and a in ("bg", "sp"))
        local_receipts = sum(v for (a, b), v in flows.items()
                             if b in ("labour", "service_staff", "local_inputs", "transport", "trade"))
        distributor_margin = float(m.sp.sales_usd[0]) - sum(
            v for (a, b), v in flows.items() if a == "sp" and b in ("foreign", "government", "transport"))
        row["local_value_added_usd"] = (local_receipts + books.workshop_profit + books.provider_profit
                                        + books.supplier_local_margin + distributor_margin)
        # Of it, the incomes of local people and firms (wages, profits, margins): rent, power,
        # transport and trade are bought at what their resources cost elsewhere, no net gain.
        bought_locally = sum(v for (a, b), v in flows.items() if b in ("local_inputs", "transport", "trade"))
        row["local_factor_income_usd"] = row["local_value_added_usd"] - bought_locally
        bought = dm_units + imp_units
        dm_spend = books.dm_revenue + books.delivery_spend
        row["buyer_landed_cost_usd_mean"] = _ratio(dm_spend + books.import_spend, bought)
        row["informal_units"] = 0.0 if sales.informal_units is None else float(sales.informal_units.sum())
        row["shock_active"] = not m.shock.neutral
        row["unmet_demand_units"] = sales.unmet_units
        row["unmet_demand_share"] = _ratio(sales.unmet_units, sales.wanted_units or 0.0)
        row["consumer_surplus_usd"] = float(sales.surplus_usd.sum())
        row["procurement_preference_usd"] = float(sales.preference_usd.sum())
        # einsum without optimize: never BLAS, whose threaded reductions change the last bit
        imports_kg = float(np.einsum("gp,gp->", sales.import_units, sales.import_emissions_kg))
        em = (sales.dm_emissions() + imports_kg) / 1000.0
        row["emissions_t_co2"] = em
        row["public_spend_usd"] = m.public_spend_month
        row["strategy_cost_usd"] = float(sum(m.strategy_cost_month.values()))
        row["strategy_unfunded_usd"] = m.strategy_unfunded_month
        row["dm_revenue_usd"] = books.dm_revenue
        row["workshop_profit_usd"] = books.workshop_profit
        row["provider_profit_usd"] = books.provider_profit
        row["workshop_cash_usd"] = float(ws.cash_usd[:nw][active].sum())
        row["capacity_hours"] = float(ws.capacity_hours[:nw][active].sum())
        row["utilisation"] = _ratio(float(sales.hours_ordered.sum()), float(sales.hours_available.sum()))
        cost_sold = float((sales.units * unit.total).sum())
        row["markup_mean"] = _ratio(float((sales.units * ws.price_usd[:sold_rows]).sum()) - cost_sold, cost_sold)
        row["investments"] = m.investments
        row["money_residual_usd"] = m.ledger.total()
        self.rows.append(row)
        if cfg.output.agent_snapshots and (m.month % 12 == 11 or m.month == cfg.steps - 1):
            self.snapshots.append(self.workshop_snapshot())
        return row

    def workshop_snapshot(self) -> pd.DataFrame:
        """Every workshop's state now (one row per workshop ever created)."""
        m = self.model
        ws = m.ws
        n = ws.n
        out = {
            "month": np.full(n, m.month), "workshop": np.arange(n), "active": ws.active[:n].copy(),
            "x_km": ws.x_km[:n].copy(), "y_km": ws.y_km[:n].copy(), "entry_month": ws.entry_month[:n].copy(),
            "capacity_hours": ws.capacity_hours[:n].copy(), "cash_usd": ws.cash_usd[:n].copy(),
            "debt_usd": ws.debt_usd[:n].copy(), "revenue_usd": ws.revenue_usd[:n].copy(),
            "profit_usd": ws.profit_usd[:n].copy(), "expected_hours": ws.expected_hours[:n].copy(),
        }
        for p, name in enumerate(m.product_names):
            out[f"units_{name}"] = ws.units[:n, p].copy()
            out[f"price_{name}_usd"] = np.where(ws.makes[:n, p], ws.price_usd[:n, p], np.nan)
        for s, name in enumerate(SERVICES):
            out[f"mode_{name}"] = pd.Categorical.from_codes(ws.mode[:n, s], categories=list(MODES))
        return pd.DataFrame(out)

    def frame(self) -> pd.DataFrame:
        """The time series, one row per month."""
        df = pd.DataFrame(self.rows)
        df["month"] = df["month"].astype("int64")
        return df


def _basket_costs(units: np.ndarray, makes: np.ndarray, parts: dict[str, np.ndarray],
                  basket: np.ndarray) -> dict[str, float]:
    """Per-unit figures of the region's demand basket, composition-neutral across runs.

    Per product: the units-weighted mean over workshops (the makers' plain mean when none
    sold); then the products' means weighted by their share of potential demand. Products
    nobody makes drop out and the weights are renormalised; NaN when nobody makes anything.
    """
    sold = units.sum(axis=0)
    n_makers = makes.sum(axis=0)
    have = (sold > 0) | (n_makers > 0)
    if not have.any():
        return dict.fromkeys(parts, math.nan)
    w = np.where(have, basket, 0.0)
    w = w / w.sum()
    out = {}
    for name, arr in parts.items():
        by_units = (units * arr).sum(axis=0) / np.where(sold > 0, sold, 1.0)
        by_makers = (makes * arr).sum(axis=0) / np.maximum(n_makers, 1)
        per_product = np.where(sold > 0, by_units, by_makers)
        out[name] = float((w * np.where(have, per_product, 0.0)).sum())
    return out


def high_state(paying: np.ndarray) -> np.ndarray:
    """Months in the high state: ``TIP_SERVICES`` paying providers in each of the last ``TIP_WINDOW`` months.

    ``paying`` is the monthly count of services whose local provider covered its running cost
    from fees (``services_with_paying_provider``); the first ``TIP_WINDOW − 1`` months have no
    full window and are never high.
    """
    ok = np.asarray(paying) >= TIP_SERVICES
    if ok.size < TIP_WINDOW:
        return np.zeros(ok.size, dtype=bool)
    window = np.lib.stride_tricks.sliding_window_view(ok, TIP_WINDOW).all(axis=1)
    return np.r_[np.zeros(TIP_WINDOW - 1, dtype=bool), window]


def tipping(df: pd.DataFrame) -> tuple[bool, int | None]:
    """Whether and when the ecosystem tipped (see ``TIP_SERVICES``): it ends in the high state."""
    high = high_state(df["services_with_paying_provider"].to_numpy())
    if not high.size or not high[-1]:
        return False, None
    low = np.flatnonzero(~high)
    first = int(low[-1] + 1)  # months < TIP_WINDOW − 1 are never high, so low is not empty
    return True, int(df["month"].iloc[first])


def summarise(df: pd.DataFrame, seed: int, scenario: str, strategies: list[str] | None = None) -> dict[str, Any]:
    """Summary figures: ``*_final`` are means over the last 12 months, ``*_total`` sums."""
    tail = df.tail(FINAL_MONTHS)

    def fin(col: str) -> float | None:
        v = float(tail[col].mean())  # NaN months (no DM sales) are skipped
        return None if math.isnan(v) else v

    tipped, month = tipping(df)
    out: dict[str, Any] = {
        "workshops_active_final": fin("workshops_active"),
        "dm_market_share_final": fin("dm_market_share"),
        "dm_units_total": float(df["dm_units"].sum()),
        "import_units_total": float(df["import_units"].sum()),
        "mean_unit_cost_usd_final": fin("mean_unit_cost_usd"),
        "overhead_share_final": fin("overhead_share"),
        "shared_service_share_final": fin("shared_service_share"),
        "providers_active_final": fin("providers_active"),
        "jobs_final": fin("jobs"),
        "local_value_added_usd_total": float(df["local_value_added_usd"].sum()),
        "buyer_landed_cost_usd_mean_final": fin("buyer_landed_cost_usd_mean"),
        "consumer_surplus_usd_total": float(df["consumer_surplus_usd"].sum()),
        "procurement_preference_usd_total": float(df["procurement_preference_usd"].sum()),
        "emissions_t_co2_total": float(df["emissions_t_co2"].sum()),
        "public_spend_usd_total": float(df["public_spend_usd"].sum()),
        "tipped": tipped,
        "tipping_month": month,
        "dm_fill_rate_final": fin("dm_fill_rate"),
        "providers_entered_total": int(df["providers_entered"].sum()),
        "seed": int(seed),
        "scenario": scenario,
        # Extras beyond the contract.
        "dm_market_share_household_final": fin("dm_market_share_household"),
        "dm_market_share_institution_final": fin("dm_market_share_institution"),
        "mean_price_usd_final": fin("mean_price_usd"),
        "entries_total": int(df["entries"].sum()),
        "dm_units_ordered_total": float(df["dm_units_ordered"].sum()),
        "production_jobs_final": fin("production_jobs"),
        "service_jobs_final": fin("service_jobs"),
        "labour_shadow_cost_usd_total": float(df["labour_shadow_cost_usd"].sum()),
        "tariff_revenue_usd_total": float(df["tariff_revenue_usd"].sum()),
        # Social surplus: what a cost-benefit analysis compares across runs (docs/ODD.md §7.13).
        "local_factor_income_usd_total": float(df["local_factor_income_usd"].sum()),
        "social_surplus_usd_total": float((df["consumer_surplus_usd"] + df["local_factor_income_usd"]
                                           - df["labour_shadow_cost_usd"] + df["tariff_revenue_usd"]).sum()),
        "markup_mean_final": fin("markup_mean"),
        "services_with_paying_provider_final": fin("services_with_paying_provider"),
        "none_service_share_final": fin("none_service_share"),
        "exits_total": int(df["exits"].sum()),
        "months": len(df),
        "strategy_cost_usd_total": float(df["strategy_cost_usd"].sum()),
        "strategies": sorted(strategies or []),
    }
    out.update(crisis_summary(df))
    return out


RECOVERY_TOLERANCE = 0.05  # "back": within 5% of the pre-shock level
RECOVERY_WINDOW = 3  # months averaged at each candidate month (one month's noise is not a recovery)
PRE_SHOCK_MONTHS = 12  # the pre-shock level: mean of the months before the first shock


def crisis_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Resilience figures over the months with a shock on (``shock_active``); null when none.

    ``recovery_months``: months from the end of the last shock until the DM market share and
    the active workshops, each averaged over ``RECOVERY_WINDOW`` months, are both within
    ``RECOVERY_TOLERANCE`` of their pre-shock level (the mean of up to ``PRE_SHOCK_MONTHS``
    months before the first shock); null without a shock, without months before it, or when
    they are not back by the end of the run.
    """
    crisis = df["shock_active"].to_numpy(dtype=bool) if "shock_active" in df else np.zeros(len(df), bool)

    def mean_in_crisis(col: str) -> float | None:
        if not crisis.any():
            return None
        v = float(df.loc[crisis, col].mean())
        return None if math.isnan(v) else v

    return {
        "crisis_months": int(crisis.sum()),
        "dm_market_share_crisis": mean_in_crisis("dm_market_share"),
        "buyer_landed_cost_usd_mean_crisis": mean_in_crisis("buyer_landed_cost_usd_mean"),
        "unmet_demand_share_crisis": mean_in_crisis("unmet_demand_share"),
        "recovery_months": recovery_months(df, crisis),
    }


def recovery_months(df: pd.DataFrame, crisis: np.ndarray) -> int | None:
    """Months after the last shock until DM share and workshops are back (see :func:`crisis_summary`)."""
    on = np.flatnonzero(crisis)
    if on.size == 0 or on[0] == 0:
        return None
    first, end = int(on[0]), int(on[-1]) + 1
    pre = df.iloc[max(0, first - PRE_SHOCK_MONTHS):first]
    levels = {c: float(pre[c].mean()) for c in ("dm_market_share", "workshops_active")}
    if any(math.isnan(v) for v in levels.values()) or all(v == 0 for v in levels.values()):
        return None  # no level to return to (e.g. centralised: no DM before the shock)
    smooth = {c: df[c].rolling(RECOVERY_WINDOW).mean().shift(1 - RECOVERY_WINDOW).to_numpy(dtype=float)
              for c in levels}  # at m: mean of months m .. m + window - 1
    for m in range(end, len(df) - RECOVERY_WINDOW + 1):
        if all(abs(smooth[c][m] - v) <= RECOVERY_TOLERANCE * abs(v) for c, v in levels.items()):
            return m - end
    return None
