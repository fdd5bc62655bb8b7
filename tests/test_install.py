"""
The install is light where it can be: the base install (``pip install sb3-arq``: setup.cfg's install_requires) is
enough for ARQ itself, ``[zoo]`` for rl-zoo3, and the heavy packages (triton, Ray, wandb, PostgreSQL's driver,
DeepMind Control and MuJoCo, tensorboard, pytest) are only in the extras whose features use them.

Two checks: setup.cfg's requirements, followed through the installed packages' own requirements (torch's are the torch
build's business and not followed), pull none of the heavy packages into the base install or ``[zoo]``; and a fresh
interpreter in which every installed package outside the base install (or outside base and ``[zoo]``) cannot be
imported still trains, saves, loads and evaluates ARQ (still imports rl-zoo3's scripts and sb3-arq's zoo modules).
"""

import configparser
import importlib.metadata
import re
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import run_python

REPO_ROOT = Path(__file__).resolve().parents[1]
SELF = "sb3-arq"
BASE = ("torch", "stable-baselines3", "gymnasium", "numpy")
# Packages that neither the base install nor [zoo] may pull in (hundreds of MB, or services)
HEAVY = ("triton", "ray", "wandb", "psycopg2", "psycopg2-binary", "dm-control", "mujoco", "tensorboard", "pytest")
# Followed no further: the torch build (CPU or CUDA) decides what it brings (a CUDA build brings triton)
LEAVES = ("torch",)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, list[Requirement]]:
    """setup.cfg's requirements: ``""`` for install_requires, then each extra's (comments and blank lines dropped)."""
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")

    def parse(value: str) -> list[Requirement]:
        lines = (line.split("#", 1)[0].strip() for line in value.splitlines())
        return [Requirement(line) for line in lines if line]

    extras = {name: parse(value) for name, value in config["options.extras_require"].items()}
    return {"": parse(config["options"]["install_requires"]), **extras}


def direct(extras: tuple[str, ...]) -> list[Requirement]:
    """The requirements of the base install with ``extras``, sb3-arq's own extras (``sb3-arq[zoo]``) expanded."""
    requirements, todo, done = [], ["", *extras], set()
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        for requirement in declared()[extra]:
            if normalize(requirement.name) == SELF:
                todo += sorted(requirement.extras)
            elif requirement.marker is None or requirement.marker.evaluate():
                requirements.append(requirement)
    return requirements


def closure(extras: tuple[str, ...], leaves: tuple[str, ...] = ()) -> set[str]:
    """
    The distributions that the base install with ``extras`` installs, as far as this environment has them: the
    declared requirements and, recursively, the installed distributions' requirements (with their extras), except
    those of ``leaves``.
    """
    names, todo = set(), [(normalize(r.name), frozenset(r.extras)) for r in direct(extras)]
    visited = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in visited:
            continue
        visited.add((name, wanted))
        names.add(name)
        if name in leaves:
            continue
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is not None and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in ("", *wanted)
            ):
                continue
            todo.append((normalize(requirement.name), frozenset(requirement.extras)))
    return names


def test_base_install_is_the_four_packages():
    assert sorted(normalize(r.name) for r in direct(())) == sorted(BASE)


@pytest.mark.parametrize("extras", [(), ("zoo",)], ids=["base", "zoo"])
def test_no_heavy_package(extras):
    declared_names = {normalize(r.name) for r in direct(extras)}
    assert not declared_names & set(HEAVY), f"setup.cfg declares {sorted(declared_names & set(HEAVY))} for {extras}"
    pulled = closure(extras, leaves=LEAVES) & set(HEAVY)
    assert not pulled, f"the install with extras {extras} pulls in {sorted(pulled)}"


def test_zoo_declares_what_the_zoo_modules_import():
    """sb3_arq.zoo.sampler imports optuna itself; rl_zoo3.enjoy needs requests; all_plots seaborn and scipy."""
    zoo = {normalize(r.name) for r in direct(("zoo",))}
    assert {"rl-zoo3", "sb3-contrib", "optuna", "requests", "seaborn", "scipy", "minatar"} <= zoo
    assert "dm-control" not in zoo and "dm-control" in {normalize(r.name) for r in direct(("envs",))}
    tests = {normalize(r.name) for r in direct(("tests",))}
    assert set(HEAVY) - {"psycopg2", "triton"} <= tests  # the test suite needs all of them (triton: x86_64 Linux)


# Run in a fresh interpreter: every top-level module of an installed distribution outside ALLOWED cannot be imported
# (as if it were not installed), then CODE runs.
BLOCKER = """
import importlib.abc, importlib.metadata, re, sys
ALLOWED = {allowed!r}
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
BLOCKED = {{
    module for module, dists in importlib.metadata.packages_distributions().items()
    if module not in sys.stdlib_module_names and not any(norm(d) in ALLOWED for d in dists)
    and not module.startswith(("sb3_arq", "_sb3_arq"))
}}

class Hide(importlib.abc.MetaPathFinder):  # finds nothing of BLOCKED (as if not installed), the rest as the finder it wraps

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in BLOCKED or not hasattr(self.finder, "find_spec"):
            return None
        return self.finder.find_spec(fullname, path, target)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()

    def find_distributions(self, *args, **kwargs):  # importlib.metadata asks the finders too
        return getattr(self.finder, "find_distributions", lambda *args, **kwargs: [])(*args, **kwargs)

sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
for name in list(sys.modules):  # modules imported at start-up (.pth files) from outside the install
    if name.partition(".")[0] in BLOCKED:
        del sys.modules[name]
"""

BASE_CODE = """
import gymnasium as gym
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import sb3_arq.envs
from sb3_arq import ARQ
from sb3_arq.envs import ShiftReward

env = ShiftReward(Monitor(gym.make("CartPole-v1")), shift=0.0, gamma=0.99, scale=0.1)
model = ARQ("MlpPolicy", env, learning_starts=100, batch_size=16, policy_kwargs={"net_arch": [16, 16]}, seed=0)
model.learn(300)
model.save("model")
model = ARQ.load("model")
print("RETURN", evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=2)[0])
for heavy in ("rl_zoo3", "optuna", "tensorboard", "triton", "dm_control", "matplotlib", "pandas", "scipy"):
    assert heavy not in sys.modules, heavy
"""

ZOO_CODE = """
import gymnasium as gym
import rl_zoo3.enjoy, rl_zoo3.record_video, rl_zoo3.train
import rl_zoo3.plots.all_plots

import sb3_arq.enjoy, sb3_arq.plots, sb3_arq.record_video, sb3_arq.train
import sb3_arq.zoo.callbacks, sb3_arq.zoo.sampler
import sb3_arq.envs

gym.make("MinAtar/Breakout-v1").reset(seed=0)
assert not any(sb3_arq.plots.cell_curves([]).values())  # sb3_arq.plots without runs logged to tensorboard
for heavy in ("tensorboard", "triton", "dm_control", "mujoco", "ray", "wandb"):
    assert heavy not in sys.modules, heavy
print("ZOO OK")
"""


@pytest.mark.parametrize(
    ("extras", "code", "expected"), [((), BASE_CODE, "RETURN"), (("zoo",), ZOO_CODE, "ZOO OK")], ids=["base", "zoo"]
)
def test_the_install_alone_is_enough(extras, code, expected, tmp_path):
    for requirement in direct(extras):  # the tests extra installs them all (CI); a partial install cannot check
        try:
            importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{requirement.name} is not installed (pip install -e '.[tests]')")
    allowed = closure(extras) | {"setuptools", "pip"}  # (the interpreter's own; setuptools: torch imports it lazily)
    program = BLOCKER.format(allowed=sorted(allowed)) + textwrap.dedent(code)
    result = run_python(["-c", program], cwd=tmp_path)
    assert expected in result.stdout, result.stdout[-2000:]
