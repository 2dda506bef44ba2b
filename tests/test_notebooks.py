"""The Colab notebooks of experiments/notebooks/ run top to bottom.

Each notebook is executed with nbclient in a kernel of this interpreter, with
AL_JAX_NOTEBOOK_TINY=1 (a smoke-test version of its run), and must finish
without an error and show the results table naming every method it compares.
"""

import glob
import os

import nbclient
import nbformat
import pytest
from ipykernel import kernelspec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'experiments', 'notebooks',
                                          '*.ipynb')))
KERNEL = 'al_jax_test'
# The config each notebook runs, and where it lists the methods compared;
# the TINY runs keep every method, so the results table must name them all.
EXPECTED = {
    'paper000_cluster_margin.ipynb': ('mnist5k_cm.py', 'al', 'strategies'),
    'paper001_sensitivity.ipynb': ('mnist5k_sensitivity.py', 'al',
                                   'strategies'),
    'paper002_boss.ipynb': ('mnist5k_boss.py', 'subset', 'methods'),
    'paper003_usl.ipynb': ('mnist5k_usl.py', 'label_free', 'methods'),
    'paper004_fi.ipynb': ('trim_2d.py', 'trim', 'methods'),
}


def expected_names(notebook: str) -> tuple[str, ...]:
  if notebook not in EXPECTED:
    return ()
  from al_jax import config_check  # pylint: disable=g-import-not-at-top
  name, section, key = EXPECTED[notebook]
  config = config_check.load_file(os.path.join(ROOT, 'configs', name))
  return tuple(config[section][key])


@pytest.fixture(scope='module')
def kernel_env(tmp_path_factory):
  """A kernelspec that runs this interpreter, and a compilation cache that
  the notebooks share (as the notebooks of one Colab runtime would)."""
  prefix = tmp_path_factory.mktemp('kernel')
  kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
  return {
      'JUPYTER_PATH': os.pathsep.join(
          [str(prefix / 'share' / 'jupyter')] +
          [p for p in [os.environ.get('JUPYTER_PATH')] if p]),
      'PYTHONPATH': os.pathsep.join(
          [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
      'JAX_COMPILATION_CACHE_DIR': str(tmp_path_factory.mktemp('jax_cache')),
      'AL_JAX_NOTEBOOK_TINY': '1',
      # The TINY runs are compile-bound: unoptimized XLA code compiles faster
      # (about 8 s of the test's 55 s on 2 CPU cores) and is as correct.
      'XLA_FLAGS': ' '.join(
          [os.environ.get('XLA_FLAGS', ''),
           '--xla_backend_optimization_level=0']).strip(),
  }


def outputs_text(cell) -> str:
  parts = []
  for out in cell.get('outputs', []):
    if out.output_type == 'stream':
      parts.append(out.text)
    elif out.output_type in ('display_data', 'execute_result'):
      parts += [v for k, v in out.data.items() if k.startswith('text/')]
  return '\n'.join(parts)


def test_notebooks_found():
  assert set(EXPECTED) <= {os.path.basename(p) for p in NOTEBOOKS}


@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, kernel_env, tmp_path, monkeypatch):
  for key, value in kernel_env.items():
    monkeypatch.setenv(key, value)
  nb = nbformat.read(path, as_version=4)
  assert not any(c.get('outputs') for c in nb.cells if c.cell_type == 'code'), (
      f'{path} is stored with outputs; clear them.')
  client = nbclient.NotebookClient(
      nb, timeout=600, kernel_name=KERNEL,
      resources={'metadata': {'path': str(tmp_path)}})
  client.execute()  # Raises CellExecutionError naming the failing cell.

  code = [c for c in nb.cells if c.cell_type == 'code']
  # The kernel imported this checkout's package (not a pip-installed one).
  assert os.path.join(ROOT, 'al_jax') in outputs_text(code[0])
  results = [c for c in code if c.get('id') == 'results']
  assert results, 'the notebook needs a code cell with id "results"'
  outputs = results[0].outputs
  table = outputs_text(results[0])
  names = expected_names(os.path.basename(path))
  assert not EXPECTED.get(os.path.basename(path)) or names
  for name in names:
    assert f'| {name} (' in table, (name, table)
  assert any('image/png' in o.get('data', {}) for o in outputs), outputs
