"""Seeded random streams, one per purpose.

Each stream is ``np.random.default_rng([seed, stream_id])``: a scenario that changes how
often one process draws does not shift the draws of the others, so paired scenario
comparisons with the same seed get common random numbers.
"""

from __future__ import annotations

import numpy as np

STREAM_IDS: dict[str, int] = {
    "geography": 1,  # towns, buyer groups
    "workshops": 2,  # initial workshops: positions, product lines
    "decisions": 3,  # awareness and make-or-buy switching
    "entry": 4,  # entrants: how many, where, which products
    "providers": 5,  # provider entry
}


class Streams:
    """Named, independent ``numpy.random.Generator`` streams derived from one seed."""

    def __init__(self, seed: int) -> None:
        for name, sid in STREAM_IDS.items():
            setattr(self, name, np.random.default_rng([seed, sid]))

    geography: np.random.Generator
    workshops: np.random.Generator
    decisions: np.random.Generator
    entry: np.random.Generator
    providers: np.random.Generator
