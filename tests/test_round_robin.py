"""Cluster-Margin round-robin sampler on hand-made clusters."""

import jax
import numpy as np
import pytest

from al_jax.kernels.round_robin import round_robin


def naive_round_robin(clusters, k, order, members):
  """Algorithm 2 lines 10-19 literally, with the cluster order and the
  within-cluster order given."""
  taken, pools = [], {c: list(members[c]) for c in order}
  j = 0
  while len(taken) < k:
    c = order[j]
    taken.append(pools[c].pop(0))
    live = [i for i, c2 in enumerate(order) if pools[c2]]
    if not live:
      break
    nxt = [i for i in live if i > j]
    j = nxt[0] if nxt else live[0]
  return taken


def test_smallest_first_then_round_robin():
  # Cluster 7 has 1 candidate, 3 has 2, 5 has 4.
  clusters = np.array([5, 3, 5, 7, 5, 3, 5])
  pos = round_robin(clusters, 7, jax.random.key(0))
  got = clusters[pos].tolist()
  assert got == [7, 3, 5, 3, 5, 5, 5]
  assert sorted(pos.tolist()) == list(range(7))


def test_matches_literal_algorithm_with_saturation():
  rng = np.random.default_rng(3)
  clusters = rng.choice([0, 1, 2, 3, 4], size=40, p=[.05, .1, .15, .3, .4])
  sizes = {c: int(np.sum(clusters == c)) for c in np.unique(clusters)}
  assert len(set(sizes.values())) == len(sizes)  # no ties: order is defined
  for k in (1, 5, 17, 40):
    pos = round_robin(clusters, k, jax.random.key(k))
    order = sorted(sizes, key=sizes.get)
    members = {c: [p for p in pos.tolist() if clusters[p] == c] +
               [p for p in range(40) if clusters[p] == c and p not in pos]
               for c in order}
    assert pos.tolist() == naive_round_robin(clusters, k, order, members)
    assert len(set(pos.tolist())) == k


def test_within_cluster_choice_is_uniform():
  clusters = np.array([0, 0, 0, 0, 1])
  counts = np.zeros(5)
  for i in range(2000):
    counts[round_robin(clusters, 2, jax.random.key(i))] += 1
  assert counts[4] == 2000  # the singleton cluster is always taken first
  assert np.all(np.abs(counts[:4] - 500) < 4 * np.sqrt(2000 * .25 * .75))


def test_k_larger_than_candidates_raises():
  with pytest.raises(ValueError, match='exceeds'):
    round_robin(np.zeros(3, int), 4, jax.random.key(0))


def test_given_sizes_order_the_clusters():
  # By candidate counts cluster 5 (4 candidates) comes last; by the given
  # pool sizes it is the smallest and is visited first on every pass.
  clusters = np.array([5, 3, 5, 7, 5, 3, 5])
  pool_sizes = {5: 4, 3: 9, 7: 20}
  sizes = np.array([pool_sizes[c] for c in clusters])
  for k in (1, 3, 7):
    pos = round_robin(clusters, k, jax.random.key(k), sizes)
    order = [5, 3, 7]
    members = {c: [p for p in pos.tolist() if clusters[p] == c] +
               [p for p in range(7) if clusters[p] == c and p not in pos]
               for c in order}
    assert pos.tolist() == naive_round_robin(clusters, k, order, members)
  assert clusters[round_robin(clusters, 4, jax.random.key(0), sizes)
                  ].tolist() == [5, 3, 7, 5]
