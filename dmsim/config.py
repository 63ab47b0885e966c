"""Typed configuration: Hydra structured configs with declarative range checks.

Every field carries its allowed range in ``metadata`` (``ge``, ``gt``, ``le``, ``lt``,
``choices``, ``pattern``); :func:`validate` walks the tree and raises :class:`ConfigError` with
one line naming the full key, the value and what is allowed. Beyond the declared ranges, every
float must be finite and at most :data:`FLOAT_LIMIT` in magnitude, every integer must fit numpy's
int64, names that reach file paths (``scenario``, strategy names) match :data:`NAME_PATTERN`,
and :func:`estimate_run` refuses a run larger than this machine's memory can hold, before
anything is allocated. The baseline scenario is the schema's defaults; each file in
``configs/scenario/`` is a delta on top of it. Provenance of every default is in
``docs/parameters.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SERVICES: tuple[str, ...] = (
    "certification",
    "design",
    "logistics",
    "marketing",
    "finance",
    "maintenance",
    "training",
)
MODES: tuple[str, ...] = ("none", "internal", "shared", "global")
NETWORK_TYPES: tuple[str, ...] = ("independent", "hub_spoke", "platform", "mesh")


class ConfigError(ValueError):
    """A configuration value outside what is allowed; the message is one line."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


# Names that become parts of output paths (``outputs/${scenario}/…``, sweep subfolders): no
# separators, no "..", nothing a shell or a file system reads specially.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
NAME_RULE = "letters, digits, _ and - only (the name becomes part of output paths)"
# Largest magnitude of any float value: far beyond every meaningful figure (1e15 USD is ten times
# world GDP), small enough that products of a few config values stay finite in float64.
FLOAT_LIMIT = 1e15
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # numpy int64: the model's arrays and output tables
MAX_MONTHS = 1200  # 100 years: runs, loan terms, review intervals, lead times
EARTH_KM = 20_000.0  # half the Earth's circumference: no two places are farther apart
# Options a buyer group weighs per product: far more than anyone compares, and the index holds
# this many slots for every group and product (memory grows with it; see estimate_run).
MAX_K_NEAREST = 1_000


def rng_field(default: Any, **bounds: Any) -> Any:
    """A dataclass field whose metadata holds its allowed range (see :func:`validate`)."""
    return field(default=default, metadata=bounds)


@functools.cache
def _field_kinds(cls: type) -> dict[str, Any]:
    """Resolved type hints of a config dataclass (annotations are strings here); ``X | None`` as ``X``."""
    kinds = typing.get_type_hints(cls)
    for name, kind in kinds.items():
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(kind):
            kinds[name] = args[0]
    return kinds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_finite(key: str, value: Any, kind: Any) -> None:
    """No NaN or infinity in a float field (NaN would also slip through every bound)."""
    if kind is float and _is_number(value) and not math.isfinite(value):
        raise ConfigError(key, value, "a finite number")


def _check_magnitude(key: str, value: Any, kind: Any) -> None:
    """Floats within :data:`FLOAT_LIMIT`; integers within numpy int64."""
    if kind is float and _is_number(value) and abs(value) > FLOAT_LIMIT:
        raise ConfigError(key, value, f"a finite number of magnitude at most {FLOAT_LIMIT:.0e}")
    if kind is int and _is_number(value) and not INT64_MIN <= value <= INT64_MAX:
        raise ConfigError(key, value, f"an integer between {INT64_MIN} and {INT64_MAX} (numpy int64)")


def _check(key: str, value: Any, meta: dict[str, Any]) -> None:
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, value, f"one of {', '.join(meta['choices'])}")
    if "pattern" in meta and not (isinstance(value, str) and meta["pattern"].fullmatch(value)):
        raise ConfigError(key, value, NAME_RULE)
    if isinstance(value, str) and "${" in value:
        # Interpolations are resolved before a config is typed: "${" left now is a literal that
        # the written config.yaml would turn back into an interpolation when read.
        raise ConfigError(key, value, "text without '${'")
    if value is None and meta.get("optional"):
        return  # None means "not set": the docstring of the field says what follows from it
    parts = []
    for op, text in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if op in meta:
            parts.append(f"{text} {meta[op]}")
    if not parts:
        return
    ok = (
        value is not None
        and value == value  # NaN fails every bound
        and ("ge" not in meta or value >= meta["ge"])
        and ("gt" not in meta or value > meta["gt"])
        and ("le" not in meta or value <= meta["le"])
        and ("lt" not in meta or value < meta["lt"])
    )
    if not ok:
        raise ConfigError(key, value, "must be " + " and ".join(parts))


def validate(obj: Any, prefix: str = "") -> None:
    """Check every field of a (nested) config dataclass against its metadata bounds.

    Raises:
        ConfigError: at the first value out of range, naming its full dotted key.
    """
    kinds = _field_kinds(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
        elif isinstance(value, dict):
            names = f.metadata.get("key_pattern")
            for name, item in value.items():
                if names is not None and not (isinstance(name, str) and names.fullmatch(name)):
                    raise ConfigError(key, name, f"names of {NAME_RULE}")
                if dataclasses.is_dataclass(item):
                    validate(item, f"{key}.{name}.")
        else:
            _check_finite(key, value, kinds.get(f.name))
            _check(key, value, dict(f.metadata))
            _check_magnitude(key, value, kinds.get(f.name))


@dataclass
class RegionConfig:
    """The square region, its people and settlements."""

    population: int = rng_field(1_000_000, ge=1, le=10_000_000_000)  # people (at most more than the world)
    size_km: float = rng_field(200.0, gt=0, le=EARTH_KM)  # side of the square region
    buyer_groups: int = rng_field(2_000, ge=1)  # household groups (institutions come on top)
    towns: int = rng_field(6, ge=1)  # settlement clusters; the first is the port/capital
    urban_share: float = rng_field(0.55, ge=0, le=1)  # people living in town clusters
    town_radius_km: float = rng_field(8.0, gt=0, le=EARTH_KM)  # spread (s.d.) of a town's groups
    institutions: int = rng_field(60, ge=0)  # hospitals, schools, agency procurement offices
    # Road distance from the port of entry to the main town (km); 0: the main town is the port.
    # Every import — finished goods and makers' materials — pays the haul by weight
    # (imports.trunk_haul_usd_per_tonne_km) and emits road CO2 over it.
    port_distance_km: float = rng_field(0.0, ge=0, le=20_000)
    # Chronic share of workshop hours lost to power outages (before maintenance protection);
    # shocks.outages comes on top.
    power_outage_share: float = rng_field(0.0, ge=0, le=1)


@dataclass
class ProductConfig:
    """One product type: its inputs, import price and demand."""

    material_usd: float = rng_field(4.0, ge=0)  # material per unit at the importer's base price
    labour_hours: float = rng_field(1.0, gt=0)  # hours per unit before learning
    import_factory_price_usd: float = rng_field(12.0, gt=0)  # ex-works price abroad
    valuation_usd: float = rng_field(24.0, gt=0)  # buyers' reservation value
    demand_per_person_per_month: float = rng_field(0.004, ge=0)  # potential units
    institution_demand_share: float = rng_field(0.0, ge=0, le=1)  # weight of institutions' demand
    weight_kg: float = rng_field(1.5, gt=0)  # for transport cost and emissions
    requires_certification: bool = False  # for institutional buyers
    # Price of an informal or second-hand alternative households can fall back on (USD/unit,
    # bought from local traders; institutions may not buy it); None: no such alternative.
    informal_price_usd: float | None = rng_field(None, ge=0, optional=True)


def _default_products() -> dict[str, ProductConfig]:
    # Small-batch costs relative to the import's ex-works price P (assumptions, calibrated to
    # the patterns in docs/parameters.md): material bought through the importer at 0.55 P base
    # price (≈ 0.8 P delivered: no bulk buying), and 0.45 P of labour at the DM wage before
    # learning — a small workshop takes far longer per unit than a factory.
    return {
        "assistive_devices": ProductConfig(
            material_usd=18.7, labour_hours=8.5, import_factory_price_usd=34.0,
            valuation_usd=68.0, demand_per_person_per_month=0.005,
            institution_demand_share=0.5, weight_kg=2.5, requires_certification=True,
        ),
        "medical_consumables": ProductConfig(
            material_usd=2.2, labour_hours=1.0, import_factory_price_usd=4.0,
            valuation_usd=8.0, demand_per_person_per_month=0.032,
            institution_demand_share=0.8, weight_kg=0.2, requires_certification=True,
        ),
        "farm_tools": ProductConfig(
            material_usd=6.6, labour_hours=3.0, import_factory_price_usd=12.0,
            valuation_usd=24.0, demand_per_person_per_month=0.016,
            institution_demand_share=0.0, weight_kg=1.5, requires_certification=False,
        ),
        "spare_parts": ProductConfig(
            material_usd=4.4, labour_hours=2.0, import_factory_price_usd=8.0,
            valuation_usd=16.0, demand_per_person_per_month=0.020,
            institution_demand_share=0.1, weight_kg=0.8, requires_certification=False,
        ),
    }


@dataclass
class ScalesConfig:
    """Multipliers on every product's figures at once, for sensitivity analysis (1 = as configured)."""

    material: float = rng_field(1.0, ge=0)  # × every product's material_usd
    labour_hours: float = rng_field(1.0, gt=0)  # × every product's labour_hours
    valuation: float = rng_field(1.0, gt=0)  # × every product's valuation_usd
    demand: float = rng_field(1.0, ge=0)  # × every product's demand_per_person_per_month


@dataclass
class ServiceConfig:
    """One standard service: its cost done in-house and as a shared provider."""

    internal_cost_usd_per_month: float = rng_field(160.0, ge=0)
    provider_fixed_cost_usd_per_month: float = rng_field(2_400.0, ge=0)
    provider_marginal_cost_usd_per_month: float = rng_field(30.0, ge=0)  # per client
    initial_mode: str = rng_field("internal", choices=MODES)  # sourcing at month 0
    seeded_providers: int = rng_field(0, ge=0)  # local providers present at month 0
    global_provider: bool = False  # a global provider is available from month 0


def _default_services() -> dict[str, ServiceConfig]:
    # Internal costs of 3-15% of a workshop's costs each (assumption); provider fixed cost
    # F = 9.75 f and marginal m = 0.125 f (assumption: a provider breaks even at n* ≈ 14
    # clients, 85% of its cost fixed there; calibrated in docs/parameters.md).
    spec = {  # internal f, provider fixed F, marginal m
        "certification": (440.0, 4_290.0, 55.0),
        "design": (360.0, 3_510.0, 45.0),
        "logistics": (400.0, 3_900.0, 50.0),
        "marketing": (340.0, 3_315.0, 42.5),
        "finance": (240.0, 2_340.0, 30.0),
        "maintenance": (320.0, 3_120.0, 40.0),
        "training": (220.0, 2_145.0, 27.5),
    }
    return {
        name: ServiceConfig(
            internal_cost_usd_per_month=i,
            provider_fixed_cost_usd_per_month=f,
            provider_marginal_cost_usd_per_month=m,
        )
        for name, (i, f, m) in spec.items()
    }


@dataclass
class ServicesConfig:
    """The seven standard services plus how providers and switching behave."""

    certification: ServiceConfig = field(default_factory=lambda: _default_services()["certification"])
    design: ServiceConfig = field(default_factory=lambda: _default_services()["design"])
    logistics: ServiceConfig = field(default_factory=lambda: _default_services()["logistics"])
    marketing: ServiceConfig = field(default_factory=lambda: _default_services()["marketing"])
    finance: ServiceConfig = field(default_factory=lambda: _default_services()["finance"])
    maintenance: ServiceConfig = field(default_factory=lambda: _default_services()["maintenance"])
    training: ServiceConfig = field(default_factory=lambda: _default_services()["training"])
    provider_margin: float = rng_field(0.2, ge=0, le=2)  # fee mark-up over cost
    internal_cost_scale: float = rng_field(1.0, ge=0)  # × every in-house service cost (sweeps)
    internal_effect: float = rng_field(0.75, ge=0, le=1)  # in-house effect of a standard-size workshop
    internal_effect_scale_elasticity: float = rng_field(0.4, ge=0, le=2)  # in-house effect vs capacity
    provider_fixed_cost_scale: float = rng_field(1.0, ge=0)  # × every provider's fixed cost (sweeps)
    provider_start_cash_months: float = rng_field(6.0, ge=0)  # start-up cash, months of fixed cost
    provider_expectation_smoothing: float = rng_field(0.15, gt=0, le=1)  # weight of clients seen
    provider_initial_expected_share: float = rng_field(0.5, ge=0, le=1)  # of would-be clients, at entry
    provider_exit_cash_usd: float = rng_field(0.0)  # a provider exits when cash falls below
    provider_entry_probability: float = rng_field(0.25, ge=0, le=1)  # per service-quarter if viable
    provider_entry_hurdle: float = rng_field(1.5, ge=1)  # expected clients / clients needed, to enter
    global_fit: float = rng_field(0.7, ge=0, le=1)  # effect of a global service relative to local
    global_fixed_cost_usd_per_month: float = rng_field(300.0, ge=0)  # regional office share
    global_marginal_cost_factor: float = rng_field(0.4, ge=0)  # per-client cost, × in-house cost f
    switch_interval_months: int = rng_field(3, ge=1, le=MAX_MONTHS)  # make-or-buy reviewed this often
    switch_probability: float = rng_field(0.5, ge=0, le=1)  # of aware workshops that act per review
    switch_saving_threshold: float = rng_field(0.1, ge=0)  # gain needed to switch, × in-house cost
    awareness_base_per_month: float = rng_field(0.05, ge=0, le=1)
    awareness_word_of_mouth: float = rng_field(0.4, ge=0, le=1)  # × share of workshops already clients
    awareness_coordination: float = rng_field(0.2, ge=0, le=1)  # × network.coordination
    provider_outreach: float = rng_field(0.5, ge=0, le=1)  # share of workshops a new local provider tells
    internal_scale_elasticity: float = rng_field(0.7, ge=0, le=1)  # service needs vs capacity
    max_local_providers: int = rng_field(1, ge=1)  # per service in the region at once
    # What each service does (in-house or shared at full effect; none = no effect).
    certification_threshold: float = rng_field(0.5, ge=0, le=1)  # effect needed to be certified
    design_setup_penalty: float = rng_field(0.3, ge=0)  # extra set-up cost without design
    design_shared_setup_saving: float = rng_field(0.4, ge=0, lt=1)  # set-up cut by a shared library
    logistics_saving: float = rng_field(0.4, ge=0, le=1)  # cut in delivery cost at full effect
    # How far buyers find a workshop without marketing.
    marketing_reach_none_km: float = rng_field(15.0, ge=0, le=EARTH_KM)
    maintenance_downtime: float = rng_field(0.15, ge=0, lt=1)  # capacity lost without it
    training_labour_penalty: float = rng_field(0.2, ge=0)  # extra labour hours without it


@dataclass
class WorkshopsConfig:
    """DM nodes: numbers, capacity, costs, pricing, entry and exit."""

    initial: int = rng_field(20, ge=0)  # count at month 0
    markup: float = rng_field(0.2, ge=0, le=5)  # cost-plus mark-up a workshop starts from (fraction)
    min_markup: float = rng_field(0.0, ge=0, le=5)  # floor when idle: price >= variable cost × (1 + this)
    price_adjustment_per_month: float = rng_field(0.05, ge=0, le=1)  # markup change per unit of excess load
    target_utilisation: float = rng_field(0.9, gt=0, le=1)  # orders / available hours a workshop aims at
    capacity_hours_per_month: float = rng_field(480.0, gt=0)  # production hours at start
    fixed_cost_usd_per_month: float = rng_field(250.0, ge=0)  # rent, power, other local running costs
    setup_usd_per_month_per_product: float = rng_field(120.0, ge=0)  # per product line
    start_cash_months: float = rng_field(6.0, ge=0)  # of monthly fixed + service costs (mean)
    start_cash_dispersion: float = rng_field(0.5, ge=0, le=3)  # s.d. of log start cash across owners
    min_expected_hours: float = rng_field(40.0, gt=0)  # q_min of the overhead term, in hours
    volume_smoothing: float = rng_field(0.1, gt=0, le=1)  # weight of last month's output
    initial_utilisation: float = rng_field(0.7, ge=0, le=1)  # a new workshop's expected hours, fraction of capacity
    payout_cash_months: float = rng_field(12.0, ge=0)  # owners draw cash beyond this buffer
    exit_negative_cash_months: int = rng_field(3, ge=1)
    exit_loss_months: int = rng_field(12, ge=1)
    entry_prospects_per_million_per_month: float = rng_field(1.0, ge=0)  # would-be owners, per million people
    entry_profit_reference_usd_per_month: float = rng_field(600.0, ge=0)  # owner's outside option
    entry_interval_months: int = rng_field(3, ge=1, le=MAX_MONTHS)
    invest_utilisation: float = rng_field(0.9, gt=0, le=1)  # expand when busier than this
    max_capacity_hours_per_month: float = rng_field(960.0, gt=0)  # a DM unit stays small
    invest_capacity_step: float = rng_field(0.5, gt=0)  # hours added per investment, × standard capacity
    capex_usd_per_hour_capacity: float = rng_field(80.0, ge=0)  # equipment per monthly hour
    equipment_life_months: float = rng_field(96.0, gt=0, le=MAX_MONTHS)  # equipment wears out and is replaced over this
    loan_share: float = rng_field(0.7, ge=0, le=1)  # of capex borrowed
    loan_term_months: int = rng_field(36, ge=1, le=MAX_MONTHS)
    delivery_reach_km: float = rng_field(60.0, gt=0, le=EARTH_KM)  # buyers beyond are not served


@dataclass
class LearningConfig:
    """Learning curve and spillovers."""

    progress_ratio: float = rng_field(0.85, gt=0, le=1)  # unit labour per doubling
    q0_units: float = rng_field(1_000.0, gt=0)  # cumulative output where learning starts
    spillover_design: float = rng_field(0.15, ge=0, le=1)  # κ via a shared design service
    spillover_coordination: float = rng_field(0.15, ge=0, le=1)  # κ per unit of coordination
    spillover_entry: float = rng_field(0.25, ge=0, le=1)  # entrant's start stock, × local makers' mean


@dataclass
class MarketConfig:
    """Nested-logit buyer choice and transport."""

    k_nearest: int = rng_field(8, ge=1, le=MAX_K_NEAREST)  # workshops considered per buyer group and product
    price_sensitivity_household: float = rng_field(2.3, gt=0)  # α × reference price
    price_sensitivity_institution: float = rng_field(1.7, gt=0)
    nest_rho: float = rng_field(0.5, gt=0, le=1)  # DM nest dissimilarity parameter
    lead_time_weight: float = rng_field(0.1, ge=0)  # utility per month of lead time
    quality_weight: float = rng_field(1.5, ge=0)  # utility per unit of quality below 1
    local_preference_household: float = rng_field(0.0)
    local_preference_institution: float = rng_field(0.0)
    emissions_weight_household: float = rng_field(0.0, ge=0)  # utility per kg CO2
    emissions_weight_institution: float = rng_field(0.0, ge=0)
    visibility_weight: float = rng_field(0.5, ge=0)  # utility lost without marketing
    dm_base_quality: float = rng_field(0.8, ge=0, le=1.5)
    certification_quality: float = rng_field(0.15, ge=0)
    import_quality: float = rng_field(1.0, ge=0, le=1.5)
    dm_lead_time_months: float = rng_field(0.5, ge=0, le=MAX_MONTHS)
    import_lead_time_months: float = rng_field(3.0, ge=0, le=MAX_MONTHS)
    dm_delivery_cost_per_100km: float = rng_field(0.12, ge=0)  # fraction of import price/unit
    # Quality of an informal or second-hand good (products.*.informal_price_usd), import = 1.
    informal_quality: float = rng_field(0.5, ge=0, le=1.5)


@dataclass
class ImportsConfig:
    """The centralised (imported) alternative, priced at the port."""

    tariff: float = rng_field(0.1, ge=0, le=5)  # on finished goods, fraction of CIF value
    # On makers' imported inputs; None (the default, as before this key existed): the same as ``tariff``.
    material_tariff: float | None = rng_field(None, ge=0, le=5, optional=True)
    freight: float = rng_field(0.114, ge=0, le=5)  # international freight, fraction of value
    distribution_margin: float = rng_field(0.25, ge=0, le=5)
    inland_cost_per_100km: float = rng_field(0.08, ge=0)  # fraction of landed price per 100 km
    # Long-distance trucking from a distant port to the region (region.port_distance_km), USD per
    # tonne-km: a corridor haul is priced by weight, not by value like local distribution.
    trunk_haul_usd_per_tonne_km: float = rng_field(0.1, ge=0, le=10)
    sea_km: float = rng_field(10_000.0, ge=0, le=2 * EARTH_KM)  # a voyage, at most once around the Earth
    sea_kg_co2_per_t_km: float = rng_field(0.015, ge=0)
    road_kg_co2_per_t_km: float = rng_field(0.1, ge=0)


@dataclass
class SuppliersConfig:
    """Material supply: the importing distributor and local suppliers."""

    distributor_margin: float = rng_field(0.2, ge=0)
    volume_discount: float = rng_field(0.08, ge=0, lt=1)  # per tenfold volume over reference
    discount_reference_usd_per_month: float = rng_field(1_000.0, gt=0)
    max_discount: float = rng_field(0.15, ge=0, lt=1)  # kept below the distributor margin
    local_variable_cost_share: float = rng_field(0.75, ge=0, le=1)  # of a local supplier's sales
    local_price_factor: float = rng_field(0.85, gt=0)  # local vs imported material price
    local_entry_material_usd_per_month: float = rng_field(40_000.0, ge=0)
    local_fixed_cost_usd_per_month: float = rng_field(2_000.0, ge=0)
    local_material_share: float = rng_field(0.5, ge=0, le=1)  # of material a local can supply
    local_start_cash_months: float = rng_field(6.0, ge=0)
    # Material wait when ordering from the port.
    distributor_lead_time_months: float = rng_field(0.5, ge=0, le=MAX_MONTHS)
    local_lead_time_months: float = rng_field(0.1, ge=0, le=MAX_MONTHS)  # material wait when buying locally


@dataclass
class NetworkConfig:
    """How workshops are tied together."""

    type: str = rng_field("independent", choices=NETWORK_TYPES)
    coordination: float = rng_field(0.0, ge=0, le=1)
    hubs: int = rng_field(4, ge=1)  # hub_spoke: hubs at the largest towns; spokes join the nearest
    platform_commission: float = rng_field(0.08, ge=0, lt=1)  # platform: share of members' DM revenue
    platform_visibility: float = rng_field(0.3, ge=0)  # platform: utility of being listed
    service_pooling: float = rng_field(0.5, ge=0, le=1)  # local providers' per-client cost saved × coordination


@dataclass
class LabourConfig:
    """Wages and jobs."""

    wage_usd_per_hour: float = rng_field(1.8, gt=0)  # production workers
    hours_per_job_month: float = rng_field(176.0, gt=0)
    service_wage_usd_per_hour: float = rng_field(3.6, gt=0)  # service staff (in-house and providers)
    shadow_wage_factor: float = rng_field(0.75, ge=0, le=1)  # production labour's opportunity cost / wage
    service_shadow_wage_factor: float = rng_field(1.0, ge=0, le=1)  # skilled service staff's, / their wage


@dataclass
class FinanceConfig:
    """Cost of capital by finance-service effect."""

    informal_rate_per_year: float = rng_field(0.35, ge=0)
    formal_rate_per_year: float = rng_field(0.18, ge=0)


@dataclass
class PolicyConfig:
    """Public instruments and their budget."""

    # All public spending over the run (USD). 0 with strategies chosen = their planned public cost.
    budget_usd: float = rng_field(0.0, ge=0)
    provider_subsidy_share: float = rng_field(0.0, ge=0, le=1)  # of providers' fixed cost
    provider_subsidy_months: int = rng_field(0, ge=0, le=MAX_MONTHS)  # from month 0


STRATEGY_GROUPS: tuple[str, ...] = ("make", "sell", "operate", "collaborate", "invest")
STRATEGY_LEVELS: tuple[str, ...] = ("micro", "meso", "macro")
PAYERS: tuple[str, ...] = ("government", "donor", "workshops")
PAYEES: tuple[str, ...] = ("labour", "local_inputs", "foreign", "lenders")


@dataclass
class StrategyConfig:
    """A named lever of the report's framework: what it is and what it costs whom.

    What it changes is the rest of its YAML file (``configs/strategy/NAME.yaml``), merged
    into the config; this record carries its tags and its cost, which the ledger charges
    from month 0 for ``months`` months (government money draws on ``policy.budget_usd``).
    """

    group: str = rng_field("make", choices=STRATEGY_GROUPS)
    level: str = rng_field("micro", choices=STRATEGY_LEVELS)
    description: str = ""
    payer: str = rng_field("government", choices=PAYERS)
    payee: str = rng_field("labour", choices=PAYEES)  # where the money goes
    cost_usd_once: float = rng_field(0.0, ge=0)  # at month 0
    cost_usd_per_month: float = rng_field(0.0, ge=0)
    cost_usd_per_workshop_month: float = rng_field(0.0, ge=0)  # × active workshops
    months: int = rng_field(120, ge=0, le=MAX_MONTHS)  # how long the monthly costs run


SHOCK_KINDS: tuple[str, ...] = ("freight", "fx", "import_disruption", "outages", "demand_surge")


@dataclass
class ShockConfig:
    """One kind of shock: how big, when, for how long, and how often it recurs at random.

    ``size`` is the kind's magnitude (0 = off; docs/ODD.md §7.14 says what it scales). The shock
    is on for ``months`` months from ``start_month``; with ``rate_per_year`` > 0 it also starts
    at random (each month with probability rate / 12, from its own seeded stream) and lasts
    ``months`` months each time.
    """

    size: float = rng_field(0.0, ge=0, le=100)
    start_month: int = rng_field(0, ge=0, le=MAX_MONTHS)
    months: int = rng_field(0, ge=0, le=MAX_MONTHS)
    rate_per_year: float = rng_field(0.0, ge=0, le=12)


@dataclass
class ShareShockConfig(ShockConfig):
    """A shock whose size is a share (of import units, of workshop hours): at most 1."""

    size: float = rng_field(0.0, ge=0, le=1)


@dataclass
class DemandSurgeConfig(ShockConfig):
    """A surge of one product's demand (an epidemic's medical consumables)."""

    product: str = "medical_consumables"  # a key of ``products``


@dataclass
class ShocksConfig:
    """Shocks to the world DM lives in (``+shock=NAME``, ``configs/shock/``); all off by default.

    freight: international freight cost × (1 + size). fx: foreign-currency costs (imported goods,
    imported materials, freight) × (1 + size) in local terms. import_disruption: a share ``size``
    of the import units buyers ask for cannot be delivered, and import lead time × (1 + size).
    outages: a share ``size`` of workshop hours lost, less with maintenance (below).
    demand_surge: one product's demand × (1 + size).
    """

    freight: ShockConfig = field(default_factory=ShockConfig)
    fx: ShockConfig = field(default_factory=ShockConfig)
    import_disruption: ShareShockConfig = field(default_factory=ShareShockConfig)
    outages: ShareShockConfig = field(default_factory=ShareShockConfig)
    demand_surge: DemandSurgeConfig = field(default_factory=DemandSurgeConfig)
    # Share of outage hours a workshop with the full maintenance effect keeps (preventive
    # maintenance, backup power planned with its provider). Assumption: half.
    outage_maintenance_protection: float = rng_field(0.5, ge=0, le=1)


@dataclass
class OutputConfig:
    """What a run writes."""

    dashboard: bool = True
    agent_snapshots: bool = False  # workshops.parquet: every workshop's state once a year
    quiet: bool = False
    counterfactual: bool = False  # also run the centralised twin (same seed): benefit-cost in summary


@dataclass
class SampleConfig:
    """One row of a parameter-sample table (sensitivity analysis driven through a sweep).

    With ``file`` set and ``index >= 0``, the row's columns (dotted config keys) override the
    config before the run, e.g. ``sample.file=samples.parquet sample.index='range(0,80)'``.
    """

    file: str = ""  # parquet table, one column per dotted key
    index: int = rng_field(-1, ge=-1)  # row to apply; -1 = none


@dataclass
class DMSimConfig:
    """The whole run. Field defaults are the ``baseline`` scenario."""

    seed: int = rng_field(0, ge=0)
    steps: int = rng_field(120, ge=1, le=MAX_MONTHS)  # months
    scenario: str = rng_field("baseline", pattern=NAME_PATTERN)  # also a folder of outputs/
    product_variety: int = rng_field(2, ge=1)  # products per workshop
    # What a run returns to a Hydra sweeper or optimiser (Optuna): a summary.json key, or several
    # separated by commas for a multi-objective study. Does not change the run.
    objective: str = "dm_market_share_final"
    region: RegionConfig = field(default_factory=RegionConfig)
    products: dict[str, ProductConfig] = field(default_factory=_default_products)
    scales: ScalesConfig = field(default_factory=ScalesConfig)
    services: ServicesConfig = field(default_factory=ServicesConfig)
    workshops: WorkshopsConfig = field(default_factory=WorkshopsConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    imports: ImportsConfig = field(default_factory=ImportsConfig)
    suppliers: SuppliersConfig = field(default_factory=SuppliersConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    labour: LabourConfig = field(default_factory=LabourConfig)
    finance: FinanceConfig = field(default_factory=FinanceConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    shocks: ShocksConfig = field(default_factory=ShocksConfig)
    strategies: dict[str, StrategyConfig] = field(default_factory=dict,  # from +strategy=[a,b]
                                                metadata={"key_pattern": NAME_PATTERN})

    def __post_init__(self) -> None:
        validate(self)
        if not self.products:
            raise ConfigError("products", {}, "at least one product")
        check_run_size(self)  # after the value checks: the estimate needs finite values
        public = planned_public_cost_usd(self)
        if self.policy.budget_usd == 0 and self.strategies and public > 0:
            # No budget given for chosen strategies: their planned public cost is the budget
            # (the command line says so); a budget given explicitly still caps all public spending.
            self.policy.budget_usd = public
        if public > self.policy.budget_usd + 1e-6:
            raise ConfigError(
                "policy.budget_usd", self.policy.budget_usd,
                f"must cover the chosen strategies' planned public cost, at least {public:,.0f} USD "
                f"({', '.join(sorted(self.strategies))})",
            )
        surge = self.shocks.demand_surge
        if surge.size > 0 and surge.product not in self.products:  # a config with other products may leave it off
            raise ConfigError("shocks.demand_surge.product", surge.product, f"one of {', '.join(self.products)}")
        for kind in SHOCK_KINDS:
            shock = getattr(self.shocks, kind)
            if shock.size > 0 and shock.rate_per_year > 0 and shock.months == 0:
                raise ConfigError(f"shocks.{kind}.months", 0, "> 0 when the shock recurs (rate_per_year > 0)")
        if self.product_variety > len(self.products):
            raise ConfigError(
                "product_variety", self.product_variety,
                f"must be <= the number of products ({len(self.products)})",
            )

    def service(self, name: str) -> ServiceConfig:
        """The config of one standard service by name."""
        return getattr(self.services, name)


def planned_public_cost_usd(cfg: DMSimConfig) -> float:
    """Public money the chosen strategies plan to spend over a run (USD, undiscounted).

    Government-paid strategy costs (once, monthly, per initial workshop and month) plus, when a
    strategy is chosen, the start-up subsidy of the local providers seeded at month 0 (share of
    their fixed cost × months). Entrants that a subsidy later attracts are not planned for: they
    draw on what is left of the budget.
    """
    strategies = sum(s.cost_usd_once + s.months * (s.cost_usd_per_month + s.cost_usd_per_workshop_month
                                                   * cfg.workshops.initial)
                     for s in cfg.strategies.values() if s.payer == "government")
    pol = cfg.policy
    seeded_fixed = cfg.services.provider_fixed_cost_scale * sum(
        cfg.service(s).provider_fixed_cost_usd_per_month * cfg.service(s).seeded_providers for s in SERVICES)
    subsidy = pol.provider_subsidy_share * min(pol.provider_subsidy_months, cfg.steps) * seeded_fixed
    return strategies + (subsidy if cfg.strategies else 0.0)


def register_configs() -> None:
    """Register the schema in Hydra's ConfigStore as ``dmsim_schema``."""
    ConfigStore.instance().store(name="dmsim_schema", node=DMSimConfig)


# ------------------------------------------------------------------------------------------
# Run size: refuse, before anything is allocated, a run this machine cannot hold
# ------------------------------------------------------------------------------------------

GIB = 2**30
# Peak resident memory per unit of each array dimension the model allocates, in bytes. Measured
# as max RSS of fresh processes on the 2-core development VM (numpy 2.5, Mesa 3.5), varying one
# dimension at a time: buyer groups 100,000-200,000 × k 1-32 × products 1-8; workshops
# 1,000-200,000 × products 1, 4, 8; entry rounds of 3,000-9,000 prospects. Rounded up: the
# estimate errs high (default run: ~0.26 GiB estimated, 0.23 measured; XL benchmark: 0.9 GiB
# estimated, 0.6 measured).
BASE_BYTES = 256 * 2**20  # Python, numpy, pandas, scipy, Hydra and Mesa loaded
GROUP_BYTES = 480  # per buyer group: its row, its Mesa agent, per-group work arrays
GROUP_PRODUCT_BYTES = 120  # per buyer group and product: demand, import terms, choice results
LINK_BYTES = 120  # per (product, option slot, buyer group): the k-nearest index (NeighbourIndex:
# rows, distances, masks, flat link layout) and the market's (P, K, G) work arrays (market.clear)
WORKSHOP_BYTES = 1_000  # per workshop row: its Mesa agent, (W, S) state, per-workshop work arrays
WORKSHOP_PRODUCT_BYTES = 160  # per workshop and product: (W, P) state and unit-cost arrays
HUB_BYTES = 24  # per workshop and hub: distances when assigning hub_spoke networks (model.network_of)
PROSPECT_BYTES = 1_024  # per would-be entrant in one entry round: its (k, P) and (k, S) plans
PAIR_BYTES = 64  # per (prospect, buyer group in its reach) pair of an entry round (entry.catchments)
PROVIDER_BYTES = 2_048  # per seeded provider: its row and Mesa agent
MONTH_COLUMN_BYTES = 64  # per month and time-series column (metrics rows, then the frame)
SNAPSHOT_BYTES = 16  # per workshop, year and snapshot column, twice (the frames and their concat)
POISSON_SIGMAS = 6.0  # prospects: bound a Poisson count by its mean + 6 standard deviations


@dataclass
class RunSize:
    """How large a run gets: the shapes that drive memory, and the estimated peak (bytes)."""

    buyer_groups: int  # household groups + institutions
    k_nearest: int  # option slots per buyer group and product
    products: int
    workshops_max: int  # a bound: initial + every would-be entrant of the run (Poisson mean + 6 s.d.)
    months: int
    peak_bytes: int  # estimated peak resident memory of the process
    dominant_key: str  # the config key that drives the largest term
    dominant_value: Any


def _poisson_bound(mean: float) -> float:
    return mean + POISSON_SIGMAS * math.sqrt(mean) if mean > 0 else 0.0


def _most_unusual(candidates: list[tuple[str, Any, float]]) -> tuple[str, Any]:
    """Of several keys driving one term, the one furthest above its default (value / default)."""
    key, value, _ = max(candidates, key=lambda c: c[1] / c[2] if c[2] > 0 else c[1])
    return key, value


def estimate_run(cfg: DMSimConfig) -> RunSize:
    """Estimate a run's peak memory from the shapes of the arrays the model allocates.

    Terms (bytes, coefficients above, measured): buyer groups G (households + institutions) ×
    (per group + per product P + per link P × k); workshops W × (per row + per product, + hubs
    under hub_spoke), where W bounds the rows a run can reach — the initial workshops plus every
    would-be entrant, ``entry_prospects_per_million_per_month`` × population over ``steps`` months
    (Poisson mean + 6 s.d.); the largest entry round's prospects × the buyer groups they can
    reach; seeded providers; ``steps`` × time-series columns; yearly workshop snapshots if asked;
    and the centralised twin's buyer arrays with ``output.counterfactual``.
    """
    r, w, m = cfg.region, cfg.workshops, cfg.market
    n_p, k = len(cfg.products), m.k_nearest
    g = r.buyer_groups + r.institutions
    rate = w.entry_prospects_per_million_per_month * r.population / 1e6  # prospects per month
    rounds = cfg.steps // w.entry_interval_months
    per_round = _poisson_bound(rate * w.entry_interval_months) if rounds else 0.0
    prospects = _poisson_bound(rate * w.entry_interval_months * rounds)
    w_max = w.initial + prospects
    hubs = min(cfg.network.hubs, r.towns) if cfg.network.type == "hub_spoke" else 0
    # Prospects settle where demand is unmet: near towns (all urban groups, at worst) or anywhere.
    reach = min(1.0, r.urban_share + math.pi * w.delivery_reach_km**2 / r.size_km**2)
    seeded = {f"services.{s}.seeded_providers": getattr(cfg.services, s).seeded_providers for s in SERVICES}
    buyers = g * (GROUP_BYTES + GROUP_PRODUCT_BYTES * n_p + LINK_BYTES * n_p * k)
    def d(cls: type, name: str) -> float:  # a default, to tell which key is unusually large
        return cls.__dataclass_fields__[name].default

    group_keys = [("region.buyer_groups", r.buyer_groups, d(RegionConfig, "buyer_groups")),
                  ("region.institutions", r.institutions, d(RegionConfig, "institutions")),
                  ("market.k_nearest", k, d(MarketConfig, "k_nearest"))]
    entry_keys = [("region.population", r.population, d(RegionConfig, "population")),
                  ("workshops.entry_prospects_per_million_per_month", w.entry_prospects_per_million_per_month,
                   d(WorkshopsConfig, "entry_prospects_per_million_per_month"))]
    initial_key = ("workshops.initial", w.initial, d(WorkshopsConfig, "initial"))
    steps_key = ("steps", cfg.steps, d(DMSimConfig, "steps"))
    terms: list[tuple[float, list[tuple[str, Any, float]]]] = [
        (buyers * (2 if cfg.output.counterfactual else 1), group_keys),
        (w_max * (WORKSHOP_BYTES + WORKSHOP_PRODUCT_BYTES * n_p + HUB_BYTES * hubs),
         [initial_key] if w.initial >= prospects else [*entry_keys, steps_key]),
        (per_round * (PROSPECT_BYTES + PAIR_BYTES * g * reach),
         [*entry_keys, group_keys[0],
          ("workshops.entry_interval_months", w.entry_interval_months, d(WorkshopsConfig, "entry_interval_months"))]),
        (PROVIDER_BYTES * sum(seeded.values()), [(key, v, 1) for key, v in seeded.items()]),
        (MONTH_COLUMN_BYTES * cfg.steps * (40 + 12 * n_p), [steps_key]),
        (SNAPSHOT_BYTES * w_max * (cfg.steps // 12 + 1) * (12 + 4 * n_p) if cfg.output.agent_snapshots else 0.0,
         [initial_key, steps_key]),
        (64 * r.towns, [("region.towns", r.towns, d(RegionConfig, "towns"))]),
    ]
    size, keys = max(terms, key=lambda t: t[0])
    key, value = _most_unusual(keys)
    peak = BASE_BYTES + sum(t for t, _ in terms)
    return RunSize(buyer_groups=g, k_nearest=k, products=n_p, workshops_max=int(math.ceil(w_max)),
                   months=cfg.steps, peak_bytes=int(min(peak, 2**62)), dominant_key=key, dominant_value=value)


def memory_limit_bytes() -> int:
    """The largest run allowed: ``DMSIM_MAX_MEMORY_GB`` (GiB) if set, else half of physical memory.

    Raises:
        ConfigError: ``DMSIM_MAX_MEMORY_GB`` is set but not a positive number.
    """
    text = os.environ.get("DMSIM_MAX_MEMORY_GB", "").strip()
    if text:
        try:
            gib = float(text)
        except ValueError:
            gib = math.nan
        if not (math.isfinite(gib) and gib > 0):
            raise ConfigError("DMSIM_MAX_MEMORY_GB", text, "a positive number of GiB (environment variable)")
        return int(gib * GIB)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def check_run_size(cfg: DMSimConfig) -> RunSize:
    """Refuse, in one line naming the key that dominates, a run estimated above the memory limit.

    The limit is half of physical memory, or ``DMSIM_MAX_MEMORY_GB`` (GiB) when set (e.g. on a
    cluster node shared with other jobs, or to allow a run known to fit).
    """
    size = estimate_run(cfg)
    limit = memory_limit_bytes()
    if size.peak_bytes > limit:
        def gib(b: float) -> str:
            return f"{b / GIB:.1f}" if b < 10 * GIB else f"{b / GIB:,.0f}"

        where = "set by DMSIM_MAX_MEMORY_GB" if os.environ.get("DMSIM_MAX_MEMORY_GB", "").strip() else "on this machine"
        raise ConfigError(size.dominant_key, size.dominant_value,
                          f"the run would need ~{gib(size.peak_bytes)} GiB (limit {gib(limit)} GiB {where})")
    return size
