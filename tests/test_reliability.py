"""Bad input gets one clear error, replay buffers and states are checked, SB3's contracts hold (issue: reliability)."""

import io
import pathlib
import pickle
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.save_util import load_from_pkl, load_from_zip_file, save_to_pkl

from sb3_arq import ARQ
from sb3_arq.arq import guards
from sb3_arq.arq.acting import ActingGraph
from sb3_arq.arq.statistics import UpdateStatistics
from tests.helpers import SMALL, small_model, zoo_env


def test_load_replay_buffer_refuses_what_does_not_fit(tmp_path):
    model = small_model()
    model.learn(50)
    model.save_replay_buffer(tmp_path / "context3")
    no_context = small_model(
        policy_kwargs={**SMALL["policy_kwargs"], "recurrent_connections": False, "forward_connections": False}
    )
    no_context.learn(50)
    no_context.save_replay_buffer(tmp_path / "no_context")
    DQN("MlpPolicy", "CartPole-v1", buffer_size=100).save_replay_buffer(tmp_path / "dqn")
    small_model(make_vec_env("CartPole-v1", n_envs=4), buffer_size=400).save_replay_buffer(tmp_path / "four_envs")
    small_model("Acrobot-v1").save_replay_buffer(tmp_path / "acrobot")

    target = small_model(context_size=5)
    own = target.replay_buffer
    cases = {
        "context3": r"context_size 3 \(this model: 5\)",
        "no_context": r"context_size 0 \(this model: 5\)",
        "dqn": "needs a ContextReplayBuffer.*holds a ReplayBuffer",
        "four_envs": r"n_envs 4 \(this model: 1\)",
        "acrobot": "observation_space Box.*action_space Discrete",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message):
            target.load_replay_buffer(tmp_path / name)
        assert target.replay_buffer is own  # nothing modified
    small_model(context_size=3).load_replay_buffer(tmp_path / "context3")  # a fitting buffer loads


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, r"batch_size must be an int >= 1, got 0"),
        ({"batch_size": -4}, r"batch_size must be an int >= 1, got -4"),
        ({"buffer_size": 1}, r"buffer_size must hold at least 2 transitions per env, i.e. >= 2 for 1 env\(s\), got 1"),
        ({"gamma": 1.5}, r"gamma must be in \[0.0, 1.0\], got 1.5"),
        ({"gamma": -0.1}, r"gamma must be in \[0.0, 1.0\]"),
        ({"tau": 0.0}, r"tau must be in \(0.0, 1.0\], got 0.0"),
        ({"tau": 1.5}, r"tau must be in \(0.0, 1.0\]"),
        ({"max_grad_norm": 0}, r"max_grad_norm must be in \(0.0, inf\], got 0"),
        ({"target_update_interval": 0}, r"target_update_interval must be an int >= 1, got 0"),
        ({"train_freq": 0}, r"train_freq must be an int >= 1, got 0"),
        ({"train_freq": (2, "epoch")}, r'train_freq must be an int >= 1 or a tuple \(n, "step" \| "episode"\)'),
        ({"gradient_steps": -2}, r"gradient_steps must be an int >= 0 or -1, got -2"),
        ({"learning_rate": -1e-3}, r"learning_rate must be in \[0.0, inf\), got -0.001"),
        ({"learning_rate": float("inf")}, r"learning_rate must be in \[0.0, inf\), got inf"),
        ({"learning_rate": float("nan")}, r"learning_rate must be in \[0.0, inf\), got nan"),
        ({"exploration_final_eps": 2.0}, r"exploration_final_eps must be in \[0.0, 1.0\]"),
        ({"context_size": 0}, r"context_size must be an int >= 1, got 0"),
        ({"reward_scale": 0.0}, r"reward_scale must be in \(0.0, inf\), got 0.0"),
        ({"reward_scale": -0.1}, r"reward_scale must be in \(0.0, inf\), got -0.1"),
        ({"reward_shift": float("nan")}, r"reward_shift must be in \(-inf, inf\), got nan"),
        ({"reward_shift": "1"}, r"reward_shift must be a number, got '1'"),
    ],
)
def test_numbers_are_checked_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ARQ("MlpPolicy", "CartPole-v1", **kwargs)


def test_gradient_steps_zero_collects_without_updating():
    """As in SB3's off-policy algorithms: 0 gradient steps fill the replay buffer and update nothing."""
    model = ARQ("MlpPolicy", "CartPole-v1", gradient_steps=0, learning_starts=10, device="cpu", seed=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(60)
    assert model.replay_buffer.size() == 60 and model._n_updates == 0
    assert all(th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))


class NaNAfterEnv(gym.Env):
    """CartPole-sized env whose observations (or rewards) become NaN after a number of steps."""

    def __init__(self, nan_after: int, what: str):
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.nan_after, self.what, self.steps = nan_after, what, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.steps += 1
        broken = self.steps > self.nan_after
        obs = np.full(4, np.nan if broken and self.what == "obs" else 0.1, np.float32)
        reward = np.nan if broken and self.what == "reward" else 1.0
        return obs, reward, False, self.steps % 50 == 0, {}


@pytest.mark.parametrize(
    "what, cause", [("obs", "sampled observations contain NaN or inf"), ("reward", "sampled rewards contain NaN or inf")]
)
def test_non_finite_training_stops_naming_the_cell_update_and_cause(what, cause):
    model = small_model(NaNAfterEnv(300, what), learning_starts=200, buffer_size=400)
    with pytest.raises(ValueError, match=rf"ARQ stopped: cell \d's (loss|Q) became nan at update \d+; the {cause}"):
        model.learn(600)
    assert model._n_updates < 100  # stopped, did not go on training


def test_divergence_names_the_likely_cause():
    model = small_model()
    model.learn(250)
    stats = np.zeros((1, 3 * 3 + 2))
    stats[0, 1], stats[0, -2:] = np.inf, 1.0  # cell 1's loss, finite inputs
    with pytest.raises(ValueError, match=r"cell 1's loss became inf at update \d+; the cell diverged: lower learning_rate"):
        guards.check_training(UpdateStatistics(stats, 3), model._n_updates)


def test_dict_observations_say_what_to_wrap_the_env_in():
    env = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"),
        lambda obs: {"state": obs},
        spaces.Dict({"state": gym.make("CartPole-v1").observation_space}),
    )
    for policy in ("MlpPolicy", "MultiInputPolicy"):
        with pytest.raises(ValueError, match="FlattenDictObservation"):
            ARQ(policy, env)
    from sb3_arq.envs import FlattenDictObservation

    assert ARQ("MlpPolicy", FlattenDictObservation(env), buffer_size=100).policy.q_net.obs_dim == 4


class ImageEnv(gym.Env):
    """uint8 image observations, all 255."""

    observation_space = spaces.Box(0, 255, (3, 8, 8), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full((3, 8, 8), 255, np.uint8), {}

    def step(self, action):
        return np.full((3, 8, 8), 255, np.uint8), 1.0, False, False, {}


def test_uint8_images_are_scaled_and_cnn_policy_explains():
    model = ARQ("MlpPolicy", ImageEnv(), buffer_size=100)
    x = model.policy.flatten_obs(th.full((1, 3, 8, 8), 255, dtype=th.uint8))
    assert x.shape == (1, 192) and th.equal(x, th.ones(1, 192))
    assert ARQ("MlpPolicy", "MinAtar/Breakout-v1", buffer_size=100).policy.flatten_obs(th.ones(1, 10, 10, 4)).max() == 1
    with pytest.raises(ValueError, match="ARQ has no CnnPolicy: its cells read one flat observation vector"):
        ARQ("CnnPolicy", ImageEnv())
    with pytest.raises(ValueError, match=r"policy_kwargs has unknown key\(s\) \['features_extractor_class'\]"):
        ARQ("MlpPolicy", ImageEnv(), policy_kwargs={"features_extractor_class": object})


def test_predict_checks_the_state_it_is_given():
    small = small_model(policy_kwargs={**SMALL["policy_kwargs"], "net_arch": [8, 8]})
    obs = np.zeros((4, 4), np.float32)
    _, state = small.predict(obs)
    with pytest.raises(ValueError, match=r"one array per cell of shapes \[\(2, 8\), \(2, 8\)\] \(n_envs = 2"):
        small.predict(obs[:2], state)
    with pytest.raises(ValueError, match=r"episode_start must have one flag per observation \(4\)"):
        small.predict(obs, state, episode_start=np.array([True, False]))
    wider = small_model(policy_kwargs={**SMALL["policy_kwargs"], "net_arch": [16, 16]})
    with pytest.raises(ValueError, match=r"shapes \[\(4, 16\), \(4, 16\)\]"):
        wider.predict(obs, state)
    with pytest.raises(ValueError, match=r"got <class 'numpy\.ndarray'>"):
        small.predict(obs, state[0])


def test_set_parameters_raises_runtime_error_like_torch_strict_loading(tmp_path):
    model = small_model()
    model.save(tmp_path / "arq")
    _, params, _ = load_from_zip_file(tmp_path / "arq")
    del params["policy"]["q_net.cells.1.proj_1.weight"]
    with pytest.raises(RuntimeError, match=r"missing tensor\(s\) \['q_net.cells.1.proj_1.weight'\].*corrupted") as error:
        model.set_parameters(params)
    assert "policy_kwargs it was saved with" not in str(error.value)
    with pytest.raises(RuntimeError, match="the file has 3 cell"):
        ARQ.load(tmp_path / "arq", custom_objects={"policy_kwargs": {"net_arch": [8, 6], "n_heads": 2}})


def test_optimize_memory_usage_is_accepted_and_many_envs_warn_like_dqn():
    for optimize in (False, True):
        assert ARQ(
            "MlpPolicy", "CartPole-v1", buffer_size=100, optimize_memory_usage=optimize
        ).replay_buffer.optimize_memory_usage
    with pytest.warns(UserWarning, match="greater than the target network update interval"):
        ARQ("MlpPolicy", make_vec_env("CartPole-v1", n_envs=4), buffer_size=100, target_update_interval=2)


class BigRewardEnv(gym.Env):
    """Rewards of 5000 per step."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 5000.0, False, False, {}


def test_rewards_beyond_what_the_cells_represent_warn_once():
    model = small_model(BigRewardEnv(), buffer_size=1000)
    with pytest.warns(UserWarning, match="TD targets are up to .*x the largest Q its cells can represent") as record:
        model.learn(400)
    assert sum("largest Q" in str(w.message) for w in record) == 1
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*largest Q")  # CartPole's rewards of 1 fit
        small_model().learn(400)


# A child process that saves over existing files and is killed while writing. The model has the
# default widths (a zip of about 66 MB) and the buffer a million slots (about 40 MB), so that a write takes a while.
KILL_CHILD = r"""
import os, pathlib, signal, sys, threading, time
import torch as th
th.set_num_threads(1)
from sb3_arq import ARQ
from sb3_arq.arq import guards

mode, folder = sys.argv[1], pathlib.Path(sys.argv[2])
kwargs = dict(buffer_size=1_000_000, learning_starts=10_000, device="cpu")
models = [ARQ("MlpPolicy", "CartPole-v1", **kwargs, seed=seed) for seed in (0, 1)]
models[1].learn(50)  # a buffer that differs from the empty one
model_path, buffer_path = folder / "model.zip", folder / "buffer.pkl"
if mode == "inside":  # one deterministic kill: as soon as a file of the folder grows after the save started
    models[0].save(model_path)
    models[0].save_replay_buffer(buffer_path)
    what = sys.argv[3]
    save = models[1].save if what == "model" else models[1].save_replay_buffer
    started = time.time_ns()
    threading.Thread(target=save, args=(model_path if what == "model" else buffer_path,), daemon=True).start()
    while True:
        if any(e.stat().st_mtime_ns >= started and e.stat().st_size > 0 for e in os.scandir(folder) if e.is_file()):
            os.kill(os.getpid(), signal.SIGKILL)
else:  # saves over the files again and again until the parent kills it
    models[0].save(model_path)
    models[0].save_replay_buffer(buffer_path)
    print("ready", flush=True)
    for i in range(1_000_000):
        models[i % 2].save(model_path)
        models[i % 2].save_replay_buffer(buffer_path)
"""


def check_files_after_kill(folder, expected_params):
    """The model and the buffer in ``folder`` load, each as one of the two that the child saved."""
    model = ARQ.load(folder / "model.zip", device="cpu")
    params = model.policy.state_dict()
    assert any(all(th.equal(params[k], v[k]) for k in v) for v in expected_params)
    model.load_replay_buffer(folder / "buffer.pkl")
    assert model.replay_buffer.pos in (0, 52)  # empty, or learn(50) with train_freq 4: 13 rollouts of 4 steps


def child_params():
    """The policy parameters of the child's two models (same seeds: same initial parameters; learn(50) updates none)."""
    return [ARQ("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu", seed=seed).policy.state_dict() for seed in (0, 1)]


@pytest.mark.parametrize("what", ["model", "buffer"])
def test_a_kill_inside_a_save_leaves_the_old_file(tmp_path, what):
    result = subprocess.run(
        [sys.executable, "-c", KILL_CHILD, "inside", str(tmp_path), what], env=zoo_env(), capture_output=True, text=True
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    check_files_after_kill(tmp_path, child_params())


def test_kills_at_random_times_leave_loadable_files(tmp_path):
    rng = np.random.default_rng(0)
    expected = child_params()
    for kill in range(5):
        folder = tmp_path / str(kill)
        folder.mkdir()
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_CHILD, "loop", str(folder)], env=zoo_env(), stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 2.0))
        child.kill()
        child.wait()
        check_files_after_kill(folder, expected)


def test_saves_replace_files_and_a_failed_save_leaves_the_old_file(tmp_path):
    model = small_model()
    model.learn(20)
    for _ in range(2):  # a new file, then over it
        model.save(tmp_path / "model")
        model.save_replay_buffer(tmp_path / "buffer")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["buffer.pkl", "model.zip"]
    model.save_replay_buffer(tmp_path / "stream.pkl")
    with open(tmp_path / "stream.pkl", "rb") as file:
        small_model().load_replay_buffer(file)  # open files work as in SB3
    model.replay_buffer.note = lambda: None  # a lambda cannot be pickled: the save fails halfway
    with pytest.raises((AttributeError, pickle.PicklingError)):
        model.save_replay_buffer(tmp_path / "buffer")
    del model.replay_buffer.note
    small_model().load_replay_buffer(tmp_path / "buffer.pkl")  # the old file is intact
    assert sorted(path.name for path in tmp_path.iterdir()) == ["buffer.pkl", "model.zip", "stream.pkl"]


def test_replay_buffer_files_are_verified(tmp_path):
    model = small_model(buffer_size=1000)
    model.learn(100)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    data = (tmp_path / "buffer.pkl").read_bytes()
    target = small_model(buffer_size=1000)
    own = target.replay_buffer

    (tmp_path / "truncated.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.pkl is truncated"):
        target.load_replay_buffer(tmp_path / "truncated.pkl")
    flipped = bytearray(data)
    offset = data.find(model.replay_buffer.observations[:100].tobytes()) + 77  # a byte inside the observations
    flipped[offset] ^= 0x10
    (tmp_path / "flipped.pkl").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"flipped\.pkl failed its checksum: checksum mismatch, the file is corrupted"):
        target.load_replay_buffer(tmp_path / "flipped.pkl")
    assert target.replay_buffer is own  # the model keeps its buffer

    save_to_pkl(tmp_path / "sb3", model.replay_buffer)  # a file without checksum, as SB3 writes it
    with pytest.warns(UserWarning, match="has no checksum .* loaded without verification"):
        target.load_replay_buffer(tmp_path / "sb3.pkl")
    np.testing.assert_array_equal(target.replay_buffer.observations, model.replay_buffer.observations)
    assert load_from_pkl(tmp_path / "buffer.pkl").pos == 100  # SB3's loader reads the verified file


def truncated_model_zip(tmp_path) -> pathlib.Path:
    """A model zip cut where zipfile finds one of the archives that torch.save wrote inside it (no "data" entry)."""
    small_model().save(tmp_path / "model.zip")
    data = (tmp_path / "model.zip").read_bytes()
    for cut in range(len(data) // 2, len(data)):
        try:
            zipfile.ZipFile(io.BytesIO(data[:cut]))
        except zipfile.BadZipFile:
            continue
        (tmp_path / "truncated.zip").write_bytes(data[:cut])
        return tmp_path / "truncated.zip"
    raise AssertionError("no such cut")


@pytest.mark.parametrize("flags", [[], ["-O"]])
def test_a_truncated_model_zip_is_refused_clearly_whatever_the_flags(tmp_path, flags):
    path = truncated_model_zip(tmp_path)
    script = f"from sb3_arq import ARQ; ARQ.load({str(path)!r})"
    result = subprocess.run([sys.executable, *flags, "-c", script], env=zoo_env(), capture_output=True, text=True)
    assert "ValueError: The file " in result.stderr and "is not a complete SB3 model" in result.stderr, result.stderr[-2000:]


def test_load_replay_buffer_into_a_model_without_buffer_follows_its_device(tmp_path):
    """SB3's test_save_load_replay_buffer does this: no buffer, then load; the buffer's device is the model's."""
    model = small_model()
    model.learn(52)
    model.save_replay_buffer(tmp_path / "buffer")
    model.replay_buffer = None
    model.load_replay_buffer(tmp_path / "buffer")
    assert model.replay_buffer.size() == 52 and model.replay_buffer.device == model.device


def test_many_envs_warn_with_dqns_text():
    with pytest.warns(UserWarning) as record:
        ARQ("MlpPolicy", make_vec_env("CartPole-v1", n_envs=4), buffer_size=100, target_update_interval=2)
    prefix = "The number of environments used is greater than the target network update interval"
    assert any(str(w.message).startswith(prefix) for w in record)


@pytest.mark.parametrize("late_value", [-1e-3, float("nan"), float("inf")])
def test_a_schedule_checked_at_each_update(late_value):
    model = small_model(learning_rate=lambda progress: 1e-3 if progress > 0.5 else late_value)
    with pytest.raises(ValueError, match=rf"learning_rate's schedule returned {late_value} at progress_remaining 0\.\d+"):
        model.learn(600)
    assert 200 <= model.num_timesteps <= 310  # stopped at the first update past half of the run


def test_a_linear_schedule_past_the_budget_stays_at_zero():
    """The last collection overshoots a budget that is not a multiple of train_freq: the schedule sees progress 0."""
    seen = []
    model = small_model(learning_rate=lambda progress: seen.append(progress) or 1e-3 * progress, train_freq=8)
    model.learn(301)  # collections of 8 steps: the last one ends at 304
    assert model.num_timesteps == 304 and min(seen) == 0.0 and model.policy.optimizer.optimizers[0].param_groups[0]["lr"] == 0


def test_predict_refuses_non_finite_observations_and_states_naming_the_env():
    model = small_model()
    obs = np.zeros((3, 4), np.float32)
    _, state = model.predict(obs, deterministic=True)
    obs[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"observation of env\(s\) \[1\] contains NaN or inf"):
        model.predict(obs, state, deterministic=True)
    with pytest.raises(ValueError, match=r"observation of env\(s\) \[0\] contains NaN or inf"):
        model.predict(np.full(4, np.inf, np.float32))
    state[2][2, 0] = np.nan
    with pytest.raises(ValueError, match=r"state contains NaN or inf for env\(s\) \[2\]"):
        model.predict(np.zeros((3, 4), np.float32), state)


class OneNaNEnv(gym.Env):
    """Observations 0.1, but NaN at one step; 1000-step episodes."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, nan_at: int):
        self.nan_at, self.steps = nan_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.steps += 1
        return np.full(4, np.nan if self.steps == self.nan_at else 0.1, np.float32), 1.0, False, False, {}


def test_a_nan_observation_reached_through_a_context_window_is_named():
    """The NaN observation is stored at slot 10: the transition at slot 12 has it in its window only."""
    model = small_model(OneNaNEnv(nan_at=10), learning_starts=1000, buffer_size=1000)
    model.learn(40)
    buffer = model.replay_buffer
    assert np.isnan(buffer.observations[10]).all() and buffer.context_size == 3
    _, stats = model._cell_losses(buffer.samples_at(np.array([12]), np.array([0])))
    with pytest.raises(ValueError, match=r"became nan at update \d+; the sampled observations contain NaN or inf"):
        guards.check_training(UpdateStatistics(stats[None].cpu().numpy(), len(model.q_net.cells)), model._n_updates)


class RaiseOnceEnv(gym.Env):
    """Random observations, 1000-step episodes; ``step`` raises once, at its ``raise_at``-th call."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, raise_at: int):
        self.raise_at, self.calls = raise_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.calls += 1
        if self.calls == self.raise_at:
            raise RuntimeError("the env failed")
        return self.observation_space.sample(), 1.0, False, False, {}


@pytest.mark.parametrize("graph_acting", [False, True])
def test_after_an_env_error_the_context_is_a_replay_of_the_stored_episode(graph_acting):
    model = small_model(RaiseOnceEnv(raise_at=30), learning_starts=1000, buffer_size=1000, graph_acting=graph_acting)
    with pytest.raises(RuntimeError, match="the env failed"):
        model.learn(100)
    model.learn(20, reset_num_timesteps=False)
    n_stored = model.replay_buffer.size()
    assert n_stored == 29 + 20 and model.replay_buffer.step_in_episode[n_stored - 1, 0] == n_stored - 1  # one episode
    # The replay acts as the model did (no update yet: with these parameters): through a compiled ActingGraph of its
    # own for graph_acting (the same program: exactly its rounding), else through the policy's act
    replay = ActingGraph(model.policy, 1, capture=False, compile=True) if graph_acting else None
    context = None
    for obs in model.replay_buffer.observations[:n_stored]:
        if replay is None:
            _, context = model.policy.act(th.as_tensor(obs[None]), context, None)
        else:
            replay(obs[None], np.zeros(1, dtype=bool), 0.0)
            context = replay.context
    assert all(th.equal(h, expected) for h, expected in zip(model._actor.context, context, strict=True))


def predict_loop(model, n_steps: int, pass_state: bool) -> None:
    """``n_steps`` of CartPole-v1 acted by ``model.predict``: SB3's habit (no state) or as a recurrent policy."""
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    state, episode_start = None, True
    for _ in range(n_steps):
        if pass_state:
            action, state = model.predict(obs, state=state, episode_start=np.array([episode_start]), deterministic=True)
        else:
            action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        episode_start = terminated or truncated
        if episode_start:
            obs, _ = env.reset()
            state = None  # also a fresh start without state: no warning


def test_the_predict_habit_warns_once_on_a_policy_with_connections_through_time():
    """``action, _ = model.predict(obs)`` in a loop restarts the context at every call."""
    model = small_model()
    with pytest.warns(UserWarning, match="called again without the state it returned") as record:
        predict_loop(model, 30, pass_state=False)
    assert sum("without the state it returned" in str(w.message) for w in record) == 1
    assert "model.predict(obs, state=state, episode_start=episode_start" in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller's predict() call

    no_time = {**SMALL["policy_kwargs"], "recurrent_connections": False, "forward_connections": False}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*without the state it returned")
        predict_loop(small_model(), 60, pass_state=True)
        predict_loop(small_model(policy_kwargs=no_time), 30, pass_state=False)
        evaluate_policy(small_model(), make_vec_env("CartPole-v1", n_envs=2), n_eval_episodes=4)
