"""k-medoids: numpy reference, the `kmedoids` package (FastPAM1), swaps."""

import itertools

import jax
import kmedoids as kmedoids_pkg
import numpy as np
import pytest

from al_jax.kernels import kmeanspp
from al_jax.kernels import kmedoids

# One shape for most tests: every new (N, D, K, z, block) costs a compile.
N, D, K = 60, 3, 5


def _points(seed=0):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(4, D)) * 4
  return centres[rng.integers(0, 4, N)] + rng.normal(size=(N, D))


def _diss(x, z):
  return np.linalg.norm(x[:, None] - x[None], axis=-1)**z


def _cost(diss, medoids):
  return diss[:, medoids].min(1).sum()


def _reference_alternating(x, init, z, max_iter=100):
  """Direct transcription: nearest medoid (a medoid owns itself, else lowest
  position), then the member with the least within-cluster sum, keeping the
  current medoid unless one is strictly better (lowest row among the best)."""
  diss = _diss(x, z)
  med = np.sort(init)
  for it in range(1, max_iter + 1):
    labels = diss[:, med].argmin(1)
    labels[med] = np.arange(len(med))
    new = med.copy()
    for c in range(len(med)):
      members = np.flatnonzero(labels == c)
      within = diss[np.ix_(members, members)].sum(1)
      best = within.min()
      if best < diss[med[c], members].sum():
        new[c] = members[np.flatnonzero(within == best)[0]]
    new = np.sort(new)
    if np.array_equal(new, med):
      break
    med = new
  labels = diss[:, med].argmin(1)
  labels[med] = np.arange(len(med))
  return med, labels, it


@pytest.mark.parametrize('z', [1, 2])
def test_alternating_matches_numpy_and_kmedoids_package(z):
  x = _points()
  init = kmeanspp.kmeanspp_seed(x, K, jax.random.key(1))
  got = kmedoids.kmedoids(x, K, init=init, z=z, max_swaps=0)
  med, labels, iters = _reference_alternating(x, init, z)
  np.testing.assert_array_equal(got.medoids, med)
  np.testing.assert_array_equal(got.labels, labels)
  assert got.iterations == iters and got.swaps == 0
  diss = _diss(x, z)
  np.testing.assert_allclose(got.cost, _cost(diss, med), rtol=1e-12)
  # The peer: kmedoids.alternating from the same start.
  peer = kmedoids_pkg.alternating(diss, np.sort(init), max_iter=100)
  np.testing.assert_array_equal(got.medoids, np.sort(peer.medoids))
  np.testing.assert_allclose(got.cost, peer.loss, rtol=1e-9)


@pytest.mark.parametrize('z', [1, 2])
def test_swaps_reach_a_local_optimum_like_fastpam1(z):
  x = _points(1)
  # The first k-means++ start (of 10) from which alternating stops short of
  # a swap optimum; the assert below fails if none does.
  for seed in range(2, 12):
    init = kmeanspp.kmeanspp_seed(x, K, jax.random.key(seed))
    alternating = kmedoids.kmedoids(x, K, init=init, z=z, max_swaps=0)
    got = kmedoids.kmedoids(x, K, init=init, z=z, max_swaps=10_000)
    if got.swaps:
      break
  assert got.swaps > 0 and got.cost < alternating.cost
  diss = _diss(x, z)
  # Brute force: no single (medoid, non-medoid) swap lowers the cost.
  for m, o in itertools.product(got.medoids, range(N)):
    if o not in got.medoids:
      swapped = np.where(got.medoids == m, o, got.medoids)
      assert _cost(diss, swapped) >= got.cost * (1 - 1e-6)
  # The peer: FastPAM1 (PAM's best-swap order) from the alternating result
  # makes the same swaps.
  peer = kmedoids_pkg.fastpam1(diss, alternating.medoids, max_iter=10_000)
  np.testing.assert_array_equal(got.medoids, np.sort(peer.medoids))
  np.testing.assert_allclose(got.cost, peer.loss, rtol=1e-9)
  assert got.swaps == peer.n_swap
  # Every swap lowers the cost: stopping after each one is monotone. The
  # limits are traced values: changing them compiles nothing new.
  traces = kmedoids._program._cache_size()  # pylint: disable=protected-access
  costs = [kmedoids.kmedoids(x, K, init=init, z=z, max_swaps=s,
                             max_iter=50 + s).cost
           for s in range(got.swaps + 1)]
  assert np.all(np.diff(costs) < 0)
  assert kmedoids._program._cache_size() == traces  # pylint: disable=protected-access


def test_blocks_seed_and_determinism():
  x = _points(2)
  key = jax.random.key(3)
  got = kmedoids.kmedoids(x, K, key)
  # Blocks that do not divide N (the last one overlaps) change nothing.
  np.testing.assert_array_equal(
      kmedoids.kmedoids(x, K, key, block=7).medoids, got.medoids)
  np.testing.assert_array_equal(
      kmedoids.kmedoids(x, K, init=kmeanspp.kmeanspp_seed(x, K, key)).medoids,
      got.medoids)
  again = kmedoids.kmedoids(x, K, key)
  np.testing.assert_array_equal(again.labels, got.labels)
  assert again.medoids.dtype == np.int64 and again.labels.dtype == np.int64
  assert np.all(np.diff(got.medoids) > 0)
  np.testing.assert_array_equal(got.labels[got.medoids], np.arange(K))


def test_duplicate_rows_keep_every_cluster():
  # 3 distinct points, 5 medoids: two medoids must sit on duplicates.
  x = np.repeat(np.eye(3) * 5, N // 3, axis=0)
  got = kmedoids.kmedoids(x, K, jax.random.key(0))
  assert got.cost == 0
  assert np.unique(got.medoids).size == K
  np.testing.assert_array_equal(got.labels[got.medoids], np.arange(K))


@pytest.mark.parametrize('bad, match', [
    (dict(k=0), r'\[1, N'), (dict(k=N + 1), r'\[1, N'),
    (dict(z=3), 'z must'), (dict(max_swaps=-1), '>= 0'),
    (dict(init=[0, 0, 1, 2, 3]), 'distinct'), (dict(init=[0, 1]), 'distinct'),
    (dict(key=None), 'PRNG'), (dict(nan=True), 'NaN'),
])
def test_bad_inputs_raise(bad, match):
  x = _points()
  if bad.pop('nan', False):
    x[4, 1] = np.nan
  args = dict(k=K, key=jax.random.key(0)) | bad
  with pytest.raises(ValueError, match=match):
    kmedoids.kmedoids(x, args.pop('k'), args.pop('key'), **args)
