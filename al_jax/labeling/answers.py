"""Answer files people fill: CSV (with a header) or JSONL, one answer per
line.

Columns (other columns, e.g. those of the exported questions, are ignored):
  id     the example's ID
  class  multi-label pools only: the class asked about (name or number)
  label  a class name or number (multi-label: 0/1, no/yes, false/true);
         empty leaves the question open
"""

import csv
import os

from al_jax.input import manifest
from al_jax.loops import rundir

_NO, _YES = ('0', 'no', 'false', 'n'), ('1', 'yes', 'true', 'y')


def write_csv(path: str, rows: list[dict], columns):

  def write(f):
    out = csv.DictWriter(f, fieldnames=list(columns), extrasaction='ignore')
    out.writeheader()
    out.writerows(rows)

  rundir.atomic_write(path, write, 'w')


def _records(path: str):
  if not os.path.isfile(path):
    raise FileNotFoundError(f'--import_labels: no such file: {path}')
  return manifest.records(path, ('id', 'label'))


def _binary(value) -> int | None:
  text = str(value).strip().lower()
  return 0 if text in _NO else 1 if text in _YES else None


def parse(path: str, classes, pairs: bool):
  """Reads an answer file.

  Returns:
    (rows, errors): rows of (line, ID or (ID, class index), label or None
    for an open question); errors, one string per bad line.
  """
  rows, errors = [], []
  for line, rec in _records(path):
    image, label = rec.get('id'), rec.get('label')
    if image is None or str(image).strip() == '':
      errors.append(f'line {line}: no id')
      continue
    image = str(image).strip()
    if pairs:
      cls = manifest.class_index(rec.get('class', ''), classes)
      if cls is None:
        errors.append(f'line {line}: class {rec.get("class")!r} is not one '
                      f'of the {len(classes)} classes')
        continue
      image = (image, cls)
    if label is None or str(label).strip() == '':
      rows.append((line, image, None))
      continue
    value = _binary(label) if pairs else manifest.class_index(label, classes)
    if value is None:
      valid = ('0 or 1' if pairs else
               f'a class number 0..{len(classes) - 1} or a name, e.g. '
               f'{list(classes[:3])}')
      errors.append(f'line {line}: label {label!r} is not {valid}')
      continue
    rows.append((line, image, value))
  return rows, errors
