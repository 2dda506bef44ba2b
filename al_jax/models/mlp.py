"""Multi-layer perceptron."""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """ReLU MLP on flattened input, with optional dropout after hidden layers.

  Attributes:
    num_classes: Number of classes C.
    hidden_sizes: Width of each hidden layer; the last one is D.
    dropout_rate: Dropout rate applied after every hidden layer's ReLU.
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  hidden_sizes: Sequence[int] = (256, 256)
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 inputs [B, ...]; flattened to [B, F].
      train: Training mode; turns dropout on unless `dropout` says otherwise.
      dropout: Overrides dropout: True enables it at inference (MC dropout,
        needs a 'dropout' rng), False disables it. None follows `train`.

    Returns:
      (logits [B, C] float32, embedding [B, D] float32), where the embedding is
      the last hidden activation (after dropout, as the classifier sees it).
      With no hidden layers the embedding is the flattened input.
    """
    deterministic = not (train if dropout is None else dropout)
    x = x.reshape((x.shape[0], -1))
    for i, size in enumerate(self.hidden_sizes):
      x = nn.relu(nn.Dense(size, dtype=self.dtype, name=f'hidden_{i}')(x))
      x = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='head')(x)
    return logits.astype(jnp.float32), x.astype(jnp.float32)
