"""The one choice between exact and multi-round HAC (paper 000, Algorithm 1
and appendix A.2), and the threshold search for a target cluster size.

Dimensions: N points, D embedding width.
"""

import jax
import numpy as np

from al_jax.kernels import clusters
from al_jax.kernels.hac import exact
from al_jax.kernels.hac import multiround

METHODS = ('auto', 'exact', 'multiround')


def resolve(method: str, n: int) -> str:
  """'exact' or 'multiround' for `method` on n points: 'auto' is exact up to
  `exact.MAX_EXACT_POINTS` (its N x N matrix), multi-round beyond."""
  if method not in METHODS:
    raise ValueError(f'Unknown HAC method {method!r}; valid: '
                     f'{", ".join(METHODS)}.')
  if method == 'auto':
    return 'exact' if n <= exact.MAX_EXACT_POINTS else 'multiround'
  return method


def cluster(x, eps: float, method: str = 'auto',
            mesh: jax.sharding.Mesh | None = None,
            **multiround_kwargs) -> np.ndarray:
  """[N] average-linkage cluster ids of x [N, D] cut at eps, by `resolve`."""
  if resolve(method, len(x)) == 'exact':
    return exact.hac_average(x, eps)
  return multiround.hac_multiround(x, eps, mesh=mesh, **multiround_kwargs)


def eps_for_average_size(x, target: float, method: str = 'auto',
                         **multiround_kwargs) -> float:
  """Smallest eps whose clusters have average size >= target.

  The paper picks eps so the mean cluster size is at least 10 (Open Images)
  or 1.25 (CIFAR) so round-robin sampling can exhaust all clusters.

  method='exact': `exact.eps_exact`, read off the full average-linkage tree.
  method='multiround': bisection over eps, running `hac_multiround` on all of
  x at each probe (its first-round k-NN graph is computed once and reused).
  A random subsample would not do: the mean cluster size at a fixed eps
  grows with the density of points, so a subsample's eps is too small.

  Args:
    x: [N, D] embeddings.
    target: wanted average cluster size N / K, >= 1.
    method: 'exact', 'multiround', or 'auto' (`resolve`).
    **multiround_kwargs: k, tau, rounds, iters, mesh for `hac_multiround`
      (ignored by the exact method).

  Returns:
    eps > 0 (float).
  """
  x = clusters.check_embeddings(x)
  n = x.shape[0]
  target = float(target)
  if not 1.0 <= target <= n:
    raise ValueError(f'target must be in [1, N={n}], got {target}.')
  if resolve(method, n) == 'multiround':
    return multiround.eps_for_average_size_multiround(x, target,
                                                      **multiround_kwargs)
  return exact.eps_exact(x, target)
