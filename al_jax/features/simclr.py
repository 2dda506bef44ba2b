"""SimCLR-style contrastive features for small grayscale digits (paper 003).

Paper 003 (USL) clusters frozen self-supervised features: CLD on CIFAR, MoCo
v2 or CLIP on ImageNet (wave2.md 2.1). Those checkpoints need the internet
and ImageNet-scale training, so offline we train a small SimCLR encoder
(Chen et al. 2020) on the pool's own images, labels unused.

From SimCLR: two random views of every image; an encoder f (backbone, global
average pooled) followed by a 2-layer MLP projection g; the NT-Xent loss on
the L2-normalised projections, where the other 2B - 2 views of the batch are
the negatives; the representation used downstream is the backbone output;
random resized crops with aspect ratio in [3/4, 4/3]; a linear warm-up then
cosine decay of the learning rate.

Our choices for 28x28 / 8x8 grayscale digits on 2 CPU cores, and why:
  * a 4-stage conv net (3x3 convs, stride 2 each, GroupNorm, ReLU; 28 -> 14
    -> 7 -> 4 -> 2, 8 -> 4 -> 2 -> 1 -> 1) instead of a ResNet-50: an
    MNIST-5k epoch takes ~2 s on 2 cores. On validation, 4 stages (a 2x2 map
    before the pooling, so a receptive field spanning the digit) beat 3
    stages by ~3 points; 3 stages with stride 1 first were 5x slower and
    worse (an earlier single-seed sweep). GroupNorm, not BatchNorm, keeps
    the step a pure function of the parameters (no batch statistics to
    carry, none shared between views);
  * AdamW instead of LARS: LARS matters for 4096-image batches, not 256;
  * augmentations (`input/simclr_augment.py`): no horizontal flip (it
    changes digit identity: 2 vs 5) and no hue/saturation (one channel). Kept: the crop, plus a small
    rotation; brightness and contrast jitter (SimCLR's colour distortion
    reduced to gray); Gaussian noise; optional random erasing (Zhong et al.
    2020) with zeros, the digits' background (off: no gain on validation).
  * Defaults chosen on a validation split of the MNIST-5k pool, never the
    test set (experiments/simclr_mnist5k.py, results/simclr_mnist5k.md):
    temperature 0.05 (over 0.1, 0.2), 40 epochs (60 gained < 0.1 point),
    crop area >= 0.3 (0.15 was as good; not combined), rotation 15 degrees
    (over 0 and 25). Not tuned for 8x8 digits.
  * One device: the batch is not sharded over a mesh (a data-parallel step
    would psum the gradients and all_gather the projections for the loss).

Dimensions: N images, B batch (2B views), H, W, C image, F backbone width
(the last of `widths`, or `embedding_dim`), P projection width.
"""

import functools
import json
import math
from typing import Any, Sequence

from etils import epath
import flax.linen as nn
from flax import serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from al_jax import config_check
from al_jax import train as train_lib
from al_jax.input import dataset
from al_jax.input import preprocess
from al_jax.input import simclr_augment
from al_jax.loops import rundir

OPTIONS = {
    'epochs': 40,
    'batch_size': 256,
    'temperature': 0.05,
    'learning_rate': 2e-3,
    'weight_decay': 1e-4,
    'warmup_epochs': 2,
    'widths': (16, 32, 64, 128),  # Conv channels per stage.
    'strides': (2, 2, 2, 2),      # Conv stride per stage.
    'embedding_dim': 0,        # 0: F = widths[-1], pooled; > 0: see Encoder.
    'hidden_dim': 128,         # Projection MLP hidden width.
    'projection_dim': 64,      # P.
    'crop_min_area': 0.3,      # Crop area fraction in [crop_min_area, 1].
    'rotation_degrees': 15.0,  # Uniform in [-r, r].
    'brightness': 0.4,         # Multiplicative factor in [1 - b, 1 + b].
    'contrast': 0.4,           # Blend with the image mean, in [1 - c, 1 + c].
    'noise_std': 0.05,         # Additive Gaussian noise on [0, 1] pixels.
    'erase_prob': 0.0,         # Probability of zeroing a random rectangle.
}


def options_with_defaults(options: dict[str, Any] | None = None) -> dict:
  """OPTIONS updated by `options`; raises ValueError naming unknown keys."""
  options = dict(options or {})
  config_check.check_keys(options, tuple(OPTIONS), 'simclr')
  merged = {**OPTIONS, **options}
  for name in ('widths', 'strides'):
    merged[name] = tuple(int(w) for w in merged[name])
  if len(merged['widths']) != len(merged['strides']):
    raise ValueError(f'simclr: widths {merged["widths"]} and strides '
                     f'{merged["strides"]} differ in length.')
  return merged


class Encoder(nn.Module):
  """Backbone f (conv stages + global average pool) and projection head g.

  Attributes:
    widths: conv channels per stage.
    strides: conv stride per stage.
    embedding_dim: 0: the backbone output is the global average of the last
      stage (F = widths[-1], as a ResNet); > 0: the last stage flattened,
      then Dense(embedding_dim) + ReLU (F = embedding_dim, as models/cnn.py),
      which keeps where strokes are.
    hidden_dim: hidden width of the projection MLP.
    projection_dim: P.
  """
  widths: Sequence[int] = (16, 32, 64, 128)
  strides: Sequence[int] = (2, 2, 2, 2)
  embedding_dim: int = 0
  hidden_dim: int = 128
  projection_dim: int = 64

  @nn.compact
  def __call__(self, x):
    """x: [B, H, W, C] float32 -> (backbone [B, F], projection [B, P])."""
    for i, (width, stride) in enumerate(zip(self.widths, self.strides)):
      x = nn.Conv(width, (3, 3), strides=stride, padding='SAME',
                  use_bias=False, name=f'conv{i}')(x)
      x = nn.relu(nn.GroupNorm(num_groups=math.gcd(8, width),
                               name=f'norm{i}')(x))
    if self.embedding_dim:
      h = nn.relu(nn.Dense(self.embedding_dim, name='embedding')(
          x.reshape((x.shape[0], -1))))
    else:
      h = jnp.mean(x, axis=(1, 2))
    z = nn.relu(nn.Dense(self.hidden_dim, name='proj_hidden')(h))
    return h, nn.Dense(self.projection_dim, name='proj_out')(z)


def _encoder(options: dict) -> Encoder:
  return Encoder(options['widths'], options['strides'],
                 int(options['embedding_dim']), int(options['hidden_dim']),
                 int(options['projection_dim']))


def apply_function(options: dict | None = None):
  """``apply_fn(variables, x, train=False) -> (projection [B, P], backbone
  [B, F])`` of the encoder trained with `options`: the
  `strategies.base.Model` convention, whose "embedding" is the backbone
  output. Equal options give the same function, so jitted callers that take
  it as a static argument compile once.
  """
  return _apply_function(json.dumps(options_with_defaults(options),
                                    sort_keys=True))


@functools.cache
def _apply_function(options_json: str):
  model = _encoder(options_with_defaults(json.loads(options_json)))

  def apply_fn(variables, x, train: bool = False):
    del train  # GroupNorm only: no train/eval difference.
    h, z = model.apply(variables, x)
    return z, h

  return apply_fn


def nt_xent(z: jax.Array, temperature: float) -> jax.Array:
  """SimCLR's NT-Xent loss, averaged over the 2B anchors.

  Args:
    z: [2B, P] projections; rows i and i + B are the two views of image i.
      L2-normalised here, so the logits are cosine similarity / temperature.
    temperature: tau > 0.

  Returns:
    scalar float32: mean_i -log(exp(s_ip / tau) / sum_{j != i} exp(s_ij / tau)).
  """
  z = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-12)
  n = z.shape[0]
  logits = jnp.dot(z, z.T, precision='highest') / temperature
  logits = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, logits)
  positive = (jnp.arange(n) + n // 2) % n
  pos = jnp.take_along_axis(logits, positive[:, None], axis=1)[:, 0]
  return jnp.mean(jax.nn.logsumexp(logits, axis=1) - pos)


def train(x, key: jax.Array, **options) -> tuple[dict, list[float]]:
  """Trains the encoder with NT-Xent on the images x (no labels).

  Every epoch visits the images in a fresh random order (from `key`); the
  last incomplete batch is dropped so the step compiles once.

  Args:
    x: [N, H, W, C] uint8 or float32 in [0, 1], N >= 2.
    key: PRNG key: initialisation, shuffling and augmentation.
    **options: overrides of OPTIONS.

  Returns:
    (variables {'params': ...}, mean loss of each epoch).

  Raises:
    ValueError: an unknown option, or fewer than 2 images.
  """
  opts = options_with_defaults(options)
  x = dataset.as_rows(x)
  n = len(x)
  if x.ndim != 4 or n < 2:
    raise ValueError(f'SimCLR needs images [N >= 2, H, W, C]; got {x.shape}.')
  batch = min(int(opts['batch_size']), n)
  steps = n // batch
  total = max(int(opts['epochs']) * steps, 1)
  schedule = optax.warmup_cosine_decay_schedule(
      0., float(opts['learning_rate']),
      min(int(opts['warmup_epochs']) * steps, total - 1), total)
  tx = optax.adamw(schedule, weight_decay=float(opts['weight_decay']))
  model = _encoder(opts)
  aug = simclr_augment.Augment.from_options(opts)
  temperature = float(opts['temperature'])
  k_init, k_shuffle, k_aug = jax.random.split(key, 3)
  params = model.init(k_init, jnp.zeros((1,) + x.shape[1:]))['params']
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, xb, key):
    views = jnp.concatenate([
        simclr_augment.augment(xb, jax.random.fold_in(key, i), aug)
        for i in range(2)])
    loss_fn = lambda p: nt_xent(model.apply({'params': p}, views)[1],
                                temperature)
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for i, rows in train_lib.epoch_batches(k_shuffle, n, batch,
                                         int(opts['epochs'])):
    params, opt_state, loss = step(params, opt_state, x[rows],
                                   jax.random.fold_in(k_aug, i))
    losses.append(loss)
  return {'params': params}, train_lib.epoch_means(losses, steps)


@functools.partial(jax.jit, static_argnames=('model', 'which'))
def _embed_block(model, variables, x, which):
  h, z = model.apply(variables, preprocess.normalize(x))
  if which == 'backbone':
    return h
  return z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def embed(variables: dict, x, options: dict | None = None,
          which: str = 'backbone', batch_size: int = 512) -> np.ndarray:
  """Features of x from a trained encoder, in jitted blocks (no augmentation).

  Args:
    variables: from `train` or `load`.
    x: [N, H, W, C] uint8 or float32 in [0, 1].
    options: the options `variables` were trained with (defaults filled).
    which: 'backbone' -> [N, F], the pooled conv features, NOT normalised
      (ReLU outputs; cosine users normalise them); 'projection' -> [N, P],
      L2-normalised, as in the loss.
    batch_size: rows per jitted call; the last block is padded, so every
      call has the same shape.

  Returns:
    [N, F] or [N, P] float32.
  """
  if which not in ('backbone', 'projection'):
    raise ValueError(f'which={which!r}; valid: backbone, projection.')
  model = _encoder(options_with_defaults(options))
  x = dataset.as_rows(x)
  if not len(x):
    dim = model.embedding_dim or model.widths[-1]
    return np.zeros((0, dim if which == 'backbone' else model.projection_dim),
                    np.float32)
  return train_lib.map_blocks(
      functools.partial(_embed_block, model, variables, which=which), x,
      batch_size)


def save(path: str, variables: dict, options: dict | None = None):
  """Writes {'variables', 'options'} (defaults filled, as JSON text) to one
  msgpack file, atomically (`rundir.atomic_write`)."""
  data = serialization.msgpack_serialize({
      'variables': jax.device_get(variables),
      'options': json.dumps(options_with_defaults(options))})
  epath.Path(rundir.absolute(path)).parent.mkdir(parents=True,
                                                 exist_ok=True)
  rundir.atomic_write(path, lambda f: f.write(data))


def load(path: str) -> tuple[dict, dict]:
  """(variables, options) written by `save`.

  Raises:
    FileNotFoundError: no file at `path`.
  """
  if not epath.Path(path).is_file():
    raise FileNotFoundError(
        f'SimCLR checkpoint {path!r} does not exist; `simclr.save` writes '
        'one after `simclr.train`.')
  state = serialization.msgpack_restore(epath.Path(path).read_bytes())
  return state['variables'], options_with_defaults(json.loads(state['options']))
