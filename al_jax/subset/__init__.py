"""One-shot subset selection (paper 002), methods looked up by name.

Every label is known; a method picks a fraction of the training set
(optionally with weights) for a fresh model to train on. The algorithms are
pure functions in their own modules; this registry adapts each to one
signature,

  selection = subset.get(entry, config.subset)(inputs, budget, key)

where `inputs` holds what the initial model produced (`Inputs`). A config
entry is a method name, or any name whose section sets ``method``, so one
method can run under several settings (e.g. the Table 2 ablation:
``config.subset.diversity = dict(method='boss', alpha=0., beta=0.)``).

Dimensions: N pool, D feature width, C classes, M budget.
"""

import functools
from typing import Callable, Mapping, NamedTuple

import jax
import ml_collections
import numpy as np
from ml_collections import config_dict

from al_jax import config_check
from al_jax.subset import boss
from al_jax.subset import ccs
from al_jax.subset import craig
from al_jax.subset import gradmatch
from al_jax.subset import hardest
from al_jax.subset import moderate

# Scores where a lower value means harder (likely mislabeled).
LOWER_IS_HARDER = ('aum', 'aum_prob')


class Inputs(NamedTuple):
  """What the initial model (trained T0 epochs on the full set) gives.

  Attributes:
    labels: [N] int class ids.
    features: [N, D] penultimate features at epoch T0 (eval mode).
    logits: [N, C] logits at epoch T0 (eval mode).
    scores: {name: [N]} training-dynamics scores (`dynamics.compute_scores`).
    fraction: the subset fraction the budget came from.
    mesh: device mesh, or None.
  """
  labels: np.ndarray
  features: np.ndarray
  logits: np.ndarray
  scores: Mapping[str, np.ndarray]
  fraction: float
  mesh: jax.sharding.Mesh | None = None

  def difficulty(self, name: str) -> np.ndarray:
    """[N] score `name`, oriented so that larger = harder."""
    if name not in self.scores:
      raise ValueError(f'Unknown difficulty score {name!r}; valid: '
                       f'{", ".join(sorted(self.scores))}.')
    d = np.asarray(self.scores[name], np.float64)
    return -d if name in LOWER_IS_HARDER else d


class Selection(NamedTuple):
  """indices: [M] int64 pool indices; weights: [M] float32 or None;
  notes: what the method changed or re-spread, for the metrics row."""
  indices: np.ndarray
  weights: np.ndarray | None = None
  notes: tuple[str, ...] = ()


def _random(inputs, budget, key):
  """Uniform without replacement (paper 002's Random)."""
  pick = jax.random.choice(key, len(inputs.labels), (budget,), replace=False)
  return Selection(np.sort(np.asarray(pick, np.int64)))


def _ccs(inputs, budget, key, *, score, beta, num_strata):
  return Selection(ccs.select(inputs.difficulty(score), budget, key, beta,
                              num_strata))


def _moderate(inputs, budget, key):
  del key
  return Selection(moderate.select(inputs.features, inputs.labels, budget))


def _hardest(inputs, budget, key, *, score):
  del key
  idx, notes = hardest.select(inputs.difficulty(score), inputs.labels, budget)
  return Selection(idx, None, tuple(notes))


def _craig(inputs, budget, key):
  del key
  r, notes = craig.select(inputs.logits, inputs.features, inputs.labels,
                          budget, mesh=inputs.mesh)
  return Selection(r.indices, r.weights.astype(np.float32), tuple(notes))


def _gradmatch(inputs, budget, key, *, lam):
  del key
  idx, w, notes = gradmatch.select(inputs.logits, inputs.features,
                                   inputs.labels, budget, lam=lam)
  return Selection(idx, w, tuple(notes))


def _boss(inputs, budget, key, *, score, c, alpha, beta, balanced, metric,
          weighted):
  """BOSS; c, alpha, beta left None follow `boss.default_params`."""
  del key
  dc, da, db = boss.default_params(inputs.fraction)
  r, notes = boss.select(
      inputs.features, inputs.labels, inputs.difficulty(score), budget,
      c=dc if c is None else c, alpha=da if alpha is None else alpha,
      beta=db if beta is None else beta, balanced=balanced, metric=metric,
      mesh=inputs.mesh)
  # Paper 002 trains on S unweighted (Algorithm 1 returns a set).
  w = r.weights.astype(np.float32) if weighted else None
  return Selection(r.indices, w, tuple(notes))


# name -> (function, default options). Defaults: CCS beta = 0.1 as paper 002
# uses for CCS in appendix D.1; scores are EL2N over T0 epochs (section 5).
METHODS: dict[str, tuple[Callable[..., Selection], dict]] = {
    'random': (_random, {}),
    'ccs': (_ccs, dict(score='el2n', beta=0.1, num_strata=ccs.NUM_STRATA)),
    'moderate': (_moderate, {}),
    'hardest': (_hardest, dict(score='el2n')),
    'craig': (_craig, {}),
    'gradmatch': (_gradmatch, dict(lam=1.0)),
    'boss': (_boss, dict(score='el2n', c=None, alpha=None, beta=None,
                         balanced=True, metric='cosine', weighted=False)),
}


def method_of(entry: str, subset_cfg=None) -> str:
  """The registered method an entry of ``config.subset.methods`` runs."""
  section = subset_cfg.get(entry) if subset_cfg is not None else None
  name = section.get('method', entry) if section is not None else entry
  if name not in METHODS:
    raise ValueError(f'Unknown subset method {name!r} (entry {entry!r}); '
                     f'valid: {", ".join(sorted(METHODS))}.')
  return name


def get(entry: str, subset_cfg=None) -> Callable[..., Selection]:
  """fn(inputs, budget, key) -> Selection for an entry, options applied.

  Options come from ``config.subset.<entry>`` over the method's defaults; an
  unknown option is an error naming it.
  """
  name = method_of(entry, subset_cfg)
  fn, defaults = METHODS[name]
  section = subset_cfg.get(entry) if subset_cfg is not None else None
  options = dict(section) if section is not None else {}
  options.pop('method', None)
  config_check.check_keys(options, tuple(defaults), f'config.subset.{entry}')
  return functools.partial(fn, **{**defaults, **options})


def options(entry: str, method: str | None = None,
            **overrides) -> ml_collections.ConfigDict:
  """A config section for `entry` holding every option of its method at its
  default (unset ones as typed placeholders), so that command-line overrides
  such as ``--config.subset.boss.alpha=1`` find their key.

  Args:
    entry: the entry name; also the method unless `method` is given.
    method: the registered method the entry runs.
    overrides: option values to set.
  """
  name = method or entry
  if name not in METHODS:
    raise ValueError(f'Unknown subset method {name!r}; valid: '
                     f'{", ".join(sorted(METHODS))}.')
  values = {**METHODS[name][1], **overrides}
  config_check.check_keys(values, tuple(METHODS[name][1]),
                          f'config.subset.{entry}')
  section = ml_collections.ConfigDict(
      {k: config_dict.placeholder(float) if v is None else v
       for k, v in values.items()})
  if method is not None:
    section.method = method
  return section
