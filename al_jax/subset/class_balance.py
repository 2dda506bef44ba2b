"""Class-balanced budgets and per-class selection (paper 002, section 4).

Paper 002 selects "in a class-balanced fashion" without saying how; CRAIG
(DeepCore) takes a fraction of each class. `class_budgets` spreads a budget
over classes by water-filling and reports every re-spread; `class_balanced`
runs facility location inside each class.

Dimensions: N pool, D feature width, K budget.
"""

import numpy as np
from absl import logging

from al_jax.kernels import facility_location as fl


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
          f'class {classes[c]!r}: {cap[c]} eligible examples, fewer than its '
          f'share {share:.1f}; took all, re-spread {share - cap[c]:.1f} over '
          'the other classes.')
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


def class_balanced(x, labels, budget: int, *, equal: bool = False,
                   eligible=None, importance=None, **kwargs):
  """`facility_location` run per class with `class_budgets` budgets.

  Args:
    x: [N, D], or a function rows [n] int64 -> [n, D] features of those
      rows (built per class, e.g. gradients too large for the whole pool).
    labels: [N]; budget: K; equal, eligible: `class_budgets`.
    importance: optional [N]; kwargs: passed to `facility_location`.

  Returns:
    (Result over pool indices: classes in label order, each in pick order,
     weights counted within the class; notes list[str]).
  """
  labels = np.asarray(labels)
  ok = np.ones(len(labels), bool) if eligible is None else np.asarray(
      eligible, bool)
  classes, budgets, notes = class_budgets(labels, budget, equal=equal,
                                          eligible=ok)
  parts = []
  for c, b in zip(classes, budgets):
    rows = np.flatnonzero((labels == c) & ok)
    if b:
      r = fl.facility_location(
          x(rows) if callable(x) else np.asarray(x)[rows], int(b), **kwargs,
          importance=None if importance is None else np.asarray(
              importance)[rows])
      parts.append(fl.Result(rows[r.indices], r.weights, r.gains))
  if not parts:
    return fl._empty(), notes  # pylint: disable=protected-access
  return fl.Result(*(np.concatenate(a) for a in zip(*parts))), notes
