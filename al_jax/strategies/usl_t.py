"""USL-T, training-based unsupervised selective labeling (paper 003), as the
authors' CIFAR code selects (`selective_labeling/usl-t-cifar.py`; wave2.md
2.2–2.3).

  1. neighbours: the `knn_k` nearest pool points of each point in the
     pretext feature space (the job's embeddings, L2-normalised), plus the
     point itself;
  2. train the clustering model (`features.usl_t`): the job's pretrained
     encoder plus 3 heads of m outputs (m = the budget) with USL-T's local
     + global losses — by default the heads alone on the frozen features
     (chosen on validation; `features.usl_t` says why and how the CIFAR
     recipe, a preset here, compares);
  3. cluster = argmax of head 0 on the un-augmented images; confidence =
     the top probability averaged over the heads (`use_mean_prob`, the
     CIFAR-10 default) or head 0's (CIFAR-100); in each cluster, in
     ascending id, the most confident member (ties to the lower row).

Empty clusters (the authors' code crashes on one, wave2.md 2.6 pitfall 9):
for each empty cluster c, in ascending id, the unpicked point whose head-0
probability of c is highest, i.e. the point the model most nearly puts in
c; the selection's notes say how many. One model is trained per selection
(its key is the selection's), since the heads' width is the budget.

Needs the trained encoder (`base.Model`: apply_fn returns (_, [B, F]
backbone features), and `inputs` the images): the label-free job provides
it with ``config.features.source = 'simclr'``.

Dimensions: N candidates, D embedding, F backbone features, H heads, m
budget.
"""

import jax
import numpy as np

from al_jax.features import usl_t as usl_t_model
from al_jax.kernels import clusters
from al_jax.kernels import knn
from al_jax.strategies import base
from al_jax.strategies import usl

OPTIONS = dict(knn_k=20, use_mean_prob=True, **usl_t_model.OPTIONS)
NEEDS = (base.EMBEDDINGS, base.MODEL)
PRESETS = {
    'cifar10': dict(knn_k=20, use_mean_prob=True,
                    **usl_t_model.PRESETS['cifar10']),
    'cifar100': dict(knn_k=20, use_mean_prob=False,
                     **usl_t_model.PRESETS['cifar100']),
}


def neighbours(x, k: int, mesh=None) -> np.ndarray:
  """[N, min(k, N − 1) + 1] int32: each row itself, then its nearest rows."""
  _, idx = knn.knn(x, k, mesh)
  return np.concatenate([np.arange(len(x), dtype=np.int32)[:, None], idx], 1)


def most_confident_per_cluster(probs, m: int, use_mean_prob: bool = True):
  """USL-T's pick: the most confident member of each head-0 cluster.

  Args:
    probs: [H, N, M] softmax of every head (M ≥ m clusters).
    m: how many to pick.
    use_mean_prob: confidence = top probability averaged over the heads
      (else head 0's).

  Returns:
    ([m] int64 rows — non-empty clusters in ascending id, then one fill per
    empty cluster (module doc) — , number of fills).
  """
  probs = np.asarray(probs, np.float64)
  if m > probs.shape[1]:
    raise ValueError(f'USL-T: {m} picks from {probs.shape[1]} points.')
  cluster = np.argmax(probs[0], -1)
  conf = (probs.max(-1).mean(0) if use_mean_prob else probs[0].max(-1))
  picks = list(usl.best_per_cluster(conf, cluster, m))
  empty = np.setdiff1d(np.arange(probs.shape[2]), cluster)
  filled = 0
  for c in empty:
    if len(picks) == m:
      break
    score = probs[0, :, c].copy()
    score[picks] = -np.inf
    picks.append(int(np.argmax(score)))
    filled += 1
  return np.asarray(picks, np.int64), filled


def make(knn_k: int = 20, use_mean_prob: bool = True,
         **train_options) -> base.Strategy:
  """The USL-T strategy; `init` finds the neighbours once (reused for every
  budget and seed while the candidates stay the same)."""

  def init(ctx):
    rows = ctx.candidate_indices
    x = clusters.l2_normalized(ctx.embeddings()[rows])
    return rows, neighbours(x, int(knn_k), ctx.mesh)

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    if state is None or not np.array_equal(state[0], ctx.candidate_indices):
      state = init(ctx)
    rows, nbrs = state
    if budget > len(rows):
      raise ValueError(f'USL-T: a budget of {budget} from {len(rows)} '
                       'candidates.')
    model = ctx.model()
    if model.inputs is None:
      raise ValueError('USL-T trains on the images; this job gives none.')
    images = model.inputs(rows)
    params, _ = usl_t_model.train(model.apply_fn, model.variables['params'],
                                  images, nbrs, budget, key, **train_options)
    probs = usl_t_model.probabilities(model.apply_fn, params, images)
    picks, filled = most_confident_per_cluster(probs, budget, use_mean_prob)
    notes = (f'{filled} picks filled empty clusters',) if filled else ()
    return base.Selection(rows[picks], notes=notes), state

  return base.Strategy(init, select)
