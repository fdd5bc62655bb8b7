"""
rl-zoo3 integration: the ``arq`` algorithm, its packaged hyperparameters and the benchmark environments.

``register()`` is what the import hook (``_sb3_arq_zoo_hook``, started by ``sb3_arq_zoo_hook.pth``) runs as soon as
``rl_zoo3`` is imported, so that ``python -m rl_zoo3.train --algo arq ...`` works as written (``-optimize`` included:
``packaged`` finds the shipped yml files, ``sampler`` holds the search space, ``exp_manager`` the subclass of rl-zoo3's
``ExperimentManager`` that serves them, ``best_params`` writes a trial as a yml entry; none of them imports this
package's ``__init__``). ``train()``, ``enjoy()`` and ``record_video()`` are the hook-free
equivalents behind ``python -m sb3_arq.train`` (and ``sb3_arq.enjoy``, ``sb3_arq.record_video``): they register, then
hand over to rl-zoo3's own scripts, which read ``sys.argv`` as usual.
"""

import importlib
import runpy
import sys

from sb3_arq.zoo.packaged import PACKAGED_HYPERPARAMS, ZOO_ALGOS, hyperparams_path


def register() -> None:
    """
    Register sb3-arq with rl-zoo3 (idempotent): add ``"arq": sb3_arq.ARQ`` to ``rl_zoo3.utils.ALGOS`` (the dict that
    ``rl_zoo3.ALGOS``, the train/enjoy/record scripts and ``ExperimentManager`` share), ARQ's sampler and converter to
    ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER`` / ``HYPERPARAMS_CONVERTER`` (``sb3_arq.zoo.sampler``), and register
    the MinAtar and DeepMind Control ids (``sb3_arq.envs``; dm_control is imported only when a ``dm_control/...`` id is
    on the command line or an env of one is made, so that a MinAtar or classic-control run never imports it). The one
    hook beyond rl-zoo3's registries: the name ``ExperimentManager`` in ``rl_zoo3.exp_manager`` (which rl-zoo3's
    ``train`` script imports) is bound to ``sb3_arq.zoo.exp_manager.ARQExperimentManager``, which reads the packaged
    ``hyperparams/arq.yml`` when no ``--conf-file`` is given and serves ``-optimize`` / ``--trial-id`` for
    ``--algo arq`` (unchanged for other algos).
    """
    import rl_zoo3
    import rl_zoo3.utils
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

    import sb3_arq.envs  # noqa: F401  (registers the environments; the paper's dm_control ids without dm_control)
    from sb3_arq import ARQ
    from sb3_arq.envs.registration import import_shimmy
    from sb3_arq.zoo.sampler import convert_arq_params, sample_arq_params

    for algos in (rl_zoo3.utils.ALGOS, rl_zoo3.ALGOS):
        algos["arq"] = ARQ
    HYPERPARAMS_SAMPLER["arq"] = sample_arq_params
    HYPERPARAMS_CONVERTER["arq"] = convert_arq_params
    if any("dm_control/" in arg for arg in sys.argv):  # a DeepMind Control run of rl-zoo3's scripts: every shimmy id
        import_shimmy()
    from sb3_arq.zoo.exp_manager import bind_experiment_manager

    bind_experiment_manager()


def train() -> None:
    """``python -m rl_zoo3.train`` with sb3-arq registered first (arguments from ``sys.argv``)."""
    register()
    from rl_zoo3.train import train as zoo_train

    zoo_train()


def enjoy() -> None:
    """``python -m rl_zoo3.enjoy`` with sb3-arq registered first (arguments from ``sys.argv``)."""
    register()
    from rl_zoo3.enjoy import enjoy as zoo_enjoy

    zoo_enjoy()


def record_video() -> None:
    """``python -m rl_zoo3.record_video`` with sb3-arq registered first (arguments from ``sys.argv``)."""
    register()
    # rl-zoo3's record_video has no function to call: its code is under ``if __name__ == "__main__"``
    runpy.run_module("rl_zoo3.record_video", run_name="__main__", alter_sys=True)


__all__ = [
    "PACKAGED_HYPERPARAMS",
    "ZOO_ALGOS",
    "enjoy",
    "hyperparams_path",
    "record_video",
    "register",
    "train",
]

# Last, once register() is defined: with the import hook, importing rl_zoo3 runs register(), which imports this package's
# modules in full. Were rl_zoo3 first imported by one of them (say sampler, imported before rl_zoo3), register() would
# find that module half-initialised.
importlib.import_module("rl_zoo3")
