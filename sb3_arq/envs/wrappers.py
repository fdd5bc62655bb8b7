"""
Environment wrappers: DeepMind Control tasks for a discrete-action, flat-observation agent (``BangBangWrapper``,
``FlattenDictObservation``), and rewards >= 0 with the task's optimal policy kept (``ShiftReward``).
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MAX_BANG_BANG_DIMS = 16


def bang_bang_actions(n_dims: int) -> np.ndarray:
    """
    Every corner of the [-1, 1]^n_dims box, in the index order of docs/algorithm.md, "9. Environments and action codes".

    Row ``a`` is the action for index ``a``: dimension ``i`` (0-based, the first dimension the most significant bit)
    is +1 when bit ``n_dims - 1 - i`` of ``a`` is set, else -1. Row 0 is all -1, the last row all +1.

    :param n_dims: Number of action dimensions.
    :return: float32 array of shape (2**n_dims, n_dims).
    """
    bits = (np.arange(2**n_dims)[:, None] >> np.arange(n_dims - 1, -1, -1)[None, :]) & 1
    return (2 * bits - 1).astype(np.float32)


class BangBangWrapper(gym.ActionWrapper):
    """
    Discretise a Box action space into its 2**dim corners ("bang-bang" control, as in the paper's DeepMind Control
    experiments).

    The wrapped env takes an index in ``Discrete(2**dim)``; the corner sent to the inner env has, in each dimension,
    the Box's ``low`` or ``high`` bound, in the order of ``bang_bang_actions`` (index bit set: ``high``). DeepMind
    Control's [-1, 1] boxes thus get +-1; Pendulum's [-2, 2] torque gets +-2. The wrapper declares the action code that
    suits its actions in its attribute ``action_encoding``: ARQ's ``action_encoding="auto"`` reads it through the VecEnv
    (``get_attr``) and uses the +-1 bit code of the index as the action's input code.

    :param env: Environment with a bounded ``Box`` action space of at most ``MAX_BANG_BANG_DIMS`` dimensions.
    """

    # The input code of the actions for ARQ: the index's bits as +-1 (each bit is one dimension's low or high)
    action_encoding = "binary"

    def __init__(self, env: gym.Env):
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Box):
            raise TypeError(f"BangBangWrapper needs a Box action space, got {env.action_space}")
        n_dims = int(np.prod(env.action_space.shape))
        if not 1 <= n_dims <= MAX_BANG_BANG_DIMS:
            raise ValueError(
                f"BangBangWrapper enumerates 2**dim actions and supports 1 to {MAX_BANG_BANG_DIMS} action dimensions, "
                f"got an action space with {n_dims} dimensions ({env.action_space})"
            )
        low, high = env.action_space.low.ravel(), env.action_space.high.ravel()
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"BangBangWrapper needs finite low and high bounds of the action space, got {env.action_space}")
        is_high = bang_bang_actions(n_dims) > 0
        corners = np.where(is_high, high, low)
        self.corners = corners.reshape(-1, *env.action_space.shape).astype(env.action_space.dtype)
        self.action_space = spaces.Discrete(len(self.corners))

    def action(self, action: int) -> np.ndarray:
        return self.corners[int(action)]


class FlattenDictObservation(gym.ObservationWrapper):
    """
    Flatten a (possibly ``Dict``) observation into one 1-D ``Box`` of the given dtype (float32 by default).

    DeepMind Control tasks (through shimmy) return a ``Dict`` of float64 arrays. Their entries are concatenated in the
    order of the observation space's keys (gymnasium sorts the keys of a plain dict alphabetically); for an MLP that is
    a fixed permutation of the inputs. Casting to float32 halves the replay buffer memory and is what the agents
    compute with anyway. Values are not rescaled.

    :param env: Environment to wrap.
    :param dtype: dtype of the flat observation.
    """

    def __init__(self, env: gym.Env, dtype: type[np.floating] = np.float32):
        super().__init__(env)
        flat_space = spaces.flatten_space(env.observation_space)
        if not isinstance(flat_space, spaces.Box):
            raise TypeError(f"FlattenDictObservation cannot flatten {env.observation_space} into a Box")
        self.dtype = np.dtype(dtype)
        self.observation_space = spaces.Box(
            low=flat_space.low.astype(self.dtype),
            high=flat_space.high.astype(self.dtype),
            shape=flat_space.shape,
            dtype=self.dtype,
        )

    def observation(self, observation) -> np.ndarray:
        return spaces.flatten(self.env.observation_space, observation).astype(self.dtype)


class ShiftReward(gym.Wrapper):
    """
    Make rewards >= 0 without changing the task's optimal policy: add ``shift`` to every reward and, on a terminating
    step, also the shifted rewards that the absorbing state after the end would have collected; then multiply by
    ``scale``.

    ARQ's Q-values are goodness values >= 0 and cannot represent negative returns. Adding a constant to each reward
    alone changes the optimal policy of tasks whose episode length the agent controls: with -1 per step until the goal
    (Acrobot-v1, MountainCar-v0), +1 gives 0 on every step, and then every policy is optimal. Here the shift is applied
    to the whole infinite discounted episode instead, the steps after termination included, which is a constant:

    - every step: ``r' = scale * (r + shift)``;
    - a step with ``terminated=True`` (not a truncation by a time limit), in addition:
      ``scale * shift * gamma / (1 - gamma)`` (the discounted sum of ``shift`` over the steps after the end).

    So every episode's discounted return becomes ``scale * (return + shift / (1 - gamma))``, and every policy's
    Q-values ``scale * (Q + shift / (1 - gamma))``: an increasing affine map of the same number for every policy, so
    the optimal policy (and the greedy policy of any Q) is unchanged, provided ``gamma`` is the agent's discount. With
    -1 per step, ``shift=1``: 0 per step and about ``scale / (1 - gamma)`` when the goal is reached, so reaching it
    sooner is still better. Truncated episodes (time limit) get no end bonus: SB3 bootstraps them from the next state's value,
    which contains the shift already.

    Under rl-zoo3, ``env_wrapper`` goes inside ``Monitor``, so the logged episode returns and ``evaluations.npz`` are in
    the task's own reward units.

    :param env: Environment to wrap.
    :param shift: Added to every reward; at least minus the smallest reward makes every reward >= 0
        (1 for -1 per step).
    :param gamma: The agent's discount factor, in [0, 1).
    :param scale: Positive factor applied after the shift.
    """

    def __init__(self, env: gym.Env, shift: float, gamma: float, scale: float = 1.0):
        super().__init__(env)
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"ShiftReward needs the agent's discount factor gamma in [0, 1), got gamma={gamma}")
        if not scale > 0.0:
            raise ValueError(f"ShiftReward needs a positive scale (a negative one would reverse the task), got scale={scale}")
        self.shift = float(shift)
        self.gamma = float(gamma)
        self.scale = float(scale)
        self.end_bonus = self.shift * self.gamma / (1.0 - self.gamma)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        reward = float(reward) + self.shift + (self.end_bonus if terminated else 0.0)
        return observation, self.scale * reward, terminated, truncated, info
