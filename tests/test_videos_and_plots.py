"""
What a user looks at after a run, on two tiny rl-zoo3 ARQ runs on MinAtar (tensorboard logging on): the video that
``rl_zoo3.record_video`` writes, and the PNG figures of ``python -m sb3_arq.plots``.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpl_image

from sb3_arq import plots
from tests.helpers import requires_hook, run_python, zoo_train

ENV_ID = "MinAtar/Breakout-v1"
TINY = ["learning_starts:200", "batch_size:16", "buffer_size:2000", "context_size:2"]
TINY += ["policy_kwargs:dict(net_arch=[16, 16, 16])"]
EVAL_STEPS = [400, 800, 1200]


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory) -> Path:
    """Two seeds of ``python -m sb3_arq.train --algo arq --env MinAtar/Breakout-v1 --tensorboard-log tb`` (1200 steps)."""
    folder = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        zoo_train(
            folder, "arq", ENV_ID, 1200, 400, 2, "--seed", str(seed), "--tensorboard-log", "tb", "-params", *TINY
        )  # fmt: skip
    return folder


@requires_hook
def test_rl_zoo3_record_video_shows_the_minatar_game(log_folder):
    imageio = pytest.importorskip("imageio.v3")
    pytest.importorskip("moviepy")
    args = ["-m", "rl_zoo3.record_video", "--algo", "arq", "--env", ENV_ID, "-f", "."]
    run_python([*args, "-n", "60", "-o", "videos"], cwd=log_folder)
    (video,) = (log_folder / "videos").glob("*.mp4")
    frames = imageio.imread(video, plugin="FFMPEG")  # imageio-ffmpeg's ffmpeg binary, installed with moviepy
    assert frames.dtype == np.uint8 and frames.shape[0] == 60 and frames.shape[2] >= 84 and frames.shape[1:] == (160, 160, 3)
    for frame in frames:
        # not blank: the bricks' row is bright, most of the field black, and several colours (bricks, ball, paddle)
        assert frame.max() > 150 and np.median(frame) < 30 and frame.std() > 20


def test_plots_command_writes_both_pngs(log_folder):
    output = log_folder / "plots"
    args = ["-m", "sb3_arq.plots", "-f", ".", "--algo", "arq", "--env", ENV_ID, "-o", str(output)]
    result = run_python(args, cwd=log_folder)
    assert "ARQ on MinAtar/Breakout-v1: final evaluation (step 1200)" in result.stdout
    for name in ("MinAtar-Breakout-v1_evaluations.png", "MinAtar-Breakout-v1_arq_cells.png"):
        png = mpl_image.imread(output / name)
        assert png.ndim == 3 and png.shape[1] >= 600 and png.std() > 0.05
        assert f"Saved {output / name}" in result.stdout


def test_plotted_data(log_folder, monkeypatch):
    monkeypatch.chdir(log_folder)  # the runs saved --tensorboard-log tb, relative to where they ran
    curves = plots.evaluation_curves(".", ["arq"], ENV_ID)
    assert list(curves) == ["ARQ"]
    np.testing.assert_array_equal(curves["ARQ"]["timesteps"], EVAL_STEPS)
    npz_files = sorted(Path("arq").glob("MinAtar-Breakout-v1_*/evaluations.npz"))
    per_run = [np.load(path)["results"].mean(axis=1) for path in npz_files]
    assert len(per_run) == 2
    np.testing.assert_allclose(curves["ARQ"]["mean"], np.mean(per_run, axis=0))
    np.testing.assert_allclose(curves["ARQ"]["std_error"], np.std(per_run, axis=0, ddof=1) / np.sqrt(2))

    run_dirs = plots.tensorboard_runs(".", ENV_ID)
    assert [Path(run).name for run in run_dirs] == ["ARQ_1", "ARQ_2"]
    cells = plots.cell_curves(run_dirs)
    for quantity in ("loss", "Q"):
        assert sorted(cells[quantity]) == [0, 1, 2]
        for steps, values in cells[quantity].values():
            assert values.shape == (2, len(steps)) and len(steps) >= 2 and steps[-1] <= 1200 and np.isfinite(values).all()
    assert (np.concatenate([values.ravel() for _, values in cells["Q"].values()]) >= 0).all()

    figure = plots.plot_cells(cells, ENV_ID, len(run_dirs))
    loss_axes, q_axes = figure.axes
    for axes in (loss_axes, q_axes):
        assert [line.get_label() for line in axes.get_lines()] == ["cell 0", "cell 1", "cell 2"]  # one line per cell
    np.testing.assert_allclose(q_axes.get_lines()[1].get_ydata(), cells["Q"][1][1].mean(axis=0))
    figure = plots.plot_evaluations(curves, ENV_ID)
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["ARQ (2 runs)"]


def test_plots_without_runs_or_tensorboard(log_folder, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=re.escape("No evaluations.npz of ['arq'] on MinAtar/Freeway-v1")):
        plots.write_plots(str(log_folder), ["arq"], "MinAtar/Freeway-v1", str(tmp_path))
    # from another directory the saved relative --tensorboard-log does not resolve: the evaluation figure only, and why
    written = plots.write_plots(str(log_folder), ["arq"], ENV_ID, str(tmp_path))
    assert [Path(path).name for path in written] == ["MinAtar-Breakout-v1_evaluations.png"]
    assert "train with --tensorboard-log <folder>" in capsys.readouterr().out
    written = plots.write_plots(str(log_folder), ["arq"], ENV_ID, str(tmp_path), tensorboard_log=str(log_folder / "tb"))
    names = ["MinAtar-Breakout-v1_evaluations.png", "MinAtar-Breakout-v1_arq_cells.png"]
    assert [Path(path).name for path in written] == names
