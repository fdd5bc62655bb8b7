"""The cell stack: L cells wired through depth and time (docs/algorithm.md, "2. Wiring through depth and time")."""

from dataclasses import dataclass

import torch as th
from torch import nn

from sb3_arq.arq.cells import CellSpec, LocalCell

Context = list[th.Tensor]  # h^l_{t-1} for every cell l, each of shape (batch, d_l)


@dataclass(frozen=True)
class StackSpec:
    """
    The cells of a stack and their wiring, by the names of ``ARQPolicy``'s keyword arguments (see ``CellStack``), whose
    signature holds their defaults.

    :param net_arch: Width of each cell, bottom to top (a list is kept as a tuple).
    :param cell_class: Class of every cell (see ``sb3_arq.arq.cells.CELLS``).
    :param cell: The settings every cell shares.
    :param input_skip: Cells above the first also see the observation.
    :param recurrent_connections: Each cell sees its own previous activity h^l_{t-1}.
    :param forward_connections: Each cell sees the previous activity h^{l+1}_{t-1} of the cell above.
    """

    net_arch: tuple[int, ...]
    cell_class: type[LocalCell]
    cell: CellSpec
    input_skip: bool
    recurrent_connections: bool
    forward_connections: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "net_arch", tuple(self.net_arch))  # frozen: set once, here
        if len(self.net_arch) == 0 or not all(isinstance(w, int) and w > 0 for w in self.net_arch):
            raise ValueError(
                f"net_arch must be a non-empty list of positive ints (one width per cell), got {list(self.net_arch)!r}"
            )


class CellStack(nn.Module):
    """
    The cells of ARQ and their wiring. Cell l's input X^l_t is a concatenation:

        X^0_t     = [x_t,               h^0_{t-1}, h^1_{t-1}]
        X^l_t     = [h^{l-1}_t, x_t,    h^l_{t-1}, h^{l+1}_{t-1}]      0 < l < L-1
        X^{L-1}_t = [h^{L-2}_t, x_t,    h^{L-1}_{t-1}]

    where x_t is the flattened observation, x_t in cells above the first is the input skip, h^l_{t-1} the recurrent
    and h^{l+1}_{t-1} the forward-in-time connection; each part can be switched off. The previous step's activities
    are the *context*. What a cell receives from other cells, and the context, are detached: no gradient crosses a
    cell boundary, and each cell's Q depends on its own parameters only. The policy holds two stacks, online and
    target (like ``DQNPolicy``'s ``q_net`` and ``q_net_target``).

    :param obs_dim: Size of the flattened observation x_t.
    :param codes: Action codes e(a), shape (n_actions, code size).
    :param spec: The cells and their wiring.
    """

    def __init__(self, obs_dim: int, codes: th.Tensor, spec: StackSpec):
        super().__init__()
        self.obs_dim = obs_dim
        self.spec = spec
        self.cells = nn.ModuleList(
            spec.cell_class(sum(self.input_layout(level).values()), width, codes, spec.cell)
            for level, width in enumerate(spec.net_arch)
        )

    @property
    def uses_context(self) -> bool:
        """Whether the cells see the previous step's activities (then acting and training need a context)."""
        return self.spec.recurrent_connections or self.spec.forward_connections

    def input_layout(self, level: int) -> dict[str, int]:
        """The parts of X^level in order, with their sizes."""
        layout = {}
        if level > 0:
            layout["below"] = self.spec.net_arch[level - 1]
        if level == 0 or self.spec.input_skip:
            layout["obs"] = self.obs_dim
        if self.spec.recurrent_connections:
            layout["self_prev"] = self.spec.net_arch[level]
        if self.spec.forward_connections and level < len(self.spec.net_arch) - 1:
            layout["above_prev"] = self.spec.net_arch[level + 1]
        return layout

    def zero_context(self, batch_size: int) -> Context:
        """The context at an episode's start: every h^l_{-1} = 0."""
        device = self.cells[0].hidden.weight.device
        return [th.zeros(batch_size, width, device=device) for width in self.spec.net_arch]

    def cell_input(self, level: int, x: th.Tensor, below: th.Tensor | None, context: Context) -> th.Tensor:
        """X^level_t from the observation x_t, the activity of the cell below and the context, all as constants."""
        parts = {"obs": x, "below": None if below is None else below.detach()}
        if self.uses_context:
            parts["self_prev"] = context[level].detach()
            parts["above_prev"] = context[level + 1].detach() if level + 1 < len(context) else None
        return th.cat([parts[name] for name in self.input_layout(level)], dim=1)

    def activities(self, x: th.Tensor, context: Context) -> Context:
        """The h path alone: every cell's activity h^l_t, bottom to top (the next step's context)."""
        hs: Context = []
        for level, cell in enumerate(self.cells):
            hs.append(cell.activity(self.cell_input(level, x, hs[-1] if hs else None, context)))
        return hs

    def replay(self, x_window: th.Tensor) -> Context:
        """
        Run the h path over a window of observations from a zero context (docs/algorithm.md, "3. Context windows in
        training").

        :param x_window: Flattened observations, shape (batch, steps, obs_dim), oldest first.
        :return: The activities after the window's last observation: the context of the step that follows it.
        """
        context = self.zero_context(x_window.shape[0])
        for step in range(x_window.shape[1]):
            context = self.activities(x_window[:, step], context)
        return context

    def forward(
        self, x: th.Tensor, context: Context, actions: list[th.Tensor] | None = None
    ) -> tuple[Context, list[th.Tensor]]:
        """
        Every cell's activity and Q estimate at x_t. Each Q depends on its own cell's parameters only.

        :param x: Flattened observations, shape (batch, obs_dim).
        :param context: The previous step's activities (ignored when no time connection is on).
        :param actions: One action tensor (batch,) per cell, or None for the Q of every action.
        :return: Activities h^l_t and Q^l, each (batch,) or (batch, n_actions).
        """
        hs: Context = []
        qs = []
        for level, cell in enumerate(self.cells):
            cell_x = self.cell_input(level, x, hs[-1] if hs else None, context)
            hs.append(cell.activity(cell_x))
            qs.append(cell.q_values(cell_x, hs[-1], None if actions is None else actions[level]))
        return hs, qs
