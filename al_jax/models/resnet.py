"""ResNet v1 (18/34/50/101) with BatchNorm and global average pooling."""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

# PyTorch BatchNorm defaults (torch momentum 0.1 == flax momentum 0.9).
_BatchNorm = functools.partial(nn.BatchNorm, momentum=0.9, epsilon=1e-5)


def _block_layers(block: nn.Module, train: bool):
  """(conv, norm, last BN scale init) shared by both residual blocks."""
  conv = functools.partial(nn.Conv, use_bias=False, dtype=block.dtype)
  norm = functools.partial(_BatchNorm, use_running_average=not train,
                           dtype=block.dtype)
  last_scale = (nn.initializers.zeros if block.zero_init_residual
                else nn.initializers.ones)
  return conv, norm, last_scale


class BasicBlock(nn.Module):
  """Two 3x3 convs; used by ResNet-18/34. Output channels: filters."""

  filters: int
  strides: int = 1
  zero_init_residual: bool = False
  dtype: Any = jnp.float32
  expansion = 1  # Output channels per `filters`; a class constant, not a field.

  @nn.compact
  def __call__(self, x, train: bool):
    conv, norm, last_scale = _block_layers(self, train)
    y = conv(self.filters, (3, 3), self.strides, padding=1)(x)
    y = nn.relu(norm()(y))
    y = conv(self.filters, (3, 3), padding=1)(y)
    y = norm(scale_init=last_scale)(y)
    if x.shape != y.shape:  # Projection shortcut when shape changes.
      x = norm()(conv(self.filters, (1, 1), self.strides)(x))
    return nn.relu(x + y)


class Bottleneck(nn.Module):
  """1x1 -> 3x3 -> 1x1 convs; used by ResNet-50/101. Output: 4 * filters.

  The stride sits on the 3x3 conv (torchvision's "v1.5"); parameter counts
  are the same as with the stride on the first 1x1 conv.
  """

  filters: int
  strides: int = 1
  zero_init_residual: bool = False
  dtype: Any = jnp.float32
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    conv, norm, last_scale = _block_layers(self, train)
    out = self.filters * self.expansion
    y = nn.relu(norm()(conv(self.filters, (1, 1))(x)))
    y = conv(self.filters, (3, 3), self.strides, padding=1)(y)
    y = nn.relu(norm()(y))
    y = norm(scale_init=last_scale)(conv(out, (1, 1))(y))
    if x.shape != y.shape:
      x = norm()(conv(out, (1, 1), self.strides)(x))
    return nn.relu(x + y)


class ResNet(nn.Module):
  """Generic ResNet v1; use the ResNet18/34/50/101 partials below.

  Stem (ImageNet: 7x7/2 conv + 3x3/2 max-pool; CIFAR: 3x3/1 conv, no pool),
  four stages of residual blocks with widths width * (1, 2, 4, 8) (stages 2-4
  downsample by 2), global average pooling, optional embedding layer, Dense(C).

  Embedding: with `embedding_dim=None` it is the pooled feature vector,
  D = 8 * width * block expansion (512 for ResNet-18/34, 2048 for 50/101 at
  width 64). With an int, a Dense(embedding_dim) + ReLU hidden layer is
  inserted after pooling, as paper 000 (section 3.2) inserts a 128-d FC layer
  into ResNet-101; its output is the embedding (D = embedding_dim) and the
  logits are computed from it.

  Attributes:
    num_classes: Number of classes C.
    stage_sizes: Number of blocks in each of the four stages.
    block_cls: BasicBlock or Bottleneck.
    width: Channels of the stem and the first stage.
    small_inputs: True selects the CIFAR stem (for 32x32-ish inputs).
    embedding_dim: None, or the width of an extra FC embedding layer.
    zero_init_residual: Zero-init the last BN scale of every block, so each
      block starts as the identity (Goyal et al. 2017). Off by default, as in
      torchvision.
    dtype: Computation dtype. Parameters (and BN statistics) are float32.
  """

  num_classes: int
  stage_sizes: Sequence[int]
  block_cls: Callable[..., nn.Module]
  width: int = 64
  small_inputs: bool = False
  embedding_dim: int | None = None
  zero_init_residual: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, dropout: bool | None = None):
    """Applies the model.

    Args:
      x: Float32 images [B, H, W, channels].
      train: Use batch statistics and update the running averages (apply with
        mutable=['batch_stats']); False uses the running averages.
      dropout: Unused (no dropout); kept for the shared model interface.

    Returns:
      (logits [B, C] float32, embedding [B, D] float32).
    """
    del dropout
    if self.small_inputs:
      x = nn.Conv(self.width, (3, 3), padding=1, use_bias=False,
                  dtype=self.dtype, name='conv_init')(x)
    else:
      x = nn.Conv(self.width, (7, 7), 2, padding=3, use_bias=False,
                  dtype=self.dtype, name='conv_init')(x)
    x = _BatchNorm(use_running_average=not train, dtype=self.dtype,
                   name='bn_init')(x)
    x = nn.relu(x)
    if not self.small_inputs:
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i, num_blocks in enumerate(self.stage_sizes):
      for j in range(num_blocks):
        x = self.block_cls(
            filters=self.width * 2**i,
            strides=2 if i > 0 and j == 0 else 1,
            zero_init_residual=self.zero_init_residual,
            dtype=self.dtype,
            name=f'stage{i + 1}_block{j + 1}')(x, train)
    x = jnp.mean(x, axis=(1, 2))
    if self.embedding_dim is not None:
      x = nn.relu(nn.Dense(self.embedding_dim, dtype=self.dtype,
                           name='embedding')(x))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='head')(x)
    return logits.astype(jnp.float32), x.astype(jnp.float32)


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2),
                             block_cls=BasicBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3),
                             block_cls=BasicBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3),
                             block_cls=Bottleneck)
ResNet101 = functools.partial(ResNet, stage_sizes=(3, 4, 23, 3),
                              block_cls=Bottleneck)
