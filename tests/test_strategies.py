"""The strategy catalogue: every group-level cell, composable, costed and charged as declared."""

from pathlib import Path

import pytest
import yaml

from dmsim.config import STRATEGY_GROUPS, STRATEGY_LEVELS
from dmsim.run import run

DIR = Path(__file__).resolve().parent.parent / "configs" / "strategy"
NAMES = sorted(p.stem for p in DIR.glob("*.yaml"))
SMALL = ["steps=14", "region.buyer_groups=150", "output.dashboard=false", "policy.budget_usd=5000000"]


def test_every_group_level_cell_has_a_strategy():
    cells = set()
    for name in NAMES:
        rec = yaml.safe_load((DIR / f"{name}.yaml").read_text())["strategies"][name]
        if name != "none":
            cells.add((rec["group"], rec["level"]))
    assert cells == {(g, lv) for g in STRATEGY_GROUPS for lv in STRATEGY_LEVELS}
    assert len(NAMES) - 1 >= 15


@pytest.mark.parametrize("name", NAMES)
def test_each_strategy_runs_and_is_charged_as_declared(make_config, name):
    cfg = make_config([f"+strategy={name}", *SMALL])
    st = cfg.strategies[name]
    r = run(cfg)
    ts = r.timeseries
    assert r.summary["strategies"] == [name]
    if st.cost_usd_per_workshop_month == 0 and st.payer == "government":
        months = min(st.months, len(ts))
        planned = st.cost_usd_once + st.cost_usd_per_month * months
        assert r.summary["strategy_cost_usd_total"] == pytest.approx(planned)
    assert (ts["strategy_unfunded_usd"] == 0).all()


def test_strategies_compose_and_the_budget_is_enforced(make_config):
    cfg = make_config(["+strategy=[peer_network,working_capital_loans]", *SMALL])
    assert set(cfg.strategies) == {"peer_network", "working_capital_loans"}
    assert cfg.network.type == "mesh" and cfg.finance.formal_rate_per_year == 0.12
    from dmsim.config import ConfigError

    with pytest.raises(ConfigError, match="policy.budget_usd"):
        make_config(["+strategy=transport_infrastructure", "policy.budget_usd=1000"])


def test_a_budget_that_runs_out_stops_the_payments(make_config):
    # Per-workshop costs are planned on the initial workshops; entrants can exceed the plan.
    cfg = make_config(["+strategy=process_improvement", "policy.budget_usd=45000", "workshops.initial=20",
                       *SMALL[:3]])
    r = run(cfg)
    assert r.summary["public_spend_usd_total"] <= 45000 + 1e-6
