"""
The paper's evaluation protocol for any SB3 algorithm (Wu & Ren, 2026, and its reference code: 10 episodes with
epsilon 0.05, every 1M env steps and at the end): every ``eval_freq`` env steps and at the end of training,
``n_eval_episodes`` episodes with epsilon-greedy actions around the greedy policy. rl-zoo3's own evaluation is greedy
(``deterministic=True``).

From Python::

    model.learn(100_000, callback=EpsilonGreedyEvalCallback(gym.make("CartPole-v1"), eval_freq=10_000, log_path="logs"))

From an rl-zoo3 yml entry (or ``-params``), with rl-zoo3's own evaluation off (``--eval-freq -1``): the evaluation env
is rebuilt from the run's saved config (rl-zoo3's ``create_test_env``, as ``rl_zoo3.enjoy`` does; ``--n-eval-envs``
envs, each with its own context for ARQ) and ``evaluations.npz`` goes to the run folder::

    callback:
      - sb3_arq.zoo.callbacks.EpsilonGreedyEvalCallback:
          eval_freq: 200000

The callback needs rl-zoo3 only to rebuild a run's evaluation env (``eval_env=None``), and imports it then.
"""

import copy
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env, unwrap_wrapper
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, sync_envs_normalization


class _ZooArgsLoader(yaml.SafeLoader):
    """A safe YAML loader that reads rl-zoo3's ``args.yml``/``config.yml`` (``OrderedDict``s written with its python tag)."""


_ZooArgsLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:collections.OrderedDict",
    lambda loader, node: dict(loader.construct_sequence(node.value[0], deep=True)),
)


def load_zoo_args(path: str | Path) -> dict:
    """
    rl-zoo3's saved command-line arguments (``<run>/<Env-Name>/args.yml``) as a dict, read without executing code;
    also reads the hyperparameters it saves beside them the same way (``config.yml``).

    :param path: The ``args.yml`` (or ``config.yml``) file.
    :return: Argument name -> value (``hyperparams`` holds the ``-params`` overrides), or hyperparameter -> value.
    """
    with open(path) as file:
        return yaml.load(file, Loader=_ZooArgsLoader)


class EpsilonGreedyPredictor:
    """
    A model's greedy action replaced, per env and step, by a uniformly random action with probability ``epsilon``.
    The model's recurrent state (ARQ's context, a recurrent policy's hidden state) is passed through unchanged.

    :param model: An SB3 algorithm (ARQ, DQN, QR-DQN, ...) or anything with SB3's ``predict`` signature.
    :param epsilon: Probability of a random action, in [0, 1].
    :param seed: Seed of the random choices (and of the random actions).
    """

    def __init__(self, model, epsilon: float, seed: int | None = None) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.model = model
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        self.action_space = copy.deepcopy(model.action_space)
        self.action_space.seed(seed)

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """SB3's ``predict`` for a batch of envs (as ``evaluate_policy`` calls it); ``deterministic`` is ignored."""
        actions, state = self.model.predict(observation, state=state, episode_start=episode_start, deterministic=True)
        actions = np.array(actions)  # a copy
        for i in np.flatnonzero(self.rng.random(len(actions)) < self.epsilon):
            actions[i] = self.action_space.sample()
        return actions, state


class EpsilonGreedyEvalCallback(BaseCallback):
    """
    Evaluate every ``eval_freq`` env steps and once more at the end of training (unless the last evaluation was at
    that step), on ``n_eval_episodes`` episodes with epsilon-greedy actions, and write ``evaluations.npz`` with the
    layout of SB3's ``EvalCallback`` (``timesteps``, ``results``, ``ep_lengths``), which rl-zoo3's plots read.

    :param eval_env: The evaluation env (an env, a ``VecEnv`` or an env id). None: rl-zoo3's run, rebuilt from the
        config rl-zoo3 saved in the run folder (as ``rl_zoo3.enjoy`` does), with the run's ``--n-eval-envs`` envs.
    :param eval_freq: Evaluate every this many env steps (of all training envs together).
    :param n_eval_episodes: Episodes per evaluation.
    :param epsilon: Probability of a random action at each evaluation step.
    :param log_path: Folder of ``evaluations.npz``. None: rl-zoo3's run folder (the folder of the training env's
        Monitor log), or no file when the training env has no Monitor log.
    :param seed: Seed of the evaluation env and of the random actions. None: the model's seed.
    :param verbose: 1: print each evaluation's mean return.
    """

    def __init__(
        self,
        eval_env: gym.Env | VecEnv | str | None = None,
        eval_freq: int = 10_000,
        n_eval_episodes: int = 10,
        epsilon: float = 0.05,
        log_path: str | None = None,
        seed: int | None = None,
        verbose: int = 1,
    ) -> None:
        super().__init__(verbose)
        for name, value in (("eval_freq", eval_freq), ("n_eval_episodes", n_eval_episodes)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_eval_episodes = n_eval_episodes
        self.epsilon = epsilon
        self.log_path = log_path
        self.seed = seed
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def _init_callback(self) -> None:
        seed = self.model.seed if self.seed is None else self.seed
        run_dir = self._monitor_folder()
        if self.log_path is None and run_dir is not None:
            self.log_path = str(run_dir)
        if self.eval_env is None:
            if run_dir is None:
                raise ValueError("eval_env=None needs an rl-zoo3 run (a Monitor log folder with its config): give eval_env")
            self.eval_env = self._zoo_eval_env(run_dir, seed)
        elif isinstance(self.eval_env, str):
            self.eval_env = make_vec_env(self.eval_env, n_envs=1, seed=seed)
        elif not isinstance(self.eval_env, VecEnv):
            self.eval_env = DummyVecEnv([lambda env=self.eval_env: env])
            self.eval_env.seed(seed)
        self.predictor = EpsilonGreedyPredictor(self.model, self.epsilon, seed)
        self._next_evaluation = self.eval_freq

    def _monitor_folder(self) -> Path | None:
        """The folder of the training env's Monitor log (rl-zoo3's run folder), None without one."""
        venv = self.training_env.unwrapped
        monitor = unwrap_wrapper(venv.envs[0], Monitor) if isinstance(venv, DummyVecEnv) else None
        if monitor is None or monitor.results_writer is None:
            return None
        return Path(monitor.results_writer.file_handler.name).parent

    @staticmethod
    def _zoo_eval_env(run_dir: Path, seed: int | None) -> VecEnv:
        """rl-zoo3's evaluation env of a run, from what it saved: env wrappers, frame stacking, env kwargs, n_eval_envs."""
        from rl_zoo3.utils import create_test_env, get_saved_hyperparams

        configs = list(run_dir.glob("*/config.yml"))
        if len(configs) != 1:
            raise ValueError(f"eval_env=None: expected one <env>/config.yml in the rl-zoo3 run {run_dir}, found {configs}")
        hyperparams, params_dir = get_saved_hyperparams(str(configs[0].parent))
        if hyperparams["normalize"]:
            raise ValueError("eval_env=None does not rebuild VecNormalize statistics during training: give eval_env")
        args = load_zoo_args(Path(params_dir) / "args.yml")
        env_kwargs = args.get("eval_env_kwargs") or args.get("env_kwargs") or {}
        return create_test_env(
            args["env"],
            args["n_eval_envs"],
            None,
            seed or 0,
            should_render=False,
            hyperparams=hyperparams,
            env_kwargs=env_kwargs,
        )

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next_evaluation:
            self.evaluate()
            self._next_evaluation = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq
        return True

    def _on_training_end(self) -> None:
        if not self.evaluations_timesteps or self.evaluations_timesteps[-1] != self.num_timesteps:
            self.evaluate()

    def evaluate(self) -> None:
        """One evaluation now: record it, rewrite ``evaluations.npz`` and log ``eval/mean_reward``."""
        if self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.training_env, self.eval_env)
        returns, lengths = evaluate_policy(
            self.predictor, self.eval_env, n_eval_episodes=self.n_eval_episodes, return_episode_rewards=True
        )
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(returns)
        self.evaluations_length.append(lengths)
        if self.log_path is not None:
            os.makedirs(self.log_path, exist_ok=True)
            np.savez(
                os.path.join(self.log_path, "evaluations"),
                timesteps=self.evaluations_timesteps,
                results=self.evaluations_results,
                ep_lengths=self.evaluations_length,
            )
        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, epsilon={self.epsilon}, episode_reward={np.mean(returns):.2f}")
        self.logger.record("eval/mean_reward", float(np.mean(returns)))
        self.logger.record("eval/mean_ep_length", float(np.mean(lengths)))
        self.logger.dump(self.num_timesteps)
