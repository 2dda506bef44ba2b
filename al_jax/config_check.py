"""Rejects unknown config keys (typos) before any work starts.

ml_collections already rejects a mistyped ``--config.x.y=`` override of a
locked config; this catches typos inside config files, where a misspelled
key would otherwise be ignored silently.
"""

import difflib
import importlib.util
import os


def check_keys(section, allowed, where: str):
  """Raises ValueError naming each key of `section` not in `allowed`."""
  unknown = sorted(set(section.keys()) - set(allowed))
  if not unknown:
    return
  hints = []
  for key in unknown:
    close = difflib.get_close_matches(key, allowed, n=1)
    hints.append(f'{where}.{key}' + (f' (did you mean {where}.{close[0]}?)'
                                     if close else ''))
  raise ValueError(f'Unknown config key(s): {", ".join(hints)}. Valid keys of '
                   f'{where}: {", ".join(sorted(allowed))}.')


def load_file(path: str, arg: str | None = None):
  """`get_config(arg)` of the config file at `path`, as `--config=` loads it.

  Config files are plain modules, not a package, so a config that extends
  another (e.g. configs/cifar100_cm.py from cifar10_cm.py) loads it by path.
  """
  name = 'config_' + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)
