"""BOSS selection (paper 002, Algorithm 1)."""

import jax
import numpy as np
import pytest

import al_jax
from al_jax.kernels import facility_location as fl
from al_jax.strategies import boss


def _data(n=400, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  y = rng.integers(0, 3, n)
  d = rng.random(n)
  return x, y, d


def _boss(x, y, d, budget, **options):
  return al_jax.select('boss', budget, key=jax.random.key(0), embeddings=x,
                       labels=y, scores={'el2n': d}, **options)


def test_flat_importance_without_cutoff_is_plain_facility_location():
  x, y, d = _data()
  got = _boss(x, y, d, 25, c=2.0, alpha=0.0, beta=0.0, class_balanced=False)
  want = fl.facility_location(x, 25)
  np.testing.assert_array_equal(got.indices, want.indices)
  assert got.notes == () and got.weights is None


def test_cutoff_excludes_the_hardest_and_balance_spends_the_budget():
  x, y, d = _data()
  got = _boss(x, y, d, 60, c=2.0, alpha=1.0, beta=0.2)
  hardest = np.argsort(-d)[:80]
  assert not np.isin(got.indices, hardest).any()
  assert len(np.unique(got.indices)) == 60
  counts = np.bincount(y[got.indices], minlength=3)
  # Shares follow class sizes (the cutoff only caps what a class can give).
  assert np.abs(counts - 60 * np.bincount(y) / 400).max() < 1
  weighted = _boss(x, y, d, 60, c=2.0, alpha=1.0, beta=0.2, weighted=True)
  np.testing.assert_array_equal(weighted.indices, got.indices)
  assert weighted.weights.sum() == np.sum(np.isin(np.arange(400), hardest,
                                                  invert=True))


def test_peak_moves_picks_towards_harder_examples():
  x, y, d = _data(seed=1)
  easy = _boss(x, y, d, 40, c=1.6, alpha=4.0, beta=0.0, class_balanced=False)
  hard = _boss(x, y, d, 40, c=2.4, alpha=4.0, beta=0.0, class_balanced=False)
  assert d[hard.indices].mean() > d[easy.indices].mean() + 0.3


def test_defaults_follow_the_guidance_and_bad_input_is_named():
  small, large = boss.default_params(40, 4000), boss.default_params(2000, 4000)
  assert small[1] == 0.0 and large[1] > 0  # Flat for tiny subsets.
  # A budget rounded from 5% of 1,990 (99.5 -> 100) keeps 5%'s parameters.
  assert boss.default_params(100, 1990) == boss.default_params(200, 4000)
  with pytest.raises(ValueError, match='budget'):
    boss.default_params(50, 40)
  x, y, d = _data()
  d[7] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    _boss(x, y, d, 10, c=2.0, alpha=1.0)
  with pytest.raises(ValueError, match='exceeds'):
    _boss(x, y, np.random.default_rng(0).random(400), 390, c=2.0, alpha=1.0,
          beta=0.5)
