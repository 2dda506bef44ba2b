"""Active linear regression by sampling rows: paper 001 Algorithm 2 and the
baselines of its section 5.1 (leverage-score and uniform sampling).

Every method gives a distribution p over the N rows of A; `sample` draws s
rows i.i.d. with replacement and weights each draw by w = 1/(s·p), so that
Σ_S w·(a·x − b)² is an unbiased estimate of ||Ax − b||² for every x; the
estimate is the weighted least squares on the sample, scored by 1 − R².

Algorithm 2 (`sensitivity_probs`): k-medoids on the rows of A (centres are
rows, so their labels can be bought); â_i is row i's medoid and b̂_i its label;
x₀ is the least squares fit of the medoids weighted by cluster size (which is
Σ_i (⟨â_i, x⟩ − b̂_i)²; the paper lists this step after the one that uses x₀);
v_i = (⟨â_i, x₀⟩ − b̂_i)² and p_i ∝ ζ·||a_i − â_i|| + v_i. With ζ = inf (the
section 5.1 setting) p_i ∝ ||a_i − â_i||: no label is needed to sample.

Pitfalls (wave-2 spec 1.7 item 8):
- With ζ = inf every medoid, and every exact duplicate of one, has p = 0 and
  is never drawn; if such a row's residual is not 0 the estimate of ||Ax − b||²
  is biased (by the sum of those rows' residuals²). With k = 10% of N that is
  ≥ 10% of the rows that can never be in the sample.
- The k medoid labels that step 1 buys are not used by the ζ = inf estimator
  (they would only enter through x₀ and v); the experiment neither counts nor
  uses them.
- If every row sits on a medoid (k ≥ number of distinct rows) and ζ = inf, or
  every p term is 0, there is no distribution: `sensitivity_probs` raises.

Intercept: none is added here. Callers who want one append a constant column
(`with_intercept`); we chose that over centring A and b because centring b
needs the mean of all labels, which an active learner does not have. The
constant column changes no distance between rows, so the clustering and
Algorithm 2's p are the same with or without it; leverage scores change.

Dimensions: N rows, D columns (features), K medoids, S draws.
"""

import math
from typing import NamedTuple

import jax
import numpy as np

from al_jax.kernels import clusters
from al_jax.kernels import kmedoids as kmedoids_lib
from al_jax.kernels import leverage


class SensitivityProbs(NamedTuple):
  """probs [N] (sums to 1); distance [N] ||a_i − â_i||; v [N] the label term
  (zeros for ζ = inf); x0 [D] or None (ζ = inf); clustering used."""
  probs: np.ndarray
  distance: np.ndarray
  v: np.ndarray
  x0: np.ndarray | None
  clustering: kmedoids_lib.KMedoidsResult


class Sample(NamedTuple):
  """indices [S] int64 rows drawn (repeats allowed); weights [S] 1/(S·p)."""
  indices: np.ndarray
  weights: np.ndarray


def with_intercept(a) -> np.ndarray:
  """[N, D] -> [N, D + 1] float64 with a last column of ones."""
  a = np.asarray(clusters.check_embeddings(a, 'a'), np.float64)
  return np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)


def sensitivity_probs(a, clustering, *, zeta: float = math.inf,
                      b_at_medoids=None, key: jax.Array | None = None,
                      **kmedoids_options) -> SensitivityProbs:
  """Paper 001 Algorithm 2, steps 1-4: p over the rows of `a`.

  Args:
    a: [N, D] float rows (the distance ||a_i − â_i|| uses every column; a
      constant intercept column adds nothing to it).
    clustering: a `KMedoidsResult` on these rows, or an int K to run
      `kmedoids.kmedoids(a, K, key, **kmedoids_options)` (z = 1) here.
    zeta: ζ >= 0, the label-Lipschitz constant; inf drops the label term.
    b_at_medoids: [K] labels of `clustering.medoids` (in that order); needed
      unless zeta is inf.
    key: PRNG key, when `clustering` is an int.
    **kmedoids_options: passed on when `clustering` is an int.

  Returns:
    SensitivityProbs; medoids (and duplicates) have probs 0 when zeta = inf.
  """
  a = np.asarray(clusters.check_embeddings(a, 'a'), np.float64)
  n = a.shape[0]
  zeta = float(zeta)
  if math.isnan(zeta) or zeta < 0:
    raise ValueError(f'zeta must be >= 0 (or inf), got {zeta}.')
  if isinstance(clustering, (int, np.integer)):
    if key is None:
      raise ValueError('Pass a PRNG key to cluster with k-medoids.')
    clustering = kmedoids_lib.kmedoids(a, int(clustering), key,
                                       **kmedoids_options)
  medoids = np.asarray(clustering.medoids)
  labels = np.asarray(clustering.labels)
  k = medoids.shape[0]
  if labels.shape != (n,) or np.any(labels < 0) or np.any(labels >= k):
    raise ValueError(f'clustering.labels must be [{n}] in [0, {k}); was '
                     f'the clustering computed on these rows?')
  if np.any(medoids < 0) or np.any(medoids >= n):
    raise ValueError(f'clustering.medoids must be rows in [0, {n}).')
  distance = np.linalg.norm(a - a[medoids[labels]], axis=1)
  if math.isinf(zeta):
    v, x0 = np.zeros(n), None
    terms = distance
  else:
    if b_at_medoids is None:
      raise ValueError('A finite zeta needs b_at_medoids (the labels of the '
                       'K medoids).')
    b_med = np.asarray(b_at_medoids, np.float64)
    if b_med.shape != (k,) or not np.all(np.isfinite(b_med)):
      raise ValueError(f'b_at_medoids must be [{k}] finite, got shape '
                       f'{b_med.shape}.')
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    x0 = leverage.weighted_least_squares(a[medoids], b_med, sizes)
    v = ((a[medoids] @ x0 - b_med)**2)[labels]
    terms = zeta * distance + v if zeta > 0 else v
  total = terms.sum()
  if not total > 0:
    raise ValueError(
        'Every sensitivity is 0 (each row sits on its medoid, and ζ = inf or '
        'the medoid fit is exact): there is no distribution to sample. Use '
        'fewer medoids, a finite ζ, or uniform sampling.')
  return SensitivityProbs(terms / total, distance, v, x0, clustering)


def leverage_probs(a) -> np.ndarray:
  """[N] p_i = l_i / rank(A): leverage-score sampling (paper 001 §5.1)."""
  scores = leverage.leverage_scores(a)
  if not scores.sum() > 0:
    raise ValueError('A is zero: its leverage scores are all 0.')
  return scores / scores.sum()


def uniform_probs(n: int) -> np.ndarray:
  """[n] p_i = 1/n."""
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f'n must be a positive integer, got {n!r}.')
  return np.full((n,), 1.0 / n)


def _check_probs(p) -> np.ndarray:
  p = np.asarray(p, np.float64)
  if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)):
    raise ValueError(f'p must be a non-empty finite [N] vector, got shape '
                     f'{p.shape}.')
  if np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
    raise ValueError(f'p must be >= 0 and sum to 1 (sum is {p.sum()}).')
  return p


def importance_weights(p, indices) -> np.ndarray:
  """[S] w = 1/(S·p[indices]) for S draws; raises if a draw has p = 0."""
  p = _check_probs(p)
  indices = np.asarray(indices)
  chosen = p[indices]
  if np.any(chosen <= 0):
    raise ValueError('A drawn row has p = 0: no unbiased weight exists.')
  return 1.0 / (indices.size * chosen)


def sample(p, s: int, key: jax.Array) -> Sample:
  """s i.i.d. draws from p, with replacement, and their weights 1/(s·p).

  Inverse-CDF sampling in float64 with 53-bit uniforms derived from `key`, so
  rows with tiny p are neither lost nor inflated by float32 rounding, and a
  row with p = 0 is never drawn.

  Args:
    p: [N] probabilities (>= 0, sum 1).
    s: number of draws S >= 1.
    key: PRNG key.

  Returns:
    Sample(indices [S] int64, weights [S] float64).
  """
  p = _check_probs(p)
  if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
    raise ValueError(f's must be a positive integer, got {s!r}.')
  bits = np.asarray(jax.random.bits(key, (s, 2), np.uint32)).astype(np.uint64)
  u = ((bits[:, 0] << np.uint64(21)) ^ (bits[:, 1] >> np.uint64(11)))
  u = (u & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0**-53
  cdf = np.cumsum(p)
  idx = np.searchsorted(cdf, u * cdf[-1], side='right')
  # u·cdf[-1] can round up to cdf[-1]; the last row with p > 0 takes it.
  idx = np.minimum(idx, np.flatnonzero(p > 0)[-1]).astype(np.int64)
  return Sample(idx, importance_weights(p, idx))


def fit_sample(a, b, drawn: Sample) -> np.ndarray:
  """[D] weighted least squares on the drawn rows (Algorithm 2 step 5)."""
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  return leverage.weighted_least_squares(a[drawn.indices], b[drawn.indices],
                                         drawn.weights)


def one_minus_r2(a, b, x) -> float:
  """1 − R² = ||Ax − b||² / ||b − mean(b)||² of the solution x on (A, b)."""
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  x = np.asarray(x, np.float64)
  if a.ndim != 2 or b.shape != (a.shape[0],) or x.shape != (a.shape[1],):
    raise ValueError(f'shapes a {a.shape}, b {b.shape}, x {x.shape} do not '
                     'fit [N, D], [N], [D].')
  spread = np.sum((b - b.mean())**2)
  if not spread > 0:
    raise ValueError('b is constant: R² is undefined.')
  return float(np.sum((a @ x - b)**2) / spread)
