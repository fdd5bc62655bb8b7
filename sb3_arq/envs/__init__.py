"""
Environments of the ARQ benchmarks (spec section 6), registered in gymnasium on import.

Importing this module registers MinAtar's ``MinAtar/<Game>-v0`` and ``-v1`` ids (gymnasium 1.x no longer imports
plugin packages by itself) and shimmy's ``dm_control/<domain>-<task>-v0`` ids. Both packages are optional
(``pip install sb3-arq[envs]``): without them the ids are simply not registered. Registration is idempotent.
This is the module to pass to rl-zoo3 as ``--gym-packages sb3_arq.envs``.
"""

import warnings

import gymnasium as gym

from sb3_arq.envs.networks import MinAtarCNN
from sb3_arq.envs.wrappers import BangBangWrapper, FlattenDictObservation, bang_bang_actions

MINATAR_GAMES = ("Breakout", "Freeway", "SpaceInvaders", "Seaquest", "Asterix")
# The five MinAtar games of the paper, v1 = minimal action set, sticky actions 0.1
MINATAR_ENV_IDS = tuple(f"MinAtar/{game}-v1" for game in MINATAR_GAMES)
# The five DeepMind Control tasks of the paper (state observations, 1000-step episodes)
DMC_ENV_IDS = tuple(
    f"dm_control/{task}-v0" for task in ("walker-walk", "walker-run", "hopper-hop", "cheetah-run", "reacher-hard")
)
ENV_IDS = MINATAR_ENV_IDS + DMC_ENV_IDS


def register_minatar_envs() -> bool:
    """
    Register MinAtar's gymnasium ids (v0: full action set, v1: minimal action set) unless they already are.

    :return: Whether MinAtar is installed (and its ids registered).
    """
    try:
        import minatar.gym
    except ImportError:
        return False
    all_ids = [f"MinAtar/{game}-v{version}" for game in MINATAR_GAMES for version in (0, 1)]
    if any(env_id not in gym.registry for env_id in all_ids):
        minatar.gym.register_envs()
    return True


def register_dm_control_envs() -> bool:
    """
    Register shimmy's ``dm_control/...`` ids (``import shimmy`` registers them once per process).

    Training needs no renderer. To render (videos), select a headless OpenGL backend before the first import of
    dm_control: ``MUJOCO_GL=egl`` (GPU) or ``MUJOCO_GL=osmesa`` (CPU).

    :return: Whether shimmy and dm_control are installed (and their ids registered).
    """
    try:
        with warnings.catch_warnings():
            # Without MUJOCO_GL and without a display, dm_control falls back to GLFW, which warns at import that
            # DISPLAY is missing: irrelevant for training, and rendering needs MUJOCO_GL=egl/osmesa there anyway.
            warnings.filterwarnings("ignore", message=".*DISPLAY environment variable is missing")
            import shimmy  # noqa: F401
    except ImportError:
        return False
    if DMC_ENV_IDS[0] not in gym.registry:
        # shimmy without dm_control installed registers no dm_control ids
        return False
    return True


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
    "bang_bang_actions",
    "register_dm_control_envs",
    "register_minatar_envs",
]
