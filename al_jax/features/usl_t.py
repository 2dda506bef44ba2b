"""USL-T's clustering model and its training (paper 003, training-based
variant; wave2.md 2.2, the authors' `usl-t_pretraining/` CIFAR path).

A pretrained backbone (the label-free job's self-supervised encoder) plus
`heads` linear cluster heads of M outputs each (M = the label budget),
trained with `usl_t_losses.total_loss`: all parameters (`train_backbone`,
the CIFAR path) or the heads only (the ImageNet path). Every step draws B
pool images x and, per image, one neighbour n(x) uniformly from its kNN list
in the pretext feature space (the point itself included); the three views
are

  x_w  the image, not augmented (global loss target; no gradient),
  x_s  a strong view of x (the anchor of both losses),
  n_s  a strong view of n(x) (local loss target; no gradient),

the backbone runs on all three (no BatchNorm: the SimCLR encoder uses
GroupNorm, so the authors' train-mode BN has nothing to mirror), and the
per-head priors of the local loss carry from step to step. `views`:
'randaugment' (the FixMatch op set of `input.randaugment`, no flip: 2 of 14
ops at p 0.5 and a Cutout of half the side, where SCAN's `Augment(4)` runs 4
ops always and a Cutout of side U[1, 16] of 32), 'simclr' (the encoder's own
augmentations) or 'none' (x_s = x_w, n_s = n(x): with a frozen backbone the
features are computed once and a step costs microseconds).

Defaults (`OPTIONS`) are ours, chosen on a validation split of the MNIST-5k
pool, never the test set (experiments/usl_t_mnist5k.py,
results/usl_t_mnist5k/results.md): the heads alone on the frozen features,
no views, 200 epochs of batch 256 at Adam lr 1e-3 (~3,000 steps, 5 s), and
τ = 1. The CIFAR recipe (`PRESETS`: backbone and heads, strong views, lr
1e-4 for ~9,800 steps of batch 1,024) scaled to 30 epochs (~70 s a run on 2
cores) scored 0.16 lower on validation at 40 labels (0.595 vs 0.756, 3
seeds), SimCLR views 0.15 lower (with them ~30 of the 40 clusters end
empty), and τ = 5 (CIFAR's) 0.007 lower, within the seeds' noise. Adam's weight decay is coupled (added to the
gradient), as PyTorch's `Adam(weight_decay=...)`.

Dimensions: N pool, B batch, F backbone features, H heads, M clusters,
K neighbours per point (the point itself included).
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from al_jax import config_check
from al_jax import train as train_lib
from al_jax.features import usl_t_losses
from al_jax.input import preprocess
from al_jax.input import randaugment
from al_jax.input import simclr_augment

VIEWS = ('randaugment', 'simclr', 'none')

OPTIONS = dict(epochs=200, batch_size=256, learning_rate=1e-3,
               weight_decay=1e-4, heads=3, adjustment=1.0, local_scale=5.0,
               temperature=0.25, threshold=0.95, reweight='reweight',
               mean_outside_mask=False, views='none', train_backbone=False)
# The authors' YAML files (wave2.md 2.2); `epochs`/`batch_size` are theirs.
PRESETS = {
    'cifar10': dict(epochs=200, batch_size=1024, learning_rate=1e-4,
                    weight_decay=1e-4, heads=3, adjustment=5.0,
                    local_scale=5.0, temperature=0.25, threshold=0.95,
                    reweight='reweight', mean_outside_mask=False,
                    views='randaugment', train_backbone=True),
    'cifar100': dict(epochs=200, batch_size=1024, learning_rate=1e-4,
                     weight_decay=1e-4, heads=3, adjustment=5.0,
                     local_scale=5.0, temperature=0.25, threshold=0.95,
                     reweight='reweight', mean_outside_mask=True,
                     views='randaugment', train_backbone=True),
}

ApplyFn = Callable[..., Any]  # (variables, x) -> (anything, [B, F]).


def init_heads(key, features: int, heads: int, clusters: int) -> dict:
  """PyTorch `nn.Linear` initialisation: U(±1/√F) for kernel and bias.

  Returns:
    {'kernel': [H, F, M], 'bias': [H, M]}.
  """
  bound = 1 / np.sqrt(features)
  k_w, k_b = jax.random.split(key)
  return {'kernel': jax.random.uniform(k_w, (heads, features, clusters),
                                       minval=-bound, maxval=bound),
          'bias': jax.random.uniform(k_b, (heads, clusters), minval=-bound,
                                     maxval=bound)}


def head_logits(heads: dict, emb: jax.Array) -> jax.Array:
  """[B, F] features -> [H, B, M] logits of every head."""
  return (jnp.einsum('bf,hfm->hbm', emb, heads['kernel'],
                     precision='highest') + heads['bias'][:, None])


def strong_view(x, key, views: str):
  """[B, H, W, C] [0, 1] float images -> one strong view each ('none':
  the inputs themselves)."""
  if views == 'simclr':
    return simclr_augment.augment(x, key, simclr_augment.Augment())
  if views == 'randaugment':
    return randaugment.augment(x, key, True, False)
  return x


def _embed(apply_fn, backbone, x):
  """Backbone features of images; `x` itself when apply_fn is None (the
  features were computed once: frozen backbone, no augmentation)."""
  if apply_fn is None:
    return x
  return apply_fn({'params': backbone}, preprocess.normalize(x))[1]


@functools.partial(jax.jit, static_argnames=('apply_fn', 'tx', 'loss_opts',
                                             'views'))
def _step(params, frozen, opt_state, priors, xb, nb, key, *, apply_fn, tx,
          loss_opts, views):
  """One Adam step on `params` ({'heads'} and, when trained, 'backbone');
  `frozen` holds the backbone otherwise."""
  k_s, k_n = jax.random.split(key)
  x_w = xb if apply_fn is None else preprocess.normalize(xb)
  n_w = nb if apply_fn is None else preprocess.normalize(nb)
  x_s, n_s = strong_view(x_w, k_s, views), strong_view(n_w, k_n, views)
  fixed = {**frozen, **jax.lax.stop_gradient(params)}
  z_w = head_logits(fixed['heads'], _embed(apply_fn, fixed['backbone'], x_w))
  z_n = head_logits(fixed['heads'], _embed(apply_fn, fixed['backbone'], n_s))

  def loss_fn(p):
    p = {**frozen, **p}
    z_s = head_logits(p['heads'], _embed(apply_fn, p['backbone'], x_s))
    return usl_t_losses.total_loss(z_w, z_s, z_n, priors, **dict(loss_opts))

  (loss, priors), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, priors, loss


def train(apply_fn: ApplyFn, backbone: dict, x, neighbors, clusters: int,
          key: jax.Array, **options) -> tuple[dict, dict]:
  """Trains the heads (and the backbone, `train_backbone`) with USL-T's
  losses; returns (params, history).

  Args:
    apply_fn: ``apply_fn({'params': backbone}, x) -> (_, [B, F])`` on
      [0, 1] float images, hashable (it is a static argument of the step).
    backbone: the pretrained backbone's params (the start point).
    x: [N, H, W, C] uint8 or [0, 1] float pool images.
    neighbors: [N, K] int row ids of each image's neighbours, itself
      included (the authors' 20 nearest + self).
    clusters: M, each head's outputs.
    key: PRNG key (heads, batches, neighbour draws, augmentation).
    **options: `OPTIONS` overrides.

  Returns:
    ({'backbone': ..., 'heads': ...}, {'loss': per-epoch means,
    'priors': [H, M] final local-loss priors}).
  """
  config_check.check_keys(options, tuple(OPTIONS), 'usl_t')
  o = {**OPTIONS, **options}
  if o['views'] not in VIEWS:
    raise ValueError(f'usl_t: views={o["views"]!r}; valid: {VIEWS}.')
  if o['reweight'] not in usl_t_losses.REWEIGHT:
    raise ValueError(f'usl_t: reweight={o["reweight"]!r}; valid: '
                     f'{usl_t_losses.REWEIGHT}.')
  x, neighbors = np.asarray(x), np.asarray(neighbors)
  n = len(x)
  if n < 2 or neighbors.shape[0] != n:
    raise ValueError(f'usl_t: {n} images and {neighbors.shape[0]} neighbour '
                     'lists; needs at least 2 images, one list each.')
  batch = min(int(o['batch_size']), n)
  steps = n // batch  # The last incomplete batch is dropped (one compile).
  k_heads, k_order, k_nb, k_aug = jax.random.split(key, 4)
  data, step_apply = x, apply_fn
  if not o['train_backbone'] and o['views'] == 'none':
    data, step_apply = embed(apply_fn, backbone, x), None
  features = _embed(apply_fn, backbone, x[:1]).shape[-1]
  params = {'heads': init_heads(k_heads, features, int(o['heads']), clusters)}
  frozen = {'backbone': backbone}
  if o['train_backbone']:
    params, frozen = {**params, **frozen}, {}
  tx = optax.chain(optax.add_decayed_weights(float(o['weight_decay'])),
                   optax.adam(float(o['learning_rate'])))
  opt_state = tx.init(params)
  priors = jnp.full((int(o['heads']), clusters), 1 / clusters)
  loss_opts = tuple(dict(
      adjustment=float(o['adjustment']), temperature=float(o['temperature']),
      threshold=float(o['threshold']), reweight=o['reweight'],
      mean_outside_mask=bool(o['mean_outside_mask']),
      local_scale=float(o['local_scale'])).items())
  rng = np.random.default_rng(np.asarray(jax.random.key_data(k_nb)))
  losses = []
  for i, rows in train_lib.epoch_batches(k_order, n, batch, int(o['epochs'])):
    pick = neighbors[rows, rng.integers(0, neighbors.shape[1], len(rows))]
    params, opt_state, priors, loss = _step(
        params, frozen, opt_state, priors, data[rows], data[pick],
        jax.random.fold_in(k_aug, i), apply_fn=step_apply, tx=tx,
        loss_opts=loss_opts, views=o['views'])
    losses.append(loss)
  return {**frozen, **params}, {'loss': train_lib.epoch_means(losses, steps),
                                'priors': np.asarray(priors)}


@functools.partial(jax.jit, static_argnames=('apply_fn', 'what'))
def _block(params, xb, *, apply_fn, what):
  emb = _embed(apply_fn, params['backbone'], xb)
  if what == 'features':
    return emb
  return jax.nn.softmax(head_logits(params['heads'], emb), -1)


def embed(apply_fn: ApplyFn, backbone: dict, x,
          batch_size: int = 512) -> np.ndarray:
  """[N, F] float32 backbone features of the un-augmented images."""
  fn = functools.partial(_block, {'backbone': backbone}, apply_fn=apply_fn,
                         what='features')
  return train_lib.map_blocks(fn, np.asarray(x), batch_size)


def probabilities(apply_fn: ApplyFn, params: dict, x,
                  batch_size: int = 512) -> np.ndarray:
  """[H, N, M] float32 softmax of every head on the un-augmented images
  (the authors' selection uses the test transform)."""
  fn = functools.partial(_block, params, apply_fn=apply_fn,
                         what='probabilities')
  return train_lib.map_blocks(fn, np.asarray(x), batch_size)
