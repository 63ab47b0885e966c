"""Shared helpers: typed configs composed exactly as the command line would."""

from __future__ import annotations

import pytest

from dmsim.run import compose_config


@pytest.fixture
def make_config():
    """``make_config(["+scenario=shared_services", "seed=1"])`` -> DMSimConfig."""
    return compose_config
