"""VGG-16 as used by paper 000 (section 3.3): the tf-keras `VGG16` layout."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# tf-keras VGG16 conv body: ints are 3x3 'same' convs, 'M' a 2x2/2 max-pool.
_VGG16_BODY = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M',
               512, 512, 512, 'M', 512, 512, 512, 'M')

# keras `imagenet_utils.preprocess_input(mode='caffe')`, which
# `keras.applications.vgg16.preprocess_input` uses: RGB -> BGR, then minus
# this per-channel ImageNet mean (BGR order) on the 0-255 scale, no scaling.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def caffe_preprocess(x: jax.Array) -> jax.Array:
  """[0, 1] RGB images -> keras VGG16 `preprocess_input` of the 0-255 image.

  Args:
    x: [..., 3] float RGB in [0, 1] (what `al_jax.input.preprocess.normalize`
      makes of uint8 images).

  Returns:
    [..., 3] float32 BGR, 0-255 scale, ImageNet mean subtracted.
  """
  x = x.astype(jnp.float32) * 255.0
  return x[..., ::-1] - jnp.asarray(CAFFE_BGR_MEAN, jnp.float32)


class VGG16(nn.Module):
  """VGG-16 (no BatchNorm) with two FC layers and a prediction layer.

  Layers as in tf-keras `VGG16`, with keras' names (`block{i}_conv{j}`, `fc1`,
  `fc2`, `predictions`) and shapes (HWIO conv kernels, [in, out] dense
  kernels), so keras ImageNet weights load by name (see
  `al_jax.models.keras_vgg16`): conv body, flatten in (H, W, C) order like
  keras' channels-last `Flatten` (no global pooling), Dense(fc_width) + ReLU,
  Dense(fc_width) + ReLU, Dense(C). Paper 000 takes its embedding from the
  penultimate 4096-d layer; here that is the second FC activation as the
  prediction layer sees it (after dropout when dropout is on), so that
  logits == Dense(embedding) always holds.

  By default the top matches keras, which has no dropout; `dropout_rate=0.5`
  gives the original VGG paper's dropout after both FC layers (and MC
  dropout).

  Inputs must be at least 32x32 (five 2x2 pools); 32x32 gives a 1x1x512
  body output (fc1 kernel [512, fc_width]), 224x224 gives 7x7x512 as in
  ImageNet VGG-16 (fc1 kernel [25088, fc_width]).

  Attributes:
    num_classes: Number of classes C.
    fc_width: Width of both FC layers, D.
    width_multiplier: Scales all conv widths (for tiny test models).
    dropout_rate: Dropout rate after each FC layer (0: none, as in keras).
    keras_inputs: Converts the [0, 1] RGB inputs to what keras ImageNet
      weights expect (`caffe_preprocess`). Set it with those weights.
    dtype: Computation dtype. Parameters are always float32.
  """

  num_classes: int
  fc_width: int = 4096
  width_multiplier: float = 1.0
  dropout_rate: float = 0.0
  keras_inputs: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 images [B, H, W, channels] in [0, 1], H and W >= 32 (RGB,
        channels == 3, when `keras_inputs`).
      train: Training mode; turns dropout on unless `dropout` says otherwise.
      dropout: Overrides dropout: True enables it at inference (MC dropout,
        needs a 'dropout' rng), False disables it. None follows `train`.

    Returns:
      (logits [B, C] float32, embedding [B, fc_width] float32).
    """
    deterministic = not (train if dropout is None else dropout)
    if self.keras_inputs:
      x = caffe_preprocess(x)
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
    x = x.reshape((x.shape[0], -1))  # [B, H*W*512], (H, W, C) order.
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name='fc1')(x))
    x = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name='fc2')(x))
    emb = nn.Dropout(self.dropout_rate, deterministic=deterministic)(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      name='predictions')(emb)
    return logits.astype(jnp.float32), emb.astype(jnp.float32)
