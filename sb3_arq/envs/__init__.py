"""
The environments of the ARQ benchmarks (the paper's section 5): the one module that registers them in gymnasium.

The modules of this package have no side effects: ``registration`` (the ids, and functions that register them),
``wrappers`` (``ShiftReward``, ``BangBangWrapper``, ``FlattenDictObservation``) and ``minatar`` (MinAtar's env with
pixel frames). Importing the package (``import sb3_arq.envs``, which ``import sb3_arq`` does, or rl-zoo3's
``--gym-packages sb3_arq.envs``) registers MinAtar's ``MinAtar/<Game>-v0`` and ``-v1`` ids (gymnasium 1.x no longer
imports plugin packages by itself) and the ``dm_control/<domain>-<task>-v0`` ids of the paper's five tasks, without
importing dm_control (making one imports shimmy, which registers all its ``dm_control/...`` ids; for shimmy's other
ids, ``register_env_family`` or gymnasium's ``"shimmy:dm_control/<id>"``). Both packages are optional
(``pip install sb3-arq[envs]``): without them the ids are simply not registered. Registration is idempotent. The
algorithm knows nothing of these envs: ``BangBangWrapper`` declares its action code (``action_encoding``), which ARQ
reads through the VecEnv.
"""

from sb3_arq.envs.registration import (
    DMC_ENV_IDS,
    ENV_IDS,
    FAMILIES,
    MINATAR_ENV_IDS,
    MINATAR_GAMES,
    register_dm_control_envs,
    register_env_family,
    register_minatar_envs,
)
from sb3_arq.envs.wrappers import BangBangWrapper, FlattenDictObservation, ShiftReward, bang_bang_actions

for register_family in FAMILIES.values():
    register_family()
del register_family

__all__ = [
    "DMC_ENV_IDS",
    "ENV_IDS",
    "MINATAR_ENV_IDS",
    "MINATAR_GAMES",
    "BangBangWrapper",
    "FlattenDictObservation",
    "ShiftReward",
    "bang_bang_actions",
    "register_dm_control_envs",
    "register_env_family",
    "register_minatar_envs",
]
