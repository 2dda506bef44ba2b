"""Multinomial logistic regression."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class LogReg(nn.Module):
  """Multinomial logistic regression: a single Dense layer on flattened input.

  The embedding is the flattened input itself, so embedding-based strategies
  (BADGE, CoreSet, ...) operate in input space for this model.

  Attributes:
    num_classes: Number of classes C.
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 inputs [B, ...]; flattened to [B, D].
      train: Unused (no BatchNorm); kept for the shared model interface.
      dropout: Unused (no dropout); kept for the shared model interface.

    Returns:
      (logits [B, C] float32, embedding [B, D] float32), D = prod(x.shape[1:]).
    """
    del train, dropout
    x = x.reshape((x.shape[0], -1))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='dense')(x)
    return logits.astype(jnp.float32), x.astype(jnp.float32)
