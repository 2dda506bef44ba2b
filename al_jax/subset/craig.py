"""CRAIG (Mirzasoleiman et al. 2020), a baseline of paper 002 (section 5),
as DeepCore's `Craig` with balance=True, one-shot.

Per class c with budget K_c (`class_balance.class_budgets`, proportional to
class size): greedy facility location on the class's last-layer gradients
g_i (`gradients.last_layer_gradients` of the initial model) with Sim(i, j) =
const - ||g_i - g_j||, and weight γ_j = |{i in class c : j is i's nearest
pick}|, so that Σ_j γ_j g_j approximates the class's gradient sum.

Departures from DeepCore (one-shot from the initial model's eval-mode
logits and features, as paper 002's baselines run):
  * gradients: the plain cross-entropy gradient (see `gradients`); DeepCore
    back-propagates CrossEntropyLoss through an extra softmax.
  * const: 2·max_i ||g_i - mean|| (`facility_location`, metric='euclidean')
    instead of max_ij d_ij + 1e-3; with no importance the picks and
    clusters do not depend on it, and no [n, n] distance matrix is needed.
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class.
  * weights: the cluster sizes (each pick counts itself), aligned with the
    picks; DeepCore adds 1 to every cluster size and lists its weights in
    index order while its picks are in pick order.
  * greedy: exact lazy greedy, ties to the lowest index (DeepCore's
    LazyGreedy breaks ties arbitrarily).

Memory: one class's gradients at a time, n_c·C·(D + 1) float32.

Dimensions: N pool, C classes, D feature width, K budget.
"""

from al_jax.subset import class_balance
from al_jax.subset import gradients


def select(logits, features, labels, budget: int, *, mesh=None):
  """CRAIG subset, class-balanced.

  Args:
    logits: [N, C] eval-mode logits of the initial model.
    features: [N, D] its penultimate features (the last layer's input).
    labels: [N] int true classes in [0, C).
    budget: K, in [0, N].
    mesh: optional device mesh for `facility_location`.

  Returns:
    (facility_location.Result over pool indices: classes in label order,
     each in pick order; weights = cluster sizes, summing to the class sizes
     of classes with a pick; notes list[str] from `class_budgets`).
  """
  logits, features, labels = gradients.check_inputs(logits, features, labels)

  def class_gradients(rows):
    return gradients.last_layer_gradients(logits[rows], features[rows],
                                          labels[rows])

  return class_balance.class_balanced(class_gradients, labels, budget,
                                      metric='euclidean', mesh=mesh)
