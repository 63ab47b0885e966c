"""Hydra's configs (a package so ``pkg://dmsim.configs`` resolves for the ``dmsim`` console script)."""
