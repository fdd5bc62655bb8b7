"""
Wrappers that make DeepMind Control tasks usable by a discrete-action, flat-observation agent (docs/algorithm.md,
"9. Environments and action codes").
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
    Discretise a Box action space into its 2**dim corners ("bang-bang" control, docs/algorithm.md, "9. Environments
    and action codes").

    The wrapped env takes an index in ``Discrete(2**dim)``; the corner (+-1 per dimension, unscaled) is sent to the
    inner env. ARQ's ``action_encoding="auto"`` detects this wrapper and uses the +-1 bit code.

    :param env: Environment with a ``Box`` action space of at most ``MAX_BANG_BANG_DIMS`` dimensions.
    """

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
        self.corners = bang_bang_actions(n_dims).reshape(-1, *env.action_space.shape).astype(env.action_space.dtype)
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
