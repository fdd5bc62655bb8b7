"""
PNG figures of rl-zoo3 runs, written on a headless machine (``python -m sb3_arq.plots``):

- ``<env>_evaluations.png``: the evaluation return over training (each run's ``evaluations.npz``), per algorithm the
  mean over runs (seeds) with a band of one standard error (``draw_evaluations``, which ``benchmarks/learning.py``
  also draws with);
- ``<env>_arq_cells.png``: each ARQ cell's TD loss and mean Q over training, from the tensorboard scalars
  ``train/loss_cell{l}`` and ``train/q_cell{l}`` that ARQ logs when trained with ``--tensorboard-log`` (read with
  tensorboard's ``EventAccumulator``), mean over runs with a band of one standard error.

Example: ``python -m sb3_arq.plots -f logs --algo arq dqn --env MinAtar/Breakout-v1 -o plots``.
"""

import argparse
import glob
import os
import re

import matplotlib
import numpy as np
import yaml
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

# The tensorboard run name that ``ARQ.learn`` logs under (``<tensorboard_log>/<env name>/ARQ_<n>``)
ARQ_TB_LOG_NAME = "ARQ"
CELL_TAGS = {"loss": re.compile(r"train/loss_cell(\d+)$"), "Q": re.compile(r"train/q_cell(\d+)$")}


def env_name(env_id: str) -> str:
    """:return: rl-zoo3's folder name of an env id (``MinAtar/Breakout-v1`` -> ``MinAtar-Breakout-v1``)."""
    return env_id.replace("/", "-")


def evaluation_statistics(runs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """
    The evaluation curve of several runs: the evaluations that every run reached, mean and standard error over runs.

    :param runs: Per run, its evaluation steps and its mean return at each (the mean over the evaluation's episodes).
    :return: ``timesteps``, ``mean`` and ``std_error`` (one value per evaluation; the standard error is 0 for one run) and
        ``last_evals`` (each run's return at the last of these evaluations).
    """
    n_evaluations = min(len(steps) for steps, _ in runs)
    returns = np.array([values[:n_evaluations] for _, values in runs], dtype=float)
    std_error = returns.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros(n_evaluations)
    return {
        "timesteps": runs[0][0][:n_evaluations],
        "mean": returns.mean(axis=0),
        "std_error": std_error,
        "last_evals": returns[:, -1],
    }


def evaluation_curves(log_folder: str, algos: list[str], env_id: str) -> dict[str, dict[str, np.ndarray]]:
    """
    The evaluation curves of every run of ``algos`` on ``env_id`` in an rl-zoo3 log folder, from each run's
    ``evaluations.npz`` (the file rl-zoo3's ``EvalCallback`` and ``EpsilonGreedyEvalCallback`` write), aggregated by
    ``evaluation_statistics``.

    :param log_folder: rl-zoo3's ``-f`` folder (runs in ``<log_folder>/<algo>/<env name>_<n>/``).
    :param algos: Algorithm names as given to rl-zoo3 (``arq``, ``dqn``, ...).
    :param env_id: Gymnasium id.
    :return: Per algorithm with runs (upper case, as rl-zoo3 labels it): ``evaluation_statistics``'s result.
    """
    curves = {}
    for algo in algos:
        pattern = os.path.join(glob.escape(log_folder), algo, f"{glob.escape(env_name(env_id))}_*", "evaluations.npz")
        runs = []
        for path in sorted(glob.glob(pattern)):
            with np.load(path) as evaluations:
                runs.append((evaluations["timesteps"], evaluations["results"].mean(axis=1)))
        if runs:
            curves[algo.upper()] = evaluation_statistics(runs)
    return curves


def tensorboard_runs(log_folder: str, env_id: str, tensorboard_log: str | None = None) -> list[str]:
    """
    The tensorboard folders of the ARQ runs on ``env_id``: ``<tensorboard_log>/<env name>/ARQ_<n>``.

    :param log_folder: rl-zoo3's ``-f`` folder; when ``tensorboard_log`` is None, the ``--tensorboard-log`` values saved
        in its ARQ runs' ``args.yml`` are used (paths relative to where training ran).
    :param env_id: Gymnasium id.
    :param tensorboard_log: rl-zoo3's ``--tensorboard-log`` folder, or None.
    :return: The folders, sorted.
    """
    if tensorboard_log is not None:
        roots = {tensorboard_log}
    else:
        roots = set()
        pattern = os.path.join(glob.escape(log_folder), "arq", f"{glob.escape(env_name(env_id))}_*", "*", "args.yml")
        for args_path in glob.glob(pattern):
            with open(args_path) as file:
                saved = yaml.load(file, Loader=yaml.UnsafeLoader)
            if saved.get("tensorboard_log"):
                roots.add(saved["tensorboard_log"])
    runs = []
    for root in roots:
        runs += glob.glob(os.path.join(glob.escape(root), glob.escape(env_name(env_id)), f"{ARQ_TB_LOG_NAME}_*"))
    return sorted(runs)


def cell_curves(run_dirs: list[str]) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """
    Each cell's loss and Q over training, read by tensorboard's ``EventAccumulator``.

    SB3 logs them when it writes its logs (every few episodes and at each evaluation), so runs log at different steps:
    each run's curve is interpolated linearly onto the steps that any run logged within the range that every run
    covers.

    :param run_dirs: Tensorboard folders of ARQ runs (``tensorboard_runs``).
    :return: ``{"loss": {cell: (steps, values)}, "Q": {...}}``, ``values`` of shape (runs, steps).
    """
    if not run_dirs:  # no run trained with --tensorboard-log: nothing to read (and tensorboard may be missing)
        return {quantity: {} for quantity in CELL_TAGS}
    try:
        from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
    except ImportError as error:  # not in the zoo extra: only runs trained with --tensorboard-log need it
        raise ImportError("the cell plots read tensorboard logs: pip install tensorboard") from error

    per_run = []
    for run_dir in run_dirs:
        accumulator = EventAccumulator(run_dir, size_guidance={SCALARS: 0})  # 0: keep every point
        accumulator.Reload()
        per_run.append({tag: accumulator.Scalars(tag) for tag in accumulator.Tags()[SCALARS]})
    common_tags = set.intersection(*(set(scalars) for scalars in per_run)) if per_run else set()
    curves = {}
    for quantity, pattern in CELL_TAGS.items():
        curves[quantity] = {}
        for tag in sorted(common_tags):
            match = pattern.match(tag)
            if match is None:
                continue
            runs = [(np.array([e.step for e in run[tag]]), np.array([e.value for e in run[tag]])) for run in per_run]
            first, last = max(steps[0] for steps, _ in runs), min(steps[-1] for steps, _ in runs)
            grid = np.unique(np.concatenate([steps for steps, _ in runs]))
            grid = grid[(grid >= first) & (grid <= last)]
            values = np.array([np.interp(grid, steps, run_values) for steps, run_values in runs])
            curves[quantity][int(match.group(1))] = (grid, values)
    return curves


def _band(ax, steps: np.ndarray, values: np.ndarray, std_error: np.ndarray, label: str) -> None:
    (line,) = ax.plot(steps, values, label=label, linewidth=2)
    ax.fill_between(steps, values - std_error, values + std_error, color=line.get_color(), alpha=0.3, linewidth=0)


def draw_evaluations(ax, curves: dict[str, dict[str, np.ndarray]], title: str) -> None:
    """
    Draw evaluation curves on a matplotlib axes: one line (mean over runs) with a band (one standard error) per curve.

    :param ax: The axes.
    :param curves: Label -> ``evaluation_statistics``'s result.
    :param title: The axes' title.
    """
    for label, curve in curves.items():
        n_runs = len(curve["last_evals"])
        _band(ax, curve["timesteps"], curve["mean"], curve["std_error"], f"{label} ({n_runs} run{'s' * (n_runs > 1)})")
    ax.set(title=title, xlabel="env steps", ylabel="mean evaluation return")
    ax.grid(alpha=0.3)
    ax.legend()


def plot_evaluations(curves: dict[str, dict[str, np.ndarray]], env_id: str) -> Figure:
    """
    :param curves: ``evaluation_curves``'s result.
    :param env_id: Gymnasium id (title).
    :return: The figure of ``draw_evaluations``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw_evaluations(ax, curves, f"{env_id}: evaluation")
    fig.tight_layout()
    return fig


def plot_cells(curves: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], env_id: str, n_runs: int) -> Figure:
    """
    :param curves: ``cell_curves``'s result.
    :param env_id: Gymnasium id (title).
    :param n_runs: Number of runs averaged (title).
    :return: The figure: TD loss (left) and mean Q (right), one line per cell (mean over runs, band of one standard
        error).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (quantity, cells) in zip(axes, curves.items(), strict=True):
        for cell, (steps, values) in sorted(cells.items()):
            std_error = values.std(axis=0) / np.sqrt(len(values))
            _band(ax, steps, values.mean(axis=0), std_error, f"cell {cell}")
        ax.set(xlabel="env steps", ylabel=f"{quantity} (mean over the batch)", title=f"ARQ cells: {quantity}")
        ax.legend()
    axes[0].set_yscale("log")
    fig.suptitle(f"{env_id}, {n_runs} run{'s' * (n_runs > 1)}")
    fig.tight_layout()
    return fig


def write_plots(
    log_folder: str, algos: list[str], env_id: str, output_folder: str, tensorboard_log: str | None = None
) -> list[str]:
    """
    Write ``<env name>_evaluations.png`` and, for ARQ runs trained with ``--tensorboard-log``,
    ``<env name>_arq_cells.png`` into ``output_folder``, and print each algorithm's final evaluation.

    :param log_folder: rl-zoo3's ``-f`` folder.
    :param algos: Algorithm names as given to rl-zoo3.
    :param env_id: Gymnasium id.
    :param output_folder: Where to write the PNG files (created if needed).
    :param tensorboard_log: rl-zoo3's ``--tensorboard-log`` folder of the ARQ runs (default: from their ``args.yml``).
    :return: Paths of the files written.
    """
    os.makedirs(output_folder, exist_ok=True)
    written = []
    curves = evaluation_curves(log_folder, algos, env_id)
    if not curves:
        raise FileNotFoundError(
            f"No evaluations.npz of {algos} on {env_id} in {os.path.join(log_folder, '<algo>', env_name(env_id) + '_<n>')}: "
            "train with evaluation on (rl-zoo3's --eval-freq > 0) and check --log-folder, --algo and --env"
        )
    for algo, curve in curves.items():
        print(
            f"{algo} on {env_id}: final evaluation (step {curve['timesteps'][-1]}) {curve['mean'][-1]:.2f} "
            f"+- {curve['std_error'][-1]:.2f} (mean +- standard error over {len(curve['last_evals'])} runs)"
        )
    path = os.path.join(output_folder, f"{env_name(env_id)}_evaluations.png")
    fig = plot_evaluations(curves, env_id)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    if "arq" in [algo.lower() for algo in algos]:
        run_dirs = tensorboard_runs(log_folder, env_id, tensorboard_log)
        cells = cell_curves(run_dirs)
        if not any(cells.values()):
            print(
                f"No per-cell scalars of ARQ on {env_id} (looked in {run_dirs or 'no tensorboard folder'}): train with "
                "--tensorboard-log <folder> to plot each cell's loss and Q, and pass --tensorboard-log here if training "
                "ran in another directory"
            )
        else:
            path = os.path.join(output_folder, f"{env_name(env_id)}_arq_cells.png")
            fig = plot_cells(cells, env_id, len(run_dirs))
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    for path in written:
        print(f"Saved {path}")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_arq.plots",
        description="Write PNG figures of rl-zoo3 runs: evaluation curves and ARQ's per-cell loss and Q.",
    )
    parser.add_argument("-f", "--log-folder", required=True, help="rl-zoo3's log folder (its -f)")
    parser.add_argument("--algo", nargs="+", required=True, help="algorithms to compare, e.g. arq dqn")
    parser.add_argument("--env", required=True, help="gymnasium id, e.g. MinAtar/Breakout-v1")
    parser.add_argument("-o", "--output-folder", default="plots", help="where to write the PNG files (default: plots)")
    parser.add_argument(
        "--tensorboard-log",
        help="rl-zoo3's --tensorboard-log folder of the ARQ runs (default: the one saved in their args.yml)",
    )
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files only: no display needed
    write_plots(args.log_folder, args.algo, args.env, args.output_folder, args.tensorboard_log)


if __name__ == "__main__":
    main()
