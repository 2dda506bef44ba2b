"""Command line: ``python -m al_jax.main --config=configs/<name>.py --workdir=DIR``.

Overrides use ml_collections syntax, e.g. ``--config.al.rounds=3``.

People as the oracle (the active and label_free jobs): ``--oracle=export``
writes the questions to <workdir>/labels/queries.csv (and .jsonl) and stops
with exit status 3 (`WAITING`); rerun the same command with
``--import_labels=FILE`` once they are answered, as often as it takes.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from al_jax import distributed
from al_jax import report
from al_jax.labeling import oracle as oracle_lib
from al_jax.loops import active
from al_jax.loops import label_free
from al_jax.loops import pretrain
from al_jax.loops import rundir
from al_jax.loops import subset
from al_jax.loops import trim

LOOPS = {'active': active.run, 'label_free': label_free.run,
         'pretrain': pretrain.run, 'subset': subset.run, 'trim': trim.run}

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file with get_config().',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for ledgers, metrics, checkpoints and plots; '
    'rerun with the same one to resume.')
_ORACLE = flags.DEFINE_enum(
    'oracle', 'dataset', oracle_lib.MODES,
    "Who answers: 'dataset' (its labels) or 'export' (people: the questions "
    'are written to <workdir>/labels/ and the job stops until answered).')
_IMPORT = flags.DEFINE_string(
    'import_labels', None, 'CSV or JSONL of answers (id, label; multi-label: '
    'id, class, label) to merge before continuing; implies --oracle=export.')
_TENSORBOARD = flags.DEFINE_bool(
    'tensorboard', False, 'Also write each run\'s per-round metrics as '
    'TensorBoard scalars to <run dir>/tensorboard (needs tensorboardX).')
flags.mark_flags_as_required(['config', 'workdir'])

# Exit status of a job that stopped until people answer its questions.
WAITING = 3
# Jobs that buy labels, and so take --oracle and --import_labels.
BUY_LABELS = ('active', 'label_free')


def main(argv):
  del argv
  distributed.initialize()  # Several processes: join them, before devices.
  if not flags.FLAGS['verbosity'].present:
    # Orbax logs every checkpoint write at INFO; the progress bar is enough.
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  job = config.get('job', 'active')
  if job not in LOOPS:
    raise app.UsageError(f'Unknown config.job {job!r}; valid: '
                         f'{", ".join(sorted(LOOPS))}.')
  if _TENSORBOARD.value:
    report.log_to_tensorboard()
  labels = oracle_lib.Options(_ORACLE.value, _IMPORT.value)
  if labels != oracle_lib.Options() and job not in BUY_LABELS:
    raise app.UsageError(f'--oracle and --import_labels apply to the '
                         f'{" and ".join(BUY_LABELS)} jobs, not {job!r}.')
  try:
    if job in BUY_LABELS:
      LOOPS[job](config, _WORKDIR.value, labels)
    else:
      LOOPS[job](config, _WORKDIR.value)
  except oracle_lib.WaitingForLabels as e:
    print(f'al_jax: {e}', file=sys.stderr)
    sys.exit(WAITING)
  except (ValueError, FileNotFoundError, KeyError, rundir.WorkdirBusy) as e:
    # Bad input is the user's to fix: say what is wrong, without a traceback.
    raise SystemExit(f'al_jax: error: {e}') from e


def parse_flags(argv):
  """absl's parser, with config override typos reported without a traceback."""
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    # ml_collections raises these for `--config.x.y=` overrides that name an
    # unknown key or give a value of the wrong type.
    # Their text is a nested repr; unescape it for people.
    text = ' '.join(str(e).replace('\\n', ' ').replace("\\'", '').split())
    raise SystemExit(f'al_jax: error in a --config override: {text}') from e


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
