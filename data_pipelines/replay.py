"""Replay: a fixed set of training batches kept in memory and passed over many times.

    it = ReplayIterator(build_train_iterator(...), num_batches=300, seed=0)

The first ``num_batches`` batches are drawn from the wrapped iterator as usual and kept (host
memory: ``num_batches`` x the batch's bytes, uint8 crops); from then on every pass over them is in
a fresh order (a permutation drawn from ``(seed, pass)``). A stage whose model learns from many
passes faster than the input pipeline renders new samples (a small head on a frozen backbone)
trains compute-bound instead of data-bound, on the same samples it would have drawn first.

Position: the number of batches yielded, ``n``. Batch ``n`` is kept batch ``n`` while ``n <
num_batches``, then ``permutation(seed, n // num_batches)[n % num_batches]``. Checkpoints store
``n`` alone; a restored iterator draws the kept batches again from the start of the wrapped
stream (deterministic for a given seed) and yields exactly what the original would have yielded
next. The skip counts of a kept batch
(``skipped``, ``skipped_by_reason``) are reported the first time it is yielded only.
"""

from __future__ import annotations

from typing import Any

import grain
import numpy as np

_FIRST_TIME_ONLY = ('skipped', 'skipped_by_reason')


class ReplayIterator(grain.DatasetIterator):
  """The first ``num_batches`` batches of ``inner``, then passes over them (module docstring)."""

  def __init__(self, inner, num_batches: int, seed: int):
    super().__init__()
    self._inner = inner  # first: close() (also from __del__) reaches it even after a refusal
    if int(num_batches) < 1:
      raise ValueError(f'replay needs at least one batch, got num_batches={num_batches}')
    self._num_batches = int(num_batches)
    self._seed = int(seed)
    self._kept: list[dict[str, np.ndarray]] = []
    self._next = 0
    self._order_pass = -1
    self._order = np.arange(0)

  def kept_index(self, position: int) -> int:
    """Which kept batch position ``position`` yields."""
    if position < self._num_batches:
      return position
    replay_pass, i = divmod(position, self._num_batches)
    if replay_pass != self._order_pass:
      rng = np.random.default_rng([self._seed, replay_pass])
      self._order, self._order_pass = rng.permutation(self._num_batches), replay_pass
    return int(self._order[i])

  def __next__(self) -> dict[str, np.ndarray]:
    index = self.kept_index(self._next)
    fresh = None
    while len(self._kept) <= index:  # ends with fresh = kept batch ``index`` when it is new
      fresh = next(self._inner)
      self._kept.append({k: v for k, v in fresh.items() if k not in _FIRST_TIME_ONLY})
    self._next += 1
    return self._kept[index] if fresh is None else fresh

  # --------------------------------------------------------------- checkpointable position
  def get_state(self) -> dict[str, Any]:
    return {'replay_next': self._next}

  def set_state(self, state: dict[str, Any]) -> None:
    self._restart(int(state['replay_next']))

  def stream_state(self, process_states: list[dict[str, Any]]) -> dict[str, Any]:
    """The global position (``train_iterator.TrainIterator.stream_state``) of every process."""
    positions = {int(s['replay_next']) for s in process_states}
    if len(positions) != 1:
      raise ValueError(f'input processes are at different replay positions: {sorted(positions)}')
    return {'replay_next': positions.pop()}

  def set_stream_state(self, stream: dict[str, Any], process_index: int,
                       process_count: int) -> None:
    del process_index, process_count  # the wrapped stream restarts from its own beginning
    self._restart(int(stream['replay_next']))

  def _restart(self, position: int) -> None:
    """Continues at ``position``; the kept batches are drawn again from the wrapped iterator,
    which must not have been advanced yet."""
    if self._kept:
      raise RuntimeError('a replay iterator can only be restored before it yields its first batch')
    self._next = position

  def close(self) -> None:
    close = getattr(self._inner, 'close', None)
    if close is not None:
      close()
