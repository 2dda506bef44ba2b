"""--tensorboard: metrics rows become TensorBoard scalars (tensorboardX)."""

import glob
import os
import struct

from tensorboardX.proto import event_pb2

from al_jax import report


def _events(path):
  """The Event records of a TFRecord event file."""
  out = []
  with open(path, 'rb') as f:
    while header := f.read(12):
      (length,) = struct.unpack('<Q', header[:8])
      out.append(event_pb2.Event.FromString(f.read(length)))
      f.read(4)  # The data's CRC.
  return out


def test_metrics_rows_become_scalars(tmp_path, monkeypatch):
  monkeypatch.setitem(report._TENSORBOARD, 'on', False)  # pylint: disable=protected-access
  run_dir = str(tmp_path)
  report.append_metrics(run_dir, {'round': 0, 'labels': 40})
  assert not os.path.exists(tmp_path / 'tensorboard')  # Only when asked.
  report.log_to_tensorboard()
  for r, acc in enumerate([0.5, 0.75]):
    report.append_metrics(run_dir, {'round': r, 'labels': 40 * (r + 1),
                                    'test_accuracy': acc, 'strategy': 'x',
                                    'selection_seconds': None})
  files = glob.glob(str(tmp_path / 'tensorboard' / 'events.out.tfevents.*'))
  assert len(files) == 2  # One per row, each closed at once.
  scalars = sorted((e.step, v.tag, v.simple_value) for f in files
                   for e in _events(f) for v in e.summary.value)
  assert scalars == [(0, 'labels', 40.0), (0, 'test_accuracy', 0.5),
                     (1, 'labels', 80.0), (1, 'test_accuracy', 0.75)]
  assert len(report.read_metrics(run_dir)) == 3
