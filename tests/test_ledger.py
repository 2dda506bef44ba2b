"""The label ledger and the oracle."""

import os

import numpy as np
import pytest

from al_jax.input import ledger as ledger_lib
from al_jax.labeling import oracle as oracle_lib
from al_jax.loops import rundir


def test_add_upto_mask_and_round_trip(tmp_path):
  led = ledger_lib.Ledger.empty().add(0, [5, 2], [1, 0]).add(1, [7], [3])
  assert len(led) == 3 and led.last_round == 1
  np.testing.assert_array_equal(led.upto(0).indices, [5, 2])
  np.testing.assert_array_equal(np.flatnonzero(led.labeled_mask(10)),
                                [2, 5, 7])
  path = str(tmp_path / 'ledger.npz')
  led.save(path)
  back = ledger_lib.Ledger.load(path)
  for a, b in zip((led.indices, led.labels, led.rounds),
                  (back.indices, back.labels, back.rounds)):
    np.testing.assert_array_equal(a, b)
  assert not os.path.exists(path + '.tmp')


def test_multilabel_rows():
  led = ledger_lib.Ledger.empty((3,), np.int8).add(0, [1], [[1, -1, 0]])
  assert led.labels.shape == (1, 3) and led.labels.dtype == np.int8


@pytest.mark.parametrize('indices, message', [
    ([1, 1], 'twice'), ([4], 'already labeled')])
def test_rejects_double_purchase(indices, message):
  led = ledger_lib.Ledger.empty().add(0, [4], [0])
  with pytest.raises(ValueError, match=message):
    led.add(1, indices, np.zeros(len(indices)))


def test_rejects_rounds_going_backwards():
  led = ledger_lib.Ledger.empty().add(2, [4], [0])
  with pytest.raises(ValueError, match='Round 1'):
    led.add(1, [3], [0])


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
  path = str(tmp_path / 'ledger.npz')
  old = ledger_lib.Ledger.empty().add(0, [1, 2], [0, 1])
  old.save(path)

  def crash(*args, **kwargs):
    raise KeyboardInterrupt
  monkeypatch.setattr(rundir.os, 'replace', crash)  # The atomic rename.
  with pytest.raises(KeyboardInterrupt):
    old.add(1, [3], [1]).save(path)
  np.testing.assert_array_equal(ledger_lib.Ledger.load(path).indices, [1, 2])


def test_oracle_reveals_only_what_is_asked():
  oracle = oracle_lib.DatasetOracle(np.array([3, 1, 4, 1, 5]))
  np.testing.assert_array_equal(oracle.reveal(np.array([4, 0])), [5, 3])
  with pytest.raises(IndexError, match='outside the pool'):
    oracle.reveal(np.array([5]))
