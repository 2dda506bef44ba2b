"""Strategy -> Strategy wrappers: any registered method gets them.

  partitioned(s, m)    paper 000 appendix A.1: split the candidates uniformly
                       at random into m parts, run s on each with k/m.
  class_balanced(s)    paper 002 section 4: per-class budgets, s within each
                       class.
  on_pairs(s)          paper 000 section 3.2: on a multi-label pool of
                       image-class pairs, s picks k images, then k pairs are
                       drawn uniformly among those images' unlabeled pairs.

The registry applies them from the options every method has (`partitions`,
`class_balanced`) and for every method that does not score pairs itself
(`on_pairs`). `partitioned` and `class_balanced` run their strategy on views
of the context (`Context.restrict`), so it must keep no one-time state;
`on_pairs` gives it the images as items, state included (Cluster-Margin's
clusters are of images).

Dimensions: N pool items, K budget, C classes, M parts.
"""

import jax
import numpy as np
from absl import logging

from al_jax.input import pairs as pairs_lib
from al_jax.kernels import partition
from al_jax.strategies import base
from al_jax.strategies import margin


def _stateless(inner: base.Strategy, what: str):
  def init(ctx):
    if inner.init(ctx) is not None:
      raise ValueError(f'{what} needs a strategy without one-time state.')
  return init


def _concat(parts: list[base.Selection], notes) -> base.Selection:
  """The parts' picks in order; weights 1 where a part has none."""
  if not parts:
    return base.Selection(np.zeros(0, np.int64), None, tuple(notes))
  idx = np.concatenate([p.indices for p in parts]).astype(np.int64)
  weights = None
  if any(p.weights is not None for p in parts):
    weights = np.concatenate([
        np.ones(len(p.indices), np.float32) if p.weights is None
        else np.asarray(p.weights, np.float32) for p in parts])
  return base.Selection(idx, weights, tuple(notes))


def partitioned(inner: base.Strategy, parts: int,
                keep_chosen: bool = False) -> base.Strategy:
  """`inner` run on `parts` random parts of the candidates (paper 000 A.1).

  Args:
    inner: the strategy run on each part.
    parts: M >= 1; budgets k // M, the first k mod M parts one more
      (`kernels.partition`).
    keep_chosen: every part also holds all chosen items (k-center keeps the
      labeled set as centres in each part, as A.1 does).
  """
  if parts < 1:
    raise ValueError(f'partitions={parts} must be >= 1.')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    candidates = ctx.candidate_indices
    chosen = (np.flatnonzero(ctx.chosen & ~ctx.candidates) if keep_chosen
              else np.zeros(0, np.int64))
    picked = []

    def one_part(part, k_j, key_j):
      sel, _ = inner.select(state, ctx.restrict(
          np.concatenate([candidates[part], chosen])), k_j, key_j)
      picked.append(sel)
      return sel.indices

    picks = partition.partitioned(one_part, len(candidates), parts, budget,
                                  key)
    out = _concat(picked, [n for p in picked for n in p.notes])
    return out._replace(indices=candidates[picks]), state

  return base.Strategy(_stateless(inner, 'partitions'), select)


def class_budgets(labels, budget: int, *, equal: bool = False,
                  eligible=None):
  """Per-class budgets summing to `budget`, spread by water-filling.

  Paper 002 samples "in a class-balanced fashion" (section 4, experimental
  setup) without saying how; CRAIG (DeepCore) takes a fraction per class.
  Shares are proportional to class size (equal=True: the same per class).
  A class with fewer eligible examples than its share takes them all and the
  rest of its share is re-spread over the other classes; each such case
  yields a note (also logged). Integer budgets by largest remainder (ties:
  lower class).

  Args:
    labels: [N] class labels; budget: total K.
    equal: equal shares instead of proportional ones.
    eligible: optional [N] bool, examples that may be picked (e.g. after
      BOSS's pruning of the hardest); shares still follow class sizes.

  Returns:
    (classes [C] sorted labels, budgets [C] int64, notes list[str]).
  """
  classes, inv = np.unique(np.asarray(labels), return_inverse=True)
  size = np.bincount(inv, minlength=len(classes))
  cap = size if eligible is None else np.bincount(
      inv[np.asarray(eligible, bool)], minlength=len(classes))
  if not 0 <= budget <= cap.sum():
    raise ValueError(f'budget={budget} must be in [0, {cap.sum()}] (pool '
                     'size).')
  weight = np.ones_like(size) if equal else size
  quota = np.zeros(len(classes), np.int64)
  active, rem, notes = list(range(len(classes))), int(budget), []
  while True:
    w = int(weight[active].sum())
    full = [c for c in active if rem * int(weight[c]) > int(cap[c]) * w]
    if not full:
      break
    for c in full:
      share = rem * weight[c] / w
      quota[c] = cap[c]
      notes.append(
          f'class {classes[c].item()!r}: {cap[c]} eligible examples, fewer '
          f'than its share {share:.1f}; took all, re-spread '
          f'{share - cap[c]:.1f} over the other classes.')
    rem -= int(cap[full].sum())
    active = [c for c in active if c not in full]
  if active:
    w = int(weight[active].sum())
    q, r = zip(*(divmod(rem * int(weight[c]), w) for c in active))
    quota[active] = q
    order = sorted(range(len(active)), key=lambda i: (-r[i], active[i]))
    quota[[active[i] for i in order[:rem - sum(q)]]] += 1
  for note in notes:
    logging.warning(note)
  return classes, quota, notes


def class_balanced(inner: base.Strategy, equal: bool = False) -> base.Strategy:
  """`inner` run within each class, with `class_budgets` budgets.

  Shares follow the class sizes of every item whose label the context
  knows; a class takes at most its candidates. Needs the label of every
  candidate. The picks are classes in label order, each in `inner`'s order.
  """

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    labels = np.asarray(ctx.labels)
    if labels.ndim != 1 or (labels[ctx.candidates] < 0).any():
      raise ValueError('class_balanced needs the class of every candidate.')
    known = labels >= 0
    classes, budgets, notes = class_budgets(
        labels[known], budget, equal=equal, eligible=ctx.candidates[known])
    parts = []
    for j, (c, b) in enumerate(zip(classes, budgets)):
      if not b:
        continue
      rows = np.flatnonzero((labels == c) & ctx.candidates)
      sel, _ = inner.select(state, ctx.restrict(rows), int(b),
                            jax.random.fold_in(key, j))
      parts.append(sel._replace(indices=rows[sel.indices]))
      notes += [f'class {c}: {n}' for n in sel.notes]
    return _concat(parts, notes), state

  return base.Strategy(_stateless(inner, 'class_balanced'), select)


def image_view(ctx: base.Context) -> base.Context:
  """The images of a pair pool as items: candidates own an unlabeled pair,
  chosen ones a bought pair; 'margin' is an image's smallest binary margin
  among its unlabeled pairs (paper 000 section 3.2 leaves this open)."""
  pp, unlabeled = ctx.pairs, ctx.candidates
  return ctx.replace(
      candidates=pp.images_with(unlabeled), chosen=pp.images_with(ctx.chosen),
      labels=np.full(pp.num_images, -1, np.int64), pairs=None,
      _query_fn=None, queried=np.zeros(0, np.int64),
      _scores={'margin': lambda: pp.image_min(margin.pool_margins(ctx),
                                              unlabeled)},
      # Model outputs per image: the view has embeddings, no pair logits.
      _outputs=None, _outputs_fn=lambda: (None, ctx.embeddings()))


def on_pairs(inner: base.Strategy) -> base.Strategy:
  """On a pair pool: k images by `inner` over `image_view`, then k pairs
  uniformly among their unlabeled pairs (`pairs.sample_pairs`, which fills
  from other images when they hold fewer). Other pools: `inner` as is."""

  def init(ctx: base.Context):
    return inner.init(ctx if ctx.pairs is None else image_view(ctx))

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    if ctx.pairs is None:
      return inner.select(state, ctx, budget, key)
    view = image_view(ctx)
    k_images = min(budget, int(view.candidates.sum()))
    key_images, key_pairs = jax.random.split(key)
    images, state = inner.select(state, view, k_images, key_images)
    return base.Selection(pairs_lib.sample_pairs(
        ctx.pairs, ~ctx.candidates, images.indices, budget, key_pairs),
                          None, images.notes), state

  return base.Strategy(init, select)
