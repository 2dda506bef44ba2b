"""A labeling campaign through the command line: a pool without labels,
questions exported, a fake annotator answering them, answers imported,
until the job finishes; it must buy exactly what the data set's own labels
would have bought."""

import os
import subprocess
import sys

import numpy as np
import pytest

from al_jax.input import ledger as ledger_lib
from al_jax.loops import active
from al_jax.loops import label_free
from conftest import ROOT, load_config
from test_labeling import _digits_npz

ANNOTATOR = '''
import csv, sys
import numpy as np
queries, truth, out = sys.argv[1:]
with np.load(truth) as z:
  label = dict(zip(z['ids_train'].tolist(), z['y_train'].tolist()))
with open(queries) as f:
  rows = list(csv.DictReader(f))
# A person answers all but the last question (class numbers) per sitting.
with open(out, 'w') as f:
  f.write('id,label\\n')
  for r in rows[:max(1, len(rows) - 1)]:
    f.write(f"{r['id']},{label[r['id']]}\\n")
'''

ACTIVE = ('--config.al.strategies=("margin",)', '--config.al.rounds=2',
          '--config.al.seed_examples=30', '--config.al.budget_examples=20',
          '--config.train.epochs=3')
LABEL_FREE = ('--config.label_free.methods=("kcenter",)',
              '--config.label_free.budgets=(10,20)', '--config.seeds=(0,)')


def _campaign(config, workdir, npz, truth, tmp_path, overrides):
  """Runs the CLI with people as the oracle until it finishes; returns how
  many times it stopped for labels."""
  annotator = tmp_path / 'annotate.py'
  annotator.write_text(ANNOTATOR)
  answers = str(tmp_path / 'answers.csv')
  args = [sys.executable, '-m', 'al_jax.main', f'--config=configs/{config}',
          f'--workdir={workdir}', f'--config.input.source=npz:{npz}',
          *overrides]
  env = {**os.environ, 'PYTHONPATH': ROOT}
  first = ['--oracle=export']
  stops = 0
  for _ in range(12):
    proc = subprocess.run(args + first, cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=300)
    if proc.returncode == 0:
      return stops
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert 'questions are waiting for labels' in proc.stderr
    queries = os.path.join(workdir, 'labels', 'queries.csv')
    assert f'--import_labels={queries}' in proc.stderr
    subprocess.run([sys.executable, str(annotator), queries, truth, answers],
                   check=True)
    first = [f'--import_labels={answers}']
    stops += 1
  raise AssertionError('the campaign did not finish')


def _same(a, b):
  for f in ('indices', 'labels', 'rounds', 'ids'):
    np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


@pytest.mark.parametrize('job', ['active', 'label_free'])
def test_campaign_through_export_and_import(job, tmp_path):
  npz = _digits_npz(tmp_path / 'pool.npz', labeled=False)
  truth = _digits_npz(tmp_path / 'truth.npz', labeled=True)
  config = 'digits.py' if job == 'active' else 'digits_usl.py'
  overrides = ACTIVE if job == 'active' else LABEL_FREE
  people = str(tmp_path / 'people')
  stops = _campaign(config, people, npz, truth, tmp_path, overrides)

  # The same run with the labels in the data set buys the same items.
  cfg = load_config(config.removesuffix('.py'))
  cfg.input.source = f'npz:{truth}'
  own = str(tmp_path / 'own')
  if job == 'active':
    cfg.al.strategies, cfg.al.rounds = ('margin',), 2
    cfg.al.seed_examples, cfg.al.budget_examples = 30, 20
    cfg.train.epochs = 3
    active.run(cfg, own)
    # Seed set, round 1, round 2: each asked, each answered in two sittings.
    assert stops == 6
    files = ['margin/seed_0/ledger.npz']
  else:
    cfg.label_free.methods, cfg.label_free.budgets = ('kcenter',), (10, 20)
    cfg.seeds = (0,)
    label_free.run(cfg, own)
    assert stops == 2  # Both budgets asked at once, answered in two sittings.
    files = ['kcenter/seed_0/ledger_0.npz', 'kcenter/seed_0/ledger_1.npz']
  for f in files:
    _same(ledger_lib.Ledger.load(os.path.join(people, f)),
          ledger_lib.Ledger.load(os.path.join(own, f)))
  with open(os.path.join(people, 'results.md')) as f:
    assert 'nan' not in f.read()  # The test labels are in the pool file.
