"""Where the committed experiment results are, from any working directory (notebooks, papermill, VS Code)."""

from __future__ import annotations

from pathlib import Path

import dmsim
from dmsim.config import ConfigError

# The experiment folders the notebooks read; one of them marks a folder as dmsim's experiments/ rather than
# some other project's folder of the same name higher up the tree.
MARKERS = ("scenario_comparison", "tipping_point", "strategy_ranking", "sensitivity", "scenario_discovery")


class ExperimentsNotFoundError(FileNotFoundError):
    """No experiments/ folder could be found; the message is one line."""


def repository_root() -> Path:
    """The folder that holds the ``dmsim`` package: the repository root for a checkout or an editable install."""
    return Path(dmsim.__file__).resolve().parents[1]


def _is_experiments(folder: Path) -> bool:
    return folder.is_dir() and any((folder / m).is_dir() for m in MARKERS)


def experiments_dir(path: str | Path | None = None, start: Path | None = None) -> Path:
    """The repository's ``experiments/`` folder, as an absolute path.

    ``path`` given (a notebook's ``EXPERIMENTS`` parameter): that folder, relative to the working directory,
    which must exist. Otherwise ``experiments/`` next to the package's repository root and, failing that
    (an installed wheel has no experiments/), the first ``experiments/`` found walking up from ``start``
    (default: the working directory). A folder counts only if it holds one of the experiment folders in
    :data:`MARKERS`. Raises :class:`ConfigError` for a given path that is not a folder and
    :class:`ExperimentsNotFoundError` when nothing is found; both messages are one line.
    """
    if path is not None and str(path) != "":
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError("experiments", str(path), f"an existing folder (resolved to {folder}, not a folder)")
        return folder
    here = (start or Path.cwd()).resolve()
    for base in (repository_root(), here, *here.parents):
        if _is_experiments(base / "experiments"):
            return base / "experiments"
    raise ExperimentsNotFoundError(
        f"no experiments/ folder next to the dmsim package ({repository_root()}) or above {here}; "
        "run from a checkout of the repository or pass the folder (EXPERIMENTS=PATH)")
