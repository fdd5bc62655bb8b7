"""
The benchmark environments' gymnasium ids, and their registration on demand.

Nothing is registered when this module is imported: ``import sb3_arq.envs`` registers every family (the gymnasium
plugin convention, and what ``--gym-packages sb3_arq.envs`` relies on), and ``ARQ`` registers the family of a
``MinAtar/...`` or ``dm_control/...`` id it is given, so that building ARQ on another task imports neither MinAtar nor
DeepMind Control. Both packages are optional (``pip install sb3-arq[envs]``). Registration is idempotent.
"""

import warnings

import gymnasium as gym

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
    # shimmy without dm_control installed registers no dm_control ids
    return DMC_ENV_IDS[0] in gym.registry


# The env id namespaces this package registers, and how
FAMILIES = {"MinAtar": register_minatar_envs, "dm_control": register_dm_control_envs}


def register_env_family(env_id: str) -> None:
    """
    Register the family of ``env_id`` (``MinAtar/...`` or ``dm_control/...``) if it is not registered yet; any other
    id is left alone. A family whose package is missing gets a clear error instead of gymnasium's "Namespace not found".

    :param env_id: A gymnasium id.
    """
    namespace = env_id.split("/")[0] if "/" in env_id else None
    if namespace not in FAMILIES or env_id in gym.registry:
        return
    if not FAMILIES[namespace]():
        package = "minatar" if namespace == "MinAtar" else "shimmy[dm-control]"
        raise ValueError(f"{env_id!r} needs the {package} package: pip install 'sb3-arq[envs]'")
