"""Thin adapters to the peer libraries al_jax is checked and timed against
(parity tests, experiments/bench_*) and, later, to annotation tools. Each
module imports its peer only when called: install the peers with
``pip install -e '.[bench]'`` (the parity tests' ones come with ``[test]``).
"""
