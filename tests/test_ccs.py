"""CCS's cutoff: its own score (AUM by default, lowest pruned), over the whole
pool, and the cutoff rate per fraction shared with BOSS."""

import jax
import numpy as np
import pytest

import al_jax
from al_jax import strategies
from al_jax.strategies import ccs


def _ccs(d, budget, aum=None, **options):
  scores = {'el2n': d} if aum is None else {'el2n': d, 'aum_prob': aum}
  return al_jax.select('ccs', budget, key=jax.random.key(0), scores=scores,
                       candidates=np.ones(len(d), bool), **options)


def test_cutoff_ranks_by_cutoff_score_over_the_pool():
  rng = np.random.default_rng(0)
  d, aum = rng.random(1000), rng.normal(size=1000)
  got = _ccs(d, 100, aum, beta=0.1)
  lowest_aum = np.argsort(aum)[:100]  # Lower AUM = harder: pruned.
  assert not np.isin(got.indices, lowest_aum).any()
  assert np.isin(got.indices, np.argsort(-d)[:100]).any()
  # The same as the function: strata over EL2N of what the AUM cut keeps.
  want = ccs.select(d, 100, jax.random.key(0), 0.1, cutoff=-aum)
  np.testing.assert_array_equal(np.sort(got.indices), want)
  keep = ccs.hard_cutoff(-aum, 0.1)
  ids = ccs.strata(d[keep])
  assert len(np.unique(ids[np.isin(keep, want)])) == 50
  # cutoff_score='el2n' cuts by the stratification score, as before.
  by_el2n = _ccs(d, 100, aum, beta=0.1, cutoff_score='el2n')
  np.testing.assert_array_equal(np.sort(by_el2n.indices),
                                ccs.select(d, 100, jax.random.key(0), 0.1))


def test_cutoff_score_is_needed_only_when_beta_cuts():
  d = np.random.default_rng(1).random(200)
  with pytest.raises(ValueError, match="cutoff_score='aum_prob'"):
    _ccs(d, 20)  # beta = 0.1 by default.
  assert len(_ccs(d, 20, beta=0.0).indices) == 20


def test_beta_table_by_fraction():
  rng = np.random.default_rng(2)
  d, aum = rng.random(1000), rng.normal(size=1000)
  table = ((0.1, 0.3), (0.2, 0.1), (0.5, 0.0))
  for budget, beta in ((100, 0.3), (200, 0.1), (150, 0.1), (500, 0.0)):
    np.testing.assert_array_equal(_ccs(d, budget, aum, beta=table).indices,
                                  _ccs(d, budget, aum, beta=beta).indices)
  with pytest.raises(ValueError, match='beta: No entry'):
    _ccs(d, 600, aum, beta=table)
  with pytest.raises(ValueError, match='beta'):
    strategies.get('ccs', beta=((0.1, 0.3), (0.1, 0.2)))
  with pytest.raises(ValueError, match='beta must be given'):
    strategies.get('ccs', beta=None)
  # As a config section (tuples survive options()).
  section = strategies.options('ccs', beta=table)
  assert ccs.check_beta(section.beta) == table


@pytest.mark.parametrize('n', [997, 1990, 4000, 50_000, 73_257])
def test_a_rounded_budget_finds_its_fraction(n):
  table = ((0.01, 0.8), (0.08, 0.2), (0.12, 0.1), (0.16, 0.05), (0.2, 0.0))
  for f, value in table:
    assert ccs.by_fraction(table, max(1, round(f * n)), n) == value
  assert ccs.by_fraction(table, round(0.1 * n), n) == 0.1  # Next larger.
  with pytest.raises(ValueError, match='No entry'):
    ccs.by_fraction(table, round(0.3 * n), n)
