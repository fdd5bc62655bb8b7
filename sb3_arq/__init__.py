import sb3_arq.envs  # noqa: F401  (registers the benchmark env ids, e.g. "MinAtar/Breakout-v1", for ARQ("MlpPolicy", id))
from sb3_arq.arq import ARQ, MlpPolicy
from sb3_arq.version import __version__

__all__ = ["ARQ", "MlpPolicy", "__version__"]
