"""One interface: the registry (name == file, options, needs), Context views
and queries, merged duplicates, and the combinators."""

import os

import jax
import ml_collections
import numpy as np
import pytest

import al_jax
from al_jax import strategies
from al_jax.kernels import facility_location as fl
from al_jax.kernels import kcenter
from al_jax.kernels import partition
from al_jax.loops import active
from al_jax.loops import subset as subset_loop
from al_jax.strategies import base
from al_jax.strategies import boss
from al_jax.strategies import combinators
from conftest import ROOT


def _data(n=120, d=6, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((n, d)).astype(np.float32),
          rng.uniform(0.05, 1.0, n).astype(np.float32))


def _pool(n=200, c=4, seed=0):
  rng = np.random.default_rng(seed)
  return dict(logits=rng.normal(size=(n, c)).astype(np.float32) * 2,
              embeddings=rng.normal(size=(n, 6)).astype(np.float32),
              labels=rng.integers(0, c, n),
              scores={'el2n': rng.random(n).astype(np.float32),
                      'aum': rng.normal(size=n).astype(np.float32),
                      'aum_prob': rng.normal(size=n).astype(np.float32)})


def test_every_module_is_registered_under_its_file_name():
  folder = os.path.join(ROOT, 'al_jax', 'strategies')
  files = {f[:-3] for f in os.listdir(folder) if f.endswith('.py')}
  assert files - {'__init__', 'base', 'combinators'} == set(
      strategies.REGISTRY)
  for name, module in strategies.REGISTRY.items():
    assert module.__name__ == f'al_jax.strategies.{name}'
    assert set(module.NEEDS) <= set(base.NEEDS)
  assert strategies.module('coreset') is strategies.module('kcenter')


@pytest.mark.parametrize('name', strategies.names())
def test_an_option_typo_is_rejected_for_every_method(name):
  option = sorted(strategies.defaults(name))[0]
  typo = option[:-1] + ('x' if option[-1] != 'x' else 'y')
  al = ml_collections.ConfigDict({name: {typo: 1}})
  with pytest.raises(ValueError, match=f'did you mean config.al.{name}.'
                     f'{option}'):
    strategies.get(name, al, 'config.al')
  with pytest.raises(ValueError, match=f'did you mean select.{name}.{option}'):
    al_jax.select(name, 3, key=jax.random.key(0), **_pool(), **{typo: 1})


# Methods that train or differentiate a model need one of their kind: their
# select() runs in test_usl_t.py (usl_t), test_influence.py (fi_util, iv)
# and test_fi_active.py (fi_active, bald, iv_active).
ARRAY_ONLY = [n for n in strategies.names()
              if base.MODEL not in strategies.needs(n)]


def test_model_methods_are_tested_elsewhere():
  assert set(strategies.names()) - set(ARRAY_ONLY) == {
      'bald', 'fi_active', 'fi_util', 'iv', 'iv_active', 'usl_t'}


@pytest.mark.parametrize('name', ARRAY_ONLY)
def test_select_runs_every_method_on_plain_arrays(name):
  pool = _pool()
  one_shot = base.LABELS in strategies.needs(name)
  labeled = np.arange(200) < (0 if one_shot else 30)
  hidden = pool.pop('labels')
  labels = hidden if one_shot else np.where(labeled, hidden, -1)
  if base.QUERY in strategies.needs(name):  # Buys labels as it selects.
    pool['query'] = lambda idx: hidden[idx]
  sel = al_jax.select(name, 17, key=jax.random.key(1), labeled=labeled,
                      labels=labels, **pool)
  assert len(sel.indices) == 17 and not labeled[sel.indices].any()
  again = al_jax.select(name, 17, key=jax.random.key(1), labeled=labeled,
                        labels=labels, **pool)
  np.testing.assert_array_equal(sel.indices, again.indices)


def test_select_names_the_missing_argument():
  pool = _pool()
  with pytest.raises(ValueError, match='craig needs labels'):
    al_jax.select('craig', 5, key=jax.random.key(0),
                  logits=pool['logits'], embeddings=pool['embeddings'])
  with pytest.raises(ValueError, match='ccs needs scores'):
    al_jax.select('ccs', 5, key=jax.random.key(0), labels=pool['labels'])
  with pytest.raises(ValueError, match='coreset needs embeddings'):
    al_jax.select('coreset', 5, key=jax.random.key(0), logits=pool['logits'])
  with pytest.raises(ValueError, match='budget=300'):
    al_jax.select('random', 300, key=jax.random.key(0), **pool)


def test_a_job_rejects_methods_it_cannot_serve():
  config = ml_collections.ConfigDict(dict(strategies=('margin', 'craig')))
  with pytest.raises(ValueError, match="craig needs every label; job 'active' "
                     'knows only bought labels'):
    for entry in config.strategies:
      strategies.check_entry(entry, config, 'active', active.PROVIDES,
                             'config.al')
  with pytest.raises(ValueError, match='needs dynamics'):
    strategies.check_entry('ccs', None, 'active', active.PROVIDES, 'config.al')
  for name in strategies.names():  # The one-shot job serves everything.
    strategies.check_entry(name, None, 'subset', subset_loop.PROVIDES, 'x')


def test_entries_run_a_method_under_another_name():
  al = ml_collections.ConfigDict()
  al.cm_eps2 = strategies.options('cluster_margin', eps=2.0)
  assert strategies.method_of('cm_eps2', al.cm_eps2) == 'cluster_margin'
  assert al.cm_eps2.eps == 2.0 and al.cm_eps2.hac == 'auto'
  strategies.get('cm_eps2', al, 'config.al')
  with pytest.raises(ValueError, match='did you mean ccs.beta'):
    strategies.options('ccs', beat=0.1)
  with pytest.raises(ValueError, match="Unknown strategy 'bos'"):
    strategies.options('bos')


def test_duplicate_draws_merge_with_summed_weights():
  sel = base.Selection(np.array([5, 2, 5, 7, 2, 5]),
                       np.array([1., 2., 3., 4., 5., 6.], np.float32))
  merged = base.merge_duplicates(sel)
  np.testing.assert_array_equal(merged.indices, [5, 2, 7])
  np.testing.assert_array_equal(merged.weights, [10., 7., 4.])
  unweighted = base.merge_duplicates(base.Selection(np.array([3, 1, 3])))
  np.testing.assert_array_equal(unweighted.weights, [2., 1.])
  same = base.Selection(np.array([4, 0, 9]))
  assert base.merge_duplicates(same).weights is None
  ctx = base.Context(np.ones(10, bool))
  checked = base.check_selection(sel, ctx, 6, 'x')  # 6 draws, 3 labels.
  np.testing.assert_array_equal(checked.indices, [5, 2, 7])
  with pytest.raises(RuntimeError, match='invalid weights'):
    base.check_selection(sel._replace(weights=-sel.weights), ctx, 6, 'x')


def test_query_buys_through_views_and_counts_in_the_budget():
  hidden = np.arange(20) % 3
  bought = []
  ctx = base.Context(np.arange(20) >= 4, chosen=np.arange(20) < 4,
                     labels=np.where(np.arange(20) < 4, hidden, -1),
                     query=lambda i: bought.append(list(i)) or hidden[i])
  view = ctx.restrict(np.array([10, 11, 12, 13]))
  np.testing.assert_array_equal(view.query([1, 3]), hidden[[11, 13]])
  np.testing.assert_array_equal(view.query([3]), hidden[[13]])  # Not again.
  assert bought == [[11, 13]]
  np.testing.assert_array_equal(ctx.queried, [11, 13])
  assert ctx.labels[11] == hidden[11] and view.labels[1] == hidden[11]
  with pytest.raises(ValueError, match='not candidates'):
    ctx.query([0])
  # Budget 3: the two queried items plus one more pick.
  base.check_selection(base.Selection(np.array([11, 13, 5])), ctx, 3, 'x')
  base.check_selection(base.Selection(np.array([5])), ctx, 3, 'x')
  with pytest.raises(RuntimeError, match='1 indices and 2 other queried'):
    base.check_selection(base.Selection(np.array([5])), ctx, 2, 'x')


def test_restrict_slices_everything():
  pool = _pool(n=30)
  ctx = base.Context(np.ones(30, bool), labels=pool['labels'],
                     outputs=lambda: (pool['logits'], pool['embeddings']),
                     scores=pool['scores'])
  rows = np.array([7, 3, 20])
  view = ctx.restrict(rows)
  np.testing.assert_array_equal(view.logits(), pool['logits'][rows])
  np.testing.assert_array_equal(view.embeddings(), pool['embeddings'][rows])
  np.testing.assert_array_equal(view.scores('aum'), pool['scores']['aum'][rows])
  np.testing.assert_array_equal(view.labels, pool['labels'][rows])
  assert view.pool_size == 3 and ctx.pool_size == 30


def test_partitioned_runs_each_part_with_its_share():
  """k-center on 3 parts == the kernel on each part plus the labeled set."""
  x, _ = _data(n=90)
  labeled = np.arange(90) % 9 == 0
  ctx = base.Context(~labeled, chosen=labeled, outputs=lambda: (None, x))
  strat = strategies.get('kcenter', partitions=3)
  key = jax.random.key(4)
  got, _ = strat.select(strat.init(ctx), ctx, 10, key)
  cand, centres = np.flatnonzero(~labeled), np.flatnonzero(labeled)
  want = []
  split_key, part_key = jax.random.split(key)
  for j, (part, k) in enumerate(zip(partition.split(len(cand), 3, split_key),
                                    partition.budgets(10, 3))):
    rows = np.concatenate([cand[part], centres])
    pos = kcenter.kcenter_greedy(x[rows], np.arange(len(rows)) >= len(part),
                                 k, key=jax.random.fold_in(part_key, j))
    want += rows[pos].tolist()
  assert got.indices.tolist() == want
  with pytest.raises(ValueError, match='one-time state'):
    s = strategies.get('cluster_margin', partitions=2, eps=1.0)
    s.init(base.Context(np.ones(5, bool), outputs=lambda: (
        np.zeros((5, 2), np.float32), x[:5])))


def test_class_balanced_is_free_for_every_method():
  pool = _pool()
  sel = al_jax.select('random', 40, key=jax.random.key(0), class_balanced=True,
                      **pool)
  counts = np.bincount(pool['labels'][sel.indices], minlength=4)
  share = 40 * np.bincount(pool['labels'], minlength=4) / 200
  assert np.abs(counts - share).max() < 1
  with pytest.raises(ValueError, match='margin needs labels'):
    al_jax.select('margin', 10, key=jax.random.key(0), class_balanced=True,
                  logits=pool['logits'])
  al = ml_collections.ConfigDict({'random': {'class_balanced': True}})
  with pytest.raises(ValueError, match='random needs every label'):
    strategies.check_entry('random', al, 'active', active.PROVIDES, 'c')


def test_class_budgets_proportional_and_respread():
  labels = np.repeat([0, 1, 2], [50, 30, 20])
  classes, budgets, notes = combinators.class_budgets(labels, 10)
  np.testing.assert_array_equal(classes, [0, 1, 2])
  np.testing.assert_array_equal(budgets, [5, 3, 2])
  assert not notes
  _, budgets, _ = combinators.class_budgets(labels, 11)  # Remainders .5 .3 .2.
  np.testing.assert_array_equal(budgets, [6, 3, 2])
  # Equal shares: 2 classes of 3 get 30 / 4 = 7.5 each but have only 3.
  labels = np.repeat(['a', 'b', 'c', 'd'], [40, 3, 40, 3])
  _, budgets, notes = combinators.class_budgets(labels, 30, equal=True)
  np.testing.assert_array_equal(budgets, [12, 3, 12, 3])
  assert len(notes) == 2 and 're-spread' in notes[0] and "'b'" in notes[0]
  # Pruning leaves class 1 with 2 eligible of 30 (share 3): 1 moves on.
  labels = np.repeat([0, 1, 2], [50, 30, 20])
  eligible = np.ones(100, bool)
  eligible[52:80] = False
  _, budgets, notes = combinators.class_budgets(labels, 10, eligible=eligible)
  np.testing.assert_array_equal(budgets, [6, 2, 2])
  assert len(notes) == 1 and budgets.sum() == 10
  with pytest.raises(ValueError, match='budget'):
    combinators.class_budgets(labels, 101)


def test_class_balanced_selects_per_class():
  x, imp = _data(n=90, seed=6)
  labels = np.repeat([2, 0, 1], [50, 30, 10])
  eligible = np.ones(90, bool)
  eligible[[80, 81, 82, 83, 84, 85, 86, 87]] = False  # Class 1 keeps 2.
  ctx = base.Context(eligible, labels=labels, outputs=lambda: (None, x),
                     scores={'boss_importance': imp})
  result, _ = combinators.class_balanced(boss.facility_location('cosine'),
                                         equal=True).select(
                                             None, ctx, 30, jax.random.key(0))
  notes = result.notes
  assert len(notes) == 1 and '1' in notes[0]
  counts = {c: int(np.sum(labels[result.indices] == c)) for c in (0, 1, 2)}
  assert counts == {0: 14, 1: 2, 2: 14}
  assert eligible[result.indices].all()
  rows = np.flatnonzero(labels == 0)
  alone = fl.facility_location(x[rows], 14, importance=imp[rows])
  np.testing.assert_array_equal(result.indices[:14], rows[alone.indices])
  np.testing.assert_array_equal(result.weights[:14], alone.weights)




def test_a_fork_keeps_its_own_purchases():
  hidden = np.arange(8)
  ctx = base.Context(np.ones(8, bool), query=lambda i: hidden[i])
  a, b = ctx.fork(), ctx.fork()
  a.query([1, 2])
  b.query([3])
  assert a.queried.tolist() == [1, 2] and b.queried.tolist() == [3]
  assert ctx.queried.size == 0 and (ctx.labels == -1).all()


class _UsesModel:
  """A stand-in for a gradient method: scores candidates with the model."""
  OPTIONS = {}
  NEEDS = (base.MODEL,)

  @staticmethod
  def make():
    def select(state, ctx, budget, key):
      del key
      model = ctx.model()
      scores = np.asarray(model.apply_fn(model.variables,
                                         ctx.candidate_indices))
      return base.Selection(ctx.candidate_indices[np.argsort(-scores)[
          :budget]]), state
    return base.Strategy(base.no_state, select)


def test_select_passes_the_model_to_methods_that_need_it(monkeypatch):
  monkeypatch.setitem(strategies.REGISTRY, 'uses_model', _UsesModel)
  labeled = np.arange(10) < 2
  with pytest.raises(ValueError, match='uses_model needs apply_fn and params'):
    al_jax.select('uses_model', 3, key=jax.random.key(0), labeled=labeled)
  sel = al_jax.select('uses_model', 3, key=jax.random.key(0), labeled=labeled,
                      apply_fn=lambda p, i: p['w'][i],
                      params={'w': np.arange(10.) % 7})
  np.testing.assert_array_equal(sel.indices, [6, 5, 4])


def test_views_share_one_computation_of_the_model_outputs():
  calls = []
  x = np.arange(12.).reshape(6, 2).astype(np.float32)
  ctx = base.Context(np.ones(6, bool),
                     outputs=lambda: calls.append(1) or (x, x))
  views = [ctx.replace(candidates=np.arange(6) > 2), ctx.fork(),
           ctx.restrict([4, 1]), ctx.with_scores(a=np.zeros(6))]
  np.testing.assert_array_equal(views[2].embeddings(), x[[4, 1]])
  for v in views:
    v.logits()
  ctx.embeddings()
  assert len(calls) == 1
