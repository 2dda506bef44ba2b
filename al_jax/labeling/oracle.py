"""Who answers a run's questions: the data set's own labels, or people.

Every loop that buys labels asks an oracle: ``reveal(indices, round_,
scores)`` returns the items' labels or, for people, raises `LabelsNeeded`
after recording the open questions in the work dir's `Book`, which the job
exports for annotators (``--oracle=export``; answers come back with
``--import_labels``).

Dimensions: N items, K asked.
"""

from typing import NamedTuple

import numpy as np

from al_jax.input.pool_id import PoolId
from al_jax.labeling import book as book_lib

MODES = ('dataset', 'export')


class Options(NamedTuple):
  """How a job gets labels (the command line's --oracle, --import_labels).

  oracle: 'dataset' (the labels the data set holds) or 'export' (people:
    questions are exported, answers imported).
  import_labels: an answers file to merge first (implies 'export').
  """
  oracle: str = 'dataset'
  import_labels: str | None = None

  @property
  def mode(self) -> str:
    return 'export' if self.import_labels else self.oracle


class LabelsNeeded(Exception):
  """Some asked items have no answer yet; they are recorded as questions."""


class WaitingForLabels(Exception):
  """The job stopped until people answer; the message says where and how."""


class DatasetOracle:
  """Reveals labels the data set holds, only for the items asked about."""

  def __init__(self, hidden_labels: np.ndarray, pool: PoolId | None = None):
    self._labels = hidden_labels
    self._pool = pool

  @property
  def pool_size(self) -> int:
    return len(self._labels)

  def reveal(self, indices: np.ndarray, round_: int = 0,
             scores: np.ndarray | None = None) -> np.ndarray:
    """Labels of `indices` ([K] int) -> [K].

    Raises:
      IndexError: an index outside the pool.
      ValueError: the data set has no label (< 0) for some of them.
    """
    del round_, scores
    indices = np.asarray(indices, np.int64)
    if indices.size and (indices.min() < 0 or
                         indices.max() >= len(self._labels)):
      raise IndexError(f'Oracle asked about indices outside the pool of '
                       f'{len(self._labels)}.')
    labels = self._labels[indices]
    # Negative means unknown: -1 for an example, -2 for a multi-label pair.
    unknown = indices[labels < 0]
    if len(unknown):
      ids = (unknown if self._pool is None else self._pool.ids[unknown])
      ids = ids[:5].tolist()
      raise ValueError(
          f'The data set has no label for {len(unknown)} of the '
          f'{len(indices)} examples asked (e.g. IDs {ids}). Run '
          'with --oracle=export to ask people, then --import_labels=FILE.')
    return labels


class PeopleOracle:
  """Reveals the answers people gave (the work dir's `Book`); items without
  one become questions, and `LabelsNeeded` stops the run until they are
  answered."""

  def __init__(self, book, run: str):
    self._book, self._run = book, run

  @property
  def pool_size(self) -> int:
    return len(self._book.pool.ids)

  def reveal(self, indices: np.ndarray, round_: int = 0,
             scores: np.ndarray | None = None) -> np.ndarray:
    indices = np.asarray(indices, np.int64)
    labels, missing = self._book.answers_for(indices)
    if missing.any():
      self._book.ask(indices, scores, self._run, round_)
      raise LabelsNeeded(f'{self._run}: {int(missing.sum())} of '
                         f'{len(indices)} labels of round {round_} are '
                         'not answered yet.')
    return labels


class Source:
  """Where a job's labels come from: `oracle` gives each run its oracle,
  `stop_if_waiting` ends the job when people have questions to answer."""

  def __init__(self, options: Options, workdir: str, ds, pool: PoolId,
               pairs: bool):
    """Merges ``options.import_labels`` first (its report is printed).

    Raises:
      ValueError: an unknown mode, or bad answers (`Book.import_file`).
    """
    if options.mode not in MODES:
      raise ValueError(f'Unknown --oracle={options.oracle!r}; valid: '
                       f'{", ".join(MODES)}.')
    self.pool, self.book = pool, None
    if options.mode == 'export':
      classes = ds.class_names or tuple(str(c)
                                        for c in range(ds.num_classes))
      self.book = book_lib.Book(workdir, pool, classes, pairs)
      if options.import_labels:
        print(self.book.import_file(options.import_labels), flush=True)

  def oracle(self, hidden_labels: np.ndarray, run: str):
    if self.book is None:
      return DatasetOracle(hidden_labels, self.pool)
    return PeopleOracle(self.book, run)

  def stop_if_waiting(self, runs: list[str]):
    """Raises WaitingForLabels, with the export's message, when `runs`
    (the runs that stopped for labels) is not empty."""
    if runs:
      raise WaitingForLabels(f'{len(runs)} runs wait for labels ('
                             f'{", ".join(runs[:5])}). '
                             + self.book.waiting_message())
