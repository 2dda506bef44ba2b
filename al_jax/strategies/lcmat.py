"""LCMat-S (Shin et al., AISTATS 2023), a baseline of paper 002 (section 5,
Table 1: "match the loss curvature of the full set and the subset"): facility
location whose distance adds a curvature gap to CRAIG's gradient gap,
one-shot, unweighted.

Per class c with budget K_c (`combinators.class_budgets`):

  g_i   last-layer cross-entropy gradient (`gradients`)
  h_i   diagonal of the example's last-layer Hessian (`curvature`)
  h̃_i   h_i on the `curvature_dims` coordinates of largest variance over
        the class (population variance, ties to the lower coordinate)
  d_ij = ||g_i - g_j||_2 + eps·||h̃_i - h̃_j||_1,   Sim(i, j) = const - d_ij

and greedy facility location maximises Σ_i max_{j∈S} Sim(i, j).

Reference: SJShin-AI/LCMat (HEAD 3d74891), LCMat_main/deepcore/methods/
submodular.py `Submodular.finish_run` with kernel 'worst', run by
bash/LCMat_CIFAR10.sh and LCMat_CIFAR100.sh (--selection Submodular
--submodular FacilityLocation --submodular_greedy NaiveGreedy --backpack
True --kernel worst --eps 0.01; K = 100, balance=True by default in
main.py); methods_utils/cossim.py `hessian_pick_var`, `l2_norm_np`,
`l1_norm_np`. There g and h come from BackPACK's BatchGrad and
BatchDiagHessian of the batch-mean cross-entropy, Sim = 10 - d, and the
picks train unweighted (Submodular returns no weights; so would paper 002's
pipeline, built on this fork). Its `curvmatch.py` (CurvMatch) is DeepCore's
GradMatch (per-class OMP on last-layer gradients of a double softmax, nnls
weights) with no curvature term; the scripts do not run it.

Departures, and why:
  * scale: the reference's g and h are of the batch-mean loss, i.e. divided
    by the selection batch B (128 in its scripts; a class's last, partial
    batch gets a larger factor). Ours are per example: d is B times the
    reference's, the balance of its two terms unchanged.
  * const: max_ij d_ij, so Sim >= 0 as facility location needs. The
    reference's 10 exceeds every d/B in practice; picks do not depend on the
    constant while no Sim is clipped at 0, so they are the reference's
    whenever its Sim are all >= 0 (tested).
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class; picks in greedy order (the reference lists
    them in index order); exact lazy greedy, ties to the lowest index, the
    picks of the reference's NaiveGreedy; equal variances to the lower
    coordinate (the reference's reversed argsort leaves that order open).
  * outputs: eval-mode logits and features of the initial model.

Memory: Sim is a sum of an L2 and an L1 distance, which the tiled paths of
`facility_location` do not compute, so one class's [n_c, n_c] float32 Sim is
held (as the reference holds it), up to MATRIX_BYTES; plus its g
(n_c·C·(D + 1) float32) while d is built in blocks of BLOCK rows.

Dimensions: N pool, n candidates (a class), C classes, D feature width,
G = C·(D + 1) gradient width, R = curvature_dims, K budget.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from al_jax.kernels import facility_location as fl
from al_jax.kernels import shapes
from al_jax.scores import curvature
from al_jax.scores import gradients
from al_jax.strategies import base
from al_jax.strategies import combinators
from al_jax.strategies import craig

EPS = 0.01  # The reference scripts' --eps (main.py's default is 0.05).
DIMS = 100  # The reference's --K.
MATRIX_BYTES = 2**31
BLOCK = 32
OPTIONS = dict(eps=EPS, curvature_dims=DIMS, class_balanced=True)
NEEDS = (base.LOGITS, base.EMBEDDINGS, base.LABELS)


def _padded(n: int) -> int:
  return shapes.round_up(shapes.grid(max(n, 1)), BLOCK)


def top_variance_columns(h, dims: int) -> np.ndarray:
  """[min(dims, G)] int64 columns of h [n, G] of largest variance over the
  rows, in decreasing order, ties to the lower column."""
  var = np.var(np.asarray(h, np.float64), axis=0)
  return np.argsort(-var, kind='stable')[:dims]


@functools.partial(jax.jit, static_argnames='block')
def _distances(g, h, eps, *, block):
  """[M, M] ||g_i - g_j|| + eps·||h_i - h_j||_1 for rows g [M, G], h [M, R]
  (M a multiple of block), BLOCK rows at a time; 0 on the diagonal."""
  m = g.shape[0]
  sq = jnp.einsum('ij,ij->i', g, g)

  def rows(b):
    start = b * block
    gb = lax.dynamic_slice_in_dim(g, start, block)
    hb = lax.dynamic_slice_in_dim(h, start, block)
    d2 = (lax.dynamic_slice_in_dim(sq, start, block)[:, None] + sq[None] -
          2. * jnp.dot(gb, g.T, precision=lax.Precision.HIGHEST))
    l1 = jnp.sum(jnp.abs(hb[:, None, :] - h[None]), axis=-1)
    same = start + jnp.arange(block)[:, None] == jnp.arange(m)[None]
    return jnp.where(same, 0., jnp.sqrt(jnp.maximum(d2, 0.)) + eps * l1)

  return lax.map(rows, jnp.arange(m // block)).reshape(m, m)


def distances(logits, features, labels, *, eps: float = EPS,
              curvature_dims: int = DIMS) -> np.ndarray:
  """LCMat's d (module docstring) among n examples of one class.

  Args:
    logits: [n, C]; features: [n, D]; labels: [n] ints in [0, C).
    eps: weight of the curvature gap; curvature_dims: R.

  Returns:
    [n, n] float32, symmetric, 0 on the diagonal.
  """
  n = len(logits)
  if 4 * n * n > MATRIX_BYTES:
    raise ValueError(
        f'lcmat holds an [n, n] similarity of the candidates it compares: '
        f'n={n} needs {4 * n * n / 2**30:.1f} GiB, over MATRIX_BYTES; run it '
        'per class (class_balanced=True) or on partitions.')
  g = gradients.last_layer_gradients(logits, features, labels)
  # Centred: the Gram form of ||g_i - g_j||² loses less to cancellation.
  g -= g.mean(0, dtype=np.float64).astype(np.float32)
  h = curvature.hessian_diagonal(logits, features)
  h = h[:, top_variance_columns(h, curvature_dims)]
  m = _padded(n)
  d = _distances(jnp.asarray(np.pad(g, ((0, m - n), (0, 0)))),
                 jnp.asarray(np.pad(h, ((0, m - n), (0, 0)))),
                 jnp.float32(eps), block=BLOCK)
  return np.asarray(d)[:n, :n]


def make(eps, curvature_dims, class_balanced) -> base.Strategy:
  """LCMat-S over a context's candidates; per class by default.

  Returns picks in greedy order (classes in label order when balanced),
  without weights (the subset trains unweighted, as the reference's).
  """
  if not (np.isfinite(eps) and eps >= 0):
    raise ValueError(f'lcmat: eps={eps} must be finite and >= 0.')
  if int(curvature_dims) != curvature_dims or curvature_dims < 1:
    raise ValueError(f'lcmat: curvature_dims={curvature_dims} must be an '
                     'integer >= 1.')

  def select(state, ctx: base.Context, budget: int, key):
    del key
    rows, logits, features, labels = craig.last_layer_inputs(ctx)
    if not 0 <= budget <= len(rows):
      raise ValueError(f'budget={budget} must be in [0, {len(rows)}] '
                       '(candidates).')
    if budget == 0:
      return base.Selection(np.zeros(0, np.int64)), state
    d = distances(logits, features, labels, eps=eps,
                  curvature_dims=int(curvature_dims))
    # Padded with Sim 0 as `distances` pads, so that classes of nearby sizes
    # share the compiled greedy: a padding candidate gains 0 and loses ties
    # to every real one (lower index), so it is never picked (budget <= n).
    pad = _padded(len(d)) - len(d)
    r = fl.facility_location_precomputed(np.pad(d.max() - d, (0, pad)),
                                         budget, mesh=ctx.mesh)
    assert r.indices.max(initial=0) < len(d)
    return base.Selection(rows[r.indices]), state

  strategy = base.Strategy(base.no_state, select)
  return combinators.class_balanced(strategy) if class_balanced else strategy
