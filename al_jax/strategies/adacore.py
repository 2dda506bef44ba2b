"""Adacore (Pooladzandi, Davini, Mirzasoleiman, ICML 2022), a baseline of
paper 002 (section 5, Table 1: "Adacore uses hessian preconditioned gradient
instead of gradient"): CRAIG on Hessian-preconditioned gradients, one-shot.

Per class c with budget K_c (`combinators.class_budgets`): u_i = H_i⁻¹ g_i
with g_i the last-layer cross-entropy gradient (`gradients`) and H_i the
diagonal of the example's last-layer Hessian (`curvature`: exact in closed
form, u_i = [v_i, v_i ⊗ 1/z_i], v_ic = 1/(1 - p_ic) for c ≠ y_i, -1/p_iy);
greedy facility location with Sim(i, j) = const - ||u_i - u_j|| and weight
γ_j = |{i in class c : j is i's nearest pick}|, so that Σ_j γ_j u_j
approximates the class's sum of preconditioned gradients.

Reference. The AdaCore repository (opooladz/AdaCore) holds only a README.
The selection step followed here is the `adacore` kernel of LCMat's DeepCore
fork, on which paper 002's code builds (SJShin-AI/LCMat,
deepcore/methods/submodular.py, `Submodular.finish_run`; BOSS's own
`adacore` mode never sets its gradients): per class, BackPACK's BatchGrad
and BatchDiagHessian of the batch-mean cross-entropy w.r.t. the last Linear
layer, u = g · reciprocal(h), Sim = 10 - ||u_a - u_b||, facility location,
picks without weights.

Departures, and why:
  * z_k = 0 (common after a ReLU): the reference divides 0 by 0; the NaN
    makes its distances of that row 0 to every point. We set those
    coordinates of u to 0 (no gradient, no curvature), as the preconditioning
    left commented out in the BOSS code does with infinite reciprocals.
  * const: 2·max_i ||u_i - mean|| (`facility_location`, metric='euclidean'),
    as `craig`. The reference's 10 is not scaled to u (its g and h both carry
    1/batch, which cancels), so pairs farther than 10 get Sim <= 0 and its
    picks depend on that unit; with const >= every distance they do not.
    Same picks as the reference whenever its distances are all below 10.
  * curvature: AdaCore averages Hessian(-diagonal) estimates exponentially
    over training steps (its abstract); here one checkpoint, as paper 002
    runs its baselines and as the reference, whose last-layer diagonal is
    exact (so is ours).
  * weights: the cluster sizes, as AdaCore trains its coresets weighted
    (`weighted=True`). The LCMat fork returns no weights, so paper 002's
    pipeline presumably trained Adacore's picks unweighted: weighted=False.
  * damping δ >= 0 (default 0, the reference): u = g / (h + δ). With δ = 0,
    u's kernel part is v/z, so features near 0 dominate the distances (as in
    the reference); δ > 0 tempers them.
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class; picks in greedy order (the reference lists
    them in index order); exact lazy greedy, ties to the lowest index, the
    picks of the reference's NaiveGreedy.
  * outputs: eval-mode logits and features of the initial model.

Memory: one class's u at a time, n_c·C·(D + 1) float32 (float64 while
built).

Dimensions: N pool, C classes, D feature width, K budget.
"""

import numpy as np

from al_jax.kernels import facility_location as fl
from al_jax.scores import curvature
from al_jax.strategies import base
from al_jax.strategies import combinators
from al_jax.strategies import craig

OPTIONS = dict(weighted=True, damping=0., class_balanced=True)
NEEDS = (base.LOGITS, base.EMBEDDINGS, base.LABELS)


def make(weighted, damping, class_balanced) -> base.Strategy:
  """Adacore over a context's candidates; per class by default.

  Returns picks in greedy order (classes in label order when balanced) with
  weights = cluster sizes (None when weighted=False).
  """
  if not (np.isfinite(damping) and damping >= 0):
    raise ValueError(f'adacore: damping={damping} must be finite and >= 0.')

  def select(state, ctx: base.Context, budget: int, key):
    del key
    rows, logits, features, labels = craig.last_layer_inputs(ctx)
    u = curvature.preconditioned_gradients(logits, features, labels, damping)
    r = fl.facility_location(u, budget, metric='euclidean', mesh=ctx.mesh)
    weights = r.weights.astype(np.float32) if weighted else None
    return base.Selection(rows[r.indices], weights), state

  strategy = base.Strategy(base.no_state, select)
  return combinators.class_balanced(strategy) if class_balanced else strategy
