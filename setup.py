"""
The package is configured in setup.cfg (metadata and options) and pyproject.toml (build system, tools). This file only
adds one thing setuptools cannot declare there: installing ``sb3_arq_zoo_hook.pth`` at the top of site-packages, for
regular and editable installs.

The ``.pth`` file makes ``python -m rl_zoo3.train --algo arq`` work: at interpreter start it imports the stdlib-only
module ``_sb3_arq_zoo_hook``, which registers ARQ with rl-zoo3 only once ``rl_zoo3`` is imported (see that module;
opt out with ``SB3_ARQ_NO_ZOO_HOOK=1``).
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

ZOO_HOOK_PTH = "sb3_arq_zoo_hook.pth"


class BuildPyWithZooHook(build_py):
    """
    ``build_py`` that also puts ``sb3_arq_zoo_hook.pth`` at the root of ``build_lib`` (the root of the wheel).

    For a PEP 660 editable wheel, setuptools throws ``build_lib`` away and packs the directory that its ``install``
    command targets (the unpacked editable wheel), so the file is copied there as well.
    """

    def run(self) -> None:
        super().run()
        self.copy_file(ZOO_HOOK_PTH, os.path.join(self.build_lib, ZOO_HOOK_PTH), preserve_mode=False)
        if self.editable_mode:
            wheel_root = self.get_finalized_command("install").install_lib
            self.copy_file(ZOO_HOOK_PTH, os.path.join(wheel_root, ZOO_HOOK_PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, ZOO_HOOK_PTH)]

    def get_source_files(self) -> list[str]:
        return [*super().get_source_files(), ZOO_HOOK_PTH]


setup(cmdclass={"build_py": BuildPyWithZooHook})
