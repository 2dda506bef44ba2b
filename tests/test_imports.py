"""Imports inside al_jax go one way: no module imports one that imports it
back, directly or through others (function-level imports included)."""

import ast
import os

from conftest import ROOT

PACKAGE = os.path.join(ROOT, 'al_jax')


def _modules() -> dict[str, str]:
  out = {}
  for folder, _, files in os.walk(PACKAGE):
    for f in files:
      if f.endswith('.py'):
        rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3]
        name = rel.replace(os.sep, '.').removesuffix('.__init__')
        out[name] = os.path.join(folder, f)
  return out


def import_graph() -> dict[str, set[str]]:
  """{module: al_jax modules it imports}; `from pkg import mod` imports the
  submodule pkg.mod (not pkg's __init__) when mod is a module."""
  modules = _modules()
  graph = {}
  for name, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    deps = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        deps.update(a.name for a in node.names if a.name in modules)
      elif isinstance(node, ast.ImportFrom) and node.module:
        for a in node.names:
          sub = f'{node.module}.{a.name}'
          if sub in modules:
            deps.add(sub)
          elif node.module in modules:
            deps.add(node.module)
    graph[name] = deps - {name}
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one module."""
  index, low, stack, on, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_the_checker_finds_a_cycle():
  assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [
      ['a', 'b', 'c']]


def test_no_import_cycles_in_al_jax():
  graph = import_graph()
  assert 'al_jax.strategies.base' in graph['al_jax.strategies.margin']
  assert cycles(graph) == []
