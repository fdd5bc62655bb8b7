"""The update as one CapturedStep (graph_update): a CUDA graph on a GPU; here, on CPU, the same update run eagerly."""

import pytest
import torch as th

from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer
from sb3_arq.common.cuda_graph import CapturedUpdate
from tests.helpers import small_model


def test_graph_update_gives_the_eager_updates():
    """
    With the device buffer, graph_update (here the CapturedStep run eagerly, as on CPU) and the plain update from the same
    seed: the same samples, so the same parameters after 40 updates, bit for bit, and the same logged losses.
    """
    models = []
    for flag in (False, True):  # each built and trained before the next: the seed is set when a model is built
        models.append(small_model(replay_buffer_class=DeviceContextReplayBuffer, graph_update=flag))
        models[-1].learn(360)  # 200 random steps, then one update every 4 steps
    assert models[1]._n_updates == models[0]._n_updates >= 40 and isinstance(models[1]._update_step, CapturedUpdate)
    for eager, graphed in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.equal(eager, graphed)
    assert models[0].logger.name_to_value["train/loss"] == models[1].logger.name_to_value["train/loss"]


def test_graph_update_needs_the_device_buffer_and_no_nested_cuda_graphs():
    with pytest.raises(ValueError, match="graph_update=True needs replay_buffer_class=DeviceContextReplayBuffer"):
        small_model(graph_update=True)
    with pytest.raises(ValueError, match="compile_update='reduce-overhead' makes CUDA graphs of its own"):
        small_model(replay_buffer_class=DeviceContextReplayBuffer, graph_update=True, compile_update="reduce-overhead")
    with pytest.raises(TypeError, match="replay_buffer_class must be ContextReplayBuffer or DeviceContextReplayBuffer"):
        small_model(replay_buffer_class=dict)
    with pytest.raises(TypeError, match="graph_acting must be True, False or 'auto', got 'yes'"):
        small_model(graph_acting="yes")
    assert small_model(replay_buffer_class=None).replay_buffer_class is ContextReplayBuffer


def test_optimizer_state_saved_capturable_loads_as_this_machines_optimizer(tmp_path):
    """
    A model trained with graph_update on CUDA saves capturable optimizers; loaded on a CPU, whose Adam refuses
    capturable=True (non-fused), the optimizers stay non-capturable and train.
    """
    kwargs = {"policy_kwargs": {**small_model().policy_kwargs, "optimizer_kwargs": {"betas": (0.9, 0.99)}}}
    model = small_model(**kwargs)
    model.learn(300)
    model.policy.optimizer.make_capturable()
    assert all(group["capturable"] for group in model.policy.optimizer.param_groups)
    model.save(tmp_path / "model")
    loaded = small_model(**kwargs)
    loaded.set_parameters(str(tmp_path / "model.zip"))
    assert not any(group["capturable"] for group in loaded.policy.optimizer.param_groups)
    loaded.learn(300)  # steps: a CPU Adam with capturable=True would raise
    for cell, saved in zip(loaded.policy.optimizer.optimizers, model.policy.optimizer.optimizers, strict=True):
        assert cell.state_dict()["state"].keys() == saved.state_dict()["state"].keys()
