"""Small CNN for MNIST-like images (paper 004, Table 6)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class CNN(nn.Module):
  """The MNIST/EMNIST CNN of paper 004 (Table 6).

  Conv(32, 3x3, stride 2, pad 1) + ReLU -> Conv(64, 3x3, stride 2, pad 1) + ReLU
  -> Dropout -> flatten -> Dense(256) + ReLU (embedding) -> Dense(C).

  On 28x28 inputs the spatial size goes 28 -> 14 -> 7, matching the table's
  output dimensions. Table 6 lists only output shapes and padding; the 3x3
  kernels and stride 2 are inferred from those shapes, and the paper gives
  no dropout rate, so `dropout_rate=0.25` is our choice. Any HxW input works
  (e.g. 8x8 digits: 8 -> 4 -> 2); the first Dense adapts to the flat size.

  Attributes:
    num_classes: Number of classes C.
    dropout_rate: Rate of the dropout after the conv stack (not in paper).
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  dropout_rate: float = 0.25
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 images [B, H, W, channels].
      train: Training mode; turns dropout on unless `dropout` says otherwise.
      dropout: Overrides dropout: True enables it at inference (MC dropout,
        needs a 'dropout' rng), False disables it. None follows `train`.

    Returns:
      (logits [B, C] float32, embedding [B, 256] float32).
    """
    deterministic = not (train if dropout is None else dropout)
    pad = ((1, 1), (1, 1))
    x = nn.relu(nn.Conv(32, (3, 3), strides=2, padding=pad, dtype=self.dtype,
                        name='conv1')(x))
    x = nn.relu(nn.Conv(64, (3, 3), strides=2, padding=pad, dtype=self.dtype,
                        name='conv2')(x))
    x = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    x = x.reshape((x.shape[0], -1))
    emb = nn.relu(nn.Dense(256, dtype=self.dtype, name='fc')(x))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='head')(emb)
    return logits.astype(jnp.float32), emb.astype(jnp.float32)
