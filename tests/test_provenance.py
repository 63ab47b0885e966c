"""Every configuration key has a provenance line in docs/parameters.md."""

import dataclasses
from pathlib import Path

from dmsim.config import DMSimConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "parameters.md"


def keys(obj, prefix=""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from keys(value, f"{prefix}{f.name}.")
        elif isinstance(value, dict):
            for name, item in value.items():
                yield from keys(item, f"{prefix}{f.name}.{name}.")
        else:
            yield f"{prefix}{f.name}"


def test_every_default_has_a_provenance_line():
    text = DOC.read_text()
    missing = [k for k in keys(DMSimConfig()) if f"`{k}`" not in text]
    assert not missing, f"no provenance in docs/parameters.md for: {missing}"
