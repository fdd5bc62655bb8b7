"""
The benchmark environments' gymnasium ids, and their registration on demand.

Nothing is registered when this module is imported: ``import sb3_arq.envs`` registers every family (the gymnasium
plugin convention, and what ``--gym-packages sb3_arq.envs`` relies on), and ``ARQ`` registers the family of a
``MinAtar/...`` or ``dm_control/...`` id it is given, so that building ARQ on another task imports neither MinAtar nor
DeepMind Control. Both packages are optional (``pip install sb3-arq[envs]``). Registration is idempotent.
"""

import importlib.util
import warnings

import gymnasium as gym

MINATAR_GAMES = ("Breakout", "Freeway", "SpaceInvaders", "Seaquest", "Asterix")
# MinAtar's own name of each game (``minatar.Environment(env_name=...)``)
MINATAR_GAME_NAMES = {game: "space_invaders" if game == "SpaceInvaders" else game.lower() for game in MINATAR_GAMES}
MINATAR_ENTRY_POINT = "sb3_arq.common.minatar_env:MinAtarEnv"
# The five MinAtar games of the paper, v1 = minimal action set, sticky actions 0.1
MINATAR_ENV_IDS = tuple(f"MinAtar/{game}-v1" for game in MINATAR_GAMES)
# The five DeepMind Control tasks of the paper (state observations, 1000-step episodes)
DMC_ENV_IDS = tuple(
    f"dm_control/{task}-v0" for task in ("walker-walk", "walker-run", "hopper-hop", "cheetah-run", "reacher-hard")
)
ENV_IDS = MINATAR_ENV_IDS + DMC_ENV_IDS


def register_minatar_envs() -> bool:
    """
    Register the MinAtar ids (``MinAtar/<Game>-v0``: full action set, ``-v1``: minimal action set) unless they already
    are. They are MinAtar's own ids, environments and keyword arguments, with the entry point
    ``sb3_arq.common.minatar_env:MinAtarEnv``, MinAtar's env whose ``rgb_array`` frames are uint8 and 160x160 pixels
    (``minatar.gym.register_envs`` gives 10x10 float frames, which record as a black video). Ids that MinAtar registered
    itself are registered again with this entry point.

    :return: Whether MinAtar is installed (and its ids registered).
    """
    if importlib.util.find_spec("minatar") is None:
        return False
    for game in MINATAR_GAMES:
        for version, minimal_action_set in ((0, False), (1, True)):
            env_id = f"MinAtar/{game}-v{version}"
            if env_id in gym.registry and gym.registry[env_id].entry_point == MINATAR_ENTRY_POINT:
                continue
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*Overriding environment")
                gym.register(
                    env_id,
                    entry_point=MINATAR_ENTRY_POINT,
                    kwargs={"game": MINATAR_GAME_NAMES[game], "use_minimal_action_set": minimal_action_set},
                )
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
