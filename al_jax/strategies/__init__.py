"""The one registry of selection strategies, for every job.

One module per method, named as the method is registered. Each declares

  OPTIONS  every option with its default (None: chosen at run time, the
           module says how);
  NEEDS    what it must see (`base.NEEDS`: logits, embeddings, labels,
           dynamics, model, query, chosen), all options considered; a
           module whose needs depend on its options also defines
           needs(**options);
  PAIRS    'native' if it scores multi-label pairs itself; otherwise
           `combinators.on_pairs` picks images with it, then pairs. A
           pair pool's pass keeps the pairs' logits, never [N, C], so such
           a method needs no logits, or declares 'image_margins': it reads
           only each image's margin (`check_pairs`);
  make(**options) -> base.Strategy.

Every method also takes the options of `COMBINATOR_OPTIONS` unless it
declares them itself: ``partitions`` (`combinators.partitioned`) and
``class_balanced`` (`combinators.class_balanced`).

A config entry is a method name, or any name whose section sets ``method``,
so one method can run under several settings in one config:

  config.al.cm_eps2 = strategies.options('cluster_margin', eps=2.)
"""

import difflib
import types

import ml_collections
from ml_collections import config_dict

from al_jax import config_check
from al_jax.strategies import adacore
from al_jax.strategies import badge
from al_jax.strategies import bald
from al_jax.strategies import base
from al_jax.strategies import boss
from al_jax.strategies import ccs
from al_jax.strategies import cluster_margin
from al_jax.strategies import combinators
from al_jax.strategies import craig
from al_jax.strategies import entropy
from al_jax.strategies import fi_active
from al_jax.strategies import fi_util
from al_jax.strategies import gradmatch
from al_jax.strategies import hardest
from al_jax.strategies import iv
from al_jax.strategies import iv_active
from al_jax.strategies import kcenter
from al_jax.strategies import kmeans_nearest
from al_jax.strategies import lcmat
from al_jax.strategies import least_confidence
from al_jax.strategies import margin
from al_jax.strategies import moderate
from al_jax.strategies import random
from al_jax.strategies import sensitivity
from al_jax.strategies import sensitivity_rounds
from al_jax.strategies import usl
from al_jax.strategies import usl_t
from al_jax.strategies.base import Context, Selection, Strategy

REGISTRY: dict[str, types.ModuleType] = {
    m.__name__.rsplit('.', 1)[1]: m
    for m in (adacore, badge, bald, boss, ccs, cluster_margin, craig, entropy,
              fi_active, fi_util, gradmatch, hardest, iv, iv_active, kcenter,
              kmeans_nearest, lcmat, least_confidence, margin, moderate,
              random, sensitivity, sensitivity_rounds, usl, usl_t)}
ALIASES = {'coreset': 'kcenter'}  # Paper 000's name for k-center.
COMBINATOR_OPTIONS = dict(partitions=1, class_balanced=False)
# What a job's label view can serve, for the mismatch message.
LABEL_VIEWS = {'active': 'knows only bought labels',
               'label_free': 'knows no labels'}
# Where a job gives a model only in some settings, for the mismatch message.
MODEL_VIEWS = {'label_free': "gives one only with config.features.source="
                             "'simclr' (the encoder it fine-tunes)"}


def names() -> list[str]:
  return sorted([*REGISTRY, *ALIASES])


def module(name: str) -> types.ModuleType:
  """The module registered as `name` (or aliased to it)."""
  name = ALIASES.get(name, name)
  if name not in REGISTRY:
    close = difflib.get_close_matches(name, names(), n=1)
    raise ValueError(f'Unknown strategy {name!r}' + (
        f' (did you mean {close[0]!r}?)' if close else '') +
                     f'; valid: {", ".join(names())}.')
  return REGISTRY[name]


def defaults(name: str) -> dict:
  """Every option of method `name` with its default."""
  return {**COMBINATOR_OPTIONS, **module(name).OPTIONS}


def needs(name: str, **options) -> tuple[str, ...]:
  """What method `name` needs with these options (class balance needs every
  candidate's label)."""
  mod = module(name)
  values = {**defaults(name), **options}
  out = tuple(mod.needs(**{k: values[k] for k in mod.OPTIONS})
              if hasattr(mod, 'needs') else mod.NEEDS)
  balanced = values['class_balanced']
  return out + (base.LABELS,) if balanced and base.LABELS not in out else out


def method_of(entry: str, section=None) -> str:
  """The method an entry runs: its section's ``method``, else the entry."""
  if section is not None and section.get('method') is not None:
    return section.get('method')
  return entry


def _section(entry: str, parent) -> dict:
  section = parent.get(entry) if parent is not None else None
  return dict(section) if section is not None else {}


def get(entry: str, parent=None, where: str = 'config', **options
        ) -> base.Strategy:
  """The strategy of `entry`, its options checked and combinators applied.

  Args:
    entry: a method name, or an entry whose section sets ``method``.
    parent: the config section holding ``parent.<entry>`` (e.g.
      ``config.al``), or None.
    where: the parent's config path, for error messages.
    **options: options given directly (e.g. by `al_jax.select`); they
      override the section's.

  Raises:
    ValueError: unknown method, or an unknown option (with "did you mean").
  """
  section = {**_section(entry, parent), **options}
  name = method_of(entry, section)
  section.pop('method', None)
  mod = module(name)
  allowed = defaults(name)
  config_check.check_keys(section, tuple(allowed), f'{where}.{entry}')
  values = {**allowed, **section}
  own = {k: v for k, v in values.items() if k in mod.OPTIONS}
  strategy = mod.make(**own)
  if 'class_balanced' not in mod.OPTIONS and values['class_balanced']:
    strategy = combinators.class_balanced(strategy)
  if 'partitions' not in mod.OPTIONS and int(values['partitions']) != 1:
    strategy = combinators.partitioned(strategy, int(values['partitions']),
                                       keep_chosen=base.CHOSEN in mod.NEEDS)
  if getattr(mod, 'PAIRS', None) != 'native':
    strategy = combinators.on_pairs(strategy)
  return strategy


def _entry_needs(entry: str, parent) -> tuple[str, tuple[str, ...]]:
  """(method, what it needs with its options) of a config entry."""
  section = _section(entry, parent)
  name = method_of(entry, section)
  section.pop('method', None)
  return name, needs(name, **section)


def check_pairs(entries, parent, where: str):
  """Raises ValueError naming the entries that cannot run on a multi-label
  pair pool: methods that are not pair-native but need per-image logits
  (the pool pass brings only the annotated pairs' logits to the host)."""
  bad = []
  for entry in entries:
    name, wanted = _entry_needs(entry, parent)
    if (getattr(module(name), 'PAIRS', None) not in ('native',
                                                     'image_margins')
        and base.LOGITS in wanted):
      bad.append(entry)
  if bad:
    raise ValueError(
        f'{where}: {", ".join(bad)} score images by their [N, C] logits, '
        'which a multi-label pool does not bring to the host (its pool pass '
        'keeps the logits of the annotated pairs); on pairs use margin, '
        'badge, cluster_margin, or a method that needs no logits (random, '
        'coreset, kcenter, ...).')


def check_entry(entry: str, parent, job: str, provides, where: str):
  """Checks an entry of a job's config before any data loads: the method
  exists, its options are known, and the job provides what it needs.

  Args:
    provides: the needs the job serves (its loop's PROVIDES).
  """
  get(entry, parent, where)
  name, wanted = _entry_needs(entry, parent)
  missing = [n for n in wanted if n not in provides]
  if missing:
    why = {base.LABELS: f'needs every label; job {job!r} '
                        f'{LABEL_VIEWS.get(job, "cannot see them")}',
           base.MODEL: f'needs the trained model; job {job!r} '
                       f'{MODEL_VIEWS.get(job, "does not provide one")}'}
    text = '; '.join(why.get(n, f'needs {n}, which job {job!r} does not '
                                'provide') for n in missing)
    raise ValueError(f'{where}.{entry}: {name} {text}.')


def check_section(section, list_key: str, fixed_keys, job: str, provides,
                  where: str):
  """Checks a job's section of entries (``config.al``, ``config.subset``)
  before any data loads: its keys, its list of entries (each named once),
  every entry (`check_entry`) and every unused method section (typo-free).

  Args:
    list_key: the key listing the entries ('strategies', 'methods').
    fixed_keys: the job's own keys of the section.
  """
  entries = tuple(section[list_key])
  config_check.check_keys(section, tuple(fixed_keys) + entries +
                          tuple(names()), where)
  if not entries or len(set(entries)) != len(entries):
    raise ValueError(f'{where}.{list_key}={entries} must name at least one '
                     'method, each once.')
  for entry in entries:
    check_entry(entry, section, job, provides, where)
  for name in set(section.keys()) & set(names()) - set(entries):
    get(name, section, where)


def options(method: str, **overrides) -> ml_collections.ConfigDict:
  """A config section running `method`, holding every option at its default
  (unset ones as typed placeholders) so that command-line overrides such as
  ``--config.subset.boss.alpha=1`` find their key. Assign it to any entry:
  ``config.al.cm_eps2 = options('cluster_margin', eps=2.)``.

  Raises:
    ValueError: unknown method, or an unknown option (with "did you mean").
  """
  allowed = defaults(method)
  values = {**allowed, **overrides}
  config_check.check_keys(values, tuple(allowed), method)
  section = ml_collections.ConfigDict(
      {k: config_dict.placeholder(float) if v is None else v
       for k, v in values.items()})
  section.method = method
  return section


__all__ = ['Context', 'Selection', 'Strategy', 'REGISTRY', 'ALIASES', 'get',
           'options', 'check_entry', 'check_section', 'module', 'names',
           'needs', 'defaults', 'method_of']
