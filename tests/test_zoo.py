"""
rl-zoo3 integration, end to end: real ``python -m rl_zoo3.train`` runs (a few thousand steps, evaluation on), the
import hook and its opt-out, the hook-free ``python -m sb3_arq.*`` scripts, the packaged hyperparameters, packaging.

The tests that go through the import hook need sb3-arq installed (``pip install -e .`` or ``pip install .``); they
are skipped, with a reason, when it is not.
"""

import configparser
import inspect
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rl_zoo3
import rl_zoo3.exp_manager
import rl_zoo3.train
import rl_zoo3.utils
import setuptools
import torch as th
import yaml
from sb3_contrib import QRDQN
from stable_baselines3 import DQN, SAC

import sb3_arq
import sb3_arq.zoo
from sb3_arq import ARQ
from sb3_arq.arq.policies import ARQPolicy
from sb3_arq.baselines import MinAtarCNN
from sb3_arq.envs import DMC_ENV_IDS, MINATAR_ENV_IDS
from sb3_arq.zoo import hyperparams_path, with_packaged_conf_file
from sb3_arq.zoo.packaged import entry_settings
from tests.helpers import CLASSIC_CONTROL_IDS, HOOK_PTH, check_run, requires_hook, run_python, zoo_train

REPO_ROOT = Path(__file__).resolve().parents[1]

ARQ_SMOKE = [
    "-params",
    "learning_starts:500",
    "batch_size:32",
    "buffer_size:10000",
    "context_size:2",
    "policy_kwargs:dict(net_arch=[32, 32])",
]


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo_logs")


@pytest.fixture(scope="module")
def arq_minatar_run(log_folder) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -m rl_zoo3.train --algo arq --env MinAtar/Breakout-v1`` (through the import hook), smoke-sized."""
    result = zoo_train(log_folder, "arq", "MinAtar/Breakout-v1", 3000, 1500, 2, *ARQ_SMOKE)
    return result, check_run(log_folder, "arq", "MinAtar/Breakout-v1", [1500, 3000], 2)


@requires_hook
def test_rl_zoo3_train_arq_minatar(arq_minatar_run):
    result, model_path = arq_minatar_run
    # without --conf-file, `--algo arq` reads sb3-arq's packaged arq.yml
    assert f"Loading hyperparameters from: {hyperparams_path('arq')}" in result.stdout
    model = ARQ.load(model_path, device="cpu")
    assert model.batch_size == 32 and model.learning_starts == 500 and model.context_size == 2
    assert model.policy_kwargs["net_arch"] == [32, 32]
    # the published MinAtar settings that the smoke overrides leave alone
    assert model.max_grad_norm == 1.0 and model.exploration_fraction == 0.1 and model.target_update_interval == 1000
    assert model.observation_space.shape == (10, 10, 4) and model.action_space.n == 3


@requires_hook
def test_rl_zoo3_command_line_train_reads_the_packaged_entries(tmp_path):
    """rl-zoo3's command line (``rl_zoo3 train``, here ``python -m rl_zoo3.cli train``) reads arq.yml as its script does."""
    args = ["-m", "rl_zoo3.cli", "train", "--algo", "arq", "--env", "CartPole-v1", "-n", "400", "-f", str(tmp_path)]
    result = run_python([*args, "-params", "learning_starts:200"], cwd=tmp_path)
    assert f"Loading hyperparameters from: {hyperparams_path('arq')}" in result.stdout
    model = ARQ.load(tmp_path / "arq" / "CartPole-v1_1" / "CartPole-v1.zip", device="cpu")
    assert model.reward_scale == 0.1 and model.target_update_interval == 143  # the CartPole-v1 entry's


@requires_hook
def test_rl_zoo3_default_entry_runs_any_env(log_folder):
    """An env without an entry of its own takes arq.yml's `default` (rl-zoo3's convention), as `--algo dqn` would."""
    result = zoo_train(log_folder, "arq", "CartPoleNoVel-v1", 400, 400, 1, "-params", "learning_starts:200")
    assert "Using 'default' hyperparameters" in result.stdout
    model = ARQ.load(check_run(log_folder, "arq", "CartPoleNoVel-v1", [400], 1), device="cpu")
    assert model.policy_kwargs["net_arch"] == [64, 64] and model.context_size == 4 and model.learning_starts == 200


@requires_hook
def test_rl_zoo3_train_arq_dm_control(log_folder):
    env_id = "dm_control/reacher-hard-v0"
    result = zoo_train(log_folder, "arq", env_id, 2000, 1000, 1, *ARQ_SMOKE)
    assert f"Loading hyperparameters from: {hyperparams_path('arq')}" in result.stdout
    model = ARQ.load(check_run(log_folder, "arq", env_id, [1000, 2000], 1), device="cpu")
    # flattened float32 observations, 2**2 bang-bang actions, the DMC settings of arq.yml
    assert model.observation_space.shape == (6,) and model.observation_space.dtype == np.float32
    assert model.action_space.n == 4
    assert model.max_grad_norm == 0.1 and model.exploration_fraction == 0.25


def test_rl_zoo3_train_dqn_minatar(log_folder):
    # the documented command needs no hook: --gym-packages registers the envs, --conf-file gives the settings
    zoo_train(
        log_folder, "dqn", "MinAtar/Breakout-v1", 3000, 1500, 2,
        "--gym-packages", "sb3_arq.envs", "--conf-file", hyperparams_path("dqn"), "-params", "learning_starts:500",
        SB3_ARQ_NO_ZOO_HOOK="1",
    )  # fmt: skip
    model = DQN.load(check_run(log_folder, "dqn", "MinAtar/Breakout-v1", [1500, 3000], 2), device="cpu")
    assert isinstance(model.policy.q_net.features_extractor, MinAtarCNN)
    assert type(model.policy.optimizer).__name__ == "RMSprop"
    assert model.batch_size == 32 and model.buffer_size == 100_000 and model.exploration_final_eps == 0.1


def test_rl_zoo3_train_qrdqn_minatar(log_folder):
    zoo_train(
        log_folder, "qrdqn", "MinAtar/Breakout-v1", 2000, 1000, 2,
        "--gym-packages", "sb3_arq.envs", "--conf-file", hyperparams_path("qrdqn"),
        "-params", "learning_starts:500", "train_freq:4",
        SB3_ARQ_NO_ZOO_HOOK="1",
    )  # fmt: skip
    model = QRDQN.load(check_run(log_folder, "qrdqn", "MinAtar/Breakout-v1", [1000, 2000], 2), device="cpu")
    assert model.policy.n_quantiles == 200
    assert isinstance(model.policy.quantile_net.features_extractor, MinAtarCNN)


def test_rl_zoo3_train_sac_dm_control(log_folder):
    env_id = "dm_control/walker-walk-v0"
    zoo_train(
        log_folder, "sac", env_id, 2000, 1000, 1,
        "--gym-packages", "sb3_arq.envs", "--conf-file", hyperparams_path("sac"),
        "-params", "learning_starts:500", "batch_size:64", "policy_kwargs:dict(net_arch=[32, 32])",
        SB3_ARQ_NO_ZOO_HOOK="1",
    )  # fmt: skip
    model = SAC.load(check_run(log_folder, "sac", env_id, [1000, 2000], 1), device="cpu")
    assert model.observation_space.shape == (24,) and model.action_space.shape == (6,)


@requires_hook
def test_rl_zoo3_enjoy_arq(arq_minatar_run, log_folder):
    args = ["-m", "rl_zoo3.enjoy", "--algo", "arq", "--env", "MinAtar/Breakout-v1", "-f", str(log_folder)]
    result = run_python([*args, "--no-render", "-n", "300", "--num-threads", "1"], cwd=log_folder)
    assert "Mean reward:" in result.stdout


@requires_hook
def test_rl_zoo3_plots_on_arq_runs(arq_minatar_run, log_folder):
    output = log_folder / "all_plots"
    args = ["-m", "rl_zoo3.cli", "all_plots", "-a", "arq", "-e", "MinAtar-Breakout-v1", "-f", str(log_folder)]
    result = run_python([*args, "--no-display", "-max", "3000", "-o", str(output)], cwd=log_folder)
    assert "MinAtar-Breakout-v1" in result.stdout and output.with_suffix(".pkl").is_file()
    args = ["-m", "rl_zoo3.cli", "plot_train", "-a", "arq", "-e", "MinAtar-Breakout-v1", "-f", str(log_folder)]
    run_python([*args, "-w", "5"], cwd=log_folder)


def test_sb3_arq_scripts_without_hook(tmp_path):
    """``python -m sb3_arq.train`` / ``record_video``: the explicit way, with the hook switched off."""
    args = ["-m", "sb3_arq.train", "--algo", "arq", "--env", "MinAtar/Breakout-v1", "-f", str(tmp_path), "--seed", "0"]
    result = run_python(
        [*args, "-n", "600", "--eval-freq", "-1", "--num-threads", "1", *ARQ_SMOKE], cwd=tmp_path, SB3_ARQ_NO_ZOO_HOOK="1"
    )
    assert f"Loading hyperparameters from: {hyperparams_path('arq')}" in result.stdout
    assert (tmp_path / "arq" / "MinAtar-Breakout-v1_1" / "MinAtar-Breakout-v1.zip").is_file()
    pytest.importorskip("moviepy")
    args = ["-m", "sb3_arq.record_video", "--algo", "arq", "--env", "MinAtar/Breakout-v1", "-f", str(tmp_path)]
    run_python([*args, "-n", "50", "-o", str(tmp_path / "videos")], cwd=tmp_path, SB3_ARQ_NO_ZOO_HOOK="1")
    assert list((tmp_path / "videos").glob("*.mp4"))


def test_hook_opt_out_rejects_arq(tmp_path):
    args = ["-m", "rl_zoo3.train", "--algo", "arq", "--env", "MinAtar/Breakout-v1", "-n", "10", "-f", str(tmp_path)]
    result = run_python(args, cwd=tmp_path, check=False, SB3_ARQ_NO_ZOO_HOOK="1")
    assert result.returncode == 2 and "invalid choice: 'arq'" in result.stderr
    assert not (tmp_path / "arq").exists()


@requires_hook
@pytest.mark.parametrize("module", ["sb3_arq.zoo.sampler", "sb3_arq.zoo.callbacks", "sb3_arq.zoo.packaged"])
def test_any_zoo_module_imported_first_registers_arq(tmp_path, module):
    """A module of sb3_arq.zoo imported first, then rl_zoo3: the hook registers arq and rebinds none of rl-zoo3's names."""
    code = f"import {module}, rl_zoo3.exp_manager as zoo\nprint('arq' in zoo.rl_zoo3.ALGOS, zoo.ExperimentManager.__module__)"
    result = run_python(["-W", "error::RuntimeWarning", "-c", code], cwd=tmp_path)
    assert result.stdout.split() == ["True", "rl_zoo3.exp_manager"]


@requires_hook
def test_hook_is_installed_and_lazy(tmp_path):
    """The .pth starts only a stdlib finder: nothing heavy is imported until rl_zoo3 is."""
    code = (
        "import sys\n"
        "heavy = ['torch', 'gymnasium', 'stable_baselines3', 'sb3_arq', 'rl_zoo3']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print([type(f).__name__ for f in sys.meta_path])\n"
        "import rl_zoo3\n"
        "print('arq' in rl_zoo3.ALGOS)\n"
    )
    lines = run_python(["-c", code], cwd=tmp_path).stdout.splitlines()
    assert lines[0] == "[]"
    assert "ZooImportHook" in lines[1]
    assert lines[2] == "True"
    lines = run_python(["-c", code], cwd=tmp_path, SB3_ARQ_NO_ZOO_HOOK="1").stdout.splitlines()
    assert "ZooImportHook" not in lines[1] and lines[2] == "False"


@requires_hook
def test_the_hook_registers_whatever_is_imported_first_without_warning(tmp_path):
    """Importing sb3_arq.zoo's search space before rl_zoo3 registers arq all the same, without a warning."""
    code = "import sb3_arq.zoo.sampler as ours, rl_zoo3, rl_zoo3.hyperparams_opt as opt\n"
    code += "print('arq' in rl_zoo3.ALGOS, opt.HYPERPARAMS_SAMPLER['arq'] is ours.sample_arq_params)\n"
    result = run_python(["-c", code], cwd=tmp_path)
    assert result.stdout.split() == ["True", "True"] and "Warning" not in result.stderr, result.stderr


@requires_hook
def test_a_classic_control_run_does_not_import_dm_control(tmp_path):
    """
    With MUJOCO_GL=egl, dm_control's import then torch.optim's import of triton crash a run: a MinAtar run avoids it.
    The paper's dm_control ids are registered without importing it; a dm_control id on the command line registers all.
    """
    code = (
        "import runpy, sys\n"
        "sys.argv = ['train', '--algo', 'arq', '--env', 'CartPole-v1', '-n', '200', '-f', 'logs', '--seed', '0',\n"
        "            '-params', 'learning_starts:100', 'batch_size:16', 'policy_kwargs:dict(net_arch=[8, 8], n_heads=2)']\n"
        "runpy.run_module('rl_zoo3.train', run_name='__main__')\n"
        "import gymnasium as gym, sb3_arq.envs\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'dm_control', 'shimmy', 'mujoco'}))\n"
        "print(all(i in gym.registry for i in sb3_arq.envs.DMC_ENV_IDS), 'dm_control/cartpole-swingup-v0' in gym.registry)\n"
        "print(type(gym.make('dm_control/reacher-hard-v0').unwrapped).__name__)\n"
    )
    lines = run_python(["-c", code], cwd=tmp_path).stdout.splitlines()
    assert lines[-3:] == ["[]", "True False", "DmControlCompatibilityV0"]
    code = "import sys\nsys.argv = ['enjoy', '--env', 'dm_control/cartpole-swingup-v0']\nimport rl_zoo3, gymnasium as gym\n"
    code += "print('dm_control/cartpole-swingup-v0' in gym.registry)\n"
    assert run_python(["-c", code], cwd=tmp_path).stdout.split() == ["True"]


def test_register_in_process():
    sb3_arq.zoo.register()
    sb3_arq.zoo.register()  # idempotent
    assert rl_zoo3.ALGOS["arq"] is ARQ
    # one table shared by rl-zoo3's scripts and ExperimentManager; rl-zoo3's own ExperimentManager
    assert rl_zoo3.utils.ALGOS is rl_zoo3.ALGOS is rl_zoo3.train.ALGOS is rl_zoo3.exp_manager.ALGOS
    assert rl_zoo3.train.ExperimentManager is rl_zoo3.exp_manager.ExperimentManager
    assert rl_zoo3.exp_manager.ExperimentManager.__qualname__ == "ExperimentManager"
    # rl-zoo3's train script reads sb3-arq's packaged yml for --algo arq unless given one, in any of its spellings
    packaged = ["--conf-file", hyperparams_path("arq")]
    assert with_packaged_conf_file(["--algo", "arq", "--env", "Pong"]) == ["--algo", "arq", "--env", "Pong", *packaged]
    assert with_packaged_conf_file(["--algo=arq"]) == ["--algo=arq", *packaged]
    for given in (["--conf-file", "my.yml"], ["-conf", "my.yml"], ["--conf=my.yml"]):
        assert with_packaged_conf_file(["--algo", "arq", *given]) == ["--algo", "arq", *given]
    assert with_packaged_conf_file(["--algo", "dqn", "--env", "Pong"]) == ["--algo", "dqn", "--env", "Pong"]
    assert with_packaged_conf_file(["--algo"]) == ["--algo"]  # rl-zoo3's parser says what is wrong


def test_packaged_hyperparams():
    files = {algo: yaml.safe_load(Path(hyperparams_path(algo)).read_text()) for algo in sb3_arq.zoo.PACKAGED_HYPERPARAMS}
    assert set(files["arq"]) == {"default", *MINATAR_ENV_IDS, *DMC_ENV_IDS, *CLASSIC_CONTROL_IDS}
    assert set(files["dqn"]) == set(files["qrdqn"]) == set(MINATAR_ENV_IDS)
    # and the dmc grid's tasks with one or two action dimensions (benchmarks/grids.py), for SAC and ARQ's CPU entry
    small = {f"dm_control/{task}-v0" for task in ("cartpole-swingup", "finger-spin", "ball_in_cup-catch")}
    assert set(files["sac"]) == {*DMC_ENV_IDS, *small}
    assert set(files["arq_cpu"]) == {*MINATAR_ENV_IDS, *small}
    # the installed files are the repository's top-level ones
    if (REPO_ROOT / "hyperparams").is_dir():
        for algo in sb3_arq.zoo.PACKAGED_HYPERPARAMS:
            assert Path(hyperparams_path(algo)).read_text() == (REPO_ROOT / "hyperparams" / f"{algo}.yml").read_text()
    # the published settings, as rl-zoo3 evaluates the policy_kwargs strings (in its exp_manager's namespace)
    published = {
        "MinAtar": dict(widths=[400, 200, 200], learning_rate=1e-4, max_grad_norm=1.0, buffer_size=5_000_000, eps=0.1),
        "dm_control": dict(widths=[128, 96, 96], learning_rate=2.5e-4, max_grad_norm=0.1, buffer_size=4_000_000, eps=0.25),
    }
    for env_id, params in files["arq"].items():
        if env_id in (*CLASSIC_CONTROL_IDS, "default"):
            continue  # first tries on a CPU and the untuned default, not published settings (test_classic_control.py)
        expected = published[env_id.split("/")[0]]
        policy_kwargs = eval(params["policy_kwargs"], vars(rl_zoo3.exp_manager))
        assert policy_kwargs["net_arch"] == expected["widths"] and policy_kwargs["n_heads"] == 8
        assert policy_kwargs["goodness"] == "std" and policy_kwargs["act_with"] == "mean"
        assert policy_kwargs["input_skip"] and policy_kwargs["recurrent_connections"] and policy_kwargs["forward_connections"]
        assert params["learning_rate"] == expected["learning_rate"] and params["max_grad_norm"] == expected["max_grad_norm"]
        assert params["buffer_size"] == expected["buffer_size"] and params["exploration_fraction"] == expected["eps"]
        assert params["n_timesteps"] == 4e6 and params["batch_size"] == 512 and params["learning_starts"] == 50_000
        assert params["train_freq"] == 4 and params["target_update_interval"] == 1000 and params["tau"] == 1.0
        assert params["gamma"] == 0.99 and params["exploration_final_eps"] == 0.01 and params["context_size"] == 10
        if env_id.startswith("dm_control"):
            assert params["env_wrapper"] == ["sb3_arq.envs.FlattenDictObservation", "sb3_arq.envs.BangBangWrapper"]
    # ARQ's CPU-sized entries (the minatar and dmc grids'): one for the five games, learning with DQN's replay start, and
    # one for the three DMC tasks, learning with SAC's and acting through the bang-bang actions
    cpu = files["arq_cpu"]["MinAtar/Breakout-v1"]
    assert all(files["arq_cpu"][env_id] == cpu for env_id in MINATAR_ENV_IDS)
    assert cpu["n_timesteps"] == 250_000 and cpu["learning_starts"] == files["dqn"]["MinAtar/Breakout-v1"]["learning_starts"]
    assert eval(cpu["policy_kwargs"], vars(rl_zoo3.exp_manager))["net_arch"] == [64, 64, 64]
    cpu_dmc = files["arq_cpu"]["dm_control/cartpole-swingup-v0"]
    assert all(files["arq_cpu"][env_id] == cpu_dmc for env_id in small)
    assert cpu_dmc["n_timesteps"] == 100_000
    assert cpu_dmc["learning_starts"] == files["sac"]["dm_control/cartpole-swingup-v0"]["learning_starts"]
    assert cpu_dmc["env_wrapper"] == ["sb3_arq.envs.FlattenDictObservation", "sb3_arq.envs.BangBangWrapper"]
    # the yml leaves the optimizer to ARQ's default: the reference's Adam with beta2 0.99, one per cell
    policy_kwargs = eval(files["arq"]["MinAtar/Breakout-v1"]["policy_kwargs"], vars(rl_zoo3.exp_manager))
    model = ARQ("MlpPolicy", "MinAtar/Breakout-v1", policy_kwargs={**policy_kwargs, "net_arch": [8, 8]}, device="cpu")
    optimizers = model.policy.optimizer.optimizers
    assert len({id(optimizer) for optimizer in optimizers}) == 2
    assert all(isinstance(opt, th.optim.Adam) and opt.defaults["betas"] == (0.9, 0.99) for opt in optimizers)
    for algo in ("dqn", "qrdqn"):
        for params in files[algo].values():
            policy_kwargs = eval(params["policy_kwargs"], vars(rl_zoo3.exp_manager))
            assert policy_kwargs["features_extractor_class"] is MinAtarCNN and policy_kwargs["net_arch"] == []
            assert params["batch_size"] == 32 and params["buffer_size"] == 100_000 and params["learning_starts"] == 5000
            assert params["exploration_fraction"] * params["n_timesteps"] == 100_000
    for params in files["sac"].values():
        assert params["learning_rate"] == 3e-4 and params["batch_size"] == 256 and params["ent_coef"] == "auto"


def test_setup_cfg_declares_every_package():
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    on_disk = {".".join(path.parent.relative_to(REPO_ROOT).parts) for path in (REPO_ROOT / "sb3_arq").rglob("__init__.py")}
    assert set(config["options"]["packages"].split()) == on_disk | {"sb3_arq.hyperparams"}
    assert config["options"]["package_dir"].split() == ["sb3_arq.hyperparams", "=", "hyperparams"]


@pytest.mark.skipif(
    tuple(int(part) for part in setuptools.__version__.split(".")[:2]) < (70, 1),
    reason="building wheels in-process needs setuptools>=70.1 (pip's isolated builds get a recent one anyway)",
)
def test_regular_and_editable_wheels_install_the_hook(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "_sb3_arq_zoo_hook.py", HOOK_PTH):
        shutil.copy(REPO_ROOT / name, project / name)
    for name in ("sb3_arq", "hyperparams"):
        shutil.copytree(REPO_ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys\n"
        "from setuptools import build_meta\n"
        "wheel_dir, editable_dir = sys.argv[1:3]  # (build_meta rewrites sys.argv)\n"
        "wheel = build_meta.build_wheel(wheel_dir)\n"
        "editable = build_meta.build_editable(editable_dir)\n"
        "print('BUILT', wheel, editable)\n"
    )
    result = run_python(["-c", code, str(tmp_path / "wheel"), str(tmp_path / "editable")], cwd=project)
    _, wheel_name, editable_name = next(line for line in result.stdout.splitlines() if line.startswith("BUILT ")).split()
    with zipfile.ZipFile(tmp_path / "wheel" / wheel_name) as wheel:
        names = set(wheel.namelist())
        assert wheel.read(HOOK_PTH) == (REPO_ROOT / HOOK_PTH).read_bytes()
    assert {"_sb3_arq_zoo_hook.py", "sb3_arq/zoo/__init__.py", "sb3_arq/envs/wrappers.py", "sb3_arq/train.py"} <= names
    assert {f"sb3_arq/hyperparams/{algo}.yml" for algo in sb3_arq.zoo.PACKAGED_HYPERPARAMS} <= names
    with zipfile.ZipFile(tmp_path / "editable" / editable_name) as wheel:
        names = wheel.namelist()
        assert wheel.read(HOOK_PTH) == (REPO_ROOT / HOOK_PTH).read_bytes()
        finder = next(name for name in names if name.endswith("_finder.py"))
        mapping = wheel.read(finder).decode()
    assert "'sb3_arq.hyperparams'" in mapping and "'_sb3_arq_zoo_hook'" in mapping
    # setuptools' .pth (which installs the editable finder that makes _sb3_arq_zoo_hook importable) must be processed
    # before ours: site.py processes the .pth files in sorted order
    editable_pth = next(name for name in names if name.startswith("__editable__") and name.endswith(".pth"))
    assert sorted([HOOK_PTH, editable_pth]) == [editable_pth, HOOK_PTH]


@requires_hook
@pytest.mark.parametrize(
    "policy_kwargs, cell_class",
    [
        ("dict(net_arch=[16, 16], action_conditioning='output')", "OutputConditionedARQCell"),
        ("dict(net_arch=[16, 16], cell_type='ad')", "ADCell"),
        ("dict(net_arch=[16, 16], goodness='msq')", "ARQCell"),
    ],
)
def test_rl_zoo3_trains_the_variants(tmp_path, policy_kwargs, cell_class):
    """The paper's comparison set through rl-zoo3, as the ablation commands of hyperparams/arq.yml give it."""
    smoke = ["learning_starts:200", "batch_size:16", "buffer_size:2000", "context_size:2", f"policy_kwargs:{policy_kwargs}"]
    zoo_train(tmp_path, "arq", "MinAtar/Breakout-v1", 600, 600, 1, "-params", *smoke)
    model = ARQ.load(check_run(tmp_path, "arq", "MinAtar/Breakout-v1", [600], 1), device="cpu")
    assert type(model.q_net.cells[0]).__name__ == cell_class and model._n_updates > 0
    assert model.policy.goodness == ("msq" if "msq" in policy_kwargs else "std")


# Settings that change what is learnt (ARQ's and its policy's), as opposed to how it is computed or logged
IMPLEMENTATION = {"policy", "env", "replay_buffer_class", "replay_buffer_kwargs", "optimize_memory_usage", "stats_window_size"}
IMPLEMENTATION |= {"tensorboard_log", "policy_kwargs", "verbose", "seed", "device", "_init_setup_model", "compile_update"}
IMPLEMENTATION |= {"graph_acting", "graph_update", "compile_cells", "cell_product", "normalize_images", "optimizer_class"}
IMPLEMENTATION |= {"optimizer_kwargs"}


@pytest.mark.parametrize("env_id", ["MinAtar/Breakout-v1", "MinAtar/Seaquest-v1", "dm_control/walker-walk-v0"])
def test_the_published_entries_list_every_setting(env_id):
    """ARQ's defaults are CPU-sized, not the paper's: an entry with the paper's settings must not lean on any of them."""
    _, _, kwargs = entry_settings(env_id)
    learnt = set(inspect.signature(ARQ).parameters) - IMPLEMENTATION
    assert learnt - set(kwargs) == set()
    assert set(ARQPolicy.options) - IMPLEMENTATION - set(kwargs["policy_kwargs"]) == set()


def test_entry_settings_reads_a_file_without_a_default_entry():
    """arq_cpu.yml has no ``default`` entry: its own entries are read, and a missing one is named in a ValueError."""
    n_timesteps, _, kwargs = entry_settings("MinAtar/Breakout-v1", "arq_cpu")
    assert n_timesteps == 250_000 and kwargs["batch_size"] == 32
    with pytest.raises(ValueError, match="no entry for env_id='CartPole-v1' and no 'default' one"):
        entry_settings("CartPole-v1", "arq_cpu")
