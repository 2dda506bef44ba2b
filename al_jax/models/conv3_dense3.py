"""The CIFAR-10 CNN of paper 001 appendix C: "three convolutional and three
dense layers" (sizes not given).

Our choice, as spec 1.4 suggests: Conv(32)-Conv(64)-Conv(64), 3x3, same
padding, each followed by ReLU and 2x2 max-pooling, then Dense(128)-ReLU,
Dense(64)-ReLU (the embedding) and Dense(C). On 32x32 inputs the spatial
size goes 32 -> 16 -> 8 -> 4.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class Conv3Dense3(nn.Module):
  """Three conv and three dense layers.

  Attributes:
    num_classes: Number of classes C.
    channels: Width of the three conv layers.
    dense: Width of the two hidden dense layers; the last one is D.
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  channels: tuple[int, int, int] = (32, 64, 64)
  dense: tuple[int, int] = (128, 64)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model (no dropout: `train` and `dropout` change nothing).

    Args:
      x: Float32 images [B, H, W, channels].

    Returns:
      (logits [B, C] float32, embedding [B, dense[-1]] float32).
    """
    del train, dropout
    for i, width in enumerate(self.channels):
      x = nn.relu(nn.Conv(width, (3, 3), padding='SAME', dtype=self.dtype,
                          name=f'conv{i + 1}')(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    for i, width in enumerate(self.dense):
      x = nn.relu(nn.Dense(width, dtype=self.dtype, name=f'fc{i + 1}')(x))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='head')(x)
    return logits.astype(jnp.float32), x.astype(jnp.float32)
