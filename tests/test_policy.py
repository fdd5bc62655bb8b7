import ast
import dataclasses
import inspect
import re

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

import sb3_arq.envs  # noqa: F401  (registers the MinAtar ids)
from sb3_arq import ARQ
from sb3_arq.arq import policies
from sb3_arq.arq.buffers import ContextReplayBuffer
from sb3_arq.arq.cells import CellSpec
from sb3_arq.arq.policies import ARQPolicy
from sb3_arq.arq.stack import StackSpec
from sb3_arq.naive import naive_q_all, naive_replay, naive_step, naive_window
from sb3_arq.zoo.packaged import entry_settings

# Connections through time on (ARQ's defaults have them off): the wiring these tests check
TIME = {"recurrent_connections": True, "forward_connections": True}


def make_policy(obs_dim=6, n_actions=3, **kwargs) -> ARQPolicy:
    obs_space = spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
    return ARQPolicy(obs_space, spaces.Discrete(n_actions), lambda _: 1e-3, **{**TIME, **kwargs})


def test_published_minatar_breakout_size():
    """Published sizes: Breakout's three cells hold 13.64M parameters, 6.82M / 4.09M / 2.73M, each in its own optimizer."""
    _, _, published = entry_settings("MinAtar/Breakout-v1")
    model = ARQ("MlpPolicy", "MinAtar/Breakout-v1", buffer_size=1000, device="cpu", policy_kwargs=published["policy_kwargs"])
    per_cell = [
        sum(p.numel() for group in opt.param_groups for p in group["params"]) for opt in model.policy.optimizer.optimizers
    ]
    assert per_cell == [6_820_400, 4_090_200, 2_730_200]
    assert sum(per_cell) == 13_640_800
    assert [cell.input_dim for cell in model.q_net.cells] == [1000, 1200, 800]
    optimized = [p for opt in model.policy.optimizer.optimizers for group in opt.param_groups for p in group["params"]]
    assert len({id(p) for p in optimized}) == len(list(model.q_net.cells.parameters()))  # disjoint and complete
    assert model.policy.optimizer.optimizers[0].defaults["betas"] == (0.9, 0.99)


def test_cells_initialise_as_the_reference_code():
    """flax's defaults at the published widths: LeCun-normal kernels (std 1/sqrt(fan_in)), zero biases, LayerNorm 1/0."""
    th.manual_seed(0)
    policy = make_policy(obs_dim=400, n_actions=3, net_arch=[400, 200, 200])
    for cell in policy.q_net.cells:
        assert th.equal(cell.hidden.bias, th.zeros_like(cell.hidden.bias))
        assert th.equal(cell.norm.weight, th.ones_like(cell.norm.weight))
        assert th.equal(cell.norm.bias, th.zeros_like(cell.norm.bias))
        for linear in (cell.hidden, cell.proj_1, cell.proj_2):
            fan_in = linear.weight.shape[1]
            assert linear.weight.std().item() == pytest.approx(fan_in**-0.5, rel=0.05), (linear, fan_in)
            assert linear.weight.abs().max().item() <= 2 * fan_in**-0.5 / 0.8796 + 1e-6  # truncated at 2 std


@pytest.mark.parametrize(
    "flags, input_dims",
    [
        ({}, [6 + 8 + 4, 8 + 6 + 4 + 5, 4 + 6 + 5]),
        ({"forward_connections": False}, [6 + 8, 8 + 6 + 4, 4 + 6 + 5]),
        ({"recurrent_connections": False, "forward_connections": False}, [6, 8 + 6, 4 + 6]),
        ({"recurrent_connections": False, "forward_connections": False, "input_skip": False}, [6, 8, 4]),
    ],
)
def test_wiring_input_sizes(flags, input_dims):
    policy = make_policy(net_arch=[8, 4, 5], **flags)
    assert [cell.input_dim for cell in policy.q_net.cells] == input_dims
    assert policy.uses_context == bool(flags.get("recurrent_connections", True) or flags.get("forward_connections", True))


def test_an_option_is_declared_in_two_places():
    """
    A policy option is declared in ARQPolicy's signature and docstring only: the table that validates policy_kwargs by
    name and that the policy saves, the attributes and the specs derive from the signature, so policies.py names no
    option in a string, an attribute assignment or a ``name=name`` argument (but SB3's own, passed to BasePolicy). The
    specs' defaults, where they have one, are the signature's.
    """
    required = ["observation_space", "action_space", "lr_schedule"]
    signature = inspect.signature(ARQPolicy).parameters
    assert list(signature) == [*required, *ARQPolicy.options]
    assert re.findall(r":param (\w+):", ARQPolicy.__doc__) == [*required, *ARQPolicy.options]
    for node in ast.walk(ast.parse(inspect.getsource(policies))):
        if isinstance(node, ast.Constant):
            assert node.value not in ARQPolicy.options, node.value
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            assert node.attr not in ARQPolicy.options, node.attr
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"):
            for keyword in node.keywords:
                assert not (isinstance(keyword.value, ast.Name) and keyword.value.id == keyword.arg in ARQPolicy.options)
    spec_fields = [*dataclasses.fields(CellSpec), *dataclasses.fields(StackSpec)]
    assert {field.name for field in spec_fields} - {"cell_class", "cell"} <= set(ARQPolicy.options)
    for field in spec_fields:
        if field.default is not dataclasses.MISSING:
            assert field.default == signature[field.name].default, field.name
    policy = make_policy(n_heads=3)
    assert policy.n_heads == policy.stack_spec.cell.n_heads == 3 and policy.stack_spec.net_arch == (64, 64)
    assert all(hasattr(policy, name) for name in ARQPolicy.options)
    with pytest.raises(ValueError, match=r"policy_kwargs has unknown key\(s\) \['heads'\]; ARQPolicy takes \['net_arch'"):
        ARQPolicy.check_policy_kwargs({"heads": 2, "n_heads": 2})


def test_saved_policy_rebuilds_with_its_options(tmp_path):
    """BaseModel.save keeps _get_constructor_parameters; BaseModel.load rebuilds the same stacks and acting from it."""
    options = {"action_conditioning": "output", "n_heads": 2, "goodness": "rms", "forward_connections": False, "act_with": 1}
    policy = make_policy(net_arch=[8, 4], **options)
    policy.save(tmp_path / "policy.pth")
    loaded = ARQPolicy.load(tmp_path / "policy.pth")
    assert loaded.stack_spec == policy.stack_spec and loaded.act_with == 1
    for name, tensor in policy.state_dict().items():
        assert th.equal(loaded.state_dict()[name], tensor), name


def test_policy_q_values_match_naive_wiring():
    """Three cells with all connections, fed a context: the policy's Q equals the naive spec wiring of section 3."""
    th.manual_seed(0)
    policy = make_policy(net_arch=[8, 4, 5], n_heads=2).double()
    x = th.randn(4, 6, dtype=th.float64)
    context = [th.randn(4, w, dtype=th.float64) for w in (8, 4, 5)]
    hs, qs = policy.q_net(x, context)
    params = [dict(cell.state_dict()) for cell in policy.q_net.cells]
    naive_hs, inputs = naive_step(params, x, context)
    for level in range(3):
        assert th.allclose(hs[level], naive_hs[level])
        assert th.allclose(qs[level], naive_q_all(params[level], inputs[level], th.eye(3, dtype=th.float64), 2, "std"))


def test_predict_carries_context_and_resets_it_at_episode_start():
    policy = make_policy(net_arch=[8, 4])
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 6)).astype(np.float32)
    actions, state = policy.predict(obs)
    assert actions.shape == (3,) and len(state) == 2 and state[0].shape == (3, 8)
    # A second step depends on the context; resetting env 1 gives its first-step action and context again.
    _, state_2 = policy.predict(obs, state, episode_start=np.array([False, True, False]))
    np.testing.assert_array_equal(state_2[1][1], state[1][1])
    assert not np.array_equal(state_2[1][0], state[1][0])
    # Single (not vectorized) observations.
    action, single_state = policy.predict(obs[0])
    assert np.shape(action) == () and single_state[0].shape == (1, 8)
    # Without a time connection there is no state.
    assert make_policy(net_arch=[8], recurrent_connections=False, forward_connections=False).predict(obs)[1] is None


def test_rebuilt_context_matches_acting_context():
    """
    The context training rebuilds for step t (window x_{t-C}..x_{t-1}, from zero) equals the context acting carried:
    exactly at t = C (the window then covers the whole episode so far); before that it is the documented clipped
    version (the first observation repeated); after it, acting restarted from zero C steps earlier. Also checked
    against the naive per-sample replay.
    """
    context_size, n_steps = 4, 12
    model = ARQ("MlpPolicy", "CartPole-v1", context_size=context_size, policy_kwargs={"net_arch": [8, 6, 4], **TIME}, seed=3)
    env = model.get_env()
    buffer = ContextReplayBuffer(100, env.observation_space, env.action_space, n_envs=1, context_size=context_size)
    obs, state, start, observations, carried = env.reset(), None, np.ones(1, bool), [], []
    while len(observations) < n_steps:  # one episode of at least n_steps (CartPole's first steps never end it)
        observations.append(obs[0])
        carried.append(state)
        action, state = model.predict(obs, state, start, deterministic=True)
        next_obs, reward, done, infos = env.step(action)
        assert not done[0]
        buffer.add(obs, next_obs, action, reward, done, infos)
        obs, start = next_obs, done

    def act_over(window):
        state = None
        for x in window:
            _, state = model.predict(x[None], state, deterministic=True)
        return state

    params = [{k: v.double() for k, v in cell.state_dict().items()} for cell in model.q_net.cells]
    for t in range(n_steps):
        slots = buffer.window_indices(np.array([t]), np.array([0]))[0]
        window = th.as_tensor(buffer.observations[slots, 0])
        assert np.array_equal(buffer.observations[slots, 0], np.stack(naive_window(observations, t, 0, context_size)))
        rebuilt = model.q_net.replay(window[None, :-1])
        expected = act_over(naive_window(observations, t, 0, context_size)[:-1])
        naive_inputs = [th.as_tensor(x, dtype=th.float64)[None] for x in naive_window(observations, t, 0, context_size)[:-1]]
        naive = naive_replay(params, naive_inputs)
        for level in range(3):
            np.testing.assert_array_equal(rebuilt[level].detach().numpy(), expected[level])
            # float32 against the exact (float64) naive replay, relative to the activity's scale
            assert (rebuilt[level].double() - naive[level]).abs().max() <= 1e-5 * naive[level].abs().max()
            if t == context_size:
                np.testing.assert_array_equal(rebuilt[level].detach().numpy(), carried[t][level])


@pytest.mark.parametrize("context_size", [1, 3, 10])
def test_rebuilt_next_state_context_equals_acting_context(context_size):
    """
    For a sample whose window x_{t-C} .. x_t starts at the episode start (t = C), the rebuilt contexts are acting's:
    s_t's is the context acting carried into x_t, and s_{t+1}'s (online, and target with the target cells equal to
    the online ones) is the context acting made at x_t, one step of the same recursion further.
    """
    model = ARQ(
        "MlpPolicy",
        "CartPole-v1",
        context_size=context_size,
        learning_starts=10_000,
        policy_kwargs={"net_arch": [8, 6, 4], **TIME},
    )
    recorder = RecordActingContext()
    model.learn(300, callback=recorder)
    starts = [t for t, (_, start, _) in enumerate(recorder.steps) if start[0]]
    episode = next(t for t, end in zip(starts, [*starts[1:], len(recorder.steps)], strict=True) if end - t > context_size)
    t = episode + context_size
    window = model.replay_buffer.observations[model.replay_buffer.window_indices(np.array([t]), np.array([0])), 0]
    np.testing.assert_array_equal(window[0], np.stack([obs[0] for obs, _, _ in recorder.steps[episode : t + 1]]))
    with th.no_grad():
        context, next_context, target_next_context = model._contexts(th.as_tensor(window))
    for level in range(3):
        np.testing.assert_array_equal(context[level].numpy(), recorder.steps[t - 1][2][level])
        np.testing.assert_array_equal(next_context[level].numpy(), recorder.steps[t][2][level])
        np.testing.assert_array_equal(target_next_context[level].numpy(), recorder.steps[t][2][level])


class RecordActingContext(BaseCallback):
    """Records, at every env step of collection, the observation, its episode-start flag and the context acting made."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def _on_step(self) -> bool:
        model = self.model
        context = [h.cpu().numpy().copy() for h in model._actor.context]  # copies: graph_acting overwrites its tensors
        self.steps.append((model._last_obs.copy(), model._last_episode_starts.copy(), context))
        return True


@pytest.mark.parametrize("graph_acting", [False, True])
def test_training_time_acting_equals_predict_loop(graph_acting):
    """
    The context carried while collecting (random actions included) is the one predict(obs, state, start) gives, also
    when acting goes through the ActingGraph (compiled on CPU: each step up to float rounding).
    """
    model = ARQ(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=10_000,
        graph_acting=graph_acting,
        policy_kwargs={"net_arch": [8, 4], **TIME},
        seed=0,
    )
    recorder = RecordActingContext()
    model.learn(80, callback=recorder)
    assert sum(start[0] for _, start, _ in recorder.steps) >= 3  # several episodes, so resets are exercised
    state = None
    for obs, start, context in recorder.steps:
        _, state = model.policy.predict(obs, state, start)
        for level in range(2):
            np.testing.assert_allclose(state[level], context[level], rtol=0, atol=1e-3 if graph_acting else 0)
        if graph_acting:  # step by step: the rounding of one step (amplified by LayerNorm over 4 units) is not carried on
            state = tuple(context)


def test_set_training_mode_sets_every_flag_as_module_train():
    """SB3 switches the mode at every collection and update: ARQ's faster switch sets the flags nn.Module.train sets."""
    policy, reference = make_policy(), make_policy()
    for mode in (False, True, False):
        policy.set_training_mode(mode)
        reference.train(mode)
        flags = [(name, module.training) for name, module in policy.named_modules()]
        assert flags == [(name, module.training) for name, module in reference.named_modules()]
        assert {flag for _, flag in flags} == {mode}
