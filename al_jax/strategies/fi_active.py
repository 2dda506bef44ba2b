"""FI-active (paper 004, eq. 4.1 and Algorithms 2, 4): query the candidates
whose predicted-label loss is most sensitive to perturbing the labelled
rows, by the local influence measure FI (`influence.fi_active`).

For each candidate x_u: ŷ_u = argmax of the model trained on the labelled
set 𝓛, a_u = ∇θ L(ŷ_u, x_u); FI_uj = FI of a_u at every labelled z_j
(J with n = |𝓛|); FI-active(x_u) = the mean of the middle 80% of
{FI_uj}_j (section 6.2). Selection: the b largest (ties to the lower row).

`layer`: 'last' (the default) measures FI on the network's last layer, as
the paper does for its CNN (section 6.2, Table 6): θ = the Dense layer that
maps the embedding to the logits, x = the embedding (dropout off); 'all'
uses every parameter and the raw inputs (flat tabular models only, e.g. the
trimming job's float64 models). Everything is float64. H is the Hessian of
the labelled set's mean loss plus the job's weight decay (`train.weight_
decay`, the L2 of its SGD), at the trained parameters: not an exact
stationary point after a fixed number of epochs, and the softmax's shift
direction is flat without weight decay, so H is damped when needed and the
selection's notes say so (`influence.curvature`). Options as FI-util's:
`scale`, `atol`, `rtol`, `damping`, `curvature` (KFSVD: 'kfac' with
`svd_rank` k > 0), `solver`, `subsample`
(Algorithm 8: FI-active on a Bernoulli(α) subset of the candidates, ranks
by a random forest on `forest_features`: the 'inputs' as the algorithm
writes, raw pixels for images, or the 'embedding').

Dimensions: N pool, n labelled, U candidates, D embedding, K classes.
"""

from typing import Mapping

import jax
import numpy as np

from al_jax import train
from al_jax.influence import curvature as curvature_lib
from al_jax.influence import fi
from al_jax.influence import fi_active
from al_jax.influence import subsample as subsample_lib
from al_jax.influence import tabular
from al_jax.input import preprocess
from al_jax.strategies import base
from al_jax.strategies import fi_util

OPTIONS = dict(layer='last', scale='appendix', atol=fi.ATOL, rtol=0.,
               damping=0., curvature='hessian', solver='cholesky',
               subsample=1., forest_features='inputs', svd_rank=0)
FOREST_FEATURES = ('inputs', 'embedding')
NEEDS = (base.MODEL, base.CHOSEN)
LAYERS = ('last', 'all')


def last_layer(params: Mapping, d: int, k: int) -> str:
  """The name of the Dense layer mapping the [D] embedding to the [K]
  logits."""
  names = [name for name, v in params.items()
           if isinstance(v, Mapping) and 'kernel' in v and
           np.shape(v['kernel']) == (d, k)]
  if len(names) != 1:
    raise ValueError(f'layer=last: want one Dense layer with a {d} x {k} '
                     f'kernel (embedding to logits) among the parameters '
                     f'{sorted(params)}; found {names}.')
  return names[0]


def model_inputs(model: base.Model, rows: np.ndarray) -> np.ndarray:
  """The pool rows as the model takes them (images normalised)."""
  if model.inputs is None:
    raise ValueError('This method needs the pool inputs (Model.inputs), and '
                     'none were given.')
  return normalised(np.asarray(model.inputs(rows)))


def normalised(x: np.ndarray) -> np.ndarray:
  return np.asarray(preprocess.normalize(x)) if x.dtype == np.uint8 else x


def embed(model: base.Model, x: np.ndarray) -> tuple[int, np.ndarray]:
  """(K logits, [n, D] float64 embeddings) of inputs x (dropout off)."""
  k = np.shape(model.apply_fn(model.variables, x[:1], train=False)[0])[1]
  both = train.map_blocks(  # [n, K + D]: logits, then the embedding.
      lambda b: np.concatenate([np.asarray(a, np.float64) for a in
                                model.apply_fn(model.variables, b,
                                               train=False)], 1), x, 512)
  return k, both[:, k:]


def tabular_view(model: base.Model, rows: np.ndarray, layer: str):
  """(Tabular, θ [p], x [len(rows), d]) of the model on the pool rows."""
  x = model_inputs(model, rows)
  params = model.variables['params']
  if layer == 'all':
    if x.ndim != 2:
      raise ValueError(f"layer='all' needs flat inputs [n, d]; these are "
                       f"{x.shape[1:]}. Use layer='last'.")
    with jax.enable_x64(True):
      tab, theta = tabular.from_model(model.apply_fn, params)
    return tab, theta, x.astype(np.float64)
  k, emb = embed(model, x)
  head = params[last_layer(params, emb.shape[1], k)]
  theta = np.concatenate([np.ravel(head['kernel']),
                          np.ravel(head['bias'])]).astype(np.float64)
  return tabular.linear(emb.shape[1], k), theta, emb


def candidate_scores(ctx: base.Context, key: jax.Array, layer: str = 'last',
                     scale: str = 'appendix', atol: float = fi.ATOL,
                     rtol: float = 0., damping: float = 0.,
                     curvature: str = 'hessian', solver: str = 'cholesky',
                     subsample: float = 1., forest_features: str = 'inputs',
                     svd_rank: int = 0) -> tuple:
  """(candidates [U], FI-active [U] (subsampled: the forest's ranks), the
  note on H) of the context (options: module doc)."""
  labelled = np.flatnonzero(ctx.chosen)
  y = np.asarray(ctx.labels)[labelled]
  if len(labelled) < 2 or (y < 0).any():
    raise ValueError(f'FI-active needs at least 2 labelled items with '
                     f'their labels; got {len(labelled)}.')
  model = ctx.model()
  candidates = ctx.candidate_indices
  tab, theta, x = tabular_view(model, np.concatenate([labelled, candidates]),
                               layer)
  x_l, x_c = x[:len(labelled)], x[len(labelled):]
  curv = curvature_lib.curvature(tab, theta, x_l, y, model.weight_decay,
                                 damping, curvature, solver)
  w = fi_active.labelled_factors(tab, theta, x_l, y, curv, scale=scale,
                                 atol=atol, rtol=rtol, svd_rank=svd_rank)
  if subsample == 1:
    return candidates, fi_active.fi_active(tab, theta, x_c, w), curv.note
  keep = subsample_lib.bernoulli_subset(key, len(candidates), subsample)
  feats = (x_c if forest_features == 'embedding' or layer == 'all' else
           model_inputs(model, candidates))
  ranks = subsample_lib.predicted_ranks(
      feats[keep], fi_active.fi_active(tab, theta, x_c[keep], w), feats,
      fi_util.forest_seed(key))
  return candidates, ranks, (
      f'{curv.note}; FI-active on a Bernoulli({subsample:g}) subset of '
      f'{len(keep)} candidates, ranks by a random forest on the '
      f'{forest_features}')


def make(**options) -> base.Strategy:
  o = {**OPTIONS, **options}
  fi_util.check_options('fi_active', o['scale'], o['curvature'], o['solver'],
                        o['subsample'])
  for name, valid in (('layer', LAYERS), ('forest_features', FOREST_FEATURES)):
    if o[name] not in valid:
      raise ValueError(f'fi_active: {name}={o[name]!r}; valid: {valid}.')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    candidates, scores, note = candidate_scores(ctx, key, **o)
    return fi_util.top_selection(candidates, scores, budget, (note,)), state

  return base.Strategy(lambda ctx: None, select)
