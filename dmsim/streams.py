"""Seeded random streams, one per purpose.

Set-up draws use persistent streams ``np.random.default_rng([seed, stream_id])``; monthly
decisions use a fresh ``default_rng([seed, stream_id, month])`` each month. A scenario that
changes how often one process draws then shifts neither the other processes' draws nor later
months', and per-row draws keep each workshop's numbers aligned across scenarios, so paired
comparisons with the same seed get common random numbers.
"""

from __future__ import annotations

import numpy as np

STREAM_IDS: dict[str, int] = {
    "geography": 1,  # towns, buyer groups
    "workshops": 2,  # initial workshops: positions, product lines
    "decisions": 3,  # initial client assignment
    "entry": 4,  # entrants: how many, where, which products (monthly)
    "providers": 5,  # provider entry (monthly)
    "awareness": 6,  # workshops learning of providers (monthly)
    "switching": 7,  # which workshops act on a sourcing review (monthly)
    "outreach": 8,  # which workshops a new provider reaches (monthly)
    "shocks": 9,  # random recurrence of shocks (set-up: the whole run's schedule)
}


class Streams:
    """Named, independent ``numpy.random.Generator`` streams derived from one seed."""

    def __init__(self, seed: int) -> None:
        for name, sid in STREAM_IDS.items():
            setattr(self, name, np.random.default_rng([seed, sid]))
        self.seed = seed

    def monthly(self, name: str, month: int) -> np.random.Generator:
        """A fresh generator for one purpose in one month: ``default_rng([seed, id, month])``.

        Draws made per workshop row (``rng.random((rows, ...))[row]``) then give row i the same
        number in every scenario of the same seed, however many other workshops there are.
        """
        return np.random.default_rng([self.seed, STREAM_IDS[name], month])

    geography: np.random.Generator
    workshops: np.random.Generator
    decisions: np.random.Generator
    entry: np.random.Generator
    providers: np.random.Generator
    shocks: np.random.Generator
