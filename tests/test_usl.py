"""USL (paper 003): kNN density, the regularised per-cluster selection, and
the k-means nearest-to-centroid baseline, against numpy transcriptions of
the authors' code (wave2.md 2.1)."""

import jax
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from al_jax import strategies
from al_jax.kernels import clusters
from al_jax.kernels import knn
from al_jax.strategies import base
from al_jax.strategies import usl


def blobs(n=600, d=8, centres=12, seed=0):
  rng = np.random.default_rng(seed)
  c = rng.normal(size=(centres, d)) * 3
  return (c[rng.integers(centres, size=n)] +
          rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize('k', [1, 2, 20])
def test_density_is_inverse_mean_squared_distance_self_included(k):
  x = blobs(300)
  density, mean_sq = knn.knn_density(x, k)
  d2 = ((np.float64(x)[:, None] - x[None]) ** 2).sum(-1)
  ref = np.sort(d2, 1)[:, :k].mean(1)  # Column 0 is the point itself.
  np.testing.assert_allclose(mean_sq, ref, rtol=2e-4, atol=1e-5)
  np.testing.assert_allclose(density, 1 / np.maximum(ref, 1e-12), rtol=2e-4)
  # The same neighbours as scikit-learn's exact search.
  if k > 1:
    nn = NearestNeighbors(n_neighbors=k, algorithm='brute').fit(x)
    np.testing.assert_allclose(
        mean_sq, (nn.kneighbors(x)[0] ** 2).mean(1), rtol=2e-4, atol=1e-5)


def test_density_of_duplicates_is_floored_and_finite():
  x = np.repeat(blobs(50), 4, axis=0)
  density, mean_sq = knn.knn_density(x, 3)
  assert np.isfinite(density).all()
  assert density.max() == pytest.approx(1 / knn.DENSITY_FLOOR)
  assert (mean_sq < 1e-4).all()


def test_density_bad_input():
  x = blobs(30)
  with pytest.raises(ValueError, match='k=30 must be in'):
    knn.knn_density(x, 30)
  x[3, 1] = np.nan
  with pytest.raises(ValueError, match='not finite'):
    knn.knn_density(x, 5)


def reference_selection(x, density, cluster, m, *, reg_iterations, weight,
                        momentum, horizon_dist, horizon_num, alpha,
                        exclude_same_cluster):
  """The loops of `get_selection_with_reg` (CIFAR: horizon_dist) and
  `get_selection_with_reg_imagenet` (horizon_num), in float64, masked
  entries contributing 0."""
  x = np.float64(x)
  reg = np.zeros(len(x))
  for t in range(reg_iterations):
    picks = []
    for j in range(cluster.max() + 1):
      members = np.flatnonzero(cluster == j)
      if len(members):
        picks.append(members[np.argmax(density[members] - weight *
                                       reg[members])])
      if len(picks) == m:
        break
    if t < reg_iterations - 1:
      d2 = ((x[:, None] - x[picks][None]) ** 2).sum(-1)
      masked = np.zeros(d2.shape, bool)
      if horizon_num is not None:
        order = np.argsort(d2, 1, kind='stable')
        masked[np.arange(len(x))[:, None], order[:, horizon_num:]] = True
      if horizon_dist is not None:
        masked |= d2 >= horizon_dist
      if exclude_same_cluster:
        masked |= cluster[:, None] == cluster[picks][None]
      masked |= d2 == 0
      new = np.where(masked, 0, np.where(masked, 1, d2) ** -alpha).sum(1)
      reg = momentum * reg + (1 - momentum) * new
  return np.array(picks)


@pytest.mark.parametrize('preset', sorted(usl.PRESETS))
def test_selection_matches_the_code(preset):
  x = clusters.l2_normalized(blobs(500, centres=8))
  options = dict(usl.PRESETS[preset], knn_k=10, kmeans_iterations=50)
  m = 15
  out = usl.usl(x, m, jax.random.key(1), **options)
  ref = reference_selection(
      x, out['density'], out['cluster'], m,
      **{k: options[k] for k in ('reg_iterations', 'weight', 'momentum',
                                 'horizon_dist', 'horizon_num', 'alpha',
                                 'exclude_same_cluster')})
  np.testing.assert_array_equal(out['indices'], ref)
  assert len(set(out['indices'].tolist())) == m
  # One pick per cluster; the regulariser changed something.
  assert len(set(out['cluster'][out['indices']].tolist())) == m


def test_one_pass_is_the_densest_point_per_cluster():
  x = clusters.l2_normalized(blobs(400))
  out = usl.usl(x, 10, jax.random.key(0), reg_iterations=1, knn_k=8,
                kmeans_iterations=30)
  for i in out['indices']:
    members = out['cluster'] == out['cluster'][i]
    assert out['density'][i] == out['density'][members].max()
  assert not out['reg'].any()


def test_regulariser_moves_picks_apart():
  x = clusters.l2_normalized(blobs(800, centres=4, seed=3))
  opts = dict(knn_k=10, kmeans_iterations=50, weight=5.0)
  plain = usl.usl(x, 12, jax.random.key(0), reg_iterations=1, **opts)
  spread = usl.usl(x, 12, jax.random.key(0), reg_iterations=10, **opts)

  def closest_pair(idx):
    d = ((x[idx][:, None] - x[idx][None]) ** 2).sum(-1)
    return d[~np.eye(len(idx), dtype=bool)].min()

  assert closest_pair(spread['indices']) > closest_pair(plain['indices'])


def test_bad_budgets_and_duplicates():
  x = np.repeat(blobs(5, seed=1), 10, axis=0)  # 5 distinct points.
  with pytest.raises(ValueError, match='more than the 5 distinct'):
    usl.usl(x, 6, jax.random.key(0), knn_k=3)
  out = usl.usl(x, 5, jax.random.key(0), knn_k=3, kmeans_iterations=5)
  assert len(np.unique(x[out['indices']], axis=0)) == 5
  with pytest.raises(ValueError, match='budget 51'):
    usl.usl(x, 51, jax.random.key(0))


@pytest.mark.parametrize('method', ['usl', 'kmeans_nearest'])
def test_strategies_pick_distinct_candidates(method):
  x = blobs(300)
  cand = np.ones(300, bool)
  cand[:50] = False
  ctx = base.Context(cand, num_classes=0, outputs=lambda: (None, x))
  strategy = strategies.get(method, None, 'config', **(
      {'knn_k': 5, 'kmeans_iterations': 20} if method == 'usl' else {}))
  state = strategy.init(ctx)
  sel, _ = strategy.select(state, ctx, 20, jax.random.key(0))
  sel = base.check_selection(sel, ctx, 20, method)
  assert len(np.unique(sel.indices)) == 20 and (sel.indices >= 50).all()
