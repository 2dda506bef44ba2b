"""Random pool partitioning for BADGE and CoreSet (paper 000, appendix A.1).

To scale BADGE and CoreSet, paper 000 splits the pool uniformly at random into
m parts, runs the selection independently on each part with budget k/m and
concatenates the picks. Budgets that do not divide evenly are spread
deterministically: the first k mod m parts take one extra point.

Dimensions: N pool, K budget, M parts.
"""

from typing import Callable

import jax
import numpy as np

# select_fn(part_indices [N_j] int64, k_j, key_j) -> [k_j] positions in part.
SelectFn = Callable[[np.ndarray, int, jax.Array], np.ndarray]


def split(n: int, m: int, key: jax.Array) -> list[np.ndarray]:
  """Uniformly random partition of range(n) into m parts of near-equal size.

  Args:
    n: pool size N.
    m: number of parts M, 1 <= M <= N.
    key: PRNG key.

  Returns:
    M sorted int64 index arrays; the first N mod M parts hold one extra index.
  """
  if not 1 <= m <= n:
    raise ValueError(f'need 1 <= m <= n, got m={m}, n={n}.')
  perm = np.asarray(jax.random.permutation(key, n)).astype(np.int64)
  # Sorted parts keep pool order, so index tie-breaks inside a part are the
  # pool's.
  return [np.sort(p) for p in np.array_split(perm, m)]


def budgets(k: int, m: int) -> list[int]:
  """[M] budgets summing to k: k // m each, +1 for the first k mod m parts."""
  return [k // m + (j < k % m) for j in range(m)]


def partitioned(select_fn: SelectFn, n: int, m: int, k: int,
                key: jax.Array) -> np.ndarray:
  """Runs `select_fn` on m random parts of the pool and merges the picks.

  Example (CoreSet on 20 parts)::

    picks = partitioned(
        lambda idx, k_j, key_j: kcenter.kcenter_greedy(
            x[idx], labeled[idx], k_j, key=key_j),
        n=len(x), m=20, k=budget, key=key)

  Args:
    select_fn: called as select_fn(part_indices, k_j, key_j) for each part;
      returns [k_j] positions into `part_indices` (i.e. indices into the
      sub-pool x[part_indices]).
    n: pool size N.
    m: number of parts M.
    k: total budget K.
    key: PRNG key; the split and each part's key are derived from it.

  Returns:
    [K] int64 pool indices, part by part.
  """
  split_key, part_key = jax.random.split(key)
  picks = []
  for j, (part, k_j) in enumerate(zip(split(n, m, split_key), budgets(k, m))):
    if k_j == 0:
      continue
    pos = np.asarray(select_fn(part, k_j, jax.random.fold_in(part_key, j)))
    if pos.shape != (k_j,):
      raise ValueError(f'part {j}: select_fn returned shape {pos.shape}, '
                       f'want ({k_j},).')
    picks.append(part[pos])
  return np.concatenate(picks) if picks else np.zeros((0,), np.int64)
