"""
Lazy rl-zoo3 integration of sb3-arq, started at interpreter start-up by ``sb3_arq_zoo_hook.pth``.

rl-zoo3 builds the ``--algo`` choices of its scripts from ``rl_zoo3.utils.ALGOS``, so ``arq`` has to be in that table
before ``python -m rl_zoo3.train`` parses its arguments, i.e. before any code of ours would normally run. The ``.pth``
file that sb3-arq installs into site-packages only imports this small module, which imports nothing but the standard
library: it puts an import hook on ``sys.meta_path`` that does nothing until ``rl_zoo3`` itself is imported. Right
after ``rl_zoo3`` has been executed, the hook calls ``sb3_arq.zoo.register()`` (which adds ``arq`` to ``ALGOS``,
makes ``--algo arq`` read sb3-arq's packaged ``hyperparams/arq.yml`` and registers the benchmark environments).
Torch, SB3 and rl-zoo3 are never imported eagerly.

Opt out with the environment variable ``SB3_ARQ_NO_ZOO_HOOK=1`` (then use ``python -m sb3_arq.train`` and friends,
or call ``sb3_arq.zoo.register()`` yourself). A failure inside ``register()`` is reported as a warning and leaves
rl-zoo3 usable for its own algorithms.
"""

import importlib.abc
import importlib.util
import os
import sys
import warnings

OPT_OUT_ENV_VAR = "SB3_ARQ_NO_ZOO_HOOK"
TARGET_MODULE = "rl_zoo3"


def hook_disabled() -> bool:
    """
    :return: Whether the user opted out with ``SB3_ARQ_NO_ZOO_HOOK`` (any value but empty, ``0``, ``false``, ``no``).
    """
    return os.environ.get(OPT_OUT_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


def register_with_rl_zoo3() -> None:
    """Call ``sb3_arq.zoo.register()``; turn any failure into a warning so that rl-zoo3 keeps working."""
    try:
        from sb3_arq.zoo import register

        register()
    except Exception as error:
        warnings.warn(
            f"sb3-arq could not register 'arq' with rl-zoo3: {error!r}. "
            f"Set {OPT_OUT_ENV_VAR}=1 to disable the sb3-arq import hook.",
            RuntimeWarning,
            stacklevel=2,
        )


class _RegisterAfterExecLoader(importlib.abc.Loader):
    """
    Wrap the loader of ``rl_zoo3``: execute the module as usual, then register sb3-arq with it.

    Every other attribute (resource readers, ``get_source``...) is the wrapped loader's.

    :param loader: The loader found by the regular import machinery.
    """

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        register_with_rl_zoo3()

    def __getattr__(self, name: str):
        return getattr(self.loader, name)


class ZooImportHook(importlib.abc.MetaPathFinder):
    """``sys.meta_path`` finder that only reacts to the import of ``rl_zoo3`` and defers the search to the others."""

    def __init__(self):
        self._searching = False

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != TARGET_MODULE or self._searching or hook_disabled():
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching = False
        if spec is None or spec.loader is None or isinstance(spec.loader, _RegisterAfterExecLoader):
            return spec
        spec.loader = _RegisterAfterExecLoader(spec.loader)
        return spec


def install() -> None:
    """Put the hook in front of ``sys.meta_path`` (once), unless opted out. Registers at once if rl-zoo3 is loaded."""
    if hook_disabled():
        return
    if any(type(finder).__name__ == ZooImportHook.__name__ for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, ZooImportHook())
    if TARGET_MODULE in sys.modules:
        register_with_rl_zoo3()
