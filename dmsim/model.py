"""The DM ecosystem model: one ``mesa.Model`` over columnar agent state."""

from __future__ import annotations

from functools import partial
from time import perf_counter
from typing import Any

import mesa
import numpy as np
import pandas as pd

from dmsim import accounting, costs, decisions, market, shocks
from dmsim.agents import BuyerGroup, SharedServiceProvider, Supplier, Workshop
from dmsim.config import SERVICES, ConfigError, DMSimConfig
from dmsim.geography import Catchment, NeighbourIndex, make_settlements, scatter_around_people
from dmsim.ledger import Ledger
from dmsim.metrics import MetricsRecorder
from dmsim.state import (
    MODE_GLOBAL,
    MODE_INTERNAL,
    MODE_NONE,
    MODE_SHARED,
    PROVIDER_GLOBAL,
    PROVIDER_LOCAL,
    SEGMENT_HOUSEHOLD,
    SEGMENT_INSTITUTION,
    BuyerTable,
    ProviderTable,
    SupplierTable,
    WorkshopTable,
)
from dmsim.streams import Streams
from dmsim.valuation import institution_ratio

PHASES: tuple[str, ...] = ("pricing", "market", "accounting", "decisions", "data_collection")
MODE_CODES = {"none": MODE_NONE, "internal": MODE_INTERNAL, "shared": MODE_SHARED,
              "global": MODE_GLOBAL}


class DMModel(mesa.Model):
    """Distributed-manufacturing ecosystem in one region, one step per month.

    Monthly schedule (docs/ODD.md §3):

    1. Providers set fees on expected clients; material prices follow last month's volumes.
    2. Workshops compute unit costs (overhead spread over at least normal capacity) and price
       at full cost × (1 + their markup), never below variable cost.
    3. Market: buyer groups choose by nested logit; workshops fill orders within capacity;
       overflow goes to coordinated peers; buyers turned away choose again among workshops with
       hours left, the import and not buying.
    4. Accounting: every payment through the ledger (money is conserved).
    5. Learning: cumulative output grows, with spillovers; markups follow the load.
    6. Decisions: awareness, provider entry, make-or-buy (valued), investment, exits, entries,
       policy.
    7. Metrics are recorded.
    """

    def __init__(self, scenario: str | DMSimConfig | None = None, *, rng: Any = None,
                 cfg: DMSimConfig | None = None, **overrides: Any) -> None:
        """Build the model from a scenario and config keys, or from a composed config.

        Args:
            scenario: A file of ``configs/scenario/`` (``None``: baseline, the schema's
                defaults). A :class:`DMSimConfig` given here is taken as ``cfg``.
            rng: Mesa's seed argument. An integer is the run's ``seed`` (``rng=5`` is
                ``python -m dmsim seed=5``); a ``numpy.random.Generator`` (or any other value
                ``numpy.random.default_rng`` takes) gives one integer seed drawn from it;
                ``None`` keeps the config's seed (0 unless a ``seed`` key is given), so a
                model without a seed is reproducible, unlike Mesa's default.
            cfg: A composed config (:func:`dmsim.run.compose_config`), used as it is.
            **overrides: Config keys, dotted names included (``seed=3``,
                ``**{"imports.tariff": 0.3}``), composed exactly as ``python -m dmsim
                +scenario=SCENARIO KEY=VALUE ...`` would (:func:`keyword_config`). ``seed`` is
                a config key here, not Mesa's deprecated ``seed`` argument: ``mesa.batch_run``
                passes its own ``rng`` (``None`` unless given) and leaves a swept ``seed`` alone.

        Raises:
            ConfigError: a bad key or value, ``rng`` with ``seed``, or ``cfg`` with anything else.
        """
        if isinstance(scenario, DMSimConfig):  # DMModel(cfg), as dmsim.run calls it
            if cfg is not None:
                raise ConfigError("cfg", "DMSimConfig", "given twice (positionally and as cfg=)")
            scenario, cfg = None, scenario
        if cfg is not None:
            extra = {**({"scenario": scenario} if scenario is not None else {}),
                     **({"rng": rng} if rng is not None else {}), **overrides}
            if extra:
                key, value = next(iter(extra.items()))
                raise ConfigError(key, value, "not with cfg=: a composed config is complete (compose it with this key)")
        else:
            if "seed" in overrides and overrides["seed"] is None:  # Mesa's "no seed given"
                del overrides["seed"]
            if rng is not None:
                if "seed" in overrides:
                    raise ConfigError("rng", rng, f"give rng or seed, not both (seed={overrides['seed']!r})")
                overrides["seed"] = seed_from_rng(rng)
            cfg = keyword_config(scenario, **overrides)
        super().__init__(rng=cfg.seed)
        self.cfg = cfg
        self.streams = Streams(cfg.seed)
        self.month = 0
        self.product_names = list(cfg.products)
        prods = [cfg.products[p] for p in self.product_names]
        self.n_products = len(prods)
        sc = cfg.scales
        self.material_usd = sc.material * np.array([p.material_usd for p in prods])
        self.labour_hours = sc.labour_hours * np.array([p.labour_hours for p in prods])
        self.import_price_usd = np.array([p.import_factory_price_usd for p in prods])
        self.valuation_usd = sc.valuation * np.array([p.valuation_usd for p in prods])
        self.weight_kg = np.array([p.weight_kg for p in prods])
        self.requires_cert = np.array([p.requires_certification for p in prods])
        svc = [cfg.service(s) for s in SERVICES]
        self.internal_cost_usd = cfg.services.internal_cost_scale * np.array(
            [s.internal_cost_usd_per_month for s in svc])
        self.provider_fixed_usd = cfg.services.provider_fixed_cost_scale * np.array(
            [s.provider_fixed_cost_usd_per_month for s in svc])
        # Pooled service purchasing: a coordinated network buys each service for its members as
        # one account (one contract, joint onboarding and visits), cutting a local provider's
        # per-client cost. Every workshop is a member once the network type is not independent.
        pooled = cfg.network.service_pooling * cfg.network.coordination if cfg.network.type != "independent" else 0.0
        self.provider_marginal_usd = (1.0 - pooled) * np.array([s.provider_marginal_cost_usd_per_month for s in svc])
        # Landed cost at the port per USD of factory price, of finished goods and of makers'
        # imported materials; shocks change both month by month (``apply_shocks``).
        self.shock = shocks.ShockState(demand=(1.0,) * self.n_products)
        self.import_cost_factor, self.material_cost_factor = shocks.import_cost_factors(cfg, self.shock)
        self.shock_schedule = shocks.schedule(cfg, self.streams.shocks)  # (kinds, months) bool

        self.ws = WorkshopTable.empty(self.n_products, len(SERVICES))
        self.pv = ProviderTable()
        self.sp = SupplierTable()
        self.bg = BuyerTable.empty(self.n_products)
        self.ledger = Ledger({"ws": self.ws, "pv": self.pv, "sp": self.sp, "bg": self.bg})
        self.agents_by_row: dict[str, dict[int, mesa.Agent]] = {"ws": {}, "pv": {}, "sp": {}}
        self.material_spend = np.zeros(0)  # last month's material purchases per workshop (USD)
        self.public_spend_usd = 0.0  # cumulative
        self.entries = self.exits = 0  # this month
        self.provider_entries = self.provider_exits = 0
        self.investments = 0  # cumulative
        self.public_spend_month = 0.0
        self.unmet_units = np.zeros(0)
        self.dm_lead_time_months = 0.0  # DM delivery lead time buyers saw this month (market phase)
        self.books = None
        self.buyer_terms = None  # market.BuyerTerms, computed once (set None if imports change)
        self.inclusive_value = np.zeros((0, self.n_products))
        self.institution_ratio = np.zeros(self.n_products)  # institutional / household units, set at reviews
        self.phase_seconds = dict.fromkeys(PHASES, 0.0)  # wall time per phase, for the benchmark
        self.strategy_cost_month: dict[str, float] = {}  # USD paid this month per strategy
        self.strategy_unfunded_month = 0.0  # public strategy cost the budget could not cover
        self.index_built = False
        self.index_pending: list[np.ndarray] = []  # entrants not yet in the index
        self.exits_since_build = 0

        self._init_region()
        self._init_suppliers()
        self._init_workshops()
        self._init_providers()
        self.index = NeighbourIndex(
            np.column_stack([self.bg.x_km[: self.bg.n], self.bg.y_km[: self.bg.n]]),
            cfg.market.k_nearest, cfg.workshops.delivery_reach_km,
        )

        self.metrics = MetricsRecorder(self)
        # Mesa's collector over the same monthly rows: its reporters read the row the metrics
        # just recorded (no recomputation). They are the row's keys, known after the first month.
        self.datacollector = mesa.DataCollector()
        bg = self.bg
        self.catchment = Catchment(bg.x_km[: bg.n], bg.y_km[: bg.n], bg.potential_units[: bg.n], cfg.region.size_km)
        n_p = self.n_products
        self.institution_ratio = institution_ratio(self, np.zeros((0, n_p)), np.zeros((0, n_p)), np.zeros(0, bool))
        self.base_potential_units = bg.potential_units[: bg.n].copy()  # demand without shocks

    # ------------------------------------------------------------------ initialisation
    def _init_region(self) -> None:
        cfg, rng = self.cfg, self.streams.geography
        self.towns = make_settlements(cfg, rng)
        g_h = cfg.region.buyer_groups
        x, y = scatter_around_people(self.towns, g_h, cfg.region.urban_share, cfg.region.size_km,
                                     cfg.region.town_radius_km, rng)
        n_inst = cfg.region.institutions
        # Institutions sit in towns (hospitals, schools, procurement offices).
        xi, yi = scatter_around_people(self.towns, n_inst, 1.0, cfg.region.size_km,
                                       cfg.region.town_radius_km / 2, rng)
        rows = self.bg.add(g_h + n_inst)
        bg = self.bg
        bg.x_km[rows] = np.concatenate([x, xi])
        bg.y_km[rows] = np.concatenate([y, yi])
        bg.segment[rows] = np.r_[np.full(g_h, SEGMENT_HOUSEHOLD), np.full(n_inst, SEGMENT_INSTITUTION)]
        people = cfg.region.population / g_h
        bg.people[:g_h] = people
        px, py = self.towns.port
        bg.port_km[rows] = np.hypot(bg.x_km[rows] - px, bg.y_km[rows] - py)  # within the region
        per_person = cfg.scales.demand * np.array([cfg.products[p].demand_per_person_per_month
                                                   for p in self.product_names])
        inst_share = np.array([cfg.products[p].institution_demand_share for p in self.product_names])
        total = cfg.region.population * per_person  # potential units per month
        if n_inst == 0:
            inst_share = np.zeros_like(inst_share)
        bg.potential_units[:g_h] = (total * (1 - inst_share) / g_h)[None, :]
        if n_inst:
            bg.potential_units[g_h:] = (total * inst_share / n_inst)[None, :]
        for row in rows:
            BuyerGroup(self, row)

    def _init_suppliers(self) -> None:
        row = self.sp.add(1)[0]  # the importing distributor at the port
        self.sp.active[row] = True
        self.agents_by_row["sp"][row] = Supplier(self, row)

    def add_local_supplier(self) -> int:
        """A local supplier enters with start-up cash from its owners; returns its row."""
        row = int(self.sp.add(1)[0])
        s = self.cfg.suppliers
        self.sp.active[row] = True
        self.sp.local[row] = True
        self.ledger.pay("owners", "sp", s.local_start_cash_months * s.local_fixed_cost_usd_per_month,
                        payee_rows=np.array([row]))
        self.agents_by_row["sp"][row] = Supplier(self, row)
        return row

    def local_supplier_row(self) -> int | None:
        """Row of the active local supplier, if any."""
        rows = np.flatnonzero(self.sp.active[: self.sp.n] & self.sp.local[: self.sp.n])
        return int(rows[0]) if rows.size else None

    def _init_workshops(self) -> None:
        cfg = self.cfg
        rng = self.streams.workshops
        n = cfg.workshops.initial
        x, y = scatter_around_people(self.towns, n, cfg.region.urban_share, cfg.region.size_km,
                                     cfg.region.town_radius_km, rng)
        rows = self.add_workshops(x, y, rng)
        ws = self.ws
        for s, name in enumerate(SERVICES):
            ws.mode[: ws.n, s] = MODE_CODES[cfg.service(name).initial_mode]
        # They have been in business a while: each still owes part of its start-up loan.
        term = cfg.workshops.loan_term_months
        self.finance_equipment(rows, np.full(n, cfg.finance.informal_rate_per_year),
                               rng.integers(0, term, size=n))  # 0 to term − 1 months still to pay

    def finance_equipment(self, rows: np.ndarray, rate_per_year: np.ndarray, months_left: np.ndarray) -> None:
        """Start-up equipment of workshops ``rows``: its loan and, if bought now, its payment.

        The equipment for the standard capacity costs ``capex_usd_per_hour_capacity`` × C_0 (USD);
        owners pay ``1 − loan_share`` of it and borrow the rest over ``loan_term_months`` at
        ``rate_per_year``. ``months_left`` (per row) < the term means the equipment was bought
        before month 0 and only the rest of the loan is owed; = the term means it is bought now,
        abroad.
        """
        wc = self.cfg.workshops
        term = wc.loan_term_months
        capex = wc.capex_usd_per_hour_capacity * wc.capacity_hours_per_month
        loan = wc.loan_share * capex
        payment = costs.annuity(loan, rate_per_year, term)
        r = np.asarray(rate_per_year, dtype=float) / 12.0
        # Principal still owed with months_left payments to go: their present value.
        left = np.where(r > 0, payment * (1 - (1 + r) ** -months_left.astype(float)) / np.maximum(r, 1e-12),
                        payment * months_left)
        ws = self.ws
        ws.debt_usd[rows] += left
        ws.debt_payment_usd[rows] += np.where(months_left > 0, payment, 0.0)
        ws.loan_rate[rows] = rate_per_year
        new = months_left >= term
        if new.any():
            self.ledger.pay("owners", "foreign", (1 - wc.loan_share) * capex * int(new.sum()))
            self.ledger.pay("lenders", "foreign", loan * int(new.sum()))

    def add_workshops(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                      makes: np.ndarray | None = None, cum_units: np.ndarray | None = None) -> np.ndarray:
        """Create workshops at the given positions (km); owners put in start-up cash.

        Product lines are ``makes`` (k, P) or, if None, ``product_variety`` drawn at random;
        ``cum_units`` (k, P) is the know-how they start with (units; none if None).
        """
        cfg = self.cfg
        n = len(x)
        rows = self.ws.add(n)
        ws = self.ws
        self.material_spend = np.resize(self.material_spend, ws.n)
        self.material_spend[rows] = 0.0
        ws.active[rows] = True
        ws.x_km[rows], ws.y_km[rows] = x, y
        variety = cfg.product_variety
        if makes is None:
            pick = np.argsort(rng.random((n, self.n_products)), axis=1)[:, :variety]
            makes = np.zeros((n, self.n_products), dtype=bool)
            makes[np.arange(n)[:, None], pick] = True
        ws.makes[rows] = makes
        ws.markup[rows] = cfg.workshops.markup
        if cum_units is not None:
            ws.cum_units[rows] = cum_units
        ws.capacity_hours[rows] = cfg.workshops.capacity_hours_per_month
        ws.expected_hours[rows] = cfg.workshops.initial_utilisation * cfg.workshops.capacity_hours_per_month
        ws.mode[rows] = MODE_INTERNAL
        ws.provider[rows] = -1
        ws.network[rows] = self.network_of(x, y)
        ws.entry_month[rows] = self.month
        ws.loan_rate[rows] = cfg.finance.informal_rate_per_year
        monthly = (cfg.workshops.fixed_cost_usd_per_month
                   + cfg.workshops.setup_usd_per_month_per_product * makes.sum(axis=1)
                   + self.internal_cost_usd.sum())
        # Owners differ in what they can put in: lognormal around the mean, mean-preserving.
        sigma = cfg.workshops.start_cash_dispersion
        wealth = np.exp(sigma * rng.standard_normal(n) - sigma**2 / 2) if sigma > 0 else np.ones(n)
        self.ledger.pay("owners", "ws", cfg.workshops.start_cash_months * monthly * wealth, payee_rows=rows)
        for row in rows:
            self.agents_by_row["ws"][int(row)] = Workshop(self, row)
        self.index_pending.append(rows)
        return rows

    def network_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Network id of workshops at (x, y).

        -1 (independent), 0 (mesh, platform: one regional network) or the nearest hub's index
        (hub_spoke: hubs sit at the ``network.hubs`` largest towns).
        """
        kind = self.cfg.network.type
        if kind == "independent":
            return np.full(len(x), -1, dtype=np.int32)
        if kind != "hub_spoke":
            return np.zeros(len(x), dtype=np.int32)
        k = min(self.cfg.network.hubs, len(self.towns.x_km))
        x, y = np.asarray(x)[:, None], np.asarray(y)[:, None]
        d = np.hypot(x - self.towns.x_km[None, :k], y - self.towns.y_km[None, :k])
        return d.argmin(axis=1).astype(np.int32)

    def on_platform(self) -> np.ndarray:
        """Which workshops (rows) sell through the platform, (W,)."""
        ws = self.ws
        if self.cfg.network.type != "platform":
            return np.zeros(ws.n, dtype=bool)
        return ws.network[: ws.n] >= 0

    def _init_providers(self) -> None:
        cfg = self.cfg
        for s, name in enumerate(SERVICES):
            sc = cfg.service(name)
            for _ in range(sc.seeded_providers):
                self.add_provider(s, PROVIDER_LOCAL)
            if sc.global_provider:
                self.add_provider(s, PROVIDER_GLOBAL)
        ws = self.ws
        rng = self.streams.decisions
        for s, name in enumerate(SERVICES):
            want = cfg.service(name).initial_mode
            if want in ("shared", "global"):
                kind = PROVIDER_LOCAL if want == "shared" else PROVIDER_GLOBAL
                rows = np.flatnonzero(self.pv.active[: self.pv.n] & (self.pv.service[: self.pv.n] == s)
                                      & (self.pv.kind[: self.pv.n] == kind))
                if rows.size:
                    ws.provider[: ws.n, s] = rng.choice(rows, size=ws.n)
                    ws.mode[: ws.n, s] = MODE_CODES[want]
                    ws.aware[: ws.n, s] = True  # clients know their provider
                else:  # nobody to buy it from: done in-house
                    ws.mode[: ws.n, s] = MODE_INTERNAL
        self.pv.clients[: self.pv.n] = self.count_clients()
        # Providers that start with clients expect at least those.
        self.pv.expected_clients[: self.pv.n] = np.maximum(self.pv.expected_clients[: self.pv.n],
                                                           self.pv.clients[: self.pv.n])

    def add_provider(self, service: int, kind: int, expected_clients: float | None = None) -> int:
        """A provider of ``service`` enters with start-up cash from its owners; returns its row.

        It prices on ``expected_clients`` (standard clients); if None, on
        ``provider_initial_expected_share`` of the active workshops (local) or all of them
        (global).
        """
        cfg = self.cfg.services
        row = int(self.pv.add(1)[0])
        pv = self.pv
        pv.active[row] = True
        pv.service[row] = service
        pv.kind[row] = kind
        pv.entry_month[row] = self.month
        n_ws = int(self.ws.active[: self.ws.n].sum())
        if kind == PROVIDER_LOCAL:
            pv.fixed_usd[row] = self.provider_fixed_usd[service]
            pv.marginal_usd[row] = self.provider_marginal_usd[service]
            pv.fit[row] = 1.0
            default = cfg.provider_initial_expected_share * n_ws
        else:
            # A global provider serves from its scale elsewhere: a small regional fixed cost
            # and a per-client cost below a local in-house team's.
            pv.fixed_usd[row] = cfg.global_fixed_cost_usd_per_month
            pv.marginal_usd[row] = cfg.global_marginal_cost_factor * self.internal_cost_usd[service]
            pv.fit[row] = cfg.global_fit
            default = max(n_ws, 1)
        pv.expected_clients[row] = default if expected_clients is None else expected_clients
        self.ledger.pay("owners", "pv", cfg.provider_start_cash_months * pv.fixed_usd[row],
                        payee_rows=np.array([row]))
        if kind == PROVIDER_LOCAL:  # it tells the workshops about itself as it opens
            ws = self.ws
            told = self.streams.monthly("outreach", self.month).random((ws.n, len(SERVICES)))[:, service]
            ws.aware[: ws.n, service] |= ws.active[: ws.n] & (told < cfg.provider_outreach)
        self.agents_by_row["pv"][row] = SharedServiceProvider(self, row)
        return row

    def subsidy_share_now(self) -> float:
        """Share of local providers' fixed cost the start-up subsidy pays this month.

        ``policy.provider_subsidy_share`` while the programme runs, scaled down when what is left
        of the budget cannot pay it for every active local provider (fees and payments alike).
        """
        pol = self.cfg.policy
        if self.month >= pol.provider_subsidy_months or pol.provider_subsidy_share <= 0:
            return 0.0
        pv = self.pv
        local = pv.active[: pv.n] & (pv.kind[: pv.n] == PROVIDER_LOCAL)
        want = pol.provider_subsidy_share * float(pv.fixed_usd[: pv.n][local].sum())
        left = max(0.0, pol.budget_usd - self.public_spend_usd)
        if want <= left:
            return pol.provider_subsidy_share
        return pol.provider_subsidy_share * left / want

    def client_size(self) -> np.ndarray:
        """Each workshop's service needs relative to a standard one, (W,) (``costs.client_size``)."""
        return costs.client_size(self, self.ws.capacity_hours[: self.ws.n])

    def count_clients(self, head_count: bool = False) -> np.ndarray:
        """Clients of each provider, in standard-client units (or heads), (providers,)."""
        ws = self.ws
        using = ws.active[: ws.n, None] & (ws.provider[: ws.n] >= 0)
        size = np.ones(ws.n) if head_count else self.client_size()
        weights = np.broadcast_to(size[:, None], using.shape)[using]
        return np.bincount(ws.provider[: ws.n][using], weights=weights, minlength=self.pv.n)

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        """Advance one month (see the class docstring for the schedule)."""
        self.ledger.new_month()
        self.entries = self.exits = self.provider_entries = self.provider_exits = 0
        self.public_spend_month = 0.0
        clock = self.phase_seconds
        t0 = perf_counter()
        self.apply_shocks()
        self.refresh_index()
        effects, overhead_ws, unit, price = self.price()  # 1-2
        t1 = perf_counter()
        sales = self.clear_market(price, unit, effects)  # 3
        t2 = perf_counter()
        self.settle(sales, unit, overhead_ws)  # 4
        t3 = perf_counter()
        decisions.learn(self, sales, unit)  # 5
        decisions.decide(self, effects, sales, unit)  # 6
        t4 = perf_counter()
        self.collect(self.metrics.record(sales, unit, overhead_ws))  # 7
        t5 = perf_counter()
        self.month += 1
        self.running = self.month < self.cfg.steps  # Mesa's run_model and batch_run stop here
        for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            clock[name] += dt

    def apply_shocks(self) -> None:
        """Set this month's shock state: import costs, lead time and demand follow it."""
        state = shocks.state_at(self.cfg, self.shock_schedule, self.month, self.product_names)
        if state == self.shock:
            return
        self.shock = state
        self.import_cost_factor, self.material_cost_factor = shocks.import_cost_factors(self.cfg, state)
        self.buyer_terms = None  # import prices and lead time changed: recomputed by the market
        self.bg.potential_units[: self.bg.n] = self.base_potential_units * np.array(state.demand)[None, :]

    def refresh_index(self) -> None:
        """Bring the k-nearest index up to date with entries and exits.

        A full rebuild at the start and once exits since the last one reach a tenth of the
        active workshops (so buyers see the next-nearest makers again); otherwise entrants
        are inserted incrementally, which costs only their own catchments.
        """
        ws = self.ws
        n_active = int(ws.active[: ws.n].sum())
        full = not self.index_built or self.exits_since_build >= max(1, 0.1 * n_active)
        if not full and not self.index_pending:
            return
        xy = np.column_stack([ws.x_km[: ws.n], ws.y_km[: ws.n]])
        if full:
            self.index.rebuild(xy, ws.makes[: ws.n], ws.active[: ws.n])
            self.index_built = True
            self.exits_since_build = 0
        else:
            self.index.insert(np.concatenate(self.index_pending), xy, ws.makes[: ws.n], ws.active[: ws.n])
        self.index_pending = []

    def price(self) -> tuple[np.ndarray, np.ndarray, costs.UnitCosts, np.ndarray]:
        """Phases 1-2: provider fees, service effects and overhead, unit costs, prices."""
        costs.provider_fees(self)
        effects = costs.service_effects(self)
        overhead_ws = costs.service_overhead(self)
        unit = costs.unit_costs(self, effects, overhead_ws)
        price = costs.prices(self, unit)
        self.ws.price_usd[: self.ws.n] = price
        return effects, overhead_ws, unit, price

    def clear_market(self, price: np.ndarray, unit: costs.UnitCosts, effects: np.ndarray) -> market.Sales:
        """Phase 3: buyers choose, workshops fill orders."""
        return market.clear(self, price, unit, effects)

    def settle(self, sales: market.Sales, unit: costs.UnitCosts, overhead_ws: np.ndarray) -> None:
        """Phase 4: book every payment of the month."""
        accounting.settle(self, sales, unit, overhead_ws)

    def collect(self, row: dict[str, float]) -> None:
        """Append this month's metrics ``row`` to ``datacollector`` (its columns: the row's keys)."""
        if not self.datacollector.model_reporters:
            self.datacollector = mesa.DataCollector(
                model_reporters={key: partial(_recorded, key=key) for key in row})
        self.datacollector.collect(self)

    def run(self) -> None:
        """Run all configured months."""
        for _ in range(self.cfg.steps):
            self.step()

    def run_frame(self) -> pd.DataFrame:
        """Run all configured months and return the monthly time series."""
        self.run()
        return self.metrics.frame()


def _recorded(model: DMModel, key: str) -> float:
    """A DataCollector reporter: ``key`` of the month's metrics row just recorded."""
    return model.metrics.rows[-1][key]


def seed_from_rng(rng: Any) -> int:
    """The run's ``seed`` from Mesa's ``rng`` argument.

    An integer is the seed itself; anything else ``numpy.random.default_rng`` accepts (a
    ``Generator``, a ``SeedSequence``, a sequence of ints) gives one draw in [0, 2**31 − 1),
    as Mesa draws its own stdlib seed from a non-integer ``rng``.
    """
    if isinstance(rng, bool):
        raise ConfigError("rng", rng, "an integer seed >= 0 or a numpy Generator")
    if isinstance(rng, int | np.integer):
        return int(rng)
    try:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ConfigError("rng", rng, "an integer seed >= 0 or a numpy Generator") from None
    return int(gen.integers(np.iinfo(np.int32).max))


def keyword_config(scenario: str | None = None, **overrides: Any) -> DMSimConfig:
    """The typed config of ``python -m dmsim +scenario=SCENARIO KEY=VALUE ...``.

    ``overrides`` are config keys (dotted names through ``**{"imports.tariff": 0.3}``) with
    Python values: numbers, strings, booleans, ``None`` (null) and lists, numpy scalars
    included; each becomes one Hydra override, so composition and checks are the command line's.

    Raises:
        ConfigError: a bad key or value (one line).
    """
    from dmsim.run import compose_config  # dmsim.run imports this module

    args = [] if scenario is None else [f"+scenario={_hydra_value('scenario', scenario)}"]
    args += [f"{key}={_hydra_value(key, value)}" for key, value in overrides.items()]
    return compose_config(args)


def _hydra_value(key: str, value: Any) -> str:
    """``value`` in Hydra's override grammar (strings quoted unless plain)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, str):
        plain = value and all(c.isalnum() or c in "_-./" for c in value) and not value[0].isdigit()
        if plain and value.lower() not in ("true", "false", "null", "nan", "inf"):  # else not a string
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra_value(key, v) for v in value) + "]"
    raise ConfigError(key, value, "a number, string, boolean, None or list")
