"""The hyperparameter files that sb3-arq ships for rl-zoo3 (``hyperparams/<algo>.yml``, as ``sb3_arq.hyperparams``)."""

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gymnasium as gym

# The hyperparameter files that sb3-arq ships: one per algorithm, and ARQ's CPU-sized entries of the paper's tasks
PACKAGED_HYPERPARAMS = ("arq", "arq_cpu", "dqn", "qrdqn", "sac")
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


def entry_settings(env_id: str, algo: str = "arq") -> tuple[int, Callable[[], "gym.Env"], dict[str, Any]]:
    """
    An entry of sb3-arq's packaged hyperparameter file as rl-zoo3 reads it, for Python: e.g. the paper's settings,
    ``n_timesteps, make_env, kwargs = entry_settings("MinAtar/Breakout-v1")`` then
    ``ARQ("MlpPolicy", make_env(), **kwargs).learn(n_timesteps)``. A ``lin_<value>`` learning rate is a linear
    schedule from ``value`` to 0, ``policy_kwargs`` the entry's ``dict(...)``, ``env_wrapper`` wraps the env inside
    rl-zoo3's ``Monitor`` (episode returns in the task's units); an env id without its own entry reads ``default``.

    :param env_id: The env id, e.g. ``"CartPole-v1"``.
    :param algo: One of ``PACKAGED_HYPERPARAMS``.
    :return: The entry's ``n_timesteps``, a function making its env, and the algorithm's other keyword arguments.
    """
    import gymnasium as gym
    import yaml
    from rl_zoo3.utils import get_wrapper_class, linear_schedule
    from stable_baselines3.common.monitor import Monitor

    path = hyperparams_path(algo)
    with open(path) as file:
        entries = yaml.safe_load(file)
    key = env_id if env_id in entries else "default"
    if key not in entries:
        raise ValueError(f"{path} has no entry for env_id={env_id!r} and no 'default' one; its entries: {list(entries)}")
    entry = dict(entries[key])
    n_timesteps, _ = int(entry.pop("n_timesteps")), entry.pop("policy")
    wrapper = get_wrapper_class({"env_wrapper": entry.pop("env_wrapper", None)}) or (lambda env: env)
    learning_rate = entry.get("learning_rate")
    if isinstance(learning_rate, str) and learning_rate.startswith("lin_"):
        entry["learning_rate"] = linear_schedule(float(learning_rate[len("lin_") :]))
    if "policy_kwargs" in entry:
        entry["policy_kwargs"] = eval(entry["policy_kwargs"])  # rl-zoo3 evaluates the entry's dict(...) string as well
    return n_timesteps, lambda: wrapper(Monitor(gym.make(env_id))), entry
