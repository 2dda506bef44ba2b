"""One-shot subset baselines (paper 002): CCS, Moderate, BOSS importance."""

import jax
import numpy as np
import pytest

from al_jax.strategies import boss
from al_jax.strategies import ccs
from al_jax.strategies import moderate


def test_stratum_budgets_spread_from_the_sparsest():
  # Strata of 1, 2 and 50 examples, budget 30: the two sparse strata are
  # exhausted (1, then min(2, 29 // 2) = 2), the dense one takes the rest.
  np.testing.assert_array_equal(ccs.stratum_budgets([50, 1, 2], 30),
                                [27, 1, 2])
  # Even split when every stratum is large enough; empty strata get nothing.
  np.testing.assert_array_equal(ccs.stratum_budgets([10, 0, 10, 10], 9),
                                [3, 0, 3, 3])
  with pytest.raises(ValueError, match='budget'):
    ccs.stratum_budgets([3, 4], 8)


@pytest.mark.parametrize('seed', range(5))
def test_stratum_budgets_properties(seed):
  rng = np.random.default_rng(seed)
  sizes = rng.integers(0, 40, 50)
  budget = int(rng.integers(0, sizes.sum() + 1))
  b = ccs.stratum_budgets(sizes, budget)
  assert b.sum() == budget and (b <= sizes).all() and (b >= 0).all()
  # A stratum that is not exhausted gets at least as much as any other.
  open_ = b < sizes
  if open_.any():
    assert b[open_].min() >= b.max() - 1


def test_ccs_cutoff_strata_and_budget():
  rng = np.random.default_rng(0)
  d = rng.random(1000)
  sel = ccs.select(d, 100, jax.random.key(0), beta=0.1)
  assert len(np.unique(sel)) == 100
  # Never one of the 100 hardest.
  assert not np.isin(sel, np.argsort(-d)[:100]).any()
  # Coverage: every one of the 50 strata of the kept range is sampled.
  keep = ccs.hard_cutoff(d, 0.1)
  ids = ccs.strata(d[keep])
  assert len(np.unique(ids[np.isin(keep, sel)])) == 50
  np.testing.assert_array_equal(sel, ccs.select(d, 100, jax.random.key(0),
                                                beta=0.1))


def test_ccs_bad_input():
  d = np.ones(10)
  d[3] = np.nan
  with pytest.raises(ValueError, match=r'NaN.*\[3\]'):
    ccs.select(d, 2, jax.random.key(0))
  with pytest.raises(ValueError, match='exceeds'):
    ccs.select(np.arange(10.), 10, jax.random.key(0), beta=0.5)
  with pytest.raises(ValueError, match='beta'):
    ccs.hard_cutoff(np.arange(10.), 1.5)


def test_moderate_keeps_the_middle_band_of_class_median_distances():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(200, 3))
  y = np.arange(200) % 2
  dist = moderate.distances_to_class_median(x, y)
  for c in (0, 1):
    med = np.median(x[y == c], axis=0)
    np.testing.assert_allclose(dist[y == c],
                               np.linalg.norm(x[y == c] - med, axis=1))
  sel = moderate.select(x, y, 50)
  assert len(sel) == 50
  inside, outside = dist[sel], np.delete(dist, sel)
  median = np.median(dist)
  # The band straddles the median score: no point outside is nearer to it
  # than the farthest point inside, on each side.
  assert inside.min() <= median <= inside.max()
  assert ((outside <= inside.min()) | (outside >= inside.max())).all()


def test_importance_is_flat_at_alpha_zero_and_peaks_move_with_c():
  d = np.linspace(0, 1, 101)
  np.testing.assert_array_equal(boss.importance(d, 2.0, 0.0), 1.0)
  for c in (1.6, 2.0, 2.4):
    peak = d[np.argmax(boss.importance(d, c, 1.0))]
    assert peak == pytest.approx(c - 1.5, abs=0.011)
  sharp = boss.importance(d, 2.0, 4.0)
  soft = boss.importance(d, 2.0, 1.0)
  assert (sharp <= soft + 1e-12).all() and sharp.max() == pytest.approx(1)
  np.testing.assert_allclose(boss.normalize([3., 5., 4.]), [0, 1, .5])
  with pytest.raises(ValueError, match='alpha'):
    boss.importance(d, 2.0, -1.0)
