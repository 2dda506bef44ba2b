"""Rejects unknown config keys (typos) before any work starts.

ml_collections already rejects a mistyped ``--config.x.y=`` override of a
locked config; this catches typos inside config files, where a misspelled
key would otherwise be ignored silently.
"""

import difflib


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
