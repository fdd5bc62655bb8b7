"""
The networks of the baselines ARQ is compared with: the feature extractor of the MinAtar DQN baseline (Young & Tian
2019), for SB3's DQN and sb3-contrib's QR-DQN (hyperparams/dqn.yml, qrdqn.yml).
"""

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class MinAtarCNN(BaseFeaturesExtractor):
    """
    The MinAtar paper's network body: one 3x3 convolution (stride 1, no padding) with 16 filters and ReLU, then a
    fully connected layer of 128 ReLU units. Use it with ``net_arch=[]`` so the Q-network adds only the linear output
    layer (SB3's ``NatureCNN`` needs at least 36x36 inputs, MinAtar's are 10x10).

    MinAtar observations are channel-last ``(10, 10, C)`` bool grids. They stay bool in the env and replay buffer;
    SB3 casts them to float (0/1, no image scaling since they are not uint8 images) and this extractor moves the
    channel axis in front before the convolution.

    :param observation_space: ``Box`` of shape ``(height, width, channels)``.
    :param n_filters: Number of convolution filters.
    :param features_dim: Width of the fully connected layer (the features' size).
    """

    def __init__(self, observation_space: spaces.Box, n_filters: int = 16, features_dim: int = 128):
        super().__init__(observation_space, features_dim)
        if len(observation_space.shape) != 3:
            raise ValueError(f"MinAtarCNN needs (height, width, channels) observations, got {observation_space.shape}")
        height, width, n_channels = observation_space.shape
        self.cnn = nn.Sequential(
            nn.Conv2d(n_channels, n_filters, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        n_flatten = n_filters * (height - 2) * (width - 2)
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        # (batch, height, width, channels) -> (batch, channels, height, width)
        return self.linear(self.cnn(observations.permute(0, 3, 1, 2).float()))
