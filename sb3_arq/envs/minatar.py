"""
MinAtar's gymnasium environment with video frames a person can watch. Imported only when gymnasium builds a
``MinAtar/...`` env registered by ``sb3_arq.envs.registration.register_minatar_envs`` (it imports MinAtar).
"""

from typing import Any, ClassVar

import numpy as np
from minatar.gym import BaseEnv

# Pixels per side of one grid cell in rgb_array frames: a 10x10 grid becomes 160x160 (a multiple of 16, as video
# codecs like it)
CELL_PIXELS = 16


class MinAtarEnv(BaseEnv):
    """
    MinAtar's own gymnasium env (``minatar.gym.BaseEnv``: same observations, actions, dynamics and seeding) whose
    ``rgb_array`` frames are uint8 images of ``10 * cell_pixels`` pixels per side, each grid cell a block of pixels in
    MinAtar's colour of the cell's topmost channel (black when empty). MinAtar's own frames are 10x10 float64 arrays in
    [0, 1], which video writers turn into an all-black 10x10 video.

    :param game: MinAtar game name (e.g. ``"breakout"``).
    :param render_mode: None, ``"rgb_array"``, ``"human"`` (MinAtar's matplotlib window) or ``"array"`` (the state).
    :param cell_pixels: Pixels per side of one grid cell in ``rgb_array`` frames.
    :param kwargs: Passed to ``minatar.gym.BaseEnv`` (``use_minimal_action_set``, ``sticky_action_prob``, ...).
    """

    metadata: ClassVar[dict[str, Any]] = {**BaseEnv.metadata, "render_fps": 10}

    def __init__(self, game: str, render_mode: str | None = None, cell_pixels: int = CELL_PIXELS, **kwargs):
        if not (isinstance(cell_pixels, int) and cell_pixels >= 1):
            raise ValueError(f"cell_pixels must be a positive int (pixels per side of a grid cell), got {cell_pixels!r}")
        super().__init__(game, render_mode=render_mode, **kwargs)
        self.cell_pixels = cell_pixels

    def render(self):
        frame = super().render()
        if self.render_mode != "rgb_array":
            return frame
        frame = np.round(np.asarray(frame) * 255).astype(np.uint8)
        return np.repeat(np.repeat(frame, self.cell_pixels, axis=0), self.cell_pixels, axis=1)
