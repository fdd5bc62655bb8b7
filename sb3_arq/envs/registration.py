"""
The benchmark environments' gymnasium ids, and their registration on demand.

Nothing is registered when this module is imported: the package ``sb3_arq.envs`` (imported by ``import sb3_arq``)
registers every family (the gymnasium plugin convention, and what ``--gym-packages sb3_arq.envs`` relies on), without
importing MinAtar or DeepMind Control; ``register_env_family`` registers the family of one id, with a clear error when
its package is missing. Both packages are optional (``pip install sb3-arq[envs]``). Registration is idempotent.
"""

import importlib.util
import sys
import warnings

import gymnasium as gym

MINATAR_GAMES = ("Breakout", "Freeway", "SpaceInvaders", "Seaquest", "Asterix")
# MinAtar's own name of each game (``minatar.Environment(env_name=...)``)
MINATAR_GAME_NAMES = {game: "space_invaders" if game == "SpaceInvaders" else game.lower() for game in MINATAR_GAMES}
MINATAR_ENTRY_POINT = "sb3_arq.envs.minatar:MinAtarEnv"
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
    ``sb3_arq.envs.minatar:MinAtarEnv``, MinAtar's env whose ``rgb_array`` frames are uint8 and 160x160 pixels
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


DMC_ENTRY_POINT = "sb3_arq.envs.registration:make_dm_control_env"


def import_shimmy() -> bool:
    """
    Import shimmy, which registers its ``dm_control/...`` ids (once per process), and with it dm_control.

    :return: Whether shimmy and dm_control are installed (and their ids registered).
    """
    try:
        with warnings.catch_warnings():
            # Without MUJOCO_GL and without a display, dm_control falls back to GLFW, which warns at import that
            # DISPLAY is missing: irrelevant for training, and rendering needs MUJOCO_GL=egl/osmesa there anyway.
            warnings.filterwarnings("ignore", message=".*DISPLAY environment variable is missing")
            # shimmy registers its ids over the ones of register_dm_control_envs: the same envs
            warnings.filterwarnings("ignore", message=".*Overriding environment")
            import shimmy  # noqa: F401
    except ImportError:
        return False
    # shimmy without dm_control installed registers no dm_control ids
    return "dm_control/compatibility-env-v0" in gym.registry


def make_dm_control_env(env_id: str, **kwargs) -> gym.Env:
    """
    Entry point of the ``dm_control/...`` ids that ``register_dm_control_envs`` registers without importing
    dm_control: import shimmy (which registers its own entry points for the ids, and imports dm_control), then make
    the env with shimmy's entry point.

    :param env_id: The id.
    :param kwargs: Keyword arguments of the env (e.g. ``render_mode``).
    :return: shimmy's env (gymnasium's ``make`` adds its wrappers).
    """
    if not import_shimmy() or gym.registry[env_id].entry_point == DMC_ENTRY_POINT:
        raise ValueError(f"{env_id!r} needs the shimmy[dm-control] package: pip install 'sb3-arq[envs]'")
    return gym.registry[env_id].entry_point(**{**gym.registry[env_id].kwargs, **kwargs})


def register_dm_control_envs() -> bool:
    """
    Register the ``dm_control/...`` ids of the paper's tasks (``DMC_ENV_IDS``) without importing dm_control: making
    one imports shimmy and dm_control (``make_dm_control_env``); shimmy's other ids are registered by ``import shimmy``
    (``register_env_family`` does it for an id it is given). A run on MinAtar or classic control thus never imports
    dm_control, whose OpenGL backend can conflict with other libraries (e.g. Mesa's EGL with ``MUJOCO_GL=egl``).

    Training needs no renderer. To render (videos), select a headless OpenGL backend before the first import of
    dm_control: ``MUJOCO_GL=egl`` (GPU) or ``MUJOCO_GL=osmesa`` (CPU).

    :return: Whether shimmy and dm_control are installed (and the ids registered).
    """
    if "shimmy" in sys.modules:
        return import_shimmy()
    if importlib.util.find_spec("shimmy") is None or importlib.util.find_spec("dm_control") is None:
        return False
    for env_id in DMC_ENV_IDS:
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=DMC_ENTRY_POINT, kwargs={"env_id": env_id})
    return True


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
    if not FAMILIES[namespace]() or (namespace == "dm_control" and env_id not in gym.registry and not import_shimmy()):
        package = "minatar" if namespace == "MinAtar" else "shimmy[dm-control]"
        raise ValueError(f"{env_id!r} needs the {package} package: pip install 'sb3-arq[envs]'")
