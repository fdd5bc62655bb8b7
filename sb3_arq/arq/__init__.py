from sb3_arq.arq.arq import ARQ
from sb3_arq.arq.buffers import ContextReplayBuffer, DeviceContextReplayBuffer
from sb3_arq.arq.policies import ARQPolicy, CellOptimizers, MlpPolicy
from sb3_arq.arq.stack import CellStack

__all__ = ["ARQ", "ARQPolicy", "CellOptimizers", "CellStack", "ContextReplayBuffer", "DeviceContextReplayBuffer", "MlpPolicy"]
