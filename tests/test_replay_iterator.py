"""The replay iterator: kept batches first in order, then fresh permutations; exact restore;
skip counts reported once (through the training loop: tests/test_train.py)."""

import numpy as np
import pytest

from data_pipelines.replay import ReplayIterator


class Counting:
  """An inner iterator yielding batch ``i`` as ``{'index': [i], 'skipped': [[i]]}``; counts pulls."""

  def __init__(self):
    self.position = 0

  def __next__(self):
    batch = {"index": np.array([self.position]), "skipped": np.array([[self.position]])}
    self.position += 1
    return batch


def _indices(iterator, n):
  return [int(next(iterator)["index"][0]) for _ in range(n)]


def test_first_pass_in_order_then_a_fresh_permutation_per_pass():
  inner = Counting()
  it = ReplayIterator(inner, num_batches=5, seed=3)
  first = _indices(it, 5)
  assert first == [0, 1, 2, 3, 4]
  passes = [_indices(it, 5) for _ in range(4)]
  assert all(sorted(p) == first for p in passes)
  assert len({tuple(p) for p in passes}) > 1  # the order changes from pass to pass
  assert inner.position == 5  # never more than the kept batches drawn
  other = ReplayIterator(Counting(), num_batches=5, seed=4)
  _indices(other, 5)
  assert [_indices(other, 5) for _ in range(4)] != passes  # the seed picks the orders


def test_skip_counts_come_with_the_first_yield_only():
  it = ReplayIterator(Counting(), num_batches=2, seed=0)
  assert all("skipped" in next(it) for _ in range(2))
  assert not any("skipped" in next(it) for _ in range(6))


@pytest.mark.parametrize("stop_at", [3, 12])
def test_restored_iterator_continues_exactly(stop_at):
  original = ReplayIterator(Counting(), num_batches=5, seed=1)
  _indices(original, stop_at)
  state = original.get_state()
  expected = _indices(original, 13)
  restored = ReplayIterator(Counting(), num_batches=5, seed=1)
  restored.set_state(state)
  assert _indices(restored, 13) == expected
  streamed = ReplayIterator(Counting(), num_batches=5, seed=1)
  streamed.set_stream_state(original.stream_state([state]), 0, 1)
  assert _indices(streamed, 13) == expected


def test_bad_use_is_refused():
  with pytest.raises(ValueError, match="num_batches"):
    ReplayIterator(Counting(), num_batches=0, seed=0)
  it = ReplayIterator(Counting(), num_batches=2, seed=0)
  next(it)
  with pytest.raises(RuntimeError, match="before it yields"):
    it.set_state({"replay_next": 0})
  with pytest.raises(ValueError, match="different replay positions"):
    it.stream_state([{"replay_next": 1}, {"replay_next": 2}])
