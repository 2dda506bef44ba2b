"""VGG-16 as used by paper 000 (section 3.3)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

# tf-keras VGG16 conv body: ints are 3x3 'same' convs, 'M' a 2x2/2 max-pool.
_VGG16_BODY = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M',
               512, 512, 512, 'M', 512, 512, 512, 'M')


class VGG16(nn.Module):
  """VGG-16 (no BatchNorm) with two FC layers and a prediction layer.

  Conv body as in tf-keras `VGG16` (layers named `block{i}_conv{j}` like
  keras, to ease weight import), flatten, Dense(fc_width) + ReLU + dropout,
  Dense(fc_width) + ReLU + dropout, Dense(C). Paper 000 takes its embedding
  from the penultimate 4096-d layer; here that is the second FC activation
  as the prediction layer sees it (after dropout when dropout is on), so that
  logits == Dense(embedding) always holds.

  The keras top has no dropout; the original VGG paper uses 0.5 on both FC
  layers, which is our default (`dropout_rate=0` gives the keras top).

  Inputs must be at least 32x32 (five 2x2 pools); 32x32 gives a 1x1x512
  body output, 224x224 gives 7x7x512 as in ImageNet VGG-16.

  Attributes:
    num_classes: Number of classes C.
    fc_width: Width of both FC layers, D.
    width_multiplier: Scales all conv widths (for tiny test models).
    dropout_rate: Dropout rate after each FC layer.
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  fc_width: int = 4096
  width_multiplier: float = 1.0
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 images [B, H, W, channels], H and W >= 32.
      train: Training mode; turns dropout on unless `dropout` says otherwise.
      dropout: Overrides dropout: True enables it at inference (MC dropout,
        needs a 'dropout' rng), False disables it. None follows `train`.

    Returns:
      (logits [B, C] float32, embedding [B, fc_width] float32).
    """
    deterministic = not (train if dropout is None else dropout)
    block, conv = 1, 1
    for v in _VGG16_BODY:
      if v == 'M':
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        block, conv = block + 1, 1
        continue
      width = max(1, round(v * self.width_multiplier))
      x = nn.Conv(width, (3, 3), padding='SAME', dtype=self.dtype,
                  name=f'block{block}_conv{conv}')(x)
      x = nn.relu(x)
      conv += 1
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name='fc1')(x))
    x = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name='fc2')(x))
    emb = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      name='predictions')(emb)
    return logits.astype(jnp.float32), emb.astype(jnp.float32)
