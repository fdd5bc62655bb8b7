"""
What ARQ does with files, beyond SB3: saves that a kill cannot lose (written atomically), loads that check what they
read (a complete model zip, a policy that fits, a replay buffer with a valid checksum that fits the model).
"""

import io
import pathlib
from collections.abc import Iterable
from typing import Any, TypeVar

import torch as th
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, TensorDict

from sb3_arq.arq import guards
from sb3_arq.arq.buffers import DeviceContextReplayBuffer
from sb3_arq.common.files import atomic_write, check_model_file, load_verified_pickle, save_verified_pickle, write_path

SelfSafeFiles = TypeVar("SelfSafeFiles", bound="SafeFiles")


class SafeFiles:
    """
    ARQ's ``save``, ``load``, ``set_parameters``, ``save_replay_buffer`` and ``load_replay_buffer``, as a mixin in front
    of ``OffPolicyAlgorithm`` (``class ARQ(SafeFiles, OffPolicyAlgorithm)``): SB3's, made safe against kills and checked
    on load (the checks are in ``sb3_arq.arq.guards``). A loaded replay buffer gets a new update step
    (``ARQ._setup_update``): a captured update reads the old buffer's tensors.
    """

    def set_parameters(
        self,
        load_path_or_dict: str | dict[str, TensorDict],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        params = load_path_or_dict
        if not isinstance(params, dict):
            _, params, _ = load_from_zip_file(load_path_or_dict, device=device, load_data=False)
        if exact_match:
            guards.check_saved_policy(self.policy, params)
        super().set_parameters(params, exact_match=exact_match, device=device)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """
        Save the model as SB3 does (a zip file, ".zip" added to a path without suffix), atomically: written to a
        temporary file in the same folder, flushed, fsync-ed and renamed over ``path``, so that a process killed at any
        instant leaves the old file or the new one (an open file object is written as it is).

        :param path: Path of the file, or an open binary file.
        :param exclude: Names of parameters to exclude in addition to the default ones.
        :param include: Names of parameters that might be excluded but should be included anyway.
        """
        if not isinstance(path, (str, pathlib.Path)):
            return super().save(path, exclude, include)
        with atomic_write(write_path(path, "zip")) as file:
            super().save(file, exclude, include)

    @classmethod
    def load(
        cls: type[SelfSafeFiles],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs,
    ) -> SelfSafeFiles:
        """
        SB3's ``load``, after checking that the file is a complete model zip (a ValueError naming the file otherwise,
        also under ``python -O``, which strips SB3's own check). See ``BaseAlgorithm.load`` for the parameters.
        """
        check_model_file(path)
        return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the replay buffer as a pickle (".pkl" added to a path without suffix) followed by its SHA-256 checksum,
        which ``load_replay_buffer`` verifies; atomically, as ``save`` (SB3's ``load_from_pkl`` still reads the file).

        :param path: Path of the file, or an open binary file.
        """
        if self.replay_buffer is None:
            raise ValueError("The model has no replay buffer to save (replay_buffer is None)")
        save_verified_pickle(self.replay_buffer, path)

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """
        Load a replay buffer saved by ``save_replay_buffer``, after verifying its checksum and checking that it fits
        this model: a ``ContextReplayBuffer`` with this model's context size, number of envs and spaces. A file that is
        truncated or corrupted, or a buffer that does not fit, is refused with a ValueError naming what is wrong, and
        the model keeps its own buffer. A file without checksum (e.g. written by SB3's ``save_to_pkl``) loads unverified,
        with a warning. As in SB3, a ``ContextReplayBuffer`` then samples onto ``model.device``.

        :param path: Path to the pickled replay buffer (or an open binary file).
        :param truncate_last_traj: Unused (SB3 uses it for ``HerReplayBuffer``).
        """
        buffer = load_verified_pickle(path)
        guards.check_replay_buffer(self, buffer)
        if not isinstance(buffer, DeviceContextReplayBuffer):
            buffer.device = self.device
        self.replay_buffer = buffer
        self._setup_update()  # a captured update reads the old buffer's tensors
