"""ActingGraph, the static-tensor acting step (captured as a CUDA graph on a GPU; here, on CPU, the same step run eagerly)."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_arq import ARQ
from sb3_arq.arq.acting import ActingGraph, EagerActing
from sb3_arq.arq.arq import AUTO_COMPILE_STEPS
from sb3_arq.envs.registration import register_env_family


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MinAtar/Breakout-v1"])
def test_acting_graph_gives_predicts_greedy_actions_and_contexts(env_id):
    """With epsilon 0, two envs through several episode starts: the actions and contexts of predict carrying its state."""
    register_env_family(env_id)
    env = make_vec_env(env_id, n_envs=2, seed=0)
    model = ARQ(
        "MlpPolicy",
        env,
        policy_kwargs={"net_arch": [8, 6, 5], "recurrent_connections": True, "forward_connections": True},
        seed=0,
        device="cpu",
    )
    actor = ActingGraph(model.policy, 2, capture=False)
    assert actor.obs.dtype == (th.bool if env_id.startswith("MinAtar") else th.float32)  # stored as the env gives it
    obs, starts, state, n_starts = env.reset(), np.ones(2, dtype=bool), None, 0
    for _ in range(150):
        actions = actor(obs, starts, 0.0)
        expected, state = model.policy.predict(obs, state, starts)
        np.testing.assert_array_equal(actions, expected)
        for h, expected_h in zip(actor.context, state, strict=True):
            np.testing.assert_array_equal(h.numpy(), expected_h)
        obs, _, starts, _ = env.step(actions)
        n_starts += starts.sum()
    assert n_starts >= 2  # episode starts reset the context in the middle of the rollout


def test_acting_graph_draws_epsilon_on_the_device():
    """Epsilon 0: greedy; 1: uniform over the actions; 0.5: about half random (a quarter differs, with 2 actions)."""
    model = ARQ("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, seed=0, device="cpu")
    n_envs = 4000
    actor = ActingGraph(model.policy, n_envs, capture=False)
    obs = np.stack([model.observation_space.sample() for _ in range(n_envs)])
    starts = np.ones(n_envs, dtype=bool)
    greedy = actor(obs, starts, 0.0)
    np.testing.assert_array_equal(greedy, model.policy.predict(obs, None, starts)[0])
    assert 0.45 < actor(obs, starts, 1.0).mean() < 0.55
    assert 0.2 < (actor(obs, starts, 0.5) != greedy).mean() < 0.3
    th.manual_seed(3)
    first = actor(obs, starts, 0.5)
    th.manual_seed(3)
    np.testing.assert_array_equal(actor(obs, starts, 0.5), first)  # torch's seed makes the random actions reproducible


def test_acting_graph_capture_needs_cuda():
    model = ARQ("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, device="cpu")
    with pytest.raises(ValueError, match="capture=True needs the policy on a CUDA device, it is on cpu"):
        ActingGraph(model.policy, 1, capture=True)
    with pytest.raises(ValueError, match="capture and compile are two ways to run the step: choose one"):
        ActingGraph(model.policy, 1, capture=True, compile=True)


def test_graph_acting_collects_the_greedy_actions_of_predict(tmp_path):
    """
    ARQ(graph_acting=True) with epsilon 0 and learning rate 0 (constant cells): the transitions it stores are the greedy
    actions of predict replayed over the stored observations and episode starts; the model saves and loads.
    """
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = ARQ(
        "MlpPolicy", env, learning_rate=0.0, learning_starts=0, exploration_initial_eps=0.0, exploration_final_eps=0.0,
        batch_size=8, context_size=3, graph_acting=True, policy_kwargs={"net_arch": [8, 6]}, seed=0, device="cpu",
    )  # fmt: skip
    model.learn(600)
    buffer = model.replay_buffer
    state, starts = None, np.ones(2, dtype=bool)
    for t in range(buffer.pos):
        actions, state = model.policy.predict(buffer.observations[t], state, starts)
        np.testing.assert_array_equal(actions, buffer.actions[t, :, 0])
        starts = buffer.dones[t].astype(bool)
    assert buffer.dones[: buffer.pos].sum() >= 2
    model.save(tmp_path / "model")
    loaded = ARQ.load(tmp_path / "model", device="cpu")
    assert loaded.graph_acting and loaded._actor is None


def test_graph_acting_compiles_predict_with_the_eager_actions_and_contexts():
    """
    Off CUDA, graph_acting also compiles predict's greedy step (evaluations): over an episode carried through its state,
    the same actions and next contexts (up to float rounding) as an eager model with the same weights, from each state.
    """
    policy_kwargs = {"net_arch": [8, 6], "recurrent_connections": True, "forward_connections": True}
    kwargs = dict(context_size=3, policy_kwargs=policy_kwargs, seed=0, device="cpu")
    compiled, eager = ARQ("MlpPolicy", "CartPole-v1", graph_acting=True, **kwargs), ARQ("MlpPolicy", "CartPole-v1", **kwargs)
    assert compiled.policy._acting_forward != compiled.policy.forward and eager.policy._acting_forward == eager.policy.forward
    eager.policy.load_state_dict(compiled.policy.state_dict())
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    state, start = None, np.ones(1, dtype=bool)
    for _ in range(100):  # both from the compiled model's state: the rounding of one step is not carried on
        action, next_state = compiled.predict(obs[None], state, start, deterministic=True)
        eager_action, eager_state = eager.predict(obs[None], state, start, deterministic=True)
        np.testing.assert_array_equal(action, eager_action)
        assert len(next_state) == 2
        for h, eager_h in zip(next_state, eager_state, strict=True):
            np.testing.assert_allclose(h, eager_h, rtol=0, atol=1e-4)
        obs, _, terminated, truncated, _ = env.step(int(action[0]))
        state, start[:] = next_state, terminated or truncated
        if start[0]:
            obs, _ = env.reset()


def test_auto_compiles_a_long_cpu_run_and_keeps_a_short_one_eager(tmp_path):
    """
    compile_update and graph_acting "auto" (the defaults): a learn() of fewer than AUTO_COMPILE_STEPS steps after
    learning_starts stays eager; a longer one compiles the update, the collection step and predict; a loaded model
    chooses again at its first learn().
    """
    model = ARQ("MlpPolicy", "CartPole-v1", learning_starts=100, policy_kwargs={"net_arch": [8]}, seed=0, device="cpu")
    assert (model.compile_update, model.graph_acting) == ("auto", "auto")
    model.learn(200)
    assert model._compiled_cell_losses is None and isinstance(model._actor, EagerActing)
    assert model.policy._acting_forward == model.policy.forward
    model._setup_learn(100 + AUTO_COMPILE_STEPS)  # a new run of that length: chosen as learn() does, without running it
    assert model._compiled_cell_losses is not None and isinstance(model._actor, ActingGraph)
    assert model.policy._acting_forward != model.policy.forward
    model.save(tmp_path / "model")
    loaded = ARQ.load(tmp_path / "model", device="cpu")
    assert loaded._compiles is None and loaded._compiled_cell_losses is None
    loaded.set_env(make_vec_env("CartPole-v1", n_envs=1, seed=0))
    loaded.learn(200)
    assert loaded._compiled_cell_losses is None and isinstance(loaded._actor, EagerActing)


def test_verbose_says_when_a_run_compiles(capsys):
    """With verbose=1 a run says what torch.compile runs (its first update pauses for the build); an eager run is silent."""
    model = ARQ("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, verbose=1, seed=0, device="cpu")
    model._setup_learn(100)
    assert "torch.compile" not in capsys.readouterr().out
    model._setup_learn(model.learning_starts + AUTO_COMPILE_STEPS)
    assert "ARQ: torch.compile runs this run's update and acting step;" in capsys.readouterr().out
    model = ARQ("MlpPolicy", "CartPole-v1", compile_update="default", graph_acting=False, verbose=1, device="cpu")
    model._setup_learn(100)
    assert "ARQ: torch.compile runs this run's update;" in capsys.readouterr().out


def test_auto_without_a_cpp_compiler_warns_and_runs_eagerly(monkeypatch):
    """Inductor builds CPU kernels with a C++ compiler: without one, "auto" says so and stays eager."""
    monkeypatch.setattr(th._inductor.config.cpp, "cxx", ("no-such-c++-compiler",))
    model = ARQ("MlpPolicy", "CartPole-v1", learning_starts=0, policy_kwargs={"net_arch": [8]}, seed=0, device="cpu")
    with pytest.warns(UserWarning, match=r"ARQ runs eagerly: .*needs a C\+\+ compiler .*no-such-c\+\+-compiler"):
        model._setup_learn(AUTO_COMPILE_STEPS)
    assert model._compiled_cell_losses is None and isinstance(model._actor, EagerActing)
    with pytest.raises(ValueError, match=r"compile_update must be one of \[None, 'auto', 'default'"):
        ARQ("MlpPolicy", "CartPole-v1", compile_update="fast", device="cpu")


@pytest.mark.parametrize("connections", [False, True])
def test_the_cells_act_only_for_greedy_steps_without_context(connections):
    """
    Without connections through time the cells run only for the steps that take the greedy action (SB3's DQN skips
    its network on random steps too); with them, every step runs the cells, so that the context advances.
    """
    policy_kwargs = {"net_arch": [8], "recurrent_connections": connections}
    model = ARQ(
        "MlpPolicy", "CartPole-v1", learning_starts=0, gradient_steps=0, exploration_initial_eps=0.5,
        exploration_final_eps=0.5, context_size=2, policy_kwargs=policy_kwargs, seed=0, device="cpu",
    )  # fmt: skip
    calls = []
    model.policy.q_net.register_forward_hook(lambda *_: calls.append(1))
    model.learn(400)
    if connections:
        assert len(calls) == 400
    else:
        assert 150 < len(calls) < 250  # about half of the steps: binomial(400, 0.5), standard deviation 10
