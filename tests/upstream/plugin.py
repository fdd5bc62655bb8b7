"""
A pytest plugin that runs the test cases that stable-baselines3, sb3-contrib and rl-zoo3 wrote for DQN (QR-DQN) with
ARQ in its place (``python -m tests.upstream``, docs/testing.md).

Loaded with ``-p tests.upstream.plugin --arq-suite <distribution>`` in the root of that distribution's source archive,
before the test modules are imported, it:

- puts ``ARQAsDQN`` and ``ARQAsQRDQN`` (``arq_in_place_of``) where the tests import ``DQN`` and ``QRDQN`` from;
- makes rl-zoo3's ``test_train`` experiments for ``dqn`` run ``--algo arq`` (sb3-arq's rl-zoo3 hook);
- keeps only the cases written for DQN: parametrised by the substituted class (or a ``dqn`` experiment), or, when not
  parametrised by an algorithm, reading the module's class in their code;
- marks each case of ``tests.upstream.expected.EXPECTED_DIFFERENCES`` as a strict xfail (with its reason), and stops
  with a usage error when a listed case is not among the selected ones: the list stays exact both ways.
"""

import dis
import inspect
import types
from collections.abc import Iterator
from typing import Any

import pytest
import sb3_contrib
import stable_baselines3
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_arq import ARQ
from tests.upstream.expected import EXPECTED_DIFFERENCES

# ARQ's net in the substitutes when a test gives no net_arch: CPU-sized, as the tests' DQN (64, 64) runs in seconds
CPU_NET = {"net_arch": [32, 32], "n_heads": 4}
# Keyword arguments of policy_kwargs that only the replaced algorithm has and that say nothing ARQ could take: dropped
DROPPED_POLICY_KWARGS = {"QRDQN": ("n_quantiles",)}


def arq_in_place_of(algorithm: type[BaseAlgorithm]) -> type[ARQ]:
    """
    A subclass of ARQ that takes ``algorithm``'s constructor keywords, with ``algorithm``'s defaults where ARQ has the
    same keyword (learning_starts 100, batch_size 32, ... for DQN) and ``CPU_NET`` unless the test sets the width.
    Keywords without an ARQ counterpart: ``n_steps`` must be 1 (ARQ has no n-step returns); ``max_grad_norm=None``
    (no clipping) is an infinite norm; the policy keywords in ``DROPPED_POLICY_KWARGS`` are dropped; any other is
    passed on, for ARQ to accept or refuse. ``learn``'s default ``tb_log_name`` is ``algorithm``'s.

    :param algorithm: The algorithm that ARQ replaces (DQN or QRDQN).
    :return: The class, named ``ARQAs<algorithm name>``.
    """
    arq_keywords = inspect.signature(ARQ.__init__).parameters
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(algorithm.__init__).parameters.items()
        if name in arq_keywords and name not in ("self", "policy", "env") and parameter.default is not inspect.Parameter.empty
    }
    tb_log_name = inspect.signature(algorithm.learn).parameters["tb_log_name"].default
    dropped = DROPPED_POLICY_KWARGS.get(algorithm.__name__, ())

    def __init__(self, policy: Any, env: Any, *, n_steps: int = 1, **kwargs: Any) -> None:
        if n_steps != 1:
            raise ValueError(f"n_steps={n_steps}: ARQ has no n-step returns ({algorithm.__name__}'s n_steps)")
        kwargs = {**defaults, **kwargs}
        if kwargs["max_grad_norm"] is None:
            kwargs["max_grad_norm"] = float("inf")
        policy_kwargs = {key: value for key, value in (kwargs.pop("policy_kwargs") or {}).items() if key not in dropped}
        kwargs["policy_kwargs"] = {**CPU_NET, **policy_kwargs} if "net_arch" not in policy_kwargs else policy_kwargs
        ARQ.__init__(self, policy, env, **kwargs)

    def learn(self, *args: Any, tb_log_name: str = tb_log_name, **kwargs: Any) -> ARQ:
        return ARQ.learn(self, *args, tb_log_name=tb_log_name, **kwargs)

    name = f"ARQAs{algorithm.__name__}"
    return type(name, (ARQ,), {"__init__": __init__, "learn": learn, "__doc__": f"ARQ in place of {algorithm.__name__}."})


ARQAsDQN = arq_in_place_of(stable_baselines3.DQN)
ARQAsQRDQN = arq_in_place_of(sb3_contrib.QRDQN)
SUBSTITUTES = {"DQN": ARQAsDQN, "QRDQN": ARQAsQRDQN}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--arq-suite",
        required=True,
        choices=sorted(EXPECTED_DIFFERENCES),
        help="the distribution whose tests run (its expected differences apply)",
    )


def pytest_configure(config: pytest.Config) -> None:
    th.set_num_threads(1)  # CI has 2 cores
    stable_baselines3.DQN = ARQAsDQN
    sb3_contrib.QRDQN = ARQAsQRDQN


def global_names(code: types.CodeType) -> Iterator[str]:
    """The global names that ``code`` and the functions defined in it read (not those they import themselves)."""
    yield from (instruction.argval for instruction in dis.get_instructions(code) if instruction.opname == "LOAD_GLOBAL")
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from global_names(constant)


def params(item: pytest.Item) -> dict[str, Any]:
    """The parameters of a parametrised case ({} for another)."""
    return getattr(getattr(item, "callspec", None), "params", {})


def is_algorithm(value: Any) -> bool:
    """Whether ``value`` is an algorithm class (SB3's, sb3-contrib's or a substitute)."""
    return isinstance(value, type) and issubclass(value, BaseAlgorithm)


def algorithm_arguments(items: list[pytest.Item]) -> dict[tuple[str, str], set[str]]:
    """For each test function (module and name), its arguments that take an algorithm class in some case."""
    arguments: dict[tuple[str, str], set[str]] = {}
    for item in items:
        names = arguments.setdefault((item.parent.nodeid, item.originalname), set())
        names.update(name for name, value in params(item).items() if is_algorithm(value))
    return arguments


def is_case_for_arq(item: pytest.Item, algorithm_names: set[str]) -> bool:
    """
    Whether ``item`` is a case written for DQN or QR-DQN (see the module's docstring); an rl-zoo3 ``dqn`` experiment is
    switched to ``arq`` here.

    :param item: The case.
    :param algorithm_names: Its function's arguments that take an algorithm class in some case (e.g. ``model_class``).
    """
    values = params(item)
    if algorithm_names:
        return any(values.get(name) in SUBSTITUTES.values() for name in algorithm_names)
    experiments = getattr(item.module, "experiments", None)
    experiment = values.get("experiment")
    if isinstance(experiments, dict) and experiment in experiments:
        algo, env_id = experiments[experiment]
        if algo == "dqn":
            experiments[experiment] = ("arq", env_id)
        return algo in ("dqn", "arq")
    return isinstance(item, pytest.Function) and not set(global_names(item.function.__code__)).isdisjoint(SUBSTITUTES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    files = {item.nodeid.split("::")[0] for item in items}
    arguments = algorithm_arguments(items)
    selected = [item for item in items if is_case_for_arq(item, arguments[(item.parent.nodeid, item.originalname)])]
    config.hook.pytest_deselected(items=[item for item in items if item not in selected])
    items[:] = selected
    expected = EXPECTED_DIFFERENCES[config.getoption("--arq-suite")]
    for item in selected:
        if item.nodeid in expected:
            exception, reason = expected[item.nodeid]
            item.add_marker(pytest.mark.xfail(raises=exception, reason=reason, strict=True))
    # The listed cases of the collected files must all be selected (unless a -k or -m expression selects fewer)
    stale = sorted(name for name in set(expected) - {item.nodeid for item in selected} if name.split("::")[0] in files)
    if stale and not config.getoption("keyword") and not config.getoption("markexpr"):
        raise pytest.UsageError(
            f"tests/upstream/expected.py lists case(s) that were not selected: {stale}. Remove them or fix the name."
        )
