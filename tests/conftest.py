"""Shared fixtures: the tiny embedded configs, loaded as the CLI loads them."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str, arg=None):
  path = os.path.join(ROOT, 'configs', f'{name}.py')
  spec = importlib.util.spec_from_file_location(f'configs_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.fixture
def digits_config():
  """configs/digits.py: digits + MLP, 40 seed labels, 2 rounds of 40."""
  return load_config('digits')
