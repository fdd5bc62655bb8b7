"""
rl-zoo3's features that users reach for, with ``--algo arq``: ``--track`` (Weights & Biases, offline), ``--n-eval-envs``
and ``rl_zoo3.record_training``, on real tiny runs (a few hundred steps). ``push_to_hub`` and ``load_from_hub`` need the
network: they are not tested here.
"""

import json
import os
import stat
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sb3_arq.zoo.callbacks import load_zoo_args
from tests.helpers import requires_hook, run_python, zoo_train

ENV_ID, ENV_NAME = "MinAtar/Breakout-v1", "MinAtar-Breakout-v1"
TINY = ["learning_starts:200", "batch_size:16", "buffer_size:1000", "context_size:2", "policy_kwargs:dict(net_arch=[16, 16])"]
CELL_CURVES = ["train/loss_cell0", "train/loss_cell1", "train/q_cell0", "train/q_cell1"]
VIDEO_STEPS = 50


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory) -> Path:
    """
    ``python -m rl_zoo3.train --algo arq --env MinAtar/Breakout-v1 --track`` with W&B offline (400 steps, a checkpoint at
    the end): the folder it ran in.
    """
    folder = tmp_path_factory.mktemp("tracked")
    zoo_train(
        folder, "arq", ENV_ID, 400, -1, 1, "--save-freq", "400", "--track", "--wandb-project-name", "sb3-arq-tests",
        "-params", *TINY,
        WANDB_MODE="offline", WANDB_DIR=str(folder),
    )  # fmt: skip
    return folder


def wandb_records(path: Path) -> list:
    """
    The records of a W&B run's transaction log (``run-<id>.wandb``, what ``wandb sync`` uploads): after a 7-byte
    header, LevelDB's log format (32 KiB blocks of chunks with a 7-byte header: CRC, length, type) of serialized
    ``wandb_internal_pb2.Record`` messages.
    """
    from wandb.proto import wandb_internal_pb2

    data, block_size = path.read_bytes(), 32 * 1024
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0)
    records, position, payload = [], 7, b""
    while position + 7 <= len(data):
        if block_size - position % block_size < 7:  # a block's tail too short for a chunk header is padding
            position += block_size - position % block_size
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0:  # zeros: the end of what was written
            break
        payload += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            records.append(record)
            payload = b""
    return records


@requires_hook
def test_track_sends_the_config_and_the_cell_curves_to_the_wandb_run(tracked_run):
    (run_dir,) = (tracked_run / "wandb").glob("offline-run-*")
    records = wandb_records(next(run_dir.glob("run-*.wandb")))
    kinds = [record.WhichOneof("record_type") for record in records]
    # the command line's arguments (rl-zoo3's wandb.init) and the hyperparameters that the model ran with
    (run,) = [record.run for record, kind in zip(records, kinds, strict=True) if kind == "run"]
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["algo"] == "arq" and config["env"] == ENV_ID and config["track"] is True and config["seed"] == 0
    assert config["hyperparams"]["context_size"] == 2 and config["hyperparams"]["policy_kwargs"] == {"net_arch": [16, 16]}
    updates = [record.config for record, kind in zip(records, kinds, strict=True) if kind == "config"]
    saved = {item.key: json.loads(item.value_json) for update in updates for item in update.update}["saved_hyperparams"]
    (config_file,) = tracked_run.glob(f"arq/{ENV_NAME}_1/{ENV_NAME}/config.yml")
    assert saved == load_zoo_args(config_file)  # what rl-zoo3 saved in the run folder
    assert saved["context_size"] == 2 and saved["policy_kwargs"] == {"net_arch": [16, 16]}

    # the per-cell curves: the run's history has the tensorboard log's values (sync_tensorboard), step by step
    rows = [record.history for record, kind in zip(records, kinds, strict=True) if kind == "history"]
    rows = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in row.item} for row in rows]
    rows = [row for row in rows if "train/loss_cell0" in row]
    assert len(rows) >= 3  # dumps with train/ values between steps 200 (learning starts) and 400: 5 here
    (events,) = tracked_run.glob(f"runs/**/{ENV_NAME}/ARQ_1")  # runs/<env id>__arq__<seed>__<time>
    tensorboard = EventAccumulator(str(events)).Reload()
    for tag in CELL_CURVES:
        logged = {event.step: event.value for event in tensorboard.Scalars(tag)}
        synced = {row["global_step"]: row[tag] for row in rows}  # the sync may drop the last ones: a subset
        assert synced == pytest.approx({step: logged[step] for step in synced}, rel=1e-6), tag
        assert np.isfinite(list(synced.values())).all()


@requires_hook
def test_record_training_joins_the_videos_of_the_checkpoints(tracked_run, tmp_path):
    """
    ``rl_zoo3.record_training`` records the final model and each checkpoint (``rl_zoo3.record_video``, ARQ's context
    carried as a recurrent state), writes the name on each with ffmpeg and joins them in ``training.mp4``. It calls
    ``python`` and ``ffmpeg`` from the PATH: here the test's interpreter and imageio-ffmpeg's binary (moviepy's).
    """
    imageio = pytest.importorskip("imageio.v3")
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(stat.S_IRWXU)
    args = ["-m", "rl_zoo3.record_training", "--algo", "arq", "--env", ENV_ID, "-f", "."]
    result = run_python(
        [*args, "-n", str(VIDEO_STEPS)], cwd=tracked_run, PATH=os.pathsep.join([str(bin_dir), os.environ["PATH"]])
    )
    videos = tracked_run / "arq" / f"{ENV_NAME}_1" / "videos"
    assert f"Saving video to {videos / 'training.mp4'}" in result.stdout
    frames = imageio.imread(videos / "training.mp4", plugin="FFMPEG")
    assert frames.shape == (2 * VIDEO_STEPS, 160, 160, 3)
    for frame in frames:  # the game: bricks, ball and paddle on a black field
        assert frame.max() > 150 and np.median(frame) < 30 and frame.std() > 20
    # the checkpoints' videos, then the final model's, each with its name written in a box at the top
    for index, name in enumerate(["checkpoint-400", "final-model"]):
        (video,) = videos.glob(f"{name}-arq-{ENV_NAME}-*.mp4")
        own, joined = imageio.imread(video, plugin="FFMPEG"), frames[index * VIDEO_STEPS : (index + 1) * VIDEO_STEPS]
        assert np.abs(joined[:, 40:].astype(int) - own[:, 40:]).mean() < 1
        assert np.abs(joined[:, :40].astype(int) - own[:, :40]).mean() > 5


# rl_zoo3.train with ARQPolicy.predict recording what the evaluations give it and return (the real predict runs)
N_EVAL_ENVS_RUN = """
import json, runpy, sys
import numpy as np
from sb3_arq.arq.policies import ARQPolicy

calls, real_predict = [], ARQPolicy.predict


def recording_predict(self, observation, state=None, episode_start=None, deterministic=False):
    actions, new_state = real_predict(self, observation, state, episode_start, deterministic)
    # each env alone, with its own row of the state: the same action and context as in the batch
    alone = [real_predict(self, observation[i : i + 1], None if state is None else tuple(h[i : i + 1] for h in state),
                          episode_start[i : i + 1], deterministic) for i in range(len(observation))]
    gap = max(float(np.abs(new_state[c][i] - h[0]).max()) for i, (_, s) in enumerate(alone) for c, h in enumerate(s))
    same_actions = all(int(a[0]) == int(actions[i]) for i, (a, _) in enumerate(alone))
    carried = state is None or (calls[-1]["returned"] is not None and all(
        np.array_equal(h, g) for h, g in zip(state, calls[-1]["returned"])))
    calls.append({"returned": new_state, "n_obs": len(observation), "episode_start": np.asarray(episode_start).tolist(),
                  "state": None if state is None else [list(np.shape(h)) for h in state], "carried": carried,
                  "gap": gap, "same_actions": same_actions})
    return actions, new_state


ARQPolicy.predict = recording_predict
sys.argv = ["train", *sys.argv[1:]]
runpy.run_module("rl_zoo3.train", run_name="__main__")
print("CALLS", json.dumps([{k: v for k, v in call.items() if k != "returned"} for call in calls]))
"""


@requires_hook
def test_n_eval_envs_gives_each_evaluation_env_its_own_context(tmp_path):
    """
    ``--n-eval-envs 2``: rl-zoo3's evaluation and the paper's (``EpsilonGreedyEvalCallback``, from the run's config)
    step 2 envs at once, and ARQ's policy carries one context per env: each env's action and context in the batch are
    those of the env alone with its own context, reset when its own episode ends.
    """
    callback = [
        {"sb3_arq.zoo.callbacks.EpsilonGreedyEvalCallback": {"eval_freq": 200, "n_eval_episodes": 3, "log_path": "ours"}}
    ]
    args = ["--algo", "arq", "--env", "CartPole-v1", "-n", "400", "-f", ".", "--seed", "0", "--num-threads", "1"]
    args += ["--eval-freq", "200", "--eval-episodes", "3", "--n-eval-envs", "2", "-params", "learning_starts:100"]
    args += ["batch_size:16", "context_size:2", "policy_kwargs:dict(net_arch=[8, 8], n_heads=2, recurrent_connections=True)"]
    args += [f"callback:{callback!r}"]
    result = run_python(["-c", N_EVAL_ENVS_RUN, *args], cwd=tmp_path)
    calls = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("CALLS "))[6:])
    for folder in (tmp_path / "arq" / "CartPole-v1_1", tmp_path / "ours"):  # rl-zoo3's evaluations, then ours
        evaluations = np.load(folder / "evaluations.npz")
        assert evaluations["timesteps"].tolist() == [200, 400] and evaluations["results"].shape == (2, 3)
    # 4 evaluations, each from a fresh state; every call for 2 envs, the state one row per env of each of the 2 cells
    assert sum(call["state"] is None for call in calls) == 4
    assert all(call["n_obs"] == 2 and len(call["episode_start"]) == 2 for call in calls)
    assert all(call["state"] in (None, [[2, 8], [2, 8]]) for call in calls)
    assert all(call["carried"] for call in calls)  # the state that the previous call returned
    assert all(call["same_actions"] for call in calls) and max(call["gap"] for call in calls) < 1e-5
    # an env's episode ended while the other's went on: its context restarted alone
    assert any(sum(call["episode_start"]) == 1 for call in calls)
