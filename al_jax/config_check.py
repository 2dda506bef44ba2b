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


def parse_arg(arg: str | None, spec: dict | None = None, **fields):
  """Typed variants of ``get_config(arg)``, as big_vision's ``parse_arg``.

  ``--config=configs/x.py:quick,seeds=5`` passes arg 'quick,seeds=5'. Each
  comma-separated item is a field of the spec: ``name`` sets a boolean field
  True, ``name=value`` casts value to the type of the field's default.

  Args:
    arg: the string after ':' (None or '' for none).
    spec: fields and defaults whose names are not identifiers (e.g. '1m').
    **fields: fields and their defaults.

  Returns:
    ml_collections.ConfigDict of every field.

  Raises:
    ValueError: an unknown field (listing the valid ones) or a bad value.
  """
  import ml_collections  # pylint: disable=g-import-not-at-top
  values = {**(spec or {}), **fields}
  out = dict(values)
  for item in filter(None, (arg or '').split(',')):
    name, eq, text = item.partition('=')
    if name not in values:
      valid = ', '.join(values) or 'none (this config has no variants)'
      raise ValueError(f'Unknown config variant {name!r}; valid: {valid}.')
    kind = type(values[name])
    if not eq:
      if kind is not bool:
        raise ValueError(f'Config variant {name!r} needs a value: {name}=...')
      out[name] = True
    elif kind is bool:
      if text not in ('True', 'False', 'true', 'false', '1', '0'):
        raise ValueError(f'Config variant {name}={text!r} is not a boolean.')
      out[name] = text in ('True', 'true', '1')
    else:
      try:
        out[name] = kind(text)
      except ValueError as e:
        raise ValueError(f'Config variant {name}={text!r} is not a '
                         f'{kind.__name__}.') from e
  return ml_collections.ConfigDict(out)
