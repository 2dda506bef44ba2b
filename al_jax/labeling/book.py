"""The work dir's questions and answers: what runs asked people, what they
answered, the export for annotators and the import of their answers.

An item's label does not depend on which strategy or seed asked for it, so
one book serves every run of a work dir:

  <workdir>/labels/asked.jsonl    every question: id (class), path, run,
                                  round, score, rank
  <workdir>/labels/answers.jsonl  every answer merged: id, label, file, line
  <workdir>/labels/queries.csv    the open questions, for people: fill the
  <workdir>/labels/queries.jsonl  label column (a class name or number;
                                  multi-label: 0 or 1) and import the file

Imports are checked whole before anything is merged (`answers.parse`):
unknown IDs, labels outside the classes, answers to questions never asked
and repeated answers are refused with their line numbers. Answers may be
partial: they are kept, and the questions still open are listed. Importing
the same file again merges nothing new and is not an error.

Dimensions: N items, K asked.
"""

import os

from etils import epath
import numpy as np

from al_jax import report
from al_jax.input.pool_id import PoolId
from al_jax.labeling import answers as answers_lib

ASKED, ANSWERS = 'asked.jsonl', 'answers.jsonl'
QUERIES = 'queries'
COLUMNS = ('id', 'class', 'label', 'path', 'score', 'rank', 'round', 'run')


class Book:
  """Questions and answers of one work dir over one pool.

  Args:
    workdir: the job's work dir (locked by the job).
    pool: the items' IDs and files.
    classes: class names (str), C of them; multi-label pools (`pairs`) are
      answered 0/1 per (image, class) pair.
    pairs: whether items are (image, class) pairs, ID '<image>/<class>'.
  """

  def __init__(self, workdir: str, pool: PoolId, classes, pairs: bool):
    self.dir = os.path.join(workdir, 'labels')
    self.pool, self.classes, self.pairs = pool, tuple(classes), pairs
    self._where = pool.index()
    self._asked = report.read_metrics(self.dir, ASKED)
    self._answers = report.read_metrics(self.dir, ANSWERS)
    self._answer = {a['id']: a['label'] for a in self._answers}

  def answers_for(self, indices: np.ndarray):
    """([K] int labels, -1 where missing; [K] bool missing)."""
    ids = self.pool.ids[np.asarray(indices, np.int64)]
    labels = np.array([self._answer.get(i, -1) for i in ids.tolist()],
                      np.int32).reshape(len(ids))
    return labels, labels < 0

  def ask(self, indices: np.ndarray, scores, run: str, round_: int):
    """Records the items not asked before as questions (rank = position in
    `indices`, the strategy's pick order)."""
    before = {q['item'] for q in self._asked}
    new = []
    for rank, i in enumerate(np.asarray(indices, np.int64).tolist()):
      item = str(self.pool.ids[i])
      if item in before:
        continue
      before.add(item)
      image, cls = item.rsplit('/', 1) if self.pairs else (item, '')
      new.append({
          'id': image, 'class': self.classes[int(cls)] if cls else '',
          'item': item, 'path': '' if self.pool.paths is None
          else str(self.pool.paths[i]),
          'score': None if scores is None else float(scores[rank]),
          'rank': rank, 'round': int(round_), 'run': run})
    if new:
      epath.Path(self.dir).mkdir(parents=True, exist_ok=True)
      self._asked += new
      report.write_metrics(self.dir, self._asked, ASKED)

  def open_questions(self) -> list[dict]:
    return [q for q in self._asked if q['item'] not in self._answer]

  def export(self) -> tuple[str, int]:
    """Writes the open questions as CSV and JSONL; returns (the CSV's path,
    how many)."""
    rows = [{k: ('' if q.get(k) is None else q.get(k, '')) for k in COLUMNS}
            for q in self.open_questions()]
    base = os.path.join(self.dir, QUERIES)
    answers_lib.write_csv(base + '.csv', rows, COLUMNS)
    report.write_metrics(self.dir, rows, QUERIES + '.jsonl')
    return base + '.csv', len(rows)

  def waiting_message(self) -> str:
    path, n = self.export()
    return (f'{n} questions are waiting for labels: {path} (and .jsonl). '
            'Fill its label column' +
            (' (0 or 1 per image and class)' if self.pairs else
             f' (a class name or number, 0..{len(self.classes) - 1})') +
            f', then rerun the same command with --import_labels={path} '
            '(CSV or JSONL: id, ' + ('class, ' if self.pairs else '') +
            'label; other columns are ignored).')

  def import_file(self, path: str) -> str:
    """Merges the answers of `path`; returns what was merged and what is
    still open.

    Raises:
      ValueError: listing every bad line (nothing is merged then).
      FileNotFoundError: no such file.
    """
    asked = {q['item'] for q in self._asked}
    rows, errors = answers_lib.parse(path, self.classes, self.pairs)
    new, seen = [], {}
    for line, image, label in rows:
      item = image if not self.pairs else f'{image[0]}/{image[1]}'
      shown = item if not self.pairs else f'{image[0]} / class {image[1]}'
      if label is None:
        continue  # Unanswered: stays open.
      if item not in self._where:
        errors.append(f'line {line}: unknown ID {shown!r} (not in the pool)')
      elif item not in asked:
        errors.append(f'line {line}: {shown!r} was never asked')
      elif item in seen:
        errors.append(f'line {line}: {shown!r} answered again (first on '
                      f'line {seen[item]})')
      elif item in self._answer and self._answer[item] != label:
        errors.append(f'line {line}: {shown!r} was answered '
                      f'{self._answer[item]} before, now {label}')
      else:
        seen[item] = line
        if item not in self._answer:
          new.append({'id': item, 'label': label, 'file': path,
                      'line': line})
    if errors:
      raise ValueError(f'{path}: {len(errors)} bad answers, nothing was '
                       'merged:\n  ' + '\n  '.join(errors[:20]) +
                       ('\n  ...' if len(errors) > 20 else ''))
    if new:
      epath.Path(self.dir).mkdir(parents=True, exist_ok=True)
      self._answers += new
      self._answer.update((a['id'], a['label']) for a in new)
      report.write_metrics(self.dir, self._answers, ANSWERS)
    still = self.open_questions()
    return (f'{path}: merged {len(new)} new answers; {len(still)} questions '
            'still open' + (f', e.g. {[q["item"] for q in still[:10]]}'
                            if still else '') + '.')
