"""K independent STARK streams advanced by ONE jitted network step (batch dimension K).

  batched = BatchedTracker(StarkTracker(config.model, config.tracker), num_streams=8)
  state = batched.empty_state(variables)
  state = batched.init_slot(variables, state, slot=3, frame=frame0, box_xywh=box)
  boxes, scores, state = batched.track(variables, state, {3: frame1, ...})
  state = batched.release_slot(state, 3)     # slot 3 can take the next sequence

Each slot has its own box, frame counter and template-update schedule; the per-stream logic
(crops, box mapping, clipping, updates) is ``StarkTracker``'s, so a slot follows exactly the path
of a single-stream run. Inactive slots are fed an all-padding crop and their outputs ignored, so
the jitted step always sees the same shapes (one compilation per K).
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.models.stark import Tokens
from trackjax.track.stark_tracker import StarkTracker, as_rgb_frame, initial_box


@flax.struct.dataclass
class BatchedState:
  """State of K streams.

  Attributes:
    boxes: (K, 4) float64 last box of each slot.
    frame_ids: (K,) int64 frames tracked since the slot's ``init_slot``.
    active: (K,) bool, slot holds a sequence.
    scores: (K,) float64 last confidence.
    templates: template tokens (K, T * L, C) on the device.
  """

  boxes: np.ndarray
  frame_ids: np.ndarray
  active: np.ndarray
  scores: np.ndarray
  templates: Tokens


class BatchedTracker:
  """Runs ``num_streams`` slots of ``tracker`` in lockstep."""

  def __init__(self, tracker: StarkTracker, num_streams: int):
    if num_streams < 1:
      raise ValueError(f'num_streams must be >= 1, got {num_streams}')
    self.tracker = tracker
    self.num_streams = int(num_streams)
    size = tracker.search_size
    self._idle_crop = np.zeros((size, size, 3), np.uint8)
    self._idle_mask = np.ones((size, size), bool)

  def empty_state(self, variables: Mapping[str, Any]) -> BatchedState:
    """All slots inactive, template tokens zero (shapes from ``jax.eval_shape``)."""
    t = self.tracker
    ts = t.template_size
    one = jax.eval_shape(t.encode, variables, jax.ShapeDtypeStruct((1, ts, ts, 3), jnp.uint8),
                         jax.ShapeDtypeStruct((1, ts, ts), jnp.bool_))
    k, n = self.num_streams, t.num_templates
    templates = jax.tree_util.tree_map(
        lambda s: jnp.zeros((k, n * s.shape[1]) + s.shape[2:], s.dtype), one)
    return BatchedState(boxes=np.zeros((k, 4)), frame_ids=np.zeros(k, np.int64),
                        active=np.zeros(k, bool), scores=np.zeros(k), templates=templates)

  def _check_slot(self, slot: int) -> int:
    if not 0 <= slot < self.num_streams:
      raise IndexError(f'slot {slot} out of range for {self.num_streams} streams')
    return int(slot)

  def init_slot(self, variables: Mapping[str, Any], state: BatchedState, slot: int, frame,
                box_xywh) -> BatchedState:
    """(Re)starts ``slot`` on a new sequence: encodes its template, resets its counter."""
    slot = self._check_slot(slot)
    t = self.tracker
    frame = as_rgb_frame(frame)
    box = initial_box(box_xywh)
    tokens = t.initial_templates(variables, frame, box)
    templates = t.write_tokens(state.templates, tokens, jnp.int32(slot), jnp.int32(0))
    boxes, frame_ids = state.boxes.copy(), state.frame_ids.copy()
    active, scores = state.active.copy(), state.scores.copy()
    boxes[slot], frame_ids[slot], active[slot], scores[slot] = box, 0, True, 1.0
    return BatchedState(boxes, frame_ids, active, scores, templates)

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
    crops = np.broadcast_to(self._idle_crop, (k,) + self._idle_crop.shape).copy()
    masks = np.broadcast_to(self._idle_mask, (k,) + self._idle_mask.shape).copy()
    prepared = {}
    for slot, frame in frames.items():
      slot = self._check_slot(slot)
      if not state.active[slot]:
        raise ValueError(f'slot {slot} is not active; call init_slot first')
      image = as_rgb_frame(frame, name=f'frame of slot {slot}')
      crops[slot], masks[slot], resize_factor = t.search_crop(image, state.boxes[slot])
      prepared[slot] = (image, resize_factor)
    pred, logits = jax.device_get(t.network_step(variables, state.templates, crops, masks))

    boxes, frame_ids = state.boxes.copy(), state.frame_ids.copy()
    scores = state.scores.copy()
    templates = state.templates
    for slot, (image, resize_factor) in prepared.items():
      frame_ids[slot] += 1
      box = t.box_from_prediction(pred[slot], state.boxes[slot], resize_factor, image.shape)
      if box is None:
        scores[slot] = 0.0
        continue
      boxes[slot] = box
      scores[slot] = t.score_of(logits[slot])
      if t.wants_update(int(frame_ids[slot]), scores[slot]):
        dynamic = t.encode_template(variables, image, box)
        offset = dynamic.feat.shape[1] * (t.num_templates - 1)
        templates = t.write_tokens(templates, dynamic, jnp.int32(slot), jnp.int32(offset))
    new_state = BatchedState(boxes, frame_ids, state.active.copy(), scores, templates)
    return boxes.copy(), scores.copy(), new_state
