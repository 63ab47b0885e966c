"""Real places (issue 15): the context files run, compose, change what they claim and cite a source for every value."""

import re

import pytest
import yaml

from dmsim.cli import CONFIG_DIR, group_options
from dmsim.config import DMSimConfig
from dmsim.run import compose_config, run

CONTEXTS = ["kisumu", "kathmandu", "fiji"]
SMALL = ["steps=12", "region.buyer_groups=300", "output.dashboard=false"]
# A comment cites a source when it says "assumption" or names a year or a publisher; a citation
# without either is not traceable.
SOURCE = re.compile(r"assumption|\b(19|20)\d\d\b|census|World Bank|UNCTAD|WTO|ILO|KNBS|Reserve Bank|"
                    r"Central Bank|Ministry|Bureau of Statistics", re.IGNORECASE)
# What each place must differ in from the generic default, by its own claim (header and comments).
CLAIMS = ["region.population", "region.size_km", "region.urban_share", "region.institutions",
          "region.power_outage_share", "labour.wage_usd_per_hour", "labour.service_wage_usd_per_hour",
          "finance.formal_rate_per_year", "imports.tariff", "imports.material_tariff"]


def _path(name: str):
    return CONFIG_DIR / "context" / f"{name}.yaml"


def _get(cfg: DMSimConfig, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def value_lines_without_source(text: str) -> list[str]:
    """Lines ``key: value`` with neither a source comment on the line nor one in the comment block just above.

    The block above a key is the run of comment lines immediately before it (blank lines and
    mapping headers such as ``region:`` end it), so a key cannot borrow the source of another.
    """
    bad, block = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            block = []
            continue
        if stripped.startswith("#"):
            block.append(stripped)
            continue
        body, _, comment = line.partition(" #")
        key, _, value = body.partition(":")
        if value.strip():  # a value line (a mapping header has none)
            if not SOURCE.search(comment + " ".join(block)):
                bad.append(line)
        block = []
    return bad


def test_the_source_check_catches_a_bare_value():
    text = "region:\n  # KNBS 2019 census\n  population: 5\n  size_km: 4\n  towns: 3  # assumption: why\n"
    assert value_lines_without_source(text) == ["  size_km: 4"]


@pytest.mark.parametrize("name", CONTEXTS)
def test_every_value_of_a_context_cites_a_source_or_says_assumption(name):
    text = _path(name).read_text()
    assert text.startswith("# @package _global_")
    assert "scenario" not in (yaml.safe_load(text) or {})  # a place, not a scenario
    assert f"+context={name}" in text  # the header names the command
    assert value_lines_without_source(text) == []


def test_the_contexts_and_the_generic_default_are_a_config_group():
    assert set(CONTEXTS) | {"generic"} <= set(group_options("context"))
    assert compose_config(["+context=generic"]) == compose_config([])


@pytest.mark.parametrize("name", CONTEXTS)
def test_a_context_changes_what_it_claims(name):
    default, cfg = compose_config([]), compose_config([f"+context={name}"])
    same = [k for k in CLAIMS if _get(cfg, k) == _get(default, k)]
    assert same == []
    assert cfg.scenario == "baseline"
    # Every key in the file reached the config with the file's value (no typo left unused).
    flat = {}

    def walk(node, prefix=""):
        for k, v in node.items():
            walk(v, f"{prefix}{k}.") if isinstance(v, dict) else flat.__setitem__(f"{prefix}{k}", v)

    walk(yaml.safe_load(_path(name).read_text()))
    assert {k: _get(cfg, k) for k in flat} == pytest.approx(flat)


def test_the_places_contrast_as_the_sources_say():
    cfg = {n: compose_config([f"+context={n}"]) for n in CONTEXTS}
    density = {n: c.region.population / c.region.size_km**2 for n, c in cfg.items()}
    assert density["kisumu"] > density["kathmandu"] > density["fiji"]  # 554, 300, 48 people/km2
    assert cfg["fiji"].region.port_distance_km == 0 < cfg["kathmandu"].region.port_distance_km
    assert cfg["kisumu"].region.port_distance_km > 500  # Mombasa is far
    assert cfg["fiji"].labour.wage_usd_per_hour > 1.8 > cfg["kisumu"].labour.wage_usd_per_hour
    assert cfg["kathmandu"].imports.freight > cfg["fiji"].imports.freight  # a landlocked LDC


@pytest.mark.parametrize("name", CONTEXTS)
def test_a_context_runs_with_shared_services(name):
    cfg = compose_config([f"+context={name}", "+scenario=shared_services", *SMALL])
    assert cfg.scenario == "shared_services" and cfg.region.population == compose_config(
        [f"+context={name}"]).region.population
    summary = run(cfg).summary
    assert 0 <= summary["dm_market_share_final"] <= 1
    assert summary["buyer_landed_cost_usd_mean_final"] > 0


def test_contexts_compose_with_a_strategy_and_a_shock():
    cfg = compose_config(["+context=kisumu", "+scenario=shared_services", "+strategy=peer_network",
                          "+shock=freight_spike", *SMALL])
    assert cfg.region.population == 1155574 and "peer_network" in cfg.strategies
    assert cfg.shocks.freight.size > 0 and cfg.scenario == "shared_services"
    # The command line's later overrides still win over a context.
    assert compose_config(["+context=fiji", "imports.tariff=0.3"]).imports.tariff == 0.3


def test_an_unknown_context_is_refused():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "dmsim", "+context=atlantis", "--cfg", "job"],
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "context" in lines[0], r.stderr
