"""K independent streams of any SOT tracker advanced by ONE jitted network step (batch K).

  batched = BatchedTracker(family.build_tracker(config), num_streams=8)
  state = batched.empty_state(variables)
  state = batched.init_slot(variables, state, slot=3, frame=frame0, box_xywh=box)
  boxes, scores, state = batched.track(variables, state, {3: frame1, ...})
  state = batched.release_slot(state, 3)     # slot 3 can take the next sequence

Each slot has its own box, frame counter and score here, and its memory (the family's per-stream
device state, e.g. template features) in one pytree with a slot dimension. The per-stream logic
(crops, box mapping, clipping, memory updates) is the tracker's, through the batched hooks of
``trackjax.sot.tracker.SotTracker``, so a slot follows exactly the path of a single-stream run.
Inactive slots are fed the tracker's idle inputs and their outputs ignored, so the jitted step
always sees the same shapes (one compilation per K).
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.sot.tracker import Memory, SotTracker, as_rgb_frame, initial_box


@flax.struct.dataclass
class BatchedState:
  """State of K streams.

  Attributes:
    boxes: (K, 4) float64 last box of each slot.
    frame_ids: (K,) int64 frames tracked since the slot's ``init_slot``.
    active: (K,) bool, slot holds a sequence.
    scores: (K,) float64 last confidence.
    memory: the tracker's memory of every slot (leading dimension K) on the device.
  """

  boxes: np.ndarray
  frame_ids: np.ndarray
  active: np.ndarray
  scores: np.ndarray
  memory: Memory


def _write_row(memory: Memory, row, part: Memory) -> Memory:
  """``memory`` with slot ``row`` replaced by ``part`` (leading dimension 1)."""
  return jax.tree_util.tree_map(
      lambda dst, src: jax.lax.dynamic_update_slice(
          dst, src.astype(dst.dtype), (row,) + (0,) * (dst.ndim - 1)),
      memory, part)


_write_row_jit = jax.jit(_write_row)


class BatchedTracker:
  """Runs ``num_streams`` slots of ``tracker`` in lockstep."""

  def __init__(self, tracker: SotTracker, num_streams: int):
    if num_streams < 1:
      raise ValueError(f'num_streams must be >= 1, got {num_streams}')
    self.tracker = tracker
    self.num_streams = int(num_streams)
    self._idle = tuple(np.asarray(x) for x in tracker.idle_inputs())

  def empty_state(self, variables: Mapping[str, Any]) -> BatchedState:
    """All slots inactive, memory zero."""
    k = self.num_streams
    return BatchedState(boxes=np.zeros((k, 4)), frame_ids=np.zeros(k, np.int64),
                        active=np.zeros(k, bool), scores=np.zeros(k),
                        memory=self.tracker.empty_memory(variables, k))

  def _check_slot(self, slot: int) -> int:
    if not 0 <= slot < self.num_streams:
      raise IndexError(f'slot {slot} out of range for {self.num_streams} streams')
    return int(slot)

  def init_slot(self, variables: Mapping[str, Any], state: BatchedState, slot: int, frame,
                box_xywh) -> BatchedState:
    """(Re)starts ``slot`` on a new sequence: its memory from ``frame``, its counter reset."""
    slot = self._check_slot(slot)
    frame = as_rgb_frame(frame)
    box = initial_box(box_xywh)
    part = self.tracker.initial_memory(variables, frame, box)
    memory = _write_row_jit(state.memory, jnp.int32(slot), part)
    boxes, frame_ids = state.boxes.copy(), state.frame_ids.copy()
    active, scores = state.active.copy(), state.scores.copy()
    boxes[slot], frame_ids[slot], active[slot], scores[slot] = box, 0, True, 1.0
    return BatchedState(boxes, frame_ids, active, scores, memory)

  def release_slot(self, state: BatchedState, slot: int) -> BatchedState:
    slot = self._check_slot(slot)
    active = state.active.copy()
    active[slot] = False
    return state.replace(active=active)

  def track(self, variables: Mapping[str, Any], state: BatchedState,
            frames: Mapping[int, Any]):
    """Advances the slots in ``frames`` (``{slot: frame}``, each slot active) by one frame.

    Returns:
      ``(boxes (K, 4), scores (K,), new_state)``; rows of slots not in ``frames`` repeat their
      previous values.
    """
    t = self.tracker
    k = self.num_streams
    inputs = [np.broadcast_to(x, (k,) + x.shape).copy() for x in self._idle]
    prepared = {}
    for slot, frame in frames.items():
      slot = self._check_slot(slot)
      if not state.active[slot]:
        raise ValueError(f'slot {slot} is not active; call init_slot first')
      image = as_rgb_frame(frame, name=f'frame of slot {slot}')
      slot_inputs, crop_info = t.search_inputs(image, state.boxes[slot])
      for batch, x in zip(inputs, slot_inputs):
        batch[slot] = x
      prepared[slot] = (image, crop_info)
    outputs = jax.device_get(t.network_step(variables, state.memory, *inputs))

    boxes, frame_ids = state.boxes.copy(), state.frame_ids.copy()
    scores = state.scores.copy()
    memory = state.memory
    for slot, (image, crop_info) in prepared.items():
      frame_ids[slot] += 1
      row = jax.tree_util.tree_map(lambda x, s=slot: x[s], outputs)
      box, score = t.frame_result(row, state.boxes[slot], crop_info, image.shape)
      if box is None:
        scores[slot] = 0.0
        continue
      boxes[slot] = box
      scores[slot] = score
      memory = t.update_memory(variables, memory, slot, int(frame_ids[slot]), image, box,
                               scores[slot])
    new_state = BatchedState(boxes, frame_ids, state.active.copy(), scores, memory)
    return boxes.copy(), scores.copy(), new_state
