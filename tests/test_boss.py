"""BOSS selection (paper 002, Algorithm 1; c, normalisation and cutoff as the
authors' code ritmininglab/BOSS reads them)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import al_jax
from al_jax import models
from al_jax import strategies
from al_jax.kernels import facility_location as fl
from al_jax.strategies import boss
from al_jax.strategies import ccs
from al_jax.strategies import combinators
from conftest import load_config


def _data(n=400, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  y = rng.integers(0, 3, n)
  d = rng.random(n)
  return x, y, d


def _boss(x, y, d, budget, aum=None, **options):
  scores = {'el2n': d} if aum is None else {'el2n': d, 'aum_prob': aum}
  return al_jax.select('boss', budget, key=jax.random.key(0), embeddings=x,
                       labels=y, scores=scores, **options)


def _authors_sine(d01, c, alpha):
  """ritmininglab/BOSS train.py (mode 'boss'), the sine importance."""
  return ((np.sin(np.pi * d01 - 1.5 * np.pi - c * np.pi) + 1) / 2)**alpha


def test_importance_peaks_at_c_and_is_eq4_with_c_plus_1_5():
  d = np.linspace(0, 1, 1001)
  for c in (0.5, 0.8):  # Appendix D.1's values (3% and 10%).
    imp = boss.importance(d, boss.eq4_c(c), 1.0)
    assert d[np.argmax(imp)] == pytest.approx(c)
    assert imp.max() == pytest.approx(1.0) and imp.min() > 0
    for alpha in (0.5, 1.0, 2.0):
      np.testing.assert_allclose(boss.importance(d, boss.eq4_c(c), alpha),
                                 _authors_sine(d, c, alpha), atol=1e-12)
      np.testing.assert_allclose(  # = cos²(π(D − c)/2)^α on [0, 1].
          boss.importance(d, boss.eq4_c(c), alpha),
          np.cos(np.pi * (d - c) / 2)**(2 * alpha), atol=1e-12)
    np.testing.assert_array_equal(boss.importance(d, boss.eq4_c(c), 0.0), 1)
  # Eq. 4's stated range c' in [1.5, 2.5] is peaks in [0, 1].
  assert (boss.eq4_c(0.0), boss.eq4_c(1.0)) == (1.5, 2.5)
  assert d[np.argmax(boss.importance(d, 1.5, 1.0))] == 0
  assert d[np.argmax(boss.importance(d, 2.5, 1.0))] == 1


def test_flat_importance_without_cutoff_is_plain_facility_location():
  x, y, d = _data()
  got = _boss(x, y, d, 25, c=0.5, alpha=0.0, beta=0.0, class_balanced=False)
  want = fl.facility_location(x, 25)
  np.testing.assert_array_equal(got.indices, want.indices)
  assert got.notes == () and got.weights is None


def test_cutoff_is_per_class_by_its_own_score():
  x, y, d = _data()
  aum = np.random.default_rng(5).normal(size=400)  # Unrelated to d.
  got = _boss(x, y, d, 60, aum, c=0.5, alpha=1.0, beta=0.2)
  cut = []
  for k in range(3):  # The int(0.2·|class|) lowest AUM of each class.
    rows = np.flatnonzero(y == k)
    cut.append(rows[np.argsort(aum[rows])[:int(0.2 * len(rows))]])
  cut = np.concatenate(cut)
  assert not np.isin(got.indices, cut).any()
  assert len(np.unique(got.indices)) == 60
  counts = np.bincount(y[got.indices], minlength=3)
  # Shares follow class sizes (the cutoff only caps what a class can give).
  assert np.abs(counts - 60 * np.bincount(y) / 400).max() < 1
  weighted = _boss(x, y, d, 60, aum, c=0.5, alpha=1.0, beta=0.2,
                   weighted=True)
  np.testing.assert_array_equal(weighted.indices, got.indices)
  assert weighted.weights.sum() == 400 - len(cut)
  # cutoff_score names the score; 'el2n' cuts by the selection score.
  by_el2n = _boss(x, y, d, 60, aum, c=0.5, alpha=1.0, beta=0.2,
                  cutoff_score='el2n')
  assert not np.isin(by_el2n.indices, np.concatenate([
      np.flatnonzero(y == k)[np.argsort(-d[y == k])[:int(0.2 * (y == k).sum())]]
      for k in range(3)])).any()
  assert not np.array_equal(np.sort(by_el2n.indices), np.sort(got.indices))


def test_difficulty_is_normalized_per_class_after_the_cutoff():
  """The authors' code: per class, prune int(β·|class|) lowest AUM, min-max
  EL2N over what is left, the sine with its peak at c; greedy per class."""
  rng = np.random.default_rng(2)
  x = rng.normal(size=(300, 5)).astype(np.float32)
  y = np.repeat(np.arange(3), 100)
  # Classes on different difficulty ranges, with a few very hard outliers.
  d = rng.random(300) * np.array([0.1, 0.5, 1.0])[y]
  d[[3, 150, 290]] = 5.0
  aum = -d + 0.01 * rng.normal(size=300)
  c, alpha, beta = 0.8, 1.0, 0.05
  eligible, imp = boss.cutoff_and_importance(d, -aum, y, np.ones(300, bool),
                                             c, alpha, beta)
  want_ok, want_imp = np.zeros(300, bool), np.zeros(300)
  for k in range(3):
    rows = np.flatnonzero(y == k)
    keep = rows[np.argsort(aum[rows])[int(beta * len(rows)):]]
    want_ok[keep] = True
    dk = d[keep]
    want_imp[keep] = _authors_sine((dk - dk.min()) / (dk.max() - dk.min()),
                                   c, alpha)
    assert imp[keep].max() == pytest.approx(1.0, abs=0.02)  # Each class peaks.
  np.testing.assert_array_equal(eligible, want_ok)
  np.testing.assert_allclose(imp, want_imp, rtol=1e-6, atol=1e-7)
  got = _boss(x, y, d, 30, aum, c=c, alpha=alpha, beta=beta)
  want, _ = combinators.class_balanced(boss.facility_location('cosine')).select(
      None, strategies.Context(want_ok, labels=y, outputs=lambda: (None, x),
                               scores={'boss_importance': want_imp.astype(
                                   np.float32)}), 30, jax.random.key(0))
  np.testing.assert_array_equal(got.indices, want.indices)
  # One group over the pool when class_balanced=False.
  eligible, imp = boss.cutoff_and_importance(d, -aum, np.zeros(300),
                                             np.ones(300, bool), c, alpha, beta)
  assert eligible.sum() == 300 - 15 and not eligible[[3, 150, 290]].any()


def test_peak_moves_picks_towards_harder_examples():
  x, y, d = _data(seed=1)
  easy = _boss(x, y, d, 40, c=0.1, alpha=4.0, beta=0.0, class_balanced=False)
  hard = _boss(x, y, d, 40, c=0.9, alpha=4.0, beta=0.0, class_balanced=False)
  assert d[hard.indices].mean() > d[easy.indices].mean() + 0.3


def test_defaults_are_appendix_d1_and_the_authors_beta():
  n = 4000
  # (c = peak, alpha, beta) at 1%, 3%, 10%: D.1's values, β the authors'
  # SVHN row (the one from 1% up).
  assert boss.default_params(40, n) == (0.5, 0.0, 0.8)
  assert boss.default_params(120, n) == (0.5, 1.0, 0.3)
  assert boss.default_params(400, n) == (0.8, 1.0, 0.1)
  assert boss.default_params(2000, n) == (0.8, 2.0, 0.0)
  # A budget rounded from 5% of 1,990 (99.5 -> 100) keeps 5%'s parameters.
  assert boss.default_params(100, 1990) == boss.default_params(200, 4000)
  with pytest.raises(ValueError, match='budget'):
    boss.default_params(50, 40)


def test_beta_per_fraction_and_bad_options_are_named():
  x, y, d = _data()
  aum = -d
  table = ((0.05, 0.5), (0.2, 0.1))
  # 20 of 400 is 5%: β = 0.5; 60 of 400 (15%) takes 20%'s β = 0.1.
  np.testing.assert_array_equal(
      _boss(x, y, d, 20, aum, beta=table).indices,
      _boss(x, y, d, 20, aum, beta=0.5).indices)
  np.testing.assert_array_equal(
      _boss(x, y, d, 60, aum, beta=table).indices,
      _boss(x, y, d, 60, aum, beta=0.1).indices)
  with pytest.raises(ValueError, match='No entry for a subset of 100 of 400'):
    _boss(x, y, d, 100, aum, beta=table)
  for bad in (1.0, -0.1, ((0.2, 0.1), (0.1, 0.3)), ((0.1, 1.5),), (), 'x'):
    with pytest.raises(ValueError, match='beta'):
      strategies.get('boss', beta=bad)
  with pytest.raises(ValueError, match=r'peak .* c \+ 1.5'):
    strategies.get('boss', c=2.3)
  with pytest.raises(ValueError, match='alpha'):
    strategies.get('boss', alpha=-1.0)
  # The cutoff score is needed only when β > 0.
  with pytest.raises(ValueError, match="cutoff_score='aum_prob'.*beta=0"):
    _boss(x, y, d, 10, c=0.5, alpha=1.0, beta=0.1)
  _boss(x, y, d, 10, c=0.5, alpha=1.0, beta=0.0)
  d[7] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    _boss(x, y, d, 10, c=0.5, alpha=1.0, beta=0.0)
  with pytest.raises(ValueError, match='exceeds'):
    _boss(x, y, np.random.default_rng(0).random(400), 390, aum, c=0.5,
          alpha=1.0, beta=0.5)


TABLE1_BETA = {  # ritmininglab/BOSS train.py, mode 'boss'.
    'cifar10': (0.3, 0.1, 0.1, 0.0), 'cifar100': (0.5, 0.4, 0.2, 0.2),
    'svhn': (0.2, 0.1, 0.1, 0.1), 'tinyimagenet': (0.7, 0.6, 0.5, 0.4)}
TRAIN_SIZE = {'cifar10': 50_000, 'cifar100': 50_000, 'svhn': 73_257,
              'tinyimagenet': 100_000}


@pytest.mark.parametrize('arg', sorted(TABLE1_BETA))
def test_table1_config_cifar_stem_full_run_and_authors_beta(arg):
  config = load_config('boss_table1', arg)
  assert config.model.small_inputs
  # The full-length initial run (appendix D), for the AUM of the cutoff.
  assert config.subset.initial_epochs == config.train.epochs
  assert config.subset.el2n_epochs == 10
  model = models.from_config(config.model, 10)
  size = 64 if arg == 'tinyimagenet' else 32
  params = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
  assert params['params']['conv_init']['kernel'].shape == (3, 3, 3, 64)
  for method in ('boss', 'ccs'):
    section = config.subset[method]
    assert section.cutoff_score == 'aum_prob' and section.score == 'el2n'
    n = TRAIN_SIZE[arg]
    got = [ccs.beta_at(section.beta, round(f * n), n)
           for f in config.subset.fractions]
    assert got == list(TABLE1_BETA[arg])


def test_small_configs_keep_their_beta_and_have_the_options():
  for name in ('mnist5k_boss', 'digits_boss'):
    config = load_config(name)
    section = config.subset.boss
    assert section.cutoff_score == 'aum_prob' and section.c is None
    # Their earlier values: 0.1 up to 5%, 0.05 above; CCS 0.1.
    assert [ccs.beta_at(section.beta, round(f * 4000), 4000)
            for f in (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)] == [
                0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    assert config.subset.ccs.beta == 0.1
    assert config.subset.ccs.cutoff_score == 'aum_prob'
  moons = load_config('moons_boss').subset
  assert (moons.boss.beta, moons.ccs.beta, moons.diverse.beta) == (0, 0.1, 0)
  assert moons.boss.cutoff_score == moons.ccs.cutoff_score == 'aum_prob'
  ablation = load_config('mnist5k_boss', 'ablation').subset
  assert ablation.boss.beta == load_config('mnist5k_boss').subset.boss.beta
