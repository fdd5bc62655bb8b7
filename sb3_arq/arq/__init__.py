from sb3_arq.arq.arq import ARQ
from sb3_arq.arq.buffers import ContextReplayBuffer
from sb3_arq.arq.policies import ARQPolicy, MlpPolicy

__all__ = ["ARQ", "ARQPolicy", "ContextReplayBuffer", "MlpPolicy"]
