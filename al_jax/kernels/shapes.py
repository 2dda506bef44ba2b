"""Padded sizes for jitted kernels: few distinct shapes, so a pool or budget
that changes by a little reuses the compiled program."""


def pow2(n: int) -> int:
  """The next power of two >= n (1 for n <= 1)."""
  return 1 << (max(n, 1) - 1).bit_length()


def round_up(n: int, m: int) -> int:
  """n rounded up to a multiple of m."""
  return -(-n // m) * m


def grid(n: int) -> int:
  """n rounded up to one of 8 sizes per octave: few shapes, < 12.5% more."""
  return round_up(n, 1 << max(0, (n - 1).bit_length() - 4))


def bucket(n: int, block: int) -> int:
  """0, a power of two below `block`, or a multiple of `block`, >= n."""
  if n == 0:
    return 0
  if n < block:
    return min(block, pow2(n))
  return round_up(n, block)
