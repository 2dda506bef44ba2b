"""BOSS selection (paper 002, Algorithm 1)."""

import numpy as np
import pytest

from al_jax.kernels import facility_location as fl
from al_jax.subset import boss


def _data(n=400, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  y = rng.integers(0, 3, n)
  d = rng.random(n)
  return x, y, d


def test_flat_importance_without_cutoff_is_plain_facility_location():
  x, y, d = _data()
  got, notes = boss.select(x, y, d, 25, c=2.0, alpha=0.0, balanced=False)
  want = fl.facility_location(x, 25)
  np.testing.assert_array_equal(got.indices, want.indices)
  assert notes == []


def test_cutoff_excludes_the_hardest_and_balance_spends_the_budget():
  x, y, d = _data()
  got, _ = boss.select(x, y, d, 60, c=2.0, alpha=1.0, beta=0.2)
  hardest = np.argsort(-d)[:80]
  assert not np.isin(got.indices, hardest).any()
  assert len(np.unique(got.indices)) == 60
  counts = np.bincount(y[got.indices], minlength=3)
  # Shares follow class sizes (the cutoff only caps what a class can give).
  assert np.abs(counts - 60 * np.bincount(y) / 400).max() < 1


def test_peak_moves_picks_towards_harder_examples():
  x, y, d = _data(seed=1)
  easy, _ = boss.select(x, y, d, 40, c=1.6, alpha=4.0, balanced=False)
  hard, _ = boss.select(x, y, d, 40, c=2.4, alpha=4.0, balanced=False)
  assert d[hard.indices].mean() > d[easy.indices].mean() + 0.3


def test_defaults_follow_the_guidance_and_bad_input_is_named():
  small, large = boss.default_params(0.01), boss.default_params(0.5)
  assert small[1] == 0.0 and large[1] > 0  # Flat for tiny subsets.
  with pytest.raises(ValueError, match='fraction'):
    boss.default_params(1.5)
  x, y, d = _data()
  d[7] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    boss.select(x, y, d, 10, c=2.0, alpha=1.0)
  with pytest.raises(ValueError, match='exceeds'):
    boss.select(x, y, np.random.default_rng(0).random(400), 390, c=2.0,
                alpha=1.0, beta=0.5)
