"""The hyperparameter files that sb3-arq ships for rl-zoo3 (``hyperparams/<algo>.yml``, as ``sb3_arq.hyperparams``)."""

from importlib import resources
from pathlib import Path

# Algorithms whose hyperparameters sb3-arq ships
PACKAGED_HYPERPARAMS = ("arq", "dqn", "qrdqn", "sac")
# Algorithms that sb3-arq adds to rl-zoo3; without ``--conf-file`` they read sb3-arq's packaged yml
ZOO_ALGOS = ("arq",)


def hyperparams_path(algo: str) -> str:
    """
    Path of the hyperparameter file that sb3-arq ships for ``algo``.

    It is ``sb3_arq/hyperparams/<algo>.yml`` in an installed package (mapped from the top-level ``hyperparams/``
    folder of the repository, also in editable installs) and ``<repo>/hyperparams/<algo>.yml`` in a source checkout.

    :param algo: One of ``PACKAGED_HYPERPARAMS``, e.g. ``"arq"`` or ``"dqn"``.
    :return: Path of the yml file, usable as rl-zoo3's ``--conf-file``.
    """
    if algo not in PACKAGED_HYPERPARAMS:
        raise ValueError(f"sb3-arq ships hyperparameters for {PACKAGED_HYPERPARAMS}, not for {algo!r}")
    file_name = f"{algo}.yml"
    try:
        packaged = resources.files("sb3_arq.hyperparams") / file_name
    except ModuleNotFoundError:
        packaged = None
    if packaged is not None and packaged.is_file():
        return str(packaged)
    # Source checkout (package imported from the repository, not installed)
    in_repo = Path(__file__).resolve().parents[2] / "hyperparams" / file_name
    if in_repo.is_file():
        return str(in_repo)
    raise FileNotFoundError(f"Cannot find sb3-arq's {file_name}: is sb3-arq installed with its package data?")
