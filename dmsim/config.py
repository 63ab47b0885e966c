"""Typed configuration: Hydra structured configs with declarative range checks.

Every field carries its allowed range in ``metadata`` (``ge``, ``gt``, ``le``, ``lt``,
``choices``); :func:`validate` walks the tree and raises :class:`ConfigError` with one line
naming the full key, the value and what is allowed. The baseline scenario is the schema's
defaults; each file in ``configs/scenario/`` is a delta on top of it. Provenance of every
default is in ``docs/parameters.md``.
"""

from __future__ import annotations

import dataclasses
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


def rng_field(default: Any, **bounds: Any) -> Any:
    """A dataclass field whose metadata holds its allowed range (see :func:`validate`)."""
    return field(default=default, metadata=bounds)


def _check(key: str, value: Any, meta: dict[str, Any]) -> None:
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, value, f"one of {', '.join(meta['choices'])}")
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
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
        elif isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item):
                    validate(item, f"{key}.{name}.")
        else:
            _check(key, value, dict(f.metadata))


@dataclass
class RegionConfig:
    """The square region, its people and settlements."""

    population: int = rng_field(1_000_000, ge=1)  # people
    size_km: float = rng_field(200.0, gt=0)  # side of the square region
    buyer_groups: int = rng_field(2_000, ge=1)  # household groups (institutions come on top)
    towns: int = rng_field(6, ge=1)  # settlement clusters; the first is the port/capital
    urban_share: float = rng_field(0.55, ge=0, le=1)  # people living in town clusters
    town_radius_km: float = rng_field(8.0, gt=0)  # spread (s.d.) of a town's groups
    institutions: int = rng_field(60, ge=0)  # hospitals, schools, agency procurement offices


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
    switch_interval_months: int = rng_field(3, ge=1)  # make-or-buy reviewed this often
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
    marketing_reach_none_km: float = rng_field(15.0, ge=0)  # how far buyers find a workshop without marketing
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
    entry_interval_months: int = rng_field(3, ge=1)
    invest_utilisation: float = rng_field(0.9, gt=0, le=1)  # expand when busier than this
    max_capacity_hours_per_month: float = rng_field(960.0, gt=0)  # a DM unit stays small
    invest_capacity_step: float = rng_field(0.5, gt=0)  # hours added per investment, × standard capacity
    capex_usd_per_hour_capacity: float = rng_field(80.0, ge=0)  # equipment per monthly hour
    equipment_life_months: float = rng_field(96.0, gt=0)  # equipment wears out and is replaced over this
    loan_share: float = rng_field(0.7, ge=0, le=1)  # of capex borrowed
    loan_term_months: int = rng_field(36, ge=1)
    delivery_reach_km: float = rng_field(60.0, gt=0)  # buyers beyond are not served


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

    k_nearest: int = rng_field(8, ge=1)  # workshops considered per buyer group and product
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
    dm_lead_time_months: float = rng_field(0.5, ge=0)
    import_lead_time_months: float = rng_field(3.0, ge=0)
    dm_delivery_cost_per_100km: float = rng_field(0.12, ge=0)  # fraction of import price/unit


@dataclass
class ImportsConfig:
    """The centralised (imported) alternative, priced at the port."""

    tariff: float = rng_field(0.1, ge=0, le=5)  # fraction of CIF value
    freight: float = rng_field(0.114, ge=0, le=5)  # international freight, fraction of value
    distribution_margin: float = rng_field(0.25, ge=0, le=5)
    inland_cost_per_100km: float = rng_field(0.08, ge=0)  # fraction of landed price per 100 km
    sea_km: float = rng_field(10_000.0, ge=0)
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
    distributor_lead_time_months: float = rng_field(0.5, ge=0)  # material wait when ordering from the port
    local_lead_time_months: float = rng_field(0.1, ge=0)  # material wait when buying locally


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

    budget_usd: float = rng_field(0.0, ge=0)
    provider_subsidy_share: float = rng_field(0.0, ge=0, le=1)  # of providers' fixed cost
    provider_subsidy_months: int = rng_field(0, ge=0)  # from month 0


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
    months: int = rng_field(120, ge=0)  # how long the monthly costs run


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
    steps: int = rng_field(120, ge=1)  # months
    scenario: str = "baseline"
    product_variety: int = rng_field(2, ge=1)  # products per workshop
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
    strategies: dict[str, StrategyConfig] = field(default_factory=dict)  # from +strategy=[a,b]

    def __post_init__(self) -> None:
        validate(self)
        if not self.products:
            raise ConfigError("products", {}, "at least one product")
        public = sum(s.cost_usd_once + s.months * (s.cost_usd_per_month + s.cost_usd_per_workshop_month
                                                    * self.workshops.initial)
                     for s in self.strategies.values() if s.payer == "government")
        if public > self.policy.budget_usd + 1e-6:
            raise ConfigError(
                "policy.budget_usd", self.policy.budget_usd,
                f"must cover the chosen strategies' planned public cost, at least {public:,.0f} USD "
                f"({', '.join(sorted(self.strategies))})",
            )
        if self.product_variety > len(self.products):
            raise ConfigError(
                "product_variety", self.product_variety,
                f"must be <= the number of products ({len(self.products)})",
            )

    def service(self, name: str) -> ServiceConfig:
        """The config of one standard service by name."""
        return getattr(self.services, name)


def register_configs() -> None:
    """Register the schema in Hydra's ConfigStore as ``dmsim_schema``."""
    ConfigStore.instance().store(name="dmsim_schema", node=DMSimConfig)
