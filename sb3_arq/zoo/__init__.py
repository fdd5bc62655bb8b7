"""
rl-zoo3 integration: the ``arq`` algorithm, its packaged hyperparameters and the benchmark environments.

``register()`` is what the import hook (``_sb3_arq_zoo_hook``, started by ``sb3_arq_zoo_hook.pth``) runs as soon as
``rl_zoo3`` is imported, so that ``python -m rl_zoo3.train --algo arq ...`` works as written (``-optimize`` included:
``packaged`` finds the shipped yml files, ``sampler`` holds the search space). ``train()``, ``enjoy()`` and
``record_video()`` are the hook-free equivalents behind
``python -m sb3_arq.train`` (and ``sb3_arq.enjoy``, ``sb3_arq.record_video``): they register, then hand over to
rl-zoo3's own scripts, which read ``sys.argv`` as usual.
"""

import argparse
import runpy
import sys
from pathlib import Path

from sb3_arq.zoo.packaged import PACKAGED_HYPERPARAMS, ZOO_ALGOS, hyperparams_path


def with_packaged_conf_file(args: list[str]) -> list[str]:
    """
    rl-zoo3's ``train`` arguments, with sb3-arq's packaged yml as ``--conf-file`` for an algorithm that sb3-arq adds
    (``ZOO_ALGOS``) when none is given: rl-zoo3 looks for ``hyperparams/<algo>.yml`` in its own package only.

    :param args: The arguments after the script's name.
    :return: The same arguments, or a new list with ``--conf-file`` added at the end.
    """
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)  # rl-zoo3's names of the two options
    parser.add_argument("--algo")
    parser.add_argument("-conf", "--conf-file")
    try:
        known, _ = parser.parse_known_args(args)
    except argparse.ArgumentError:  # rl-zoo3's parser will say what is wrong
        return args
    if known.algo in ZOO_ALGOS and known.conf_file is None:
        return [*args, "--conf-file", hyperparams_path(known.algo)]
    return args


def runs_zoo_train() -> bool:
    """
    :return: Whether this process runs rl-zoo3's ``train`` script: ``python -m rl_zoo3.train`` (or
        ``sb3_arq.train``), a script named ``train``, or rl-zoo3's command line with ``train``
        (``rl_zoo3 train``, ``python -m rl_zoo3.cli train``).
    """
    script = sys.argv[0]
    if script == "-m":  # python -m <module>, while Python imports the module's packages
        script = sys.orig_argv[sys.orig_argv.index("-m") + 1]
    if script == "rl_zoo3.cli" or Path(script).name == "rl_zoo3":
        return sys.argv[1:2] == ["train"]
    return script.rpartition(".")[2] == "train" or Path(script).stem == "train"


def register() -> None:
    """
    Register sb3-arq with rl-zoo3 (idempotent): add ``"arq": sb3_arq.ARQ`` to ``rl_zoo3.utils.ALGOS`` (the dict that
    ``rl_zoo3.ALGOS``, the train/enjoy/record scripts and ``ExperimentManager`` share), ARQ's sampler and converter to
    ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER`` / ``HYPERPARAMS_CONVERTER`` (``sb3_arq.zoo.sampler``), and register
    the MinAtar and DeepMind Control ids (``sb3_arq.envs``; dm_control is imported only when a ``dm_control/...`` id is
    on the command line or an env of one is made, so that a MinAtar or classic-control run never imports it). When
    this process runs rl-zoo3's ``train`` script, ``--algo arq`` without ``--conf-file`` gets the packaged
    ``hyperparams/arq.yml`` as ``--conf-file`` (``with_packaged_conf_file``): rl-zoo3 has no table of configuration
    files to register it in.
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
    if runs_zoo_train():
        sys.argv[1:] = with_packaged_conf_file(sys.argv[1:])


def train() -> None:
    """
    ``python -m rl_zoo3.train`` with sb3-arq registered first (arguments from ``sys.argv``; ``--algo arq`` without
    ``--conf-file`` reads the packaged yml).
    """
    register()
    sys.argv[1:] = with_packaged_conf_file(sys.argv[1:])
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
    "with_packaged_conf_file",
]
