import warnings

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env

import sb3_arq.envs  # noqa: F401  (registers the MinAtar ids)
from sb3_arq import ARQ
from sb3_arq.naive import naive_codes, naive_td_losses
from tests.helpers import SMALL, VARIANTS, small_model


def cell_params(model: ARQ) -> list[list[th.Tensor]]:
    return [[p.detach().clone() for p in cell.parameters()] for cell in model.q_net.cells]


def test_one_update_matches_naive_spec_learning_rule():
    """
    train() against the learning rule written naively: shifted and scaled rewards, rebuilt contexts, per-cell double Q,
    MSE, per-cell clipping.
    """
    gamma, lr, max_grad_norm, batch_size, shift, scale = 0.9, 0.5, 0.05, 64, 0.7, 0.3
    model = small_model(
        gamma=gamma,
        max_grad_norm=max_grad_norm,
        reward_shift=shift,
        reward_scale=scale,
        # widths at which no cell of the sample is dead (all ReLUs off: the naive sqrt's gradient is NaN there)
        policy_kwargs={**SMALL["policy_kwargs"], "net_arch": [16, 12, 10], "optimizer_class": th.optim.SGD},
        learning_rate=lr,
    )
    model.learn(200)  # fills the buffer; no update yet
    with th.no_grad():  # make the target cells differ from the online ones, as they do between target updates
        for p in model.q_net_target.cells.parameters():
            p.add_(0.1 * th.randn_like(p))
    online = [{k: v.double() for k, v in cell.state_dict().items()} for cell in model.q_net.cells]
    target = [{k: v.double() for k, v in cell.state_dict().items()} for cell in model.q_net_target.cells]
    before = cell_params(model)
    np.random.seed(7)
    data = model.replay_buffer.sample(batch_size)
    np.random.seed(7)
    model.train(gradient_steps=1, batch_size=batch_size)

    leaves = [{k: v.clone().requires_grad_(True) for k, v in params.items()} for params in online]
    assert data.dones.sum() > 0  # terminations in the batch: the end bonus of the shift is checked
    losses = naive_td_losses(
        leaves, target, data, gamma, naive_codes(2, "onehot"), n_heads=2, reward_shift=shift, reward_scale=scale
    )
    for level, (params, loss) in enumerate(zip(leaves, losses, strict=True)):
        loss.backward()
        names = [name for name, _ in model.q_net.cells[level].named_parameters()]
        grads = [params[name].grad for name in names]
        norm = th.sqrt(sum((g**2).sum() for g in grads))
        assert th.isfinite(norm) and norm > max_grad_norm  # finite: no dead cell (NaN in the naive sqrt); clipping on
        for name, old, new in zip(names, before[level], model.q_net.cells[level].parameters(), strict=True):
            step = (old - new.detach()).double() / lr
            expected = params[name].grad * max_grad_norm / (norm + 1e-6)
            th.testing.assert_close(step, expected, rtol=2e-3, atol=2e-7, msg=f"cell {level} {name}")


@pytest.mark.parametrize("cell_product", ["dense", "chunked"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_cells_gradient_comes_from_its_own_loss_only(variant, cell_product):
    """On the autograd graph of train()'s losses, the other cells' losses reach none of a cell's parameters, so the
    single backward pass of train() gives each cell exactly the gradient of its own TD loss (with every product)."""
    model = small_model(policy_kwargs={**SMALL["policy_kwargs"], **VARIANTS[variant], "cell_product": cell_product})
    model.learn(200)
    losses, _ = model._cell_losses(model.replay_buffer.sample(16))
    for level, cell in enumerate(model.q_net.cells):
        params = list(cell.parameters())
        others = sum(loss for other, loss in enumerate(losses) if other != level)
        assert all(g is None for g in th.autograd.grad(others, params, retain_graph=True, allow_unused=True))
        own = th.autograd.grad(losses[level], params, retain_graph=True)
        assert all(th.isfinite(g).all() for g in own) and any(g.abs().sum() > 0 for g in own)


def test_no_gradient_crosses_a_cell():
    """The autograd graph of cell l's Q reaches no parameter of another cell, neither through inputs nor context."""
    model = small_model()
    policy = model.policy
    x = th.randn(5, 4)
    context = [h.requires_grad_(True) for h in policy.q_net.replay(th.randn(5, 3, 4))]
    _, qs = policy.q_net(x, context, [th.zeros(5, dtype=th.long)] * 3)
    for level, q in enumerate(qs):
        others = [p for other, cell in enumerate(policy.q_net.cells) if other != level for p in cell.parameters()]
        grads = th.autograd.grad(q.sum(), [*others, *context], allow_unused=True)
        # The context was computed with gradients here on purpose: q_values still must not pass them on.
        assert all(g is None for g in grads)
        own = th.autograd.grad(q.sum(), list(policy.q_net.cells[level].parameters()), allow_unused=True)
        assert all(g is not None for g in own)


def swap_optimizer(model: ARQ, level: int) -> None:
    model.policy.optimizer.optimizers[level] = th.optim.SGD(model.q_net.cells[level].parameters(), lr=1.0)


@pytest.mark.parametrize(
    "changed, kwargs, n_updates, unchanged",
    [
        (1, {}, 1, [0, 2]),  # published wiring: one update of cell 1 alone changes, whatever its rule
        (2, {"recurrent_connections": False, "forward_connections": False}, 5, [0, 1]),  # feed-forward: cells below
    ],
)
def test_changing_one_cells_learning_rule_leaves_the_others_bit_identical(tmp_path, changed, kwargs, n_updates, unchanged):
    reference = small_model(policy_kwargs={**SMALL["policy_kwargs"], **kwargs})
    reference.learn(200)
    reference.save(tmp_path / "model")
    reference.save_replay_buffer(tmp_path / "buffer")
    other = ARQ.load(tmp_path / "model", env=reference.get_env(), device="cpu")
    other.load_replay_buffer(tmp_path / "buffer")
    other.set_logger(reference.logger)
    swap_optimizer(other, changed)
    for model in (reference, other):
        np.random.seed(3)
        model.train(gradient_steps=n_updates, batch_size=16)
    a, b = cell_params(reference), cell_params(other)
    assert not all(th.equal(x, y) for x, y in zip(a[changed], b[changed], strict=True))
    for level in unchanged:
        assert all(th.equal(x, y) for x, y in zip(a[level], b[level], strict=True)), level


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_load_round_trip(tmp_path, variant):
    model = small_model(exploration_fraction=0.5, policy_kwargs={**SMALL["policy_kwargs"], **VARIANTS[variant]})
    model.learn(400)
    model.save(tmp_path / "arq")
    loaded = ARQ.load(tmp_path / "arq", env=model.get_env(), device="cpu")
    assert loaded.num_timesteps == 400 and loaded.exploration_rate == model.exploration_rate < 1.0
    assert loaded.policy.net_arch == [8, 6, 5] and loaded.context_size == 3
    assert type(loaded.q_net.cells[0]) is type(model.q_net.cells[0])
    assert loaded.policy.goodness == model.policy.goodness and loaded.policy.cell_type == model.policy.cell_type
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)  # online and target cells
    for a, b in zip(model.policy.optimizer.optimizers, loaded.policy.optimizer.optimizers, strict=True):
        sa, sb = a.state_dict()["state"], b.state_dict()["state"]
        assert sa.keys() == sb.keys() and len(sa) > 0
        assert all(th.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    state, starts = None, np.array([True] * 6)
    loaded_state = None
    for _ in range(4):  # the acting context too
        action, state = model.predict(obs, state, starts, deterministic=True)
        loaded_action, loaded_state = loaded.predict(obs, loaded_state, starts, deterministic=True)
        np.testing.assert_array_equal(action, loaded_action)
        starts = np.zeros(6, bool)
    loaded.learn(300, reset_num_timesteps=False)
    assert loaded.num_timesteps == 700 and loaded._n_updates > model._n_updates


def test_multi_env_callbacks_tensorboard_progress_bar(tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = ARQ("MlpPolicy", env, **SMALL, tensorboard_log=str(tmp_path / "tb"), verbose=1, device="cpu", seed=0)
    eval_env = make_vec_env("CartPole-v1", n_envs=2)
    eval_callback = EvalCallback(eval_env, eval_freq=100, n_eval_episodes=2, log_path=str(tmp_path))
    checkpoints = CheckpointCallback(save_freq=150, save_path=str(tmp_path / "ckpt"), name_prefix="arq")
    model.learn(1000, callback=[eval_callback, checkpoints], progress_bar=True)
    assert model.num_timesteps >= 1000 and model._n_updates > 0
    assert len(np.load(tmp_path / "evaluations.npz")["results"]) >= 2
    assert len(list((tmp_path / "ckpt").glob("arq_*.zip"))) >= 1
    assert list((tmp_path / "tb").glob("ARQ_1/events.out.tfevents*"))
    assert model.replay_buffer.n_envs == 4


def test_minatar_breakout_trains_with_small_settings():
    model = small_model("MinAtar/Breakout-v1", buffer_size=5000)
    assert model.replay_buffer.observations.dtype == np.bool_  # 1 byte per grid cell
    model.learn(600)
    assert model._n_updates > 0
    action, state = model.predict(model.get_env().reset(), deterministic=True)
    assert action.shape == (1,) and state[0].shape == (1, 8)


def test_predict_epsilon_is_per_env():
    model = small_model()
    model.exploration_rate = 0.5
    obs = np.zeros((400, 4), np.float32)
    greedy, _ = model.predict(obs, deterministic=True)
    actions, _ = model.predict(obs)
    changed = np.mean(actions != greedy)
    assert 0.15 < changed < 0.35  # half explore, half of those pick the other action


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("Pendulum-v1", {}, "BangBangWrapper"),
        ("CartPole-v1", {"policy_kwargs": {"action_encoding": "binary", "net_arch": [4]}}, None),
        ("MinAtar/Breakout-v1", {"policy_kwargs": {"action_encoding": "binary"}}, "power-of-two"),
        ("CartPole-v1", {"policy_kwargs": {"net_arch": []}}, "net_arch"),
        ("CartPole-v1", {"policy_kwargs": {"goodness": "l2"}}, "goodness"),
        ("CartPole-v1", {"policy_kwargs": {"act_with": 5}}, "act_with"),
        ("CartPole-v1", {"context_size": 0}, "context_size"),
        ("CartPole-v1", {"policy_kwargs": {"cell_type": "mlp"}}, "cell_type must be one of"),
        ("CartPole-v1", {"policy_kwargs": {"action_encoding": "gray"}}, "action_encoding must be"),
        ("CartPole-v1", {"policy_kwargs": {"cell_type": "ad", "action_conditioning": "input"}}, "action_conditioning"),
        ("CartPole-v1", {"policy_kwargs": {"cell_type": "ad", "goodness": "rms"}}, "goodness applies to ARQ cells"),
    ],
)
def test_bad_input_is_refused_at_construction(env_id, kwargs, message):
    if message is None:  # a valid combination: 2 actions have a 1-bit code
        assert ARQ("MlpPolicy", env_id, **kwargs).q_net.cells[0].codes.tolist() == [[-1.0], [1.0]]
        return
    with pytest.raises(ValueError, match=message):
        ARQ("MlpPolicy", env_id, buffer_size=100, **kwargs)


def test_loading_a_file_that_is_not_arq_or_does_not_fit(tmp_path):
    DQN("MlpPolicy", "CartPole-v1").save(tmp_path / "dqn")
    with pytest.raises(ValueError, match="needs an ARQPolicy"):
        ARQ.load(tmp_path / "dqn")
    small_model().save(tmp_path / "arq")
    with pytest.raises(RuntimeError, match="the file has 3 cell"):
        ARQ.load(tmp_path / "arq", custom_objects={"policy_kwargs": {"net_arch": [8, 6], "n_heads": 2}})


def test_policy_kwargs_of_the_caller_are_not_modified():
    policy_kwargs = {"net_arch": [4]}
    assert ARQ("MlpPolicy", "CartPole-v1", buffer_size=100, policy_kwargs=policy_kwargs).policy.action_encoding == "onehot"
    assert policy_kwargs == {"net_arch": [4]}


def test_negative_rewards_warn_once():
    model = small_model("MountainCar-v0")
    with pytest.warns(UserWarning, match="negative reward") as record:
        model.learn(50)
    assert sum("negative reward" in str(w.message) for w in record) == 1
    ad_model = small_model("MountainCar-v0", policy_kwargs={**SMALL["policy_kwargs"], "cell_type": "ad"})
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*negative reward")  # the AD cell's Q can be negative
        ad_model.learn(50)


@pytest.mark.parametrize("cell_product", ["chunked", "auto", "triton"])
def test_training_with_each_cell_product_matches_dense(cell_product):
    """From the same seed, 20 updates with the chunked product, "auto" (on this CPU: dense, since the small model's
    products fit in one chunk) and "triton" (chunked without CUDA) leave the same parameters as with the dense one, to
    float32 round-off."""
    models = {}
    for product in ("dense", cell_product):
        models[product] = small_model(policy_kwargs={**SMALL["policy_kwargs"], "cell_product": product})
        models[product].learn(200)
        np.random.seed(5)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="cell_product='triton' cannot run here")
            models[product].train(gradient_steps=20, batch_size=16)
    for a, b in zip(models["dense"].policy.parameters(), models[cell_product].policy.parameters(), strict=True):
        th.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert models["dense"]._n_updates == 20


def test_unknown_cell_product_is_refused():
    with pytest.raises(ValueError, match=r"cell_product must be one of \['auto', 'triton', 'chunked', 'dense'\]"):
        small_model(policy_kwargs={**SMALL["policy_kwargs"], "cell_product": "fused"})


def test_compiled_update_matches_eager():
    """compile_update: train()'s losses through torch.compile equal the eager ones, and training runs on."""
    eager, compiled = small_model(), small_model(compile_update="default")
    for model in (eager, compiled):
        model.learn(200)
    compiled.train(gradient_steps=1, batch_size=16)  # compiles
    compiled.policy.load_state_dict(eager.policy.state_dict())
    data = eager.replay_buffer.sample(16)
    expected, _ = eager._cell_losses(data)
    losses, _ = compiled._compiled_cell_losses(data)
    th.testing.assert_close(th.stack(losses), th.stack(expected))
    compiled.learn(100, reset_num_timesteps=False)
    assert compiled._n_updates > 1
