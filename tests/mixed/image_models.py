"""The small CNN backbone the ARMED image tests share."""

from torch import nn


class FeatureCNN(nn.Module):
    """Two conv-ReLU-pool blocks and a dense ReLU layer of 16."""

    def __init__(self, channels=8, n_latent=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(channels * 4 * 4, n_latent),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.net(x)
