from sb3_arq.arq import ARQ, MlpPolicy
from sb3_arq.version import __version__

__all__ = ["ARQ", "MlpPolicy", "__version__"]
