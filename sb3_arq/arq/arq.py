import io
import pathlib
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule, TensorDict, TrainFreq
from stable_baselines3.common.utils import polyak_update
from torch.nn import functional as F

from sb3_arq.arq.acting import ActingGraph
from sb3_arq.arq.buffers import ContextReplayBuffer, ContextReplayBufferSamples, DeviceContextReplayBuffer
from sb3_arq.arq.policies import ARQPolicy, MlpPolicy
from sb3_arq.arq.stack import CellStack, Context
from sb3_arq.common.checks import check_int, check_number, check_train_freq
from sb3_arq.common.cuda_graph import CapturedStep
from sb3_arq.common.files import atomic_write, check_model_file, load_verified_pickle, save_verified_pickle, write_path
from sb3_arq.common.registration import register_env_family
from sb3_arq.common.wrappers import BangBangWrapper

SelfARQ = TypeVar("SelfARQ", bound="ARQ")
# Warn when a TD target exceeds the largest Q a cell can represent by this factor
TARGET_SCALE_WARNING = 10.0


class ARQ(OffPolicyAlgorithm):
    """
    ARQ: layer-local deep Q-learning with action-conditioned root mean squared Q-functions
    (Wu & Ren, ICLR 2026, https://arxiv.org/abs/2510.06649).

    A DQN-style agent (replay, epsilon-greedy, per-cell target copies, double Q) whose Q-network is a stack of cells;
    each cell makes its own estimate Q^l(s, a), is trained only on its own TD error with its own optimizer, and no
    gradient crosses a cell boundary (docs/algorithm.md, "4. Learning rule"). Defaults are the published MinAtar
    settings (docs/algorithm.md, "10. Published settings").

    Acting: the greedy action maximises the mean of the cells' Q; each env carries its context (the cells' previous
    activities), zero at episode start and advanced on every step, also when the action taken was random (the
    reference code skips that update on random actions; we do not, so that training-time acting equals
    ``predict(obs, state, episode_start)``). Training rebuilds the contexts of a sampled transition by running the
    cells over the ``context_size`` observations before it and the transition's own (clipped at the episode start;
    docs/algorithm.md, "3. Context windows in training").

    An ARQ cell's Q is a goodness >= 0, so returns below zero cannot be represented: a warning is issued at the first
    negative reward (not for the AD cell, whose Q can be negative).

    :param policy: The policy model to use ("MlpPolicy" or ``ARQPolicy``).
    :param env: The environment to learn from (if registered in Gym, can be str). Discrete actions only.
    :param learning_rate: Learning rate of every cell's optimizer (constant or schedule of progress remaining).
    :param buffer_size: Size of the replay buffer (the reference uses 5M for MinAtar, 4M for DMC).
    :param learning_starts: Steps of uniformly random actions before learning starts.
    :param batch_size: Minibatch size of each update.
    :param tau: Target update coefficient (1 for a hard copy).
    :param gamma: Discount factor.
    :param train_freq: Update the model every ``train_freq`` steps (or ``(n, "episode")``).
    :param gradient_steps: Gradient steps per rollout (-1: as many as env steps collected; 0: collect only, as in SB3).
    :param target_update_interval: Update the target cells every ``target_update_interval`` environment steps.
    :param exploration_fraction: Fraction of the run, after ``learning_starts``, over which epsilon is annealed.
    :param exploration_initial_eps: Epsilon when the annealing starts (it is 1 during ``learning_starts``).
    :param exploration_final_eps: Final epsilon.
    :param max_grad_norm: Gradient clipping of each cell, to this global norm over the cell's parameters.
    :param context_size: Observations C before a sampled transition replayed to rebuild its contexts.
    :param compile_update: Compute the cells' losses through ``torch.compile`` with this mode ("default",
        "reduce-overhead" for CUDA graphs, "max-autotune"), or None (eager). Exact up to float rounding; see the
        throughput benchmark for what it gains.
    :param graph_acting: Collect through an ``ActingGraph``: every env step is one fixed sequence of device operations
        from static tensors, with epsilon drawn on the device, captured once as a CUDA graph and replayed when the
        policy is on CUDA (run eagerly elsewhere). Greedy actions and contexts are unchanged; random actions then come
        from torch's generator instead of numpy's. ``predict`` is not affected.
    :param graph_update: Run each update (sampling, context replays, every cell's losses, backward, clipping, Adam) as
        one ``CapturedStep``: on CUDA, captured as a CUDA graph after three eager updates and replayed (the cells'
        Adam made capturable; a new learning rate, e.g. from a schedule, or batch size is captured anew); elsewhere run
        eagerly. Needs ``replay_buffer_class=DeviceContextReplayBuffer`` (sampling on the device, without host work).
    :param replay_buffer_class: ``ContextReplayBuffer`` (None, the default: numpy storage in host memory) or
        ``DeviceContextReplayBuffer`` (storage and sampling on the policy's device).
    :param replay_buffer_kwargs: Keyword arguments of the replay buffer (its ``context_size`` is ARQ's).
    :param optimize_memory_usage: Accepted like in every SB3 off-policy algorithm; the ``ContextReplayBuffer`` stores
        each observation once (SB3's memory-optimised layout) whatever its value, and keeps final observations aside.
    :param stats_window_size: Window size for the rollout logging (episodes).
    :param tensorboard_log: The log location for tensorboard (if None, no logging).
    :param policy_kwargs: Keyword arguments of the policy (``ARQPolicy``: net_arch, n_heads, goodness, ...).
    :param verbose: Verbosity level: 0 no output, 1 info messages, 2 debug messages.
    :param seed: Seed for the pseudo random generators.
    :param device: Device (cpu, cuda, ...) on which the code should be run ("auto": cuda if available).
    :param _init_setup_model: Whether or not to build the network at the creation of the instance.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy}
    policy: ARQPolicy
    q_net: CellStack
    q_net_target: CellStack
    replay_buffer: ContextReplayBuffer

    def __init__(
        self,
        policy: str | type[ARQPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 50_000,
        batch_size: int = 512,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        target_update_interval: int = 1000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.01,
        max_grad_norm: float = 1.0,
        context_size: int = 10,
        compile_update: str | None = None,
        graph_acting: bool = False,
        graph_update: bool = False,
        replay_buffer_class: type[ContextReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        if isinstance(env, str):
            register_env_family(env)  # MinAtar/... and dm_control/... ids work without importing sb3_arq.envs
        if isinstance(policy, str):
            # The class, not its name: SB3 would answer "use MultiInputPolicy" to "MlpPolicy" on a Dict space, which ARQ
            # does not have; _setup_model says what to do instead.
            policy = self._get_policy_from_name(policy)
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=ContextReplayBuffer if replay_buffer_class is None else replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            support_multi_env=True,
        )
        self.target_update_interval = target_update_interval
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.max_grad_norm = max_grad_norm
        self.context_size = context_size
        self.compile_update = compile_update
        self._compiled_cell_losses = None
        self.graph_acting = graph_acting
        self._acting_graph: ActingGraph | None = None
        self.graph_update = graph_update
        self._update_graph: CapturedStep | None = None
        self._update_graph_key: tuple | None = None  # (batch size, learning rates) it was captured with
        self.exploration_rate = 1.0
        self._n_calls = 0  # env steps (of all envs together) since the model was created
        self._last_context: Context | None = None  # each env's context while collecting (graph_acting: overwritten in place)
        # The context before the step in progress: set when acting, cleared once the env stepped and the transition was
        # stored. Still set at the next action (the env raised, or a callback stopped learning before storing it): the
        # same observation is acted on again, from this context.
        self._context_before_step: Context | None = None
        self._step_in_progress = False
        self._warned_negative_reward = False
        self._warned_reward_scale = False
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, ARQPolicy)):
            raise ValueError(f"ARQ needs an ARQPolicy, got {self.policy_class!r}: is this file an ARQ model?")
        if not isinstance(self.action_space, spaces.Discrete):
            raise ValueError(
                f"ARQ needs a Discrete action space, got {self.action_space}. Discretise a Box action space with "
                "sb3_arq.envs.BangBangWrapper (every corner of the box)."
            )
        self._check_arguments()
        if self.policy_kwargs.get("action_encoding", "auto") == "auto":
            bang_bang = self.env is not None and all(self.env.env_is_wrapped(BangBangWrapper))
            # A new dict: the caller's policy_kwargs stay as given.
            self.policy_kwargs = {**self.policy_kwargs, "action_encoding": "binary" if bang_bang else "onehot"}
        self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "context_size": self.context_size}
        super()._setup_model()
        if not self.policy.uses_context:
            self.replay_buffer.context_size = 0  # no connection through time: no window to gather
        self._create_aliases()

    def _check_arguments(self) -> None:
        """Refuse, with the parameter's name and its valid range, what would fail later or train silently into NaN."""
        if isinstance(self.observation_space, spaces.Dict):
            raise ValueError(
                f"ARQ's cells read one flat observation vector, got a Dict observation space {self.observation_space}. "
                "Wrap the env in sb3_arq.envs.FlattenDictObservation (the entries concatenated in the Dict space's key "
                "order, as float32) and use 'MlpPolicy'."
            )
        self.policy_class.check_policy_kwargs(self.policy_kwargs)
        for name in ("graph_acting", "graph_update"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not (isinstance(self.replay_buffer_class, type) and issubclass(self.replay_buffer_class, ContextReplayBuffer)):
            raise TypeError(
                "replay_buffer_class must be ContextReplayBuffer or DeviceContextReplayBuffer (sb3_arq.arq.buffers): ARQ's "
                f"training needs the observation windows of the contexts, got {self.replay_buffer_class!r}"
            )
        if self.graph_update and not issubclass(self.replay_buffer_class, DeviceContextReplayBuffer):
            raise ValueError(
                "graph_update=True needs replay_buffer_class=DeviceContextReplayBuffer (sb3_arq.arq.buffers): the "
                f"captured update samples on the device, without host work; got {self.replay_buffer_class.__name__}"
            )
        if self.graph_update and self.compile_update in ("reduce-overhead", "max-autotune"):
            raise ValueError(
                f"compile_update={self.compile_update!r} makes CUDA graphs of its own, which cannot be captured inside "
                "graph_update's: use compile_update=None or 'default' with graph_update=True"
            )
        check_int("batch_size", self.batch_size, 1)
        check_int("buffer_size", self.buffer_size, 1)
        if self.buffer_size // self.n_envs < 2:
            raise ValueError(
                f"buffer_size must hold at least 2 transitions per env, i.e. >= {2 * self.n_envs} for {self.n_envs} "
                f"env(s), got {self.buffer_size}"
            )
        check_int("learning_starts", self.learning_starts, 0)
        check_int("gradient_steps", self.gradient_steps, 0, allowed=(-1,))
        check_int("target_update_interval", self.target_update_interval, 1)
        check_int("context_size", self.context_size, 1)
        check_train_freq(self.train_freq.frequency if isinstance(self.train_freq, TrainFreq) else self.train_freq)
        check_number("gamma", self.gamma, 0.0, 1.0)
        check_number("tau", self.tau, 0.0, 1.0, low_open=True)
        check_number("max_grad_norm", self.max_grad_norm, 0.0, float("inf"), low_open=True)
        check_number("exploration_fraction", self.exploration_fraction, 0.0, 1.0)
        check_number("exploration_initial_eps", self.exploration_initial_eps, 0.0, 1.0)
        check_number("exploration_final_eps", self.exploration_final_eps, 0.0, 1.0)
        if not callable(self.learning_rate):  # 0 is allowed: rl-zoo3's enjoy loads models with learning_rate 0
            check_number("learning_rate", self.learning_rate, 0.0, float("inf"), high_open=True)
        if self.n_envs > self.target_update_interval:
            warnings.warn(
                "The number of environments used is greater than the target network update interval "
                f"({self.n_envs} > {self.target_update_interval}), therefore the target cells will be updated after each "
                f"call to env.step() which corresponds to {self.n_envs} steps (SB3's DQN warning).",
                stacklevel=2,
            )

    def _get_policy_from_name(self, policy_name: str) -> type[BasePolicy]:
        if policy_name in ("CnnPolicy", "MultiInputPolicy"):
            raise ValueError(
                f"ARQ has no {policy_name}: its cells read one flat observation vector (uint8 images are scaled to "
                "[0, 1] and flattened), and no gradient may cross a cell, so there is no shared convolutional feature "
                "extractor. Use 'MlpPolicy' (for a Dict observation space, wrap the env in "
                "sb3_arq.envs.FlattenDictObservation)."
            )
        return super()._get_policy_from_name(policy_name)

    def _create_aliases(self) -> None:
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target

    def _on_step(self) -> None:
        """Update the target cells every ``target_update_interval`` env steps, and epsilon."""
        self._n_calls += 1
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
        self.exploration_rate = self._exploration_rate()
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _exploration_rate(self) -> float:
        """1 during ``learning_starts``, then linear to the final epsilon over ``exploration_fraction`` of the run."""
        if self.num_timesteps < self.learning_starts:
            return 1.0
        annealed = (self.num_timesteps - self.learning_starts) / max(self.exploration_fraction * self._total_timesteps, 1.0)
        return self.exploration_initial_eps + min(annealed, 1.0) * (self.exploration_final_eps - self.exploration_initial_eps)

    def _contexts(self, window: th.Tensor | None) -> tuple[Context, Context, Context]:
        """
        Contexts of s_t (online), s_{t+1} (online) and s_{t+1} (target) from the window x_{t-C} .. x_t: the online h
        path runs over the window once from a zero context; its state after x_{t-1} (C steps) is the context of s_t,
        and one step further, after x_t (C + 1 steps, as acting does), that of s_{t+1}. The target cells run the same
        C + 1 steps from zero.
        """
        if window is None:
            return [], [], []
        x_window = self.policy.flatten_obs(window.flatten(0, 1)).unflatten(0, window.shape[:2])
        context = self.q_net.replay(x_window[:, :-1])
        next_context = self.q_net.activities(x_window[:, -1], context)
        return context, next_context, self.q_net_target.replay(x_window)

    def _cell_losses(self, data: ContextReplayBufferSamples) -> tuple[list[th.Tensor], th.Tensor]:
        """
        The learning rule for every cell l (docs/algorithm.md, "4. Learning rule"): its own double-Q TD target and MSE
        loss. Cell l's loss depends on cell l's parameters only (its inputs are detached).

        :return: The losses, and the update's statistics, one row: every cell's loss, its mean Q of the taken actions,
            its largest |TD target| over the largest |Q| it can represent (``LocalCell.q_bound``), then whether the
            batch's rewards and observations were all finite.
        """
        obs = self.policy.flatten_obs(data.observations)
        next_obs = self.policy.flatten_obs(data.next_observations)
        actions = data.actions.long().flatten()
        with th.no_grad():
            context, next_context, target_next_context = self._contexts(data.context_observations)
            # Double Q per cell: each cell picks a* by its own online estimate, its target copy evaluates it.
            _, next_q_online = self.q_net(next_obs, next_context)
            next_actions = [q.argmax(dim=1) for q in next_q_online]
            _, next_q = self.q_net_target(next_obs, target_next_context, next_actions)
            targets = [data.rewards.flatten() + (1 - data.dones.flatten()) * self.gamma * q for q in next_q]
        hs, q_values = self.q_net(obs, context, [actions] * len(targets))
        losses = [F.mse_loss(q, target) for q, target in zip(q_values, targets, strict=True)]
        with th.no_grad():
            scales = [y.abs().max() / cell.q_bound(h).mean() for y, cell, h in zip(targets, self.q_net.cells, hs, strict=True)]
            finite_obs = th.isfinite(obs).all() & th.isfinite(next_obs).all()
            if data.context_observations is not None:  # an observation may reach the batch through a window only
                finite_obs = finite_obs & th.isfinite(data.context_observations).all()
            finite = [th.isfinite(data.rewards).all(), finite_obs]
            stats = th.stack([*losses, *(q.mean() for q in q_values), *scales, *finite]).detach()
        return losses, stats

    def _update(self, batch_size: int) -> th.Tensor:
        """One update of every cell on one sampled batch; returns the update's statistics (see ``_cell_losses``)."""
        cell_losses = self._compiled_cell_losses or self._cell_losses
        losses, stats = cell_losses(self.replay_buffer.sample(batch_size, env=self._vec_normalize_env))
        self.policy.optimizer.zero_grad()
        # One backward pass for all cells: the losses share no parameter, so each cell's gradient is that of its own
        # loss alone (no gradient crosses a cell); then each cell clips and steps on its own.
        th.stack(losses).sum().backward()
        for cell, optimizer in zip(self.q_net.cells, self.policy.optimizer.optimizers, strict=True):
            th.nn.utils.clip_grad_norm_(cell.parameters(), self.max_grad_norm)
            optimizer.step()
        return stats

    def _graphed_update(self, batch_size: int) -> CapturedStep:
        """
        The ``CapturedStep`` of ``_update`` for this batch size and the optimizers' current learning rates (a CUDA
        graph replay on CUDA, with the cells' Adam made capturable; eager elsewhere).
        """
        key = (batch_size, tuple(group["lr"] for group in self.policy.optimizer.param_groups))
        if self._update_graph is None or self._update_graph_key != key:
            capture = self.device.type == "cuda"
            if capture:
                self.policy.optimizer.make_capturable()
            warmup = 3 if self._update_graph is None else 0  # a recapture needs no new warm-up
            generators = [self.replay_buffer.generator]  # the device buffer's sampling generator
            self._update_graph = CapturedStep(lambda: self._update(batch_size), capture, warmup, generators)
            self._update_graph_key = key
        return self._update_graph

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """SB3's update of the optimizers' learning rate, after checking the scheduled value (finite, >= 0)."""
        value = self.lr_schedule(self._current_progress_remaining)
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(
                f"learning_rate's schedule returned {value!r} at progress_remaining {self._current_progress_remaining!r} "
                f"(update {self._n_updates + 1}): a learning rate must be a finite number >= 0"
            )
        super()._update_learning_rate(optimizers)

    def train(self, gradient_steps: int, batch_size: int = 512) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        if self.compile_update is not None and self._compiled_cell_losses is None:
            self._compiled_cell_losses = th.compile(self._cell_losses, mode=self.compile_update)
        update = self._graphed_update(batch_size) if self.graph_update else lambda: self._update(batch_size)
        # A captured update returns its statistics in the graph's memory, which the next replay overwrites: copies.
        stats = [update().clone() for _ in range(gradient_steps)]
        stats = th.stack(stats).cpu().numpy()  # one device sync per train() call: (gradient_steps, statistics)
        n_cells = len(self.q_net.cells)
        self._check_training(stats, n_cells)
        self._n_updates += gradient_steps
        means = stats.mean(axis=0)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", means[:n_cells].mean())
        for level in range(n_cells):
            self.logger.record(f"train/loss_cell{level}", means[level])
            self.logger.record(f"train/q_cell{level}", means[n_cells + level])

    def _check_training(self, stats: np.ndarray, n_cells: int) -> None:
        """
        Stop at a non-finite loss or Q, saying which cell, at which update and the likely cause; warn once when the TD
        targets are far beyond what the cells can represent (see ``_cell_losses`` for the columns of ``stats``).
        """
        bad = ~np.isfinite(stats[:, : 2 * n_cells])
        if bad.any():
            step, column = np.argwhere(bad)[0]
            rewards_finite, obs_finite = stats[step, 3 * n_cells :]
            if not obs_finite:
                cause = "the sampled observations contain NaN or inf: check the env (and VecNormalize's statistics)"
            elif not rewards_finite:
                cause = "the sampled rewards contain NaN or inf: check the env's rewards"
            else:
                cause = "the cell diverged: lower learning_rate or max_grad_norm, or scale the rewards"
            raise ValueError(
                f"ARQ stopped: cell {column % n_cells}'s {'loss' if column < n_cells else 'Q'} became "
                f"{stats[step, column]} at update {self._n_updates + step + 1}; {cause}. The cells' parameters may be "
                "non-finite from this update on: reload a saved model to go on."
            )
        scale = stats[:, 2 * n_cells : 3 * n_cells].max()
        if not self._warned_reward_scale and scale > TARGET_SCALE_WARNING:
            warnings.warn(
                f"ARQ's TD targets are up to {scale:.0f}x the largest Q its cells can represent (|y_i| <= ||h||_1, "
                "as |tanh| <= 1): the cells cannot fit them. Scale the rewards down, e.g. with VecNormalize(env, "
                "norm_obs=False, norm_reward=True) or a reward wrapper (see the README).",
                stacklevel=3,
            )
            self._warned_reward_scale = True

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Epsilon-greedy action (per env) around the greedy action, carrying the context like a recurrent policy.

        :param observation: The input observation(s).
        :param state: The context returned by the previous call (None at the start).
        :param episode_start: Per env, whether this step starts an episode (its context is reset).
        :param deterministic: Greedy actions (no epsilon).
        :return: The actions and the new context (None when the policy has no connection through time).
        """
        actions, state = self.policy.predict(observation, state, episode_start, deterministic)
        return (actions if deterministic else self._explore(actions)), state

    def _explore(self, actions: np.ndarray) -> np.ndarray:
        """Replace each env's action by a uniformly random one with probability ``exploration_rate``."""
        actions = np.array(actions)  # a copy, also for a single (0-d) action
        flat_actions = actions.reshape(-1)
        for i in np.flatnonzero(np.random.rand(flat_actions.size) < self.exploration_rate):
            flat_actions[i] = self.action_space.sample()
        return actions

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """
        Every step goes through the policy, also random ones, so that each env's context advances; the context stays
        on the policy's device between steps (in the ``ActingGraph`` with ``graph_acting``). A step that did not
        complete (see ``_context_before_step``) is undone first, so that no observation is fed to the context twice.
        """
        if self._step_in_progress:
            if self.graph_acting and self._acting_graph is not None:
                self._acting_graph.undo_step()
            else:
                self._last_context = self._context_before_step
        self._step_in_progress = True
        if self.graph_acting:
            if self._acting_graph is None or self._acting_graph.n_envs != self.n_envs:
                capture = self.device.type == "cuda"
                self._acting_graph = ActingGraph(self.policy, self.n_envs, capture, self._last_context)
            actions = self._acting_graph(self._last_obs, self._last_episode_starts, self.exploration_rate)
            self._last_context = self._acting_graph.context  # its static tensors: the current context
            return actions, actions
        obs = self.policy.obs_to_tensor(self._last_obs)[0]
        episode_start = th.as_tensor(self._last_episode_starts, device=self.device)
        self._context_before_step = self._last_context  # act() makes new tensors: a reference, no copy
        actions, self._last_context = self.policy.act(obs, self._last_context, episode_start)
        actions = self._explore(actions.cpu().numpy())
        return actions, actions

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if not self._warned_negative_reward and self.policy.cell_class.nonnegative_q and np.any(reward < 0):
            warnings.warn(
                "ARQ received a negative reward: the Q-values of its cells are goodness values >= 0 and cannot "
                "represent negative returns. Wrap the env in sb3_arq.envs.ShiftReward(env, shift, gamma), which makes "
                'the rewards >= 0 and keeps the optimal policy (README, "Negative rewards").',
                stacklevel=2,
            )
            self._warned_negative_reward = True
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._last_episode_starts = dones
        self._step_in_progress = False

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if reset_num_timesteps or self._last_obs is None:
            # The env is about to be reset: the episodes in progress end here, and so do their contexts.
            self.replay_buffer.truncate_last_trajectory()
            self._last_context = None
            self._step_in_progress = False
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self.exploration_rate = self._exploration_rate()  # the first step's epsilon (then _on_step updates it)
        return total_timesteps, callback

    def learn(
        self: SelfARQ,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "ARQ",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfARQ:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def set_parameters(
        self,
        load_path_or_dict: str | dict[str, TensorDict],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        params = load_path_or_dict
        if not isinstance(params, dict):
            _, params, _ = load_from_zip_file(load_path_or_dict, device=device, load_data=False)
        expected = {name: value.shape for name, value in self.policy.state_dict().items()}
        found = {name: value.shape for name, value in params.get("policy", {}).items()}
        if exact_match and expected != found:
            # RuntimeError, as torch's strict loading raises in SB3; a size mismatch is told apart from a foreign file.
            missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
            n_cells = len({name.split(".")[2] for name in found if name.startswith("q_net.cells.")})
            if 0 < n_cells != len(self.q_net.cells) or not (missing or unexpected):
                resized = sorted(name for name in expected.keys() & found.keys() if expected[name] != found[name])
                raise RuntimeError(
                    f"The saved policy does not fit this ARQ: the file has {n_cells} cell(s), this model has "
                    f"{len(self.q_net.cells)} of widths {self.policy.net_arch}; parameters of other sizes, e.g. "
                    f"{(resized or missing or unexpected)[:3]}. Load it with the policy_kwargs it was saved with."
                )
            raise RuntimeError(
                f"The saved policy is not a complete ARQ policy of this version: missing tensor(s) {missing[:3]}"
                f"{' ...' if len(missing) > 3 else ''}, unexpected tensor(s) {unexpected[:3]}"
                f"{' ...' if len(unexpected) > 3 else ''}. Is the file corrupted, or saved by another algorithm or version?"
            )
        super().set_parameters(params, exact_match=exact_match, device=device)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """
        Save the model as SB3 does (a zip file, ".zip" added to a path without suffix), atomically: written to a
        temporary file in the same folder, flushed, fsync-ed and renamed over ``path``, so that a process killed at any
        instant leaves the old file or the new one (an open file object is written as it is).

        :param path: Path of the file, or an open binary file.
        :param exclude: Names of parameters to exclude in addition to the default ones.
        :param include: Names of parameters that might be excluded but should be included anyway.
        """
        if not isinstance(path, (str, pathlib.Path)):
            return super().save(path, exclude, include)
        with atomic_write(write_path(path, "zip")) as file:
            super().save(file, exclude, include)

    @classmethod
    def load(
        cls: type[SelfARQ],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs,
    ) -> SelfARQ:
        """
        SB3's ``load``, after checking that the file is a complete model zip (a ValueError naming the file otherwise,
        also under ``python -O``, which strips SB3's own check). See ``BaseAlgorithm.load`` for the parameters.
        """
        check_model_file(path)
        return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the replay buffer as a pickle (".pkl" added to a path without suffix) followed by its SHA-256 checksum,
        which ``load_replay_buffer`` verifies; atomically, as ``save`` (SB3's ``load_from_pkl`` still reads the file).

        :param path: Path of the file, or an open binary file.
        """
        if self.replay_buffer is None:
            raise ValueError("The model has no replay buffer to save (replay_buffer is None)")
        save_verified_pickle(self.replay_buffer, path)

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """
        Load a replay buffer saved by ``save_replay_buffer``, after verifying its checksum and checking that it fits
        this model: a ``ContextReplayBuffer`` with this model's context size, number of envs and spaces. A file that is
        truncated or corrupted, or a buffer that does not fit, is refused with a ValueError naming what is wrong, and
        the model keeps its own buffer. A file without checksum (saved before sb3-arq verified them) loads unverified,
        with a warning. As in SB3, a ``ContextReplayBuffer`` then samples onto ``model.device``.

        :param path: Path to the pickled replay buffer (or an open binary file).
        :param truncate_last_traj: Unused (SB3 uses it for ``HerReplayBuffer``).
        """
        buffer = load_verified_pickle(path)
        if not isinstance(buffer, ContextReplayBuffer):
            raise ValueError(
                f"ARQ needs a ContextReplayBuffer (it stores the observation windows of the contexts), the file holds a "
                f"{type(buffer).__name__}: save one with an ARQ model's save_replay_buffer()."
            )
        expected = {
            "context_size": self.context_size if self.policy.uses_context else 0,
            "n_envs": self.n_envs,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
        }
        found = {name: getattr(buffer, name) for name in expected}
        differing = [f"{name} {found[name]} (this model: {value})" for name, value in expected.items() if found[name] != value]
        if differing:
            raise ValueError(
                f"The replay buffer does not fit this model: {'; '.join(differing)}. Load it into a model with the same "
                "context_size (and time connections), number of envs and spaces, or start with an empty buffer."
            )
        if isinstance(buffer, DeviceContextReplayBuffer):
            if buffer.observations.device.type != self.device.type:
                raise ValueError(
                    f"The DeviceContextReplayBuffer's storage is on {buffer.observations.device}, this model on "
                    f"{self.device}: load it into a model on the device it was saved from."
                )
        else:
            buffer.device = self.device
        self.replay_buffer = buffer
        self._update_graph = None  # a captured update reads the old buffer's tensors

    def _excluded_save_params(self) -> list[str]:
        graphs = ["_compiled_cell_losses", "_acting_graph", "_update_graph", "_update_graph_key"]
        contexts = ["_last_context", "_context_before_step", "_step_in_progress"]
        return [*super()._excluded_save_params(), "q_net", "q_net_target", *contexts, *graphs]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []
