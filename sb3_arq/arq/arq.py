import functools
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import LinearSchedule, polyak_update
from torch.nn import functional as F

from sb3_arq.arq import guards
from sb3_arq.arq.acting import ActingGraph, EagerActing, explore
from sb3_arq.arq.buffers import ContextReplayBuffer, ContextReplayBufferSamples
from sb3_arq.arq.files import SafeFiles
from sb3_arq.arq.policies import ARQPolicy, MlpPolicy
from sb3_arq.arq.stack import CellStack, Context
from sb3_arq.arq.statistics import UpdateStatistics
from sb3_arq.common.callers import user_stacklevel
from sb3_arq.common.compiler import cpp_compiler_missing
from sb3_arq.common.cuda_graph import CapturedUpdate

SelfARQ = TypeVar("SelfARQ", bound="ARQ")
# The default learning rate: linear from 2.6e-2 to 0 over the run (the CartPole-v1 entry's ``lin_2.6e-2``)
DEFAULT_LEARNING_RATE = LinearSchedule(2.6e-2, 0.0, 1.0)
# compile_update="auto" and graph_acting="auto" compile (off CUDA) a learn() that collects at least this many env steps
# after learning_starts: the seconds of compilation are then a small part of the run (benchmarks/results/cost-cpu-compiled.md)
AUTO_COMPILE_STEPS = 20_000


class ARQ(SafeFiles, OffPolicyAlgorithm):
    """
    ARQ: layer-local deep Q-learning with action-conditioned root mean squared Q-functions (Wu & Ren, ICLR 2026).

    A DQN-style agent (replay, epsilon-greedy, per-cell target copies, double Q) whose Q-network is a stack of cells;
    each cell makes its own estimate Q^l(s, a), is trained only on its own TD error with its own optimizer, and no
    gradient crosses a cell boundary (docs/algorithm.md, "4. Learning rule"). The defaults are a CPU-sized set that
    learns CartPole-v1 (the classic-control entry of ``hyperparams/arq.yml``, found by a search); the paper's settings
    are the MinAtar and DeepMind Control entries (docs/algorithm.md, "10. Published settings").

    Acting: the greedy action maximises the mean of the cells' Q; each env carries its context (the cells' previous
    activities), zero at episode start and advanced on every step, also when the action taken was random (the
    reference code skips that update on random actions; we do not, so that training-time acting equals
    ``predict(obs, state, episode_start)``). Training rebuilds the contexts of a sampled transition by running the
    cells over the ``context_size`` observations before it and the transition's own (clipped at the episode start;
    docs/algorithm.md, "3. Context windows in training").

    An ARQ cell's Q is a goodness >= 0, so returns below zero cannot be represented: ``reward_shift`` and
    ``reward_scale`` map the env's rewards into what the cells represent, and the first reward still negative warns.

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
    :param context_size: Observations C before a sampled transition replayed to rebuild its contexts (with connections
        through time on, see ``ARQPolicy``).
    :param reward_shift: Added to every reward, and at a termination also the discounted shift of the steps after the
        end (``reward_shift * gamma / (1 - gamma)``), which keeps the optimal policy: at least minus the env's smallest
        reward per step makes every reward >= 0 (docs/algorithm.md, "4. Learning rule").
    :param reward_scale: Multiplies the shifted reward, so that the returns stay within what the cells represent
        (about ``reward_scale * (max reward + shift) / (1 - gamma)`` <= 10). Both apply where the TD targets are
        formed: the replay buffer, Monitor and evaluations keep the env's own rewards.
    :param compile_update: Compute the cells' losses through ``torch.compile`` with this mode ("default",
        "reduce-overhead", "max-autotune"), None (eager), or "auto" (the default): "default" off CUDA for a ``learn()``
        that collects at least ``AUTO_COMPILE_STEPS`` (20,000) env steps after ``learning_starts``, when inductor finds
        the C++ compiler it builds CPU kernels with (else eager, with a warning); eager otherwise. Exact up to float
        rounding; about 2x faster per update on a CPU after a compilation of seconds (benchmarks/results/cost-cpu-compiled.md).
    :param graph_acting: Collect through an ``ActingGraph`` (every env step one fixed sequence of device operations,
        a CUDA graph on CUDA, ``torch.compile``-d elsewhere: seconds of compilation at the first step, then a fraction
        of the eager step's time, benchmarks/results/cost-cpu-compiled.md): the same greedy actions and contexts up to
        float rounding; random actions from torch's generator instead of numpy's. Off CUDA, ``predict`` (so
        evaluations) goes through ``torch.compile`` as well (``ARQPolicy.compile_acting``). "auto" (the default): True
        where ``compile_update="auto"`` compiles (a long run off CUDA), else False.
    :param graph_update: Run each update (sampling, context replays, losses, backward, clipping, Adam) as one
        ``CapturedUpdate`` (a CUDA graph on CUDA, eager elsewhere). Needs ``DeviceContextReplayBuffer``.
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
        learning_rate: float | Schedule = DEFAULT_LEARNING_RATE,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        target_update_interval: int = 143,
        exploration_fraction: float = 0.3,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.1,
        max_grad_norm: float = 0.89,
        context_size: int = 10,
        reward_shift: float = 0.0,
        reward_scale: float = 0.1,
        compile_update: str | None = "auto",
        graph_acting: bool | Literal["auto"] = "auto",
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
        self.reward_shift = reward_shift
        self.reward_scale = reward_scale
        self.compile_update = compile_update
        self.graph_acting = graph_acting
        self.graph_update = graph_update
        self.exploration_rate = 1.0
        self._n_calls = 0  # env steps (of all envs together) since the model was created
        # Chosen once per run (_setup_model, _setup_learn): the update step, and the acting path that carries each env's
        # context; _compiles: whether "auto" compiles this run (None before the first learn)
        self._compiles: bool | None = None
        self._compiled_cell_losses = None
        self._update_step = None
        self._actor: EagerActing | ActingGraph | None = None
        # Set when acting, cleared once the transition is stored; still set at the next action (the env raised, or a
        # callback stopped learning): the step is undone and the same observation acted on again.
        self._step_in_progress = False
        self._warned_negative_reward = False
        self._warned_reward_scale = False
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        guards.check_arguments(self)
        if self.policy_kwargs.get("action_encoding", "auto") == "auto":
            # An env may declare its action code (sb3_arq.envs.BangBangWrapper: "binary"); used when every env agrees
            declared = self.env is not None and self.env.has_attr("action_encoding")
            encodings = set(self.env.get_attr("action_encoding")) if declared else set()
            encoding = encodings.pop() if len(encodings) == 1 else "onehot"
            # A new dict: the caller's policy_kwargs stay as given.
            self.policy_kwargs = {**self.policy_kwargs, "action_encoding": encoding}
        self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "context_size": self.context_size}
        super()._setup_model()
        if not self.policy.uses_context:
            self.replay_buffer.context_size = 0  # no connection through time: no window to gather
        if self.graph_acting is True and self.device.type != "cuda":
            self.policy.compile_acting()  # predict (and so evaluations) compiled as the collection step
        self._create_aliases()
        self._setup_update()

    def _setup_update(self) -> None:
        """
        Choose the update step: ``_update`` with the cells' losses eager or through ``torch.compile``
        (``compile_update``; "auto" as this run chose, ``_choose_auto_modes``), called as it is or as a
        ``CapturedUpdate`` (``graph_update``: a CUDA graph on CUDA).
        """
        compile_mode = ("default" if self._compiles else None) if self.compile_update == "auto" else self.compile_update
        cell_losses = self._cell_losses
        self._compiled_cell_losses = None
        if compile_mode is not None:
            cell_losses = self._compiled_cell_losses = th.compile(self._cell_losses, mode=compile_mode)
        self._update_step = functools.partial(self._update, cell_losses)
        if self.graph_update:
            generators = [self.replay_buffer.generator]  # the device buffer's sampling generator
            capture = self.device.type == "cuda"
            self._update_step = CapturedUpdate(self._update_step, self.policy.optimizer, generators, capture)

    def _get_policy_from_name(self, policy_name: str) -> type[BasePolicy]:
        guards.check_policy_name(policy_name)
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

        :return: The losses, and the update's statistics (``UpdateStatistics.row``).
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
            # dones are terminations (time-limit truncations bootstrap), where the end bonus of the shift applies
            dones = data.dones.flatten()
            end_bonus = self.reward_shift * self.gamma / (1 - self.gamma)
            rewards = self.reward_scale * (data.rewards.flatten() + self.reward_shift + end_bonus * dones)
            targets = [th.addcmul(rewards, 1 - dones, q, value=self.gamma) for q in next_q]
        hs, q_values = self.q_net(obs, context, [actions] * len(targets))
        losses = [F.mse_loss(q, target) for q, target in zip(q_values, targets, strict=True)]
        with th.no_grad():
            scales = [y.abs().max() / cell.q_bound(h).mean() for y, cell, h in zip(targets, self.q_net.cells, hs, strict=True)]
            finite_obs = th.isfinite(obs).all() & th.isfinite(next_obs).all()
            if data.context_observations is not None:  # an observation may reach the batch through a window only
                finite_obs = finite_obs & th.isfinite(data.context_observations).all()
            stats = UpdateStatistics.row(
                losses, [q.mean() for q in q_values], scales, th.isfinite(data.rewards).all(), finite_obs
            )
        return losses, stats

    def _update(self, cell_losses: Callable, batch_size: int) -> th.Tensor:
        """
        One update of every cell on one sampled batch; returns the update's statistics.

        :param cell_losses: ``_cell_losses``, eager or compiled.
        :param batch_size: The batch size.
        """
        losses, stats = cell_losses(self.replay_buffer.sample(batch_size, env=self._vec_normalize_env))
        self.policy.optimizer.zero_grad()
        # One backward pass for all cells: the losses share no parameter, so each cell's gradient is that of its own
        # loss alone (no gradient crosses a cell); then each cell clips and steps on its own.
        th.stack(losses).sum().backward()
        for cell, optimizer in zip(self.q_net.cells, self.policy.optimizer.optimizers, strict=True):
            th.nn.utils.clip_grad_norm_(cell.parameters(), self.max_grad_norm)
            optimizer.step()
        return stats

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        """
        SB3's progress remaining, clamped at 0: the last collection may overshoot ``total_timesteps`` (by up to
        ``train_freq`` steps), and a schedule is defined on [0, 1] (rl-zoo3's ``lin_`` would turn negative past it).
        """
        super()._update_current_progress_remaining(num_timesteps, total_timesteps)
        self._current_progress_remaining = max(self._current_progress_remaining, 0.0)

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """SB3's update of the optimizers' learning rate, after checking the scheduled value (finite, >= 0)."""
        value = self.lr_schedule(self._current_progress_remaining)
        guards.check_scheduled_learning_rate(value, self._current_progress_remaining, self._n_updates + 1)
        super()._update_learning_rate(optimizers)

    def train(self, gradient_steps: int, batch_size: int = 512) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        # A captured update returns its statistics in the graph's memory, which the next replay overwrites: copies.
        stats = [self._update_step(batch_size).clone() for _ in range(gradient_steps)]
        n_cells = len(self.q_net.cells)
        stats = UpdateStatistics(th.stack(stats).cpu().numpy(), n_cells)  # one device sync per train() call
        guards.check_training(stats, self._n_updates)
        if not self._warned_reward_scale:
            self._warned_reward_scale = guards.warn_target_scale(stats)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", stats.losses.mean())
        for level, (loss, q_mean) in enumerate(zip(stats.losses.mean(axis=0), stats.q_means.mean(axis=0), strict=True)):
            self.logger.record(f"train/loss_cell{level}", loss)
            self.logger.record(f"train/q_cell{level}", q_mean)

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
        return (actions if deterministic else explore(actions, self.exploration_rate, self.action_space)), state

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """
        With connections through time, every step goes through the actor (``_setup_learn``), also random ones, so that
        each env's context advances; a step that did not complete (see ``_step_in_progress``) is undone first: no
        observation enters a context twice. Without, as in SB3's DQN, the cells run only when an env takes the greedy
        action (probability 1 - epsilon per env).
        """
        if self._step_in_progress:
            self._actor.undo_step()
        self._step_in_progress = True
        if self.policy.uses_context:
            actions = self._actor(self._last_obs, self._last_episode_starts, self.exploration_rate)
        else:
            explores = np.random.rand(n_envs) < self.exploration_rate
            actions = np.array([self.action_space.sample() for _ in range(n_envs)])
            if not explores.all():
                greedy = self._actor(self._last_obs, self._last_episode_starts, 0.0)
                actions = np.where(explores, actions, greedy)
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
        if not self._warned_negative_reward and self.policy.cell_class.nonnegative_q:
            self._warned_negative_reward = guards.warn_negative_reward(reward, self.reward_shift, self.reward_scale)
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
        new_run = reset_num_timesteps or self._last_obs is None
        if new_run:
            # The env is about to be reset: the episodes in progress end here, and so do their contexts.
            self.replay_buffer.truncate_last_trajectory()
            self._actor = None
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if new_run or self._compiles is None:
            self._choose_auto_modes(total_timesteps - max(self.num_timesteps, self.learning_starts))
        if self._actor is None:
            # The acting path, chosen once per env: ActingGraph (a CUDA graph on CUDA, compiled elsewhere) or EagerActing. A
            # loaded model that goes on without a reset (load or set_env with force_reset=False) gets its actor here too:
            # the contexts of its episodes in progress start from zero (a context is not saved).
            if self.graph_acting is True or (self.graph_acting == "auto" and self._compiles):
                on_cuda = self.device.type == "cuda"
                self._actor = ActingGraph(self.policy, self.n_envs, capture=on_cuda, compile=not on_cuda)
            else:
                self._actor = EagerActing(self.policy)
            self._step_in_progress = False
        guards.warn_no_update(total_timesteps, self.num_timesteps, self.learning_starts)
        if self.verbose >= 1 and not progress_bar:
            print(
                f"ARQ: {total_timesteps - self.num_timesteps} env steps, the first {self.learning_starts} of the run with "
                "random actions and no update; learn(..., progress_bar=True) (rl-zoo3: --progress) shows the steps per "
                "second and the time left."
            )
        compiled = []  # what torch.compile runs (off CUDA an ActingGraph's step is compiled, on CUDA captured)
        if self._compiled_cell_losses is not None:
            compiled.append("update")
        if isinstance(self._actor, ActingGraph) and self.device.type != "cuda":
            compiled.append("acting step")
        if self.verbose >= 1 and compiled:
            print(
                f"ARQ: torch.compile runs this run's {' and '.join(compiled)}; the first call compiles (on a machine's "
                "first run inductor also builds C++ kernels, which its on-disk cache keeps for later runs); "
                "compile_update=None, graph_acting=False run eagerly."
            )
        self.exploration_rate = self._exploration_rate()  # the first step's epsilon (then _on_step updates it)
        return total_timesteps, callback

    def _choose_auto_modes(self, steps: int) -> None:
        """
        Resolve ``compile_update="auto"`` and ``graph_acting="auto"`` for a run that collects ``steps`` env steps after
        ``learning_starts``: compiled off CUDA for at least ``AUTO_COMPILE_STEPS`` when inductor finds its C++ compiler,
        else eager (with a warning when only the compiler is missing).
        """
        if "auto" not in (self.compile_update, self.graph_acting):
            return
        compiles = self.device.type != "cuda" and steps >= AUTO_COMPILE_STEPS
        missing = cpp_compiler_missing() if compiles else ""
        if missing:
            warnings.warn(
                f"ARQ runs eagerly: compile_update='auto' and graph_acting='auto' compile a run of {steps} steps on "
                f"{self.device.type} through torch.compile, which needs a C++ compiler ({missing}). Install one (e.g. "
                "apt-get install g++) for updates about 2x faster, or pass compile_update=None, graph_acting=False.",
                stacklevel=user_stacklevel(),
            )
            compiles = False
        if compiles != self._compiles:
            self._compiles = compiles
            if self.compile_update == "auto":
                self._setup_update()
            if self.graph_acting == "auto":
                self.policy.compile_acting(compiles)

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

    def _excluded_save_params(self) -> list[str]:
        chosen = ["_compiles", "_compiled_cell_losses", "_update_step", "_actor", "_step_in_progress"]
        return [*super()._excluded_save_params(), "q_net", "q_net_target", *chosen]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []
