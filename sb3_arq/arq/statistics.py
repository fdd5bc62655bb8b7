"""The statistics of ARQ's updates: one tensor (what a captured update returns), read through named views."""

import numpy as np
import torch as th


class UpdateStatistics:
    """
    The statistics of updates, one row per update, columns: every cell's TD loss, every cell's mean Q of the taken
    actions, every cell's largest |TD target| over the largest |Q| it can represent (``LocalCell.q_bound``), then
    whether the batch's rewards and its observations were all finite. ``row`` makes one update's row as the single
    tensor that ``ARQ._cell_losses`` returns (a captured update returns it in its graph's memory); the properties name
    the columns of the rows that ``ARQ.train`` gathers.

    :param values: One row per update, shape (updates, 3 * n_cells + 2).
    :param n_cells: Number of cells.
    """

    def __init__(self, values: np.ndarray, n_cells: int):
        self.values = values
        self.n_cells = n_cells

    @staticmethod
    def row(
        losses: list[th.Tensor],
        q_means: list[th.Tensor],
        target_scales: list[th.Tensor],
        finite_rewards: th.Tensor,
        finite_observations: th.Tensor,
    ) -> th.Tensor:
        """One update's statistics as one detached tensor (the column order that the properties read)."""
        return th.stack([*losses, *q_means, *target_scales, finite_rewards, finite_observations]).detach()

    @property
    def losses(self) -> np.ndarray:
        """Every cell's TD loss, shape (updates, n_cells)."""
        return self.values[:, : self.n_cells]

    @property
    def q_means(self) -> np.ndarray:
        """Every cell's mean Q of the taken actions, shape (updates, n_cells)."""
        return self.values[:, self.n_cells : 2 * self.n_cells]

    @property
    def target_scales(self) -> np.ndarray:
        """Every cell's largest |TD target| over the largest |Q| it can represent, shape (updates, n_cells)."""
        return self.values[:, 2 * self.n_cells : 3 * self.n_cells]

    @property
    def finite_rewards(self) -> np.ndarray:
        """Whether the batch's rewards were all finite, shape (updates,)."""
        return self.values[:, 3 * self.n_cells]

    @property
    def finite_observations(self) -> np.ndarray:
        """Whether the batch's observations (windows included) were all finite, shape (updates,)."""
        return self.values[:, 3 * self.n_cells + 1]
