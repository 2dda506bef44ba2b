"""CRAIG (Mirzasoleiman et al. 2020), a baseline of paper 002 (section 5),
as DeepCore's `Craig` with balance=True, one-shot.

Per class c with budget K_c (`combinators.class_budgets`, proportional to
class size): greedy facility location on the class's last-layer gradients
g_i (`gradients.last_layer_gradients` of the initial model) with Sim(i, j) =
const - ||g_i - g_j||, and weight γ_j = |{i in class c : j is i's nearest
pick}|, so that Σ_j γ_j g_j approximates the class's gradient sum.

Gradients: the cross-entropy gradient (see `gradients`), as DeepCore since
its commit ca3fb21 (2023-01-14, "bug fix"), which removed the extra softmax
its earlier versions applied before CrossEntropyLoss.

Departures from DeepCore (one-shot from the initial model's eval-mode
logits and features, as paper 002's baselines run):
  * const: 2·max_i ||g_i - mean|| (`facility_location`, metric='euclidean')
    instead of max_ij d_ij + 1e-3; with no importance the picks and
    clusters do not depend on it, and no [n, n] distance matrix is needed.
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class.
  * weights: the cluster sizes (each pick counts itself); DeepCore's
    `calc_weights` adds 1 to every cluster size. Both lists are aligned with
    their picks (DeepCore's LazyGreedy returns index[selected], a boolean
    mask, so its picks and weights are both in ascending index order; ours
    are in greedy order).
  * greedy: exact lazy greedy, ties to the lowest index (DeepCore's
    LazyGreedy breaks ties arbitrarily).

Memory: one class's gradients at a time, n_c·C·(D + 1) float32.

Dimensions: N pool, C classes, D feature width, K budget.
"""

import numpy as np

from al_jax.kernels import facility_location as fl
from al_jax.scores import gradients
from al_jax.strategies import base
from al_jax.strategies import combinators

OPTIONS = dict(class_balanced=True)
NEEDS = (base.LOGITS, base.EMBEDDINGS, base.LABELS)


def last_layer_inputs(ctx: base.Context):
  """(rows [n] candidate indices, logits [n, C], features [n, D], labels
  [n]) of the candidates, validated (`gradients.check_inputs`)."""
  rows = ctx.candidate_indices
  return (rows, *gradients.check_inputs(np.asarray(ctx.logits())[rows],
                                        np.asarray(ctx.embeddings())[rows],
                                        ctx.labels[rows]))


def make(class_balanced) -> base.Strategy:
  """CRAIG over a context's candidates; per class (`combinators.
  class_balanced`, DeepCore's balance=True) by default.

  Returns picks in greedy order (classes in label order when balanced) with
  weights = cluster sizes, summing to the class sizes of classes with a pick.
  """

  def select(state, ctx: base.Context, budget: int, key):
    del key
    rows, logits, features, labels = last_layer_inputs(ctx)
    r = fl.facility_location(
        gradients.last_layer_gradients(logits, features, labels), budget,
        metric='euclidean', mesh=ctx.mesh)
    return base.Selection(rows[r.indices],
                          r.weights.astype(np.float32)), state

  strategy = base.Strategy(base.no_state, select)
  return combinators.class_balanced(strategy) if class_balanced else strategy
