"""k-center, the CoreSet baseline (Sener & Savarese 2018) as paper 000
section 3.1 runs it: greedy farthest-first traversal (the 2-approximation)
on penultimate embeddings, the chosen items (active learning: the labeled
set) being the initial centres. Registered also as 'coreset', the name paper
000 gives it; papers 001 and 002 use "coreset" for other things.

Appendix A.1's random partitions are the `partitions` option every strategy
has (`combinators.partitioned`; each part keeps all chosen items as centres).
Multi-label pools: `combinators.on_pairs` (k images by k-center over the
images that own annotated pairs, every image with a bought pair a centre;
then k pairs among them).
"""

import jax
import numpy as np

from al_jax.kernels import kcenter
from al_jax.strategies import base

OPTIONS = {}
NEEDS = (base.EMBEDDINGS, base.CHOSEN)


def make() -> base.Strategy:

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    rows = ctx.candidates | ctx.chosen
    emb, centres = ctx.embeddings(), ctx.chosen
    if not rows.all():
      emb, centres = emb[rows], centres[rows]
    # A centre is never picked; fewer pickable items than the budget only
    # happens inside `on_pairs`, which fills the rest.
    k = min(budget, int(np.sum(~centres)))
    picks = kcenter.kcenter_greedy(emb, centres, k, key=key, mesh=ctx.mesh)
    return base.Selection(np.flatnonzero(rows)[picks]), state

  return base.Strategy(base.no_state, select)
