"""
The plugin that runs SB3's own test cases with ARQ in DQN's place (tests/upstream, docs/testing.md), on small test
files written here in the shape of SB3's: which cases it selects, what it puts in DQN's place, and that a stale list of
expected differences or an empty selection fails. The real upstream suites run in CI (``python -m tests.upstream``).
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import HUNG_AFTER_S, zoo_env
from tests.upstream.expected import EXPECTED_DIFFERENCES

REPOSITORY = Path(__file__).resolve().parents[1]


def run_plugin(tmp_path: Path, files: dict[str, str], suite: str = "stable-baselines3") -> subprocess.CompletedProcess:
    """
    Run pytest with the plugin in ``tmp_path`` on the given test files.

    :param tmp_path: The root of the fake source tree.
    :param files: Test files under tests/, by name: their code.
    :param suite: The distribution whose expected differences apply.
    :return: The finished pytest process.
    """
    (tmp_path / "tests").mkdir(parents=True)
    for name, code in files.items():
        (tmp_path / "tests" / name).write_text(textwrap.dedent(code))
    env = zoo_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPOSITORY), env["PYTHONPATH"]])
    command = [sys.executable, "-m", "pytest", "-p", "tests.upstream.plugin", "--arq-suite", suite, "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "-v", "tests"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HUNG_AFTER_S
    )


def test_only_the_cases_for_dqn_run_and_with_arq_in_its_place(tmp_path):
    code = """
        import pytest
        from stable_baselines3 import A2C, DQN
        from sb3_arq import ARQ


        @pytest.mark.parametrize("model_class", [A2C, DQN])
        @pytest.mark.parametrize("n_envs", [1, 2])
        def test_by_class(model_class, n_envs):
            model = model_class("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=5) if n_envs == 2 else None)


        @pytest.mark.parametrize("algo", [A2C, DQN, "a_string"])
        def test_by_class_or_name(algo):
            assert algo is DQN


        def test_uses_dqn(tmp_path):
            model = DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8]))
            assert isinstance(model, ARQ) and type(model).__name__ == "ARQAsDQN"
            assert (model.learning_starts, model.batch_size, model.exploration_final_eps) == (100, 32, 0.05)
            assert model.policy.net_arch == [8]
            model.learn(8, tb_log_name=None)


        def test_defaults():
            model = DQN("MlpPolicy", "CartPole-v1")
            assert model.policy.net_arch == [32, 32] and model.policy.n_heads == 4


        def test_n_steps():
            with pytest.raises(ValueError, match="ARQ has no n-step returns"):
                DQN("MlpPolicy", "CartPole-v1", n_steps=3)


        def test_imports_its_own():
            from stable_baselines3 import DQN  # noqa: F401


        def test_without_dqn():
            pass
        """
    result = run_plugin(tmp_path, {"test_fake.py": code})
    assert result.returncode == 1, result.stdout[-3000:]  # test_by_class[2-ARQAsDQN]: ARQ refuses n_quantiles
    lines = [line for line in result.stdout.splitlines() if line.startswith("tests/test_fake.py::")]
    passed = {line.split(" ")[0].split("::")[1] for line in lines if "PASSED" in line}
    failed = {line.split(" ")[0].split("::")[1] for line in lines if "FAILED" in line}
    assert passed == {
        "test_by_class[1-ARQAsDQN]",
        "test_by_class_or_name[ARQAsDQN]",
        "test_uses_dqn",
        "test_defaults",
        "test_n_steps",
    }
    assert failed == {"test_by_class[2-ARQAsDQN]"}
    assert "policy_kwargs has unknown key(s) ['n_quantiles']" in result.stdout
    assert "6 deselected" in result.stdout


def test_qrdqn_cases_drop_the_quantiles(tmp_path):
    code = """
        from sb3_contrib import QRDQN


        def test_qrdqn():
            model = QRDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=5, net_arch=[8]))
            assert type(model).__name__ == "ARQAsQRDQN" and model.max_grad_norm == float("inf")  # QR-DQN: no clipping
        """
    result = run_plugin(tmp_path, {"test_fake.py": code}, suite="sb3-contrib")
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:]


def test_a_stale_expected_difference_or_no_case_fails(tmp_path):
    listed = next(iter(EXPECTED_DIFFERENCES["stable-baselines3"]))
    file_name = listed.split("::")[0].split("/")[1]
    result = run_plugin(tmp_path / "stale", {file_name: "from stable_baselines3 import DQN\n\n\ndef test_x():\n    DQN\n"})
    assert result.returncode == 4 and "lists case(s) that were not selected" in result.stderr, result.stderr[-3000:]
    result = run_plugin(tmp_path / "empty", {"test_other.py": "def test_x():\n    pass\n"})
    assert result.returncode == 5, result.stdout[-3000:]
