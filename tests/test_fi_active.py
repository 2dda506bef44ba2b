"""FI-active (paper 004, Algorithm 2): the one-GEMM form against the direct
measure, FI-util from the same factors, and the trimmed-mean aggregation on
hand-made vectors."""

import jax
import numpy as np
import pytest

from al_jax.influence import curvature
from al_jax.influence import fi
from al_jax.influence import fi_active
from al_jax.influence import tabular

WD = 1e-2


@pytest.fixture(scope='module', params=['logreg', 'mlp3'])
def fitted(request):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(24, 3))
  y = (x[:, 0] - x[:, 2] + 0.5 * rng.normal(size=24) > 0).astype(np.int64)
  if request.param == 'logreg':
    model = tabular.logistic_regression(3)
  else:  # Three classes: rank G = 2 < d = 3.
    y = y + (x[:, 1] > 0.8)
    model = tabular.mlp(3, (5,), 3)
  theta, _ = tabular.fit(model, x, y, WD, jax.random.key(0), max_iter=500)
  curv = curvature.curvature(model, theta, x, y, WD)
  return model, theta, x, y, curv, fi_active.labelled_factors(
      model, theta, x, y, curv)


def test_gemm_form_equals_the_direct_measure(fitted):
  model, theta, x, y, curv, w = fitted
  cand = np.random.default_rng(1).normal(size=(6, 3))
  with jax.enable_x64(True):
    grads = np.asarray(fi_active._candidate_gradients(  # pylint: disable=protected-access
        model, jax.numpy.asarray(theta), cand))
  u, rows = 4, range(0, len(x), 3)  # The direct measure: one row at a time.
  direct = np.array([fi.fi(model, theta, x[j], y[j], grads[u], curv)
                     for j in rows])
  gemm = np.sum(np.einsum('p,npk->nk', grads[u], w) ** 2, 1)
  np.testing.assert_allclose(gemm[list(rows)], direct, rtol=1e-8,
                             atol=1e-12 * direct.max())
  assert fi_active.fi_active(model, theta, cand, w)[u] == pytest.approx(
      _numpy_trimmed_mean(gemm), rel=1e-8)


def test_the_same_factors_give_fi_util(fitted):
  model, theta, x, y, curv, w = fitted
  gbar = fi.validation_gradient(model, theta, x[:20], y[:20])
  np.testing.assert_allclose(
      np.sum(np.einsum('p,npk->nk', gbar, w) ** 2, 1),
      fi.fi_util(model, theta, x, y, x[:20], y[:20], curv), rtol=1e-8,
      atol=1e-14)


def _numpy_trimmed_mean(v):
  lo, hi = np.percentile(v, [10, 90])
  return v[(v >= lo) & (v <= hi)].mean()


@pytest.mark.parametrize('values, want', [
    (np.arange(1., 11.), 5.5),                   # percentiles 1.9 and 9.1.
    (np.arange(11.) ** 2, 285 / 9),              # edges 1 and 81 kept.
    (np.array([1.] * 9 + [100.]), 1.),           # ties at the lower edge.
    (np.array([3., 3., 3.]), 3.),                # all tied.
    (np.array([7.]), 7.),
])
def test_trimmed_mean_keeps_the_middle_80_percent(values, want):
  with jax.enable_x64(True):
    got = float(fi_active.trimmed_mean(values))
  assert got == pytest.approx(want) == _numpy_trimmed_mean(values)


def test_candidate_pool_draws_fresh_unlabelled_items_each_round(tmp_path):
  from al_jax.labeling import oracle as oracle_lib  # pylint: disable=g-import-not-at-top
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top
  from al_jax.loops import pool as pool_lib  # pylint: disable=g-import-not-at-top
  hidden = np.arange(300) % 3
  pool = pool_lib.Pool(hidden, None, pool_lib.METRIC)
  bought = active._seed_ledger(oracle_lib.DatasetOracle(hidden), 100,  # pylint: disable=protected-access
                               jax.random.key(0), None)
  ds = type('Ds', (), {'num_classes': 3, 'x_train': np.zeros((300, 2)),
                       'x_val': None})
  draws = []
  for r in (0, 1):
    ctx = pool_lib.Purchases(pool, bought, str(tmp_path / 'l.npz'),
                             r + 1, None).context(
        bought, None, ds, None, None, candidate_pool=40,
        key=jax.random.fold_in(jax.random.key(1), r))
    assert ctx.candidates.sum() == 40 and not (ctx.candidates &
                                               ctx.chosen).any()
    draws.append(ctx.candidate_indices)
  assert not np.array_equal(draws[0], draws[1])
  everything = pool_lib.Purchases(pool, bought, str(tmp_path / 'l.npz'),
                                  1, None).context(bought, None, ds, None,
                                                   None)
  assert everything.candidates.sum() == 200


def test_fi_active_runs_in_the_active_job_on_its_candidate_pool(tmp_path):
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top
  from conftest import load_config  # pylint: disable=g-import-not-at-top
  config = load_config('digits')
  config.seeds, config.al.rounds = (0,), 1
  config.al.strategies = ('fi_active',)
  config.al.candidate_pool = 100
  summary = active.run(config, str(tmp_path))
  assert summary['fi_active']['labels'].tolist() == [40, 80]
  config.al.candidate_pool = 20
  with pytest.raises(ValueError, match='candidate_pool=20'):
    active.run(config, str(tmp_path / 'small'))


def test_mutual_information_on_hand_made_posteriors():
  from al_jax.strategies import bald  # pylint: disable=g-import-not-at-top
  agree = np.tile([[[0.7, 0.3]]], (4, 1, 1))
  split = np.array([[[1., 0.]], [[0., 1.]]])
  assert bald.mutual_information(agree)[0] == pytest.approx(0, abs=1e-12)
  assert bald.mutual_information(split)[0] == pytest.approx(np.log(2))


def test_bald_by_mc_dropout_on_a_cnn():
  import al_jax  # pylint: disable=g-import-not-at-top
  from al_jax import models  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).integers(0, 256, (60, 8, 8, 1), np.uint8)
  model = models.get_model('cnn', 10)
  variables = model.init(jax.random.key(0), x[:1].astype(np.float32))
  run = lambda k: al_jax.select(
      'bald', 5, key=jax.random.key(k), labeled=np.arange(60) < 10,
      apply_fn=model.apply, params=variables, inputs=x, samples=8)
  sel = run(0)
  assert len(sel.indices) == 5 and (sel.indices >= 10).all()
  np.testing.assert_array_equal(sel.indices, run(0).indices)


@pytest.mark.parametrize('posterior', ['laplace', 'mc_dropout'])
def test_bald_on_a_logistic_regression_in_the_active_job(posterior,
                                                         tmp_path):
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top
  from al_jax.strategies import bald  # pylint: disable=g-import-not-at-top
  from conftest import load_config  # pylint: disable=g-import-not-at-top
  config = load_config('digits')
  config.seeds, config.al.rounds = (0,), 1
  config.model = type(config.model)(dict(name='logreg'))
  config.al.strategies = ('bald',)
  config.al.bald = dict(bald.OPTIONS, posterior=posterior, samples=8)
  if posterior == 'mc_dropout':  # A logistic regression has no dropout.
    with pytest.raises(ValueError, match="posterior='laplace'"):
      active.run(config, str(tmp_path))
    return
  summary = active.run(config, str(tmp_path))
  assert summary['bald']['labels'].tolist() == [40, 80]


def test_bernoulli_subsets_and_forest_ranks():
  from al_jax.influence import subsample  # pylint: disable=g-import-not-at-top
  key = jax.random.key(0)
  assert len(subsample.bernoulli_subset(key, 50, 1.)) == 50
  assert 70 < len(subsample.bernoulli_subset(key, 400, 0.25)) < 130
  assert len(subsample.bernoulli_subset(key, 10, 0.01)) == 2
  with pytest.raises(ValueError, match='alpha'):
    subsample.bernoulli_subset(key, 10, 0.)
  x = np.random.default_rng(0).uniform(-1, 1, (300, 1))
  keep = subsample.bernoulli_subset(key, 300, 0.3)
  ranks = subsample.predicted_ranks(x[keep], x[keep, 0] ** 2, x, seed=0)
  spearman = np.corrcoef(np.argsort(np.argsort(ranks)),
                         np.argsort(np.argsort(x[:, 0] ** 2)))[0, 1]
  assert spearman > 0.95


@pytest.mark.parametrize('alpha', [1., 0.5])
def test_fi_active_selects_from_arrays(alpha):
  import al_jax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  x = rng.normal(size=(80, 3))
  y = (x[:, 0] + 0.5 * rng.normal(size=80) > 0).astype(np.int64)
  labeled = np.arange(80) < 30
  model = tabular.logistic_regression(3)
  theta, _ = tabular.fit(model, x[labeled], y[labeled], WD, jax.random.key(0))
  run = lambda: al_jax.select(
      'fi_active', 5, key=jax.random.key(3), labeled=labeled,
      labels=np.where(labeled, y, -1), apply_fn=tabular.apply_function(model),
      params={'params': theta}, inputs=x, weight_decay=WD, layer='all',
      subsample=alpha)
  sel = run()
  np.testing.assert_array_equal(sel.indices, run().indices)
  assert (sel.indices >= 30).all() and len(sel.indices) == 5
  if alpha == 1:
    curv = curvature.curvature(model, theta, x[:30], y[:30], WD)
    w = fi_active.labelled_factors(model, theta, x[:30], y[:30], curv)
    scores = fi_active.fi_active(model, theta, x[30:], w)
    np.testing.assert_array_equal(np.sort(sel.indices),
                                  np.sort(30 + np.argsort(-scores)[:5]))
  else:
    assert 'Bernoulli(0.5)' in sel.notes[0]


def test_label_groups_make_one_vs_seven_vs_neither():
  import ml_collections  # pylint: disable=g-import-not-at-top
  from al_jax.input import sources  # pylint: disable=g-import-not-at-top
  plain = sources.load(ml_collections.ConfigDict(dict(source='digits')))
  grouped = sources.load(ml_collections.ConfigDict(dict(
      source='digits', label_groups=((1,), (7,)))))
  assert grouped.num_classes == 3
  np.testing.assert_array_equal(
      grouped.y_train, np.select([plain.y_train == 1, plain.y_train == 7],
                                 [0, 1], 2))
  with pytest.raises(ValueError, match='disjoint'):
    sources.load(ml_collections.ConfigDict(dict(
        source='digits', label_groups=((1,), (1, 7)))))


def test_iv_active_on_adult_and_a_missing_validation_split_named(tmp_path):
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top
  from conftest import load_config  # pylint: disable=g-import-not-at-top
  config = load_config('adult_fi_active', 'quick')
  config.al.strategies, config.al.rounds = ('iv_active',), 1
  del config.al['fi_active_approx']
  config.al.candidate_pool = 1000
  config.train.epochs = 2
  summary = active.run(config, str(tmp_path / 'adult'))
  assert summary['iv_active']['labels'].tolist() == [300, 800]
  digits = load_config('digits')
  digits.seeds, digits.al.rounds = (0,), 1
  digits.al.strategies = ('iv_active',)
  with pytest.raises(ValueError, match='validation set'):
    active.run(digits, str(tmp_path / 'digits'))
