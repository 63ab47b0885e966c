"""The data contract (dmsim/schema.py) against the files real runs write, and docs/outputs.md against it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dmsim import schema
from dmsim.config import MODES, SERVICES
from dmsim.metrics import may_be_undefined
from dmsim.outputs import SchemaError, write_run
from dmsim.run import compose_config, config_yaml, run

REPO = Path(__file__).resolve().parent.parent
SMALL = ["steps=24", "region.population=200000", "region.buyer_groups=300"]
ARROW = {"float64": "double", "int64": "int64", "bool": "bool"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A baseline run with workshop snapshots and a counterfactual shared_services run with a strategy."""
    out = {}
    for name, over in {
        "default": ["output.agent_snapshots=true"],
        "counterfactual": ["+scenario=shared_services", "output.counterfactual=true", "+strategy=peer_network",
                           "policy.budget_usd=100000"],
    }.items():
        d = tmp_path_factory.mktemp(name)
        cfg = compose_config([*SMALL, *over])
        run(cfg, d)
        out[name] = (d, list(cfg.products))
    return out


def test_every_written_name_is_in_the_schema_and_every_schema_row_is_written(runs):
    (d0, products), (d1, _) = runs["default"], runs["counterfactual"]
    ts = [set(pq.read_schema(d / "timeseries.parquet").names) for d in (d0, d1)]
    keys = [set(json.loads((d / "summary.json").read_text())) for d in (d0, d1)]
    snaps = set(pq.read_schema(d0 / "workshops.parquet").names)
    assert ts[0] == ts[1] == set(schema.names("timeseries.parquet", products))
    assert keys[0] == set(schema.names("summary.json", products, optional=False))  # no optional key without asking
    assert keys[1] == set(schema.names("summary.json", products))  # the counterfactual adds every optional one
    assert snaps == set(schema.names("workshops.parquet", products))
    # The per-service rows come from SERVICES: one per service, each written.
    for s in SERVICES:
        assert {f"shared_service_share_{s}", f"none_service_share_{s}", f"clients_{s}"} <= ts[0]


def test_parquet_types_are_the_declared_ones(runs):
    for d, products in runs.values():
        for table in ("timeseries.parquet", "workshops.parquet"):
            if not (d / table).exists():
                continue
            arrow = pq.read_schema(d / table)
            df = pd.read_parquet(d / table)
            for name in arrow.names:
                f = schema.field(table, name, products)
                if f.dtype == "category":
                    assert isinstance(df[name].dtype, pd.CategoricalDtype), name
                    assert list(df[name].cat.categories) == list(MODES), name
                else:
                    assert str(arrow.field(name).type) == ARROW[f.dtype], (table, name)
                    assert str(df[name].dtype) == f.dtype, (table, name)
                if not f.nullable:
                    assert not df[name].isna().any(), (table, name)


def test_summary_json_types_are_the_declared_ones(runs):
    json_type = {"float64": (int, float), "int64": (int,), "bool": (bool,), "string": (str,), "list<string>": (list,)}
    for d, _ in runs.values():
        for key, v in json.loads((d / "summary.json").read_text()).items():
            f = schema.field("summary.json", key)
            if v is None:
                assert f.nullable, key
                continue
            assert isinstance(v, json_type[f.dtype]), (key, v)
            assert f.dtype in ("bool", "float64") or not isinstance(v, bool), (key, v)  # JSON true is no integer
            if f.dtype == "int64":
                assert type(v) is int, key


def test_nullable_columns_are_exactly_the_ratios_metrics_may_leave_undefined(runs):
    _, products = runs["default"]
    for f in schema.TIMESERIES:
        for name in f.expand(products):
            assert f.nullable == may_be_undefined(name), name


def test_docs_outputs_md_is_the_generated_text():
    assert (REPO / "docs" / "outputs.md").read_text() == schema.markdown(), \
        "regenerate it: python -m dmsim.schema > docs/outputs.md"


def test_public_contract_names_are_in_the_schema(runs):
    from test_cli import CONTRACT_KEYS, SERIES  # the names the README promises as stable

    _, products = runs["default"]
    assert CONTRACT_KEYS <= set(schema.names("summary.json", products, optional=False))
    assert SERIES <= set(schema.names("timeseries.parquet", products))
    # Every output name the README's Outputs section quotes exists.
    section = re.search(r"^## Outputs$(.*?)^## |\Z", (REPO / "README.md").read_text(), re.M | re.S).group(1)
    quoted = {t for t in re.findall(r"`([a-z][a-z0-9_]*)`", section)}
    known = set(schema.names("summary.json", products)) | set(schema.names("timeseries.parquet", products))
    assert quoted and quoted <= known, quoted - known


def test_write_run_refuses_what_the_schema_does_not_list_and_writes_nothing(tmp_path):
    cfg = compose_config(["steps=3", "region.population=200000", "region.buyer_groups=300"])
    r = run(cfg)
    text = config_yaml(cfg)
    bad_df = r.timeseries.assign(undocumented_metric=1.0)
    with pytest.raises(SchemaError, match="undocumented_metric"):
        write_run(tmp_path / "a", text, bad_df, r.summary)
    with pytest.raises(SchemaError, match="jobs_final"):
        write_run(tmp_path / "b", text, r.timeseries, {k: v for k, v in r.summary.items() if k != "jobs_final"})
    with pytest.raises(SchemaError, match="new_key"):
        write_run(tmp_path / "c", text, r.timeseries, {**r.summary, "new_key": 1.0})
    with pytest.raises(SchemaError, match="tipped"):
        write_run(tmp_path / "d", text, r.timeseries, {**r.summary, "tipped": "no"})
    assert not any(tmp_path.rglob("*.*"))


def test_types_do_not_drift_with_the_data(tmp_path):
    """An all-null ratio column keeps its float type; a count that arrives as float is written as an integer."""
    cfg = compose_config(["steps=3", "region.population=200000", "region.buyer_groups=300"])
    r = run(cfg)
    df = r.timeseries.copy()
    df["mean_unit_cost_usd"] = pd.Series([None] * len(df), dtype=object)
    df["workshops_active"] = df["workshops_active"].astype(float)
    df["public_spend_usd"] = 0  # an integer 0 where money is a float
    write_run(tmp_path, config_yaml(cfg), df, {**r.summary, "seed": 0.0 + r.summary["seed"]}, dashboard=False)
    arrow = pq.read_schema(tmp_path / "timeseries.parquet")
    assert str(arrow.field("mean_unit_cost_usd").type) == "double"
    assert str(arrow.field("workshops_active").type) == "int64"
    assert str(arrow.field("public_spend_usd").type) == "double"
    assert pd.read_parquet(tmp_path / "timeseries.parquet")["mean_unit_cost_usd"].isna().all()
    assert type(json.loads((tmp_path / "summary.json").read_text())["seed"]) is int
