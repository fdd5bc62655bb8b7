"""Where a warning of sb3-arq should point: the first line outside sb3-arq and SB3, i.e. the user's."""

import os
import sys

import stable_baselines3

# Frames in these folders (sb3_arq's and stable_baselines3's) are not the user's: a warning names the first one outside
LIBRARY_FOLDERS = tuple(os.path.dirname(path) + os.sep for path in (os.path.dirname(__file__), stable_baselines3.__file__))


def user_stacklevel() -> int:
    """
    The ``stacklevel`` that makes ``warnings.warn``, called by the function that calls this one, name the first line
    outside sb3-arq and SB3 (the user's script or notebook cell, or rl-zoo3's code under rl-zoo3), however deep the
    call path (``learn``, ``collect_rollouts``, ``_store_transition``, ...).

    :return: The stack level (1: the caller's own line, when it is outside both packages).
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(LIBRARY_FOLDERS):
        frame, level = frame.f_back, level + 1
    return level
