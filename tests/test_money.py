"""Money is conserved every month: agents' cash changes plus external sinks net to zero,
and every change of an agent's cash is a recorded payment."""

import numpy as np
import pytest

from dmsim.ledger import EXTERNAL
from dmsim.model import DMModel

AGENTS = ("ws", "pv", "sp", "bg")


@pytest.mark.parametrize("overrides", [
    ["seed=2"],
    ["+scenario=shared_services", "seed=4"],
    # coordination and a network: overflow subcontracting, pooled procurement, subsidies
    ["+scenario=shared_services", "seed=6", "network.type=mesh", "network.coordination=0.8",
     "policy.budget_usd=50000", "policy.provider_subsidy_share=0.5", "policy.provider_subsidy_months=24",
     "workshops.initial=60"],
])
def test_money_conserved_every_month(make_config, overrides):
    model = DMModel(make_config([*overrides, "steps=60"]))
    led = model.ledger
    for _ in range(60):
        cash0 = led.agent_cash()
        ext0 = dict(led.external)
        model.step()
        cash1 = led.agent_cash()
        d_agents = sum(cash1[k] - cash0[k] for k in AGENTS)
        d_ext = sum(led.external[k] - ext0[k] for k in EXTERNAL)
        scale = max(1.0, sum(abs(v) for v in led.flows.values()))
        assert abs(d_agents + d_ext) < 1e-9 * scale, model.month
        # Each agent kind's cash change equals the payments it received less those it made.
        for k in AGENTS:
            net = sum(v for (a, b), v in led.flows.items() if b == k) - sum(
                v for (a, b), v in led.flows.items() if a == k)
            assert cash1[k] - cash0[k] == pytest.approx(net, abs=1e-6 * scale), (k, model.month)
    # The month's records say the same.
    assert np.abs(model.metrics.frame()["money_residual_usd"]).max() < 1e-3


def test_exits_hand_cash_to_owners_or_lenders(make_config):
    model = DMModel(make_config(["seed=2", "steps=60"]))
    model.run()
    gone = ~model.ws.active[: model.ws.n]
    assert gone.any(), "the baseline should see exits"
    assert np.all(model.ws.cash_usd[: model.ws.n][gone] == 0.0)
