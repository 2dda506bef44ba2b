"""k-means nearest-to-centroid: Lloyd k-means into `budget` clusters, then
the point nearest each centre (distinct points; `kmeans.snap`). The
clustering baseline of paper 003's comparisons (wave2.md 2.5: random,
k-means, k-center, USL), a label-free method.

Initialisation: random data points by default, as USL's k-means (paper
003's code), so the two differ only in how a cluster's point is chosen
(nearest the centre vs densest with the regulariser); 'kmeans++' is an
option.
"""

import jax
import numpy as np

from al_jax.kernels import clusters
from al_jax.kernels import kmeans
from al_jax.strategies import base

OPTIONS = dict(init='random', iterations=200, l2_normalize=True)
NEEDS = (base.EMBEDDINGS,)


def make(init: str = 'random', iterations: int = 200,
         l2_normalize: bool = True) -> base.Strategy:
  if init not in kmeans.INITS:
    raise ValueError(f'kmeans_nearest: unknown init {init!r}; valid: '
                     f'{kmeans.INITS}.')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    rows = ctx.candidate_indices
    x = ctx.embeddings()[rows]
    x = clusters.l2_normalized(x) if l2_normalize else np.asarray(x, np.float32)
    distinct = clusters.distinct_rows(x)
    if budget > distinct:
      raise ValueError(f'kmeans_nearest: a budget of {budget} is more than '
                       f'the {distinct} distinct candidates.')
    km = kmeans.kmeans(x, budget, key, init=init, iterations=int(iterations),
                       tol=0., mesh=ctx.mesh)
    return base.Selection(rows[kmeans.snap(x, km.centres)]), state

  return base.Strategy(base.no_state, select)
