"""Every config key of the public contract (README) works as an override and reaches the model."""

import pytest

from dmsim.config import SERVICES
from dmsim.model import DMModel

CONTRACT = [
    ("seed", 7), ("steps", 3), ("region.population", 250_000), ("region.size_km", 120.0),
    ("workshops.initial", 9), ("workshops.markup", 0.35), ("product_variety", 3),
    ("network.type", "mesh"), ("network.coordination", 0.4), ("imports.tariff", 0.3),
    ("policy.budget_usd", 12_345.0),
] + [
    (f"services.{s}.{k}", v)
    for s in SERVICES
    for k, v in [("internal_cost_usd_per_month", 333.0), ("provider_fixed_cost_usd_per_month", 2_222.0),
                 ("provider_marginal_cost_usd_per_month", 11.0)]
]


def get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("key,value", CONTRACT)
def test_contract_key_overrides(make_config, key, value):
    cfg = make_config([f"{key}={value}", "steps=3", "region.buyer_groups=200"] if key != "steps"
                      else [f"{key}={value}", "region.buyer_groups=200"])
    assert get(cfg, key) == value
    model = DMModel(cfg)
    model.run()
    assert model.month == cfg.steps


def test_overrides_reach_the_mechanics(make_config):
    base = DMModel(make_config(["steps=1"]))
    dear = DMModel(make_config(["steps=1", "imports.tariff=0.5", "services.design.internal_cost_usd_per_month=900"]))
    assert dear.import_cost_factor == pytest.approx(base.import_cost_factor + 0.4)
    assert dear.internal_cost_usd[SERVICES.index("design")] == 900.0
    assert DMModel(make_config(["steps=1", "workshops.initial=9"])).ws.n == 9
