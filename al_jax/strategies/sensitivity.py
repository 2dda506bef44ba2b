"""Sensitivity sampling (paper 001, Algorithm 1 and the section 5.2
protocol): cluster the embeddings, buy the labels of the k centres, estimate
every item's loss by its centre's, sample the rest of the budget in
proportion to that estimate plus λ times the distance to the centre.

  1. k-means (k-means++ seeding + Lloyd) on the candidates' embeddings, each
     centre snapped to its nearest unused candidate (section 5.2; the loss
     can only be queried at data points); with z = 1, k-medoids (its
     centres are data points). k = round(centre_fraction ·
     budget); 0.25 is section 5.2's k'' = 0.2k of a round that buys the
     k − k' = 0.8k labels after the k' uniform ones.
  2. ℓ(a) at each centre a, with its label bought through `Context.query`
     (counted in the budget): 'cross_entropy' (the "loss" variant),
     'gradient' = ‖∇_θ CE‖² over all parameters (the "grad" variant), or
     'last_layer_gradient' = its last-layer closed form (cheaper; not in
     the paper, named apart).
  3. p_e = (ℓ̂(e) + λ v(e)) / (Σ ℓ̂ + λ Φ_z), with ℓ̂(e) = ℓ(𝒜(e)) and
     v(e) = ‖e − 𝒜(e)‖^z (z = 2: the k-means cost; Algorithm 1 step 3).
     λ = 'balanced' sets λ = Σ ℓ̂ / Φ_z, so both terms carry equal mass (λ
     is never given for the neural experiments; spec 1.7).
  4. The other s = budget − k items: 'without_replacement' (default; the
     neural protocol labels exactly k distinct items: successive sampling ∝
     p among the items not yet chosen) or 'iid' (Algorithm 1 step 4 and
     Theorem 5: s independent draws, repeats merged with summed weights).
     `weighted=True` returns w = 1/(s p) for the draws and 1 for the
     centres; default unweighted, as the paper never says the final model
     trains with weights (spec 1.7).

Zero-probability items: exact duplicates of a centre have v = 0 and the
centre's loss; with λ = 0 every item of a zero-loss cluster has p = 0. The
estimator is then biased where such items have a non-zero loss; `gamma`
mixes in the uniform law, p ← (1 − γ) p + γ / n (γ = 0 as the paper).
Without replacement and fewer positive-p items than s, the remainder is
drawn uniformly among the rest (noted in the selection). Z = 0 (λ = 0 and
every centre loss 0) is an error.

Dimensions: N pool, U candidates, k centres, s draws, D embedding width.
"""

import math

import jax
import numpy as np

from al_jax.kernels import kmeans
from al_jax.kernels import kmedoids
from al_jax.scores import gradients
from al_jax.strategies import base

OPTIONS = dict(centre_fraction=0.25, loss='cross_entropy', lam=1.0, z=2,
               sampling='without_replacement', weighted=False, gamma=0.0,
               epsilon=None, kmeans_iterations=300)
NEEDS = (base.LOGITS, base.EMBEDDINGS, base.QUERY, base.MODEL)


def needs(**o):
  """The model only for the all-parameter gradient loss."""
  return NEEDS if o['loss'] == 'gradient' else NEEDS[:3]


LOSSES = ('cross_entropy', 'gradient', 'last_layer_gradient')
SAMPLING = ('without_replacement', 'iid')


def sample_size(epsilon: float) -> int:
  """s = ⌈ε⁻²(2 + 2ε/3)⌉ (Algorithm 1; ε = 0.1 gives 207)."""
  if not epsilon > 0:
    raise ValueError(f'epsilon={epsilon} must be > 0.')
  return math.ceil((2 + 2 * epsilon / 3) / epsilon**2 - 1e-9)


def probabilities(centre_loss, assignment, distance, lam=1.0, z=2.,
                  gamma=0.0):
  """Algorithm 1's sampling law.

  Args:
    centre_loss: [k] ℓ at the centres, >= 0.
    assignment: [U] index of each item's centre in [0, k).
    distance: [U] ‖e − 𝒜(e)‖.
    lam: λ >= 0, or 'balanced' (λ = Σ ℓ̂ / Φ_z; 0 when Φ_z = 0).
    z: the clustering exponent.
    gamma: uniform mixing weight in [0, 1).

  Returns:
    (p [U] float64 summing to 1, λ used).

  Raises:
    ValueError: a negative λ or loss, γ outside [0, 1), or Z = 0.
  """
  centre_loss = np.asarray(centre_loss, np.float64)
  if not np.all(np.isfinite(centre_loss)) or np.any(centre_loss < 0):
    raise ValueError('Centre losses must be finite and >= 0.')
  l_hat = centre_loss[np.asarray(assignment)]
  v = np.asarray(distance, np.float64)**z
  if lam == 'balanced':
    lam = l_hat.sum() / v.sum() if v.sum() > 0 else 0.
  elif not (isinstance(lam, (int, float)) and lam >= 0 and math.isfinite(lam)):
    raise ValueError(f"lam={lam!r} must be a finite number >= 0 or "
                     "'balanced'.")
  if not 0 <= gamma < 1:
    raise ValueError(f'gamma={gamma} must be in [0, 1).')
  total = l_hat.sum() + lam * v.sum()
  if not total > 0:
    raise ValueError(
        'Sensitivity sampling: Z = Σ ℓ̂ + λ Φ_z = 0 (every centre loss is 0'
        + (' and λ = 0' if lam == 0 else ' and every item sits on a centre')
        + '): no item has positive probability. Use lam > 0 or gamma > 0.')
  p = (l_hat + lam * v) / total
  return (1 - gamma) * p + gamma / len(p), float(lam)


def draw(p, s: int, key: jax.Array, sampling: str, exclude=None):
  """s items from the law p.

  Args:
    p: [U] probabilities.
    s: draws.
    key: PRNG key (seeds a float64 numpy generator: laws over millions of
      items keep their precision).
    sampling: 'iid' (may repeat) or 'without_replacement' (successive
      sampling ∝ p among the items not in `exclude`, by Gumbel top-s).
    exclude: optional [U] bool.

  Returns:
    ([s] int64 positions, [s] float64 w = 1/(s p), 1 where p = 0; notes).
  """
  p = np.asarray(p, np.float64)
  rng = np.random.default_rng(np.asarray(jax.random.bits(key, (4,))))
  if sampling == 'iid':
    idx = rng.choice(len(p), s, p=p)
    return idx, 1 / (s * p[idx]), ()
  allowed = np.ones(len(p), bool) if exclude is None else ~np.asarray(exclude)
  if s > allowed.sum():
    raise ValueError(f'{s} draws without replacement from {allowed.sum()} '
                     'items.')
  with np.errstate(divide='ignore'):
    score = np.where(allowed, np.log(p), -np.inf) + rng.gumbel(size=len(p))
  idx = np.argsort(-score, kind='stable')[:s]
  notes = ()
  zero = p[idx] == 0
  if zero.any():  # Fewer positive-p items than s: the rest uniform.
    fill = np.flatnonzero(allowed & (p == 0))
    idx[zero] = fill[rng.permutation(len(fill))[:zero.sum()]]
    notes = (f'{zero.sum()} of {s} draws uniform among zero-probability '
             'items',)
  w = np.where(p[idx] > 0, 1 / (s * np.where(p[idx] > 0, p[idx], 1)), 1.)
  return idx.astype(np.int64), w, notes


def centre_losses(ctx: base.Context, items, labels, loss: str) -> np.ndarray:
  """[k] float64 ℓ at pool `items` with their bought `labels`."""
  if loss == 'cross_entropy':
    logits = np.asarray(ctx.logits()[items], np.float64)
    top = logits.max(1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(1))
    return log_z - logits[np.arange(len(items)), labels]
  if loss == 'last_layer_gradient':
    return gradients.last_layer_gradient_sq_norms(
        ctx.logits()[items], ctx.embeddings()[items], labels)
  return gradients.gradient_sq_norms(ctx.model(), items, labels)


def check_options(o: dict):
  if o['loss'] not in LOSSES:
    raise ValueError(f"Unknown sensitivity loss {o['loss']!r}; valid: "
                     f'{LOSSES}.')
  if o['sampling'] not in SAMPLING:
    raise ValueError(f"Unknown sensitivity sampling {o['sampling']!r}; "
                     f'valid: {SAMPLING}.')
  if o['z'] not in (1, 2):
    raise ValueError(f"z={o['z']} must be 1 (k-medoids) or 2 (k-means).")
  if not 0 < o['centre_fraction'] <= 1:
    raise ValueError(f"centre_fraction={o['centre_fraction']} must be in "
                     '(0, 1].')
  if o['epsilon'] is not None:
    sample_size(o['epsilon'])
  if o['lam'] != 'balanced':
    probabilities([1.], [0], [0.], o['lam'])  # Raises on a bad λ.


def estimate(ctx, key, budget, centres, o, emb=None):
  """Steps 2-4 given the centres: (indices, weights or None, notes).

  Args:
    centres: [k] pool items; the labels of those that are candidates are
      bought here (the others' are known).
    o: the options.
    emb: [N, D] embeddings to measure v with; default the model's.

  Returns:
    The bought centres, then the s = budget − (bought centres) draws among
    the candidates (p is the law over the candidates).
  """
  cand = ctx.candidate_indices
  buy = ctx.candidates[centres]
  labels = ctx.labels[centres].copy()
  labels[buy] = ctx.query(centres[buy])
  loss = centre_losses(ctx, centres, labels, o['loss'])
  emb = ctx.embeddings() if emb is None else emb
  dist, assignment = kmeans.assign(emb[cand], emb[centres], ctx.mesh)
  p, lam = probabilities(loss, assignment, dist, o['lam'], o['z'],
                         o['gamma'])
  picks, w, notes = draw(p, budget - int(buy.sum()), key, o['sampling'],
                         exclude=np.isin(cand, centres))
  idx = np.concatenate([centres[buy], cand[picks]])
  weights = (np.concatenate([np.ones(int(buy.sum())), w]).astype(np.float32)
             if o['weighted'] else None)
  notes = notes + (f'lambda {lam:.4g}',) if o['lam'] == 'balanced' else notes
  return idx, weights, notes


def cluster_centres(emb, k: int, key: jax.Array, o, mesh) -> np.ndarray:
  """[k] distinct rows of `emb` ([U, D]): an approximate (k, z)-clustering
  whose centres are data points (step 1). z = 2: k-means (k-means++ seeding
  + Lloyd, as scikit-learn's defaults) snapped to the nearest unused rows;
  z = 1: k-medoids (k-means++ seeding, alternating, PAM swaps; O(U²D) per
  pass, meant for pools of tens of thousands)."""
  if o['z'] == 1:
    return kmedoids.kmedoids(emb, k, key, z=1).medoids
  fit = kmeans.kmeans(emb, k, key, iterations=o['kmeans_iterations'],
                      mesh=mesh)
  return kmeans.snap(emb, fit.centres)


def make(**o) -> base.Strategy:
  check_options(o)

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    k = max(1, round(o['centre_fraction'] * budget))
    if o['epsilon'] is not None and k + sample_size(o['epsilon']) != budget:
      raise ValueError(
          f"epsilon={o['epsilon']} draws s = {sample_size(o['epsilon'])} "
          f'after {k} centres: set the budget to {k + sample_size(o["epsilon"])}'
          f' (it is {budget}).')
    cand = ctx.candidate_indices
    if budget > len(cand):
      raise ValueError(f'Budget {budget} exceeds the {len(cand)} candidates.')
    if budget < k:
      raise ValueError(f'Budget {budget} is below the {k} centres whose '
                       'labels Algorithm 1 buys.')
    if o['loss'] in ('cross_entropy', 'last_layer_gradient'):
      ctx.logits()  # One pool pass: the logits' brings the embeddings too.
    centres = cand[cluster_centres(ctx.embeddings()[cand], k,
                                   jax.random.fold_in(key, 0), o, ctx.mesh)]
    idx, weights, notes = estimate(ctx, jax.random.fold_in(key, 1), budget,
                                   centres, o)
    return base.Selection(idx, weights, notes), state

  return base.Strategy(base.no_state, select)
