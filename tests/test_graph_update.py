"""The update as one CapturedStep (graph_update): a CUDA graph on a GPU; here, on CPU, the same update run eagerly."""

import numpy as np
import torch as th

from tests.conftest import small_model


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
