"""The data contract: every column of ``timeseries.parquet``, ``workshops.parquet`` and every key of ``summary.json``.

One row per field: name, unit, type, whether it can be null, meaning. ``outputs.write_run`` casts what it
writes to these types and refuses anything not listed, so the files cannot drift from this table;
``python -m dmsim.schema`` prints ``docs/outputs.md`` from it.

Types are pandas/Arrow dtypes: ``float64``, ``int64``, ``bool``, ``string``, ``category`` (``workshops.parquet``:
the sourcing modes), ``list<string>`` (``summary.json``: a JSON array of strings). In ``summary.json`` a
``float64`` is a JSON number, an ``int64`` a JSON integer, null is JSON ``null``.

Per-service fields are generated from :data:`dmsim.config.SERVICES` (fixed); per-product fields are written
once per configured product (``products.NAME``) and listed with the placeholder ``{product}``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache

from dmsim.config import MODES, SERVICES
from dmsim.state import SEGMENTS

PRODUCT = "{product}"  # placeholder in a field name: one field per configured product
DTYPES = ("float64", "int64", "bool", "string", "category", "list<string>")


@dataclass(frozen=True)
class Field:
    """One column or key of an output file."""

    name: str  # may hold PRODUCT
    unit: str  # USD, units/month, t CO2, share (0-1), count, month, ...
    dtype: str  # one of DTYPES
    meaning: str
    nullable: bool = False  # may be null (a ratio without denominator, a run that never tipped)
    optional: bool = False  # written only by some runs (said in the meaning)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.name}: dtype {self.dtype!r} is not one of {DTYPES}")

    def expand(self, products: list[str]) -> list[str]:
        """The names this field takes in a run with these products."""
        return [self.name.replace(PRODUCT, p) for p in products] if PRODUCT in self.name else [self.name]


def _f(name: str, unit: str, dtype: str, meaning: str, **kw: bool) -> Field:
    return Field(name, unit, dtype, meaning, **kw)


_NULL_RATIO = "null in a month without its denominator"
_SEG = {"household": "households", "institution": "institutions (hospitals, schools, procurement offices)"}

TIMESERIES: tuple[Field, ...] = (
    _f("month", "month", "int64", "month index, 0 to steps − 1; one row per month"),
    _f("workshops_active", "count", "int64", "DM workshops active at the end of the month"),
    _f("entries", "count", "int64", "workshops that entered this month"),
    _f("exits", "count", "int64", "workshops that exited this month"),
    _f("dm_units", "units/month", "float64", "units delivered by DM workshops (both market rounds)"),
    _f("dm_units_ordered", "units/month", "float64", "units buyers first ordered from DM workshops (round 1)"),
    _f("dm_fill_rate", "share (0-1)", "float64", f"dm_units / dm_units_ordered; {_NULL_RATIO}", nullable=True),
    _f("import_units", "units/month", "float64", "imported units bought"),
    _f("potential_units", "units/month", "float64", "potential demand of all buyers"),
    _f("dm_market_share", "share (0-1)", "float64", f"dm_units / (dm_units + import_units); {_NULL_RATIO}",
       nullable=True),
    *(_f(f"dm_market_share_{s}", "share (0-1)", "float64", f"DM market share among {_SEG.get(s, s)}; {_NULL_RATIO}",
         nullable=True) for s in SEGMENTS),
    _f(f"dm_market_share_{PRODUCT}", "share (0-1)", "float64", f"DM market share of one product; {_NULL_RATIO}",
       nullable=True),
    _f("mean_price_usd", "USD/unit", "float64",
       "DM price of the demand basket (per product units-weighted over sellers, products weighted by potential "
       "demand; docs/ODD.md §7.13); null when no workshop makes anything", nullable=True),
    _f("unit_cost_material_usd", "USD/unit", "float64", "material part of the basket's DM unit cost; null as above",
       nullable=True),
    _f("unit_cost_labour_usd", "USD/unit", "float64", "labour part of the basket's DM unit cost; null as above",
       nullable=True),
    _f("unit_cost_setup_usd", "USD/unit", "float64",
       "set-up and fixed part of the basket's DM unit cost; null as above",
       nullable=True),
    _f("unit_cost_overhead_usd", "USD/unit", "float64",
       "service-overhead part of the basket's DM unit cost (internalised services); null as above", nullable=True),
    _f("mean_unit_cost_usd", "USD/unit", "float64",
       "DM unit cost of the basket: the sum of the four parts; null as above",
       nullable=True),
    _f("overhead_share", "share (0-1)", "float64", "unit_cost_overhead_usd / mean_unit_cost_usd; null as above",
       nullable=True),
    _f("shared_service_share", "share (0-1)", "float64",
       "share of (active workshop, service) pairs sourced from a shared or global provider; 0 without workshops"),
    _f("none_service_share", "share (0-1)", "float64",
       "share of (active workshop, service) pairs not sourced at all (mode none); 0 without workshops"),
    *(f for s in SERVICES for f in (
        _f(f"shared_service_share_{s}", "share (0-1)", "float64",
           f"share of active workshops sourcing {s} from a shared or global provider; 0 without workshops"),
        _f(f"none_service_share_{s}", "share (0-1)", "float64",
           f"share of active workshops doing without {s} (mode none); 0 without workshops"))),
    _f("providers_active", "count", "int64", "service providers active (local and global)"),
    _f("providers_local_active", "count", "int64", "local service providers active"),
    _f("provider_entries", "count", "int64", "providers that entered this month"),
    _f("providers_entered", "count", "int64", "= provider_entries (the name summed into providers_entered_total)"),
    _f("provider_exits", "count", "int64", "providers that exited this month"),
    _f("services_with_paying_provider", "count", "int64",
       "services whose local provider's fee revenue covered its running cost this month, subsidy not counted "
       "(the tipping rule's input)"),
    *(f for s in SERVICES for f in (
        _f(f"fee_{s}_usd_per_month", "USD/client-month", "float64",
           f"lowest fee of a local {s} provider; 0 in a month without one"),
        _f(f"clients_{s}", "count", "float64", f"client workshops of local {s} providers"))),
    _f("dm_lead_time_months", "months", "float64",
       "DM delivery lead time buyers saw this month (base + capacity wait)"),
    _f("local_suppliers", "count", "int64", "local material suppliers active"),
    _f("production_jobs", "jobs", "float64", "payments to production labour / (wage × hours per job-month)"),
    _f("service_jobs", "jobs", "float64", "payments to service staff / (service wage × hours per job-month)"),
    _f("jobs", "jobs", "float64", "production_jobs + service_jobs + active workshops (one owner each)"),
    _f("labour_shadow_cost_usd", "USD/month", "float64",
       "what the people employed could have earned otherwise (shadow wages; owners at their outside option)"),
    _f("tariff_revenue_usd", "USD/month", "float64", "duty paid on imported goods and materials"),
    _f("local_value_added_usd", "USD/month", "float64",
       "local receipts (labour, service staff, local inputs, transport, trade) + workshop, provider, supplier and "
       "distributor profits and margins"),
    _f("local_factor_income_usd", "USD/month", "float64",
       "local_value_added_usd − receipts of local inputs, transport and trade: wages, profits and margins"),
    _f("buyer_landed_cost_usd_mean", "USD/unit", "float64",
       f"(DM revenue + DM delivery + import spend) / units bought; {_NULL_RATIO}", nullable=True),
    _f("informal_units", "units/month", "float64",
       "informal or second-hand units households bought (products.*.informal_price_usd); 0 without one"),
    _f("shock_active", "-", "bool", "a shock (shocks.*) is on this month"),
    _f("unmet_demand_units", "units/month", "float64",
       "units buyers chose to buy (from DM or imports) and could not get: turned away by full workshops, "
       "or imports not delivered in a disruption, and in the end bought nothing"),
    _f("unmet_demand_share", "share (0-1)", "float64",
       f"unmet_demand_units / units buyers chose to buy; {_NULL_RATIO}", nullable=True),
    _f("consumer_surplus_usd", "USD/month", "float64",
       "buyers' surplus on what they got (procurement preference excluded)"),
    _f("procurement_preference_usd", "USD/month", "float64",
       "value institutions put on buying local (docs/ODD.md §7.6)"),
    _f("emissions_t_co2", "t CO2/month", "float64", "transport emissions of DM and imported units"),
    _f("public_spend_usd", "USD/month", "float64",
       "public money paid (provider subsidies and government-paid strategies)"),
    _f("strategy_cost_usd", "USD/month", "float64", "paid for the chosen strategies, by any payer"),
    _f("strategy_unfunded_usd", "USD/month", "float64", "public strategy cost the budget could not cover"),
    _f("dm_revenue_usd", "USD/month", "float64", "workshops' sales revenue"),
    _f("workshop_profit_usd", "USD/month", "float64", "active workshops' cash-flow profit"),
    _f("provider_profit_usd", "USD/month", "float64", "active providers' fee revenue − running cost (before subsidy)"),
    _f("workshop_cash_usd", "USD", "float64", "cash held by active workshops (a stock)"),
    _f("capacity_hours", "hours/month", "float64", "production capacity of active workshops"),
    _f("utilisation", "share (0-1)", "float64", f"hours ordered / hours available; {_NULL_RATIO}", nullable=True),
    _f("markup_mean", "ratio", "float64", f"(revenue − unit cost of units sold) / that cost; {_NULL_RATIO}",
       nullable=True),
    _f("investments", "count", "int64", "capacity investments since month 0 (cumulative)"),
    _f("money_residual_usd", "USD", "float64",
       "sum over all accounts of the ledger: 0 up to rounding (money conserved)"),
)

_FINAL = "mean over the last 12 months of"
_NULL_FINAL = "; null if null in all of them"
_TOTAL = "sum over the run of"
_CF = "output.counterfactual=true only: "

SUMMARY: tuple[Field, ...] = (
    _f("workshops_active_final", "count", "float64", f"{_FINAL} workshops_active"),
    _f("dm_market_share_final", "share (0-1)", "float64", f"{_FINAL} dm_market_share{_NULL_FINAL}", nullable=True),
    _f("dm_units_total", "units", "float64", f"{_TOTAL} dm_units"),
    _f("import_units_total", "units", "float64", f"{_TOTAL} import_units"),
    _f("mean_unit_cost_usd_final", "USD/unit", "float64", f"{_FINAL} mean_unit_cost_usd{_NULL_FINAL}", nullable=True),
    _f("overhead_share_final", "share (0-1)", "float64", f"{_FINAL} overhead_share{_NULL_FINAL}", nullable=True),
    _f("shared_service_share_final", "share (0-1)", "float64", f"{_FINAL} shared_service_share"),
    _f("providers_active_final", "count", "float64", f"{_FINAL} providers_active"),
    _f("jobs_final", "jobs", "float64", f"{_FINAL} jobs"),
    _f("local_value_added_usd_total", "USD", "float64", f"{_TOTAL} local_value_added_usd"),
    _f("buyer_landed_cost_usd_mean_final", "USD/unit", "float64", f"{_FINAL} buyer_landed_cost_usd_mean{_NULL_FINAL}",
       nullable=True),
    _f("consumer_surplus_usd_total", "USD", "float64", f"{_TOTAL} consumer_surplus_usd"),
    _f("procurement_preference_usd_total", "USD", "float64", f"{_TOTAL} procurement_preference_usd"),
    _f("emissions_t_co2_total", "t CO2", "float64", f"{_TOTAL} emissions_t_co2"),
    _f("public_spend_usd_total", "USD", "float64", f"{_TOTAL} public_spend_usd"),
    _f("tipped", "-", "bool",
       "the run ends in the high state: ≥ 1 paying local provider in each of the last 12 months"),
    _f("tipping_month", "month", "int64", "first month of the high-state run that lasts to the end; null if not tipped",
       nullable=True),
    _f("dm_fill_rate_final", "share (0-1)", "float64", f"{_FINAL} dm_fill_rate{_NULL_FINAL}", nullable=True),
    _f("providers_entered_total", "count", "int64", f"{_TOTAL} providers_entered"),
    _f("seed", "-", "int64", "the run's seed"),
    _f("scenario", "-", "string", "the scenario's name (configs/scenario/NAME.yaml)"),
    *(_f(f"dm_market_share_{s}_final", "share (0-1)", "float64", f"{_FINAL} dm_market_share_{s}{_NULL_FINAL}",
         nullable=True) for s in SEGMENTS),
    _f("mean_price_usd_final", "USD/unit", "float64", f"{_FINAL} mean_price_usd{_NULL_FINAL}", nullable=True),
    _f("entries_total", "count", "int64", f"{_TOTAL} entries"),
    _f("dm_units_ordered_total", "units", "float64", f"{_TOTAL} dm_units_ordered"),
    _f("production_jobs_final", "jobs", "float64", f"{_FINAL} production_jobs"),
    _f("service_jobs_final", "jobs", "float64", f"{_FINAL} service_jobs"),
    _f("labour_shadow_cost_usd_total", "USD", "float64", f"{_TOTAL} labour_shadow_cost_usd"),
    _f("tariff_revenue_usd_total", "USD", "float64", f"{_TOTAL} tariff_revenue_usd"),
    _f("local_factor_income_usd_total", "USD", "float64", f"{_TOTAL} local_factor_income_usd"),
    _f("social_surplus_usd_total", "USD", "float64",
       f"{_TOTAL} consumer_surplus_usd + local_factor_income_usd − labour_shadow_cost_usd + tariff_revenue_usd"),
    _f("markup_mean_final", "ratio", "float64", f"{_FINAL} markup_mean{_NULL_FINAL}", nullable=True),
    _f("services_with_paying_provider_final", "count", "float64", f"{_FINAL} services_with_paying_provider"),
    _f("none_service_share_final", "share (0-1)", "float64", f"{_FINAL} none_service_share"),
    _f("exits_total", "count", "int64", f"{_TOTAL} exits"),
    _f("months", "months", "int64", "months simulated (rows of timeseries.parquet)"),
    _f("strategy_cost_usd_total", "USD", "float64", f"{_TOTAL} strategy_cost_usd"),
    _f("strategies", "-", "list<string>", "the chosen strategies (configs/strategy/NAME.yaml), sorted; [] for none"),
    _f("crisis_months", "months", "int64", "months with a shock on (shock_active)"),
    _f("dm_market_share_crisis", "share (0-1)", "float64",
       "mean dm_market_share over the months with a shock on; null without one", nullable=True),
    _f("buyer_landed_cost_usd_mean_crisis", "USD/unit", "float64",
       "mean buyer_landed_cost_usd_mean over the months with a shock on; null without one", nullable=True),
    _f("unmet_demand_share_crisis", "share (0-1)", "float64",
       "mean unmet_demand_share over the months with a shock on; null without one", nullable=True),
    _f("recovery_months", "months", "int64",
       "months from the end of the last shock until DM share and active workshops (3-month means) are both "
       "within 5% of their level in the 12 months before the first shock; null without a shock, without "
       "months before it, or if not back by the end", nullable=True),
    _f("benefit_vs_centralised_usd", "USD", "float64",
       f"{_CF}social_surplus_usd_total − that of the centralised twin (same seed and world, no DM)", optional=True),
    _f("consumer_surplus_vs_centralised_usd", "USD", "float64",
       f"{_CF}consumer_surplus_usd_total − the twin's", optional=True),
    _f("local_net_value_vs_centralised_usd", "USD", "float64",
       f"{_CF}(local_factor_income_usd_total − labour_shadow_cost_usd_total) − the twin's", optional=True),
    _f("tariff_revenue_vs_centralised_usd", "USD", "float64", f"{_CF}tariff_revenue_usd_total − the twin's",
       optional=True),
    _f("public_cost_vs_centralised_usd", "USD", "float64", f"{_CF}public_spend_usd_total − the twin's", optional=True),
    _f("benefit_cost_ratio", "ratio", "float64",
       f"{_CF}benefit_vs_centralised_usd / public_cost_vs_centralised_usd; null without a public cost",
       nullable=True, optional=True),
    _f("emissions_saved_vs_centralised_t_co2", "t CO2", "float64",
       f"{_CF}the twin's emissions_t_co2_total − this run's",
       optional=True),
)

_SNAP = "at the snapshot month"
SNAPSHOTS: tuple[Field, ...] = (
    _f("month", "month", "int64", "snapshot month (every 12th month, 11, 23, …, and the last)"),
    _f("workshop", "-", "int64", "workshop row (stable across snapshots; one row per workshop ever created)"),
    _f("active", "-", "bool", f"the workshop is active {_SNAP}"),
    _f("x_km", "km", "float64", "position, east"),
    _f("y_km", "km", "float64", "position, north"),
    _f("entry_month", "month", "int64", "month the workshop entered (0 for the initial ones)"),
    _f("capacity_hours", "hours/month", "float64", "production capacity"),
    _f("cash_usd", "USD", "float64", f"cash {_SNAP}"),
    _f("debt_usd", "USD", "float64", f"outstanding debt {_SNAP}"),
    _f("revenue_usd", "USD/month", "float64", "sales revenue this month"),
    _f("profit_usd", "USD/month", "float64", "cash-flow profit this month"),
    _f("expected_hours", "hours/month", "float64", "smoothed expected order hours"),
    _f(f"units_{PRODUCT}", "units/month", "float64", "units of the product sold this month"),
    _f(f"price_{PRODUCT}_usd", "USD/unit", "float64", "price of the product; null if the workshop does not make it",
       nullable=True),
    *(_f(f"mode_{s}", "-", "category", f"how {s} is sourced: one of {', '.join(MODES)}") for s in SERVICES),
)

TABLES: dict[str, tuple[Field, ...]] = {
    "timeseries.parquet": TIMESERIES, "summary.json": SUMMARY, "workshops.parquet": SNAPSHOTS}


@cache
def _patterns(table: str) -> tuple[tuple[re.Pattern[str], Field], ...]:
    out = []
    for f in TABLES[table]:
        if PRODUCT in f.name:
            head, tail = f.name.split(PRODUCT)
            out.append((re.compile(f"{re.escape(head)}(?P<product>.+){re.escape(tail)}"), f))
    return tuple(out)


def field(table: str, name: str, products: list[str] | None = None) -> Field | None:
    """The schema row of column or key ``name`` of ``table`` (a file name in :data:`TABLES`), or None.

    Fixed names match exactly; a per-product name matches its ``{product}`` row when the product is one of
    ``products`` (any product when ``products`` is None).
    """
    for f in TABLES[table]:
        if f.name == name:
            return f
    for rx, f in _patterns(table):
        m = rx.fullmatch(name)
        if m and (products is None or m["product"] in products):
            return f
    return None


def names(table: str, products: list[str], optional: bool = True) -> list[str]:
    """Every name ``table`` holds in a run with these products (``optional=False``: those every run writes)."""
    return [n for f in TABLES[table] if optional or not f.optional for n in f.expand(products)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """``docs/outputs.md``: the tables above as markdown."""
    from dmsim.config import DMSimConfig

    lines = [
        "# Outputs: the data contract",
        "",
        "<!-- Generated by `python -m dmsim.schema > docs/outputs.md` from dmsim/schema.py; do not edit. -->",
        "",
        "Every column of `timeseries.parquet` (one row per month) and `workshops.parquet` (workshop snapshots, "
        "written with `output.agent_snapshots=true`) and every key of `summary.json`. The writers cast to these "
        "types and refuse any name not listed here (`dmsim/outputs.py`), and `tests/test_schema.py` checks the "
        "files of real runs against this page.",
        "",
        "Types: `float64`, `int64`, `bool`, `string`, `category` (pandas/Arrow dtypes; in `summary.json` a JSON "
        "number, integer, boolean, string, or a `list<string>` array). *null* = the value may be missing (null in "
        "parquet and JSON, NaN in pandas); no other value is ever missing, and no value is NaN or infinite. "
        "Shares are fractions in [0, 1]; money is USD; `/month` figures are flows within the month.",
        "",
        f"Per-service names are listed for each of the {len(SERVICES)} services ({', '.join(SERVICES)}). "
        f"Per-product names are written once per configured product (`{PRODUCT}` below; by default "
        f"{', '.join(DMSimConfig().products)}).",
    ]
    titles = {
        "timeseries.parquet": "`timeseries.parquet`: one row per month",
        "summary.json": "`summary.json`: the run summary (written last: its presence marks a finished run)",
        "workshops.parquet": "`workshops.parquet`: workshop snapshots (`output.agent_snapshots=true`)",
    }
    for table, fields in TABLES.items():
        lines += ["", f"## {titles[table]}", "", "| name | unit | type | null | meaning |", "|---|---|---|---|---|"]
        for f in fields:
            null = "null" if f.nullable else ""
            lines.append(f"| `{f.name}` | {_cell(f.unit)} | {f.dtype} | {null} | {_cell(f.meaning)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print ``docs/outputs.md``."""
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
