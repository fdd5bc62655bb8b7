"""
Environments of the ARQ benchmarks (the paper's section 5): importing this module registers them in gymnasium.

Importing it registers MinAtar's ``MinAtar/<Game>-v0`` and ``-v1`` ids (gymnasium 1.x no longer imports plugin
packages by itself) and the ``dm_control/<domain>-<task>-v0`` ids of the paper's five tasks, without importing
dm_control (making one imports shimmy, which registers all its ``dm_control/...`` ids). Both packages are optional
(``pip install sb3-arq[envs]``): without them the ids are simply not registered. Registration is idempotent.
This is the module to pass to rl-zoo3 as ``--gym-packages sb3_arq.envs``. ``ARQ`` needs no such import: it registers
the family of a ``MinAtar/...`` or ``dm_control/...`` id it is given. The wrappers and the registration functions
live in ``sb3_arq.common`` (no side effects) and are re-exported here.
"""

from sb3_arq.common.registration import (
    DMC_ENV_IDS,
    ENV_IDS,
    MINATAR_ENV_IDS,
    MINATAR_GAMES,
    register_dm_control_envs,
    register_env_family,
    register_minatar_envs,
)
from sb3_arq.common.wrappers import BangBangWrapper, FlattenDictObservation, ShiftReward, bang_bang_actions
from sb3_arq.envs.networks import MinAtarCNN

register_minatar_envs()
register_dm_control_envs()

__all__ = [
    "DMC_ENV_IDS",
    "ENV_IDS",
    "MINATAR_ENV_IDS",
    "MINATAR_GAMES",
    "BangBangWrapper",
    "FlattenDictObservation",
    "MinAtarCNN",
    "ShiftReward",
    "bang_bang_actions",
    "register_dm_control_envs",
    "register_env_family",
    "register_minatar_envs",
]
