"""Online ACTrack tracker with explicit state: template memory and the trajectory of boxes.

  tracker = ActrackTracker(config.model, config.tracker)
  state = tracker.init(variables, first_frame, box_xywh)
  for frame in frames:
    box_xywh, score, state = tracker.track(variables, state, frame)

``init`` crops the template (factor 2) around the initial box and computes, once, what the
template contributes before the ViT's blocks (its embedded tokens and its additive features:
``model.ACTrack.template_memory``); the trajectory starts as the initial box repeated
``num_previous`` times. Per frame: the search region (factor 4) around the previous box
(``geometry.crops.sample_target``), then ONE jitted step: the trajectory (frame pixels, oldest
first) mapped into this search crop (as ``geometry.crops.image_to_crop_box``) and quantised into
the prompt, the ViT over template and search with the additive features, and greedy decoding of
the 4 coordinate tokens in a ``lax.scan`` (optional Hanning window over bins,
``config.tracker.window_influence``). Only the box (normalised cxcywh in the crop) and the score
(mean over the 4 tokens of the chosen bin's probability) come to the host, where the box is mapped
back to the frame, its size smoothed with ``size_lr``, its centre clipped into the frame and its
sides kept in ``[min_box_size, frame side]``; then the box joins the trajectory.

Memory of the batched hooks (``trackjax.sot.tracker.SotTracker``): ``{'template': ...,
'trajectory': (K, N, 4) float32}`` per slot on the device, so a slot of
``trackjax.sot.streams.BatchedTracker`` follows the single-stream path exactly (``track`` runs the
same hooks with K = 1).

Never NaN: a non-finite network output keeps the previous box with score 0 and leaves the
trajectory unchanged; frames of any size and dtype (``as_rgb_frame``), boxes partly or fully
outside the frame (padded crops).
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.families.actrack import sequence as seq
from trackjax.families.actrack.model import build_actrack
from trackjax.geometry.crops import crop_to_image_box, sample_target
from trackjax.models.image_normalization import normalize_images
from trackjax.sot.tracker import as_rgb_frame, initial_box


@flax.struct.dataclass
class TrackerState:
  """One stream: ``box`` (4,) float64 frame xywh, ``frame_id``, ``memory`` (template memory and
  trajectory with a leading dimension 1), ``score``."""

  box: np.ndarray
  frame_id: int
  memory: Any
  score: float = 1.0


def crop_boxes(boxes_xywh, centre_xywh, resize_factor, size: int):
  """Frame boxes (K, N, 4) -> normalised xywh in crops (K,) centred on ``centre_xywh`` (K, 4)."""
  centre = boxes_xywh[..., :2] + 0.5 * boxes_xywh[..., 2:]
  ref = centre_xywh[:, None, :2] + 0.5 * centre_xywh[:, None, 2:]
  rf = resize_factor[:, None, None]
  centre_out = (size - 1) / 2.0 + (centre - ref) * rf
  wh = boxes_xywh[..., 2:] * rf
  return jnp.concatenate([centre_out - 0.5 * wh, wh], axis=-1) / size


@jax.jit
def _push_box(trajectory, slot, box):
  """``trajectory`` (K, N, 4) with slot ``slot``'s boxes shifted left and ``box`` appended."""
  row = jax.lax.dynamic_index_in_dim(trajectory, slot, axis=0, keepdims=False)
  row = jnp.concatenate([row[1:], box[None].astype(trajectory.dtype)], axis=0)
  return jax.lax.dynamic_update_index_in_dim(trajectory, row, slot, axis=0)


class ActrackTracker:
  """Jitted ACTrack step plus the host-side crop logic; the state goes in and out explicitly."""

  def __init__(self, model_config, tracker_config, dtype: Any = jnp.float32):
    self.model_config = model_config
    self.model = build_actrack(model_config, dtype=dtype)
    self.dtype = dtype
    self.template_factor = float(model_config.template_factor)
    self.template_size = int(model_config.template_size)
    self.search_factor = float(model_config.search_factor)
    self.search_size = int(model_config.search_size)
    self.num_bins = int(model_config.num_bins)
    self.coordinate_range = float(model_config.coordinate_range)
    self.num_previous = int(model_config.num_previous)
    self.window = seq.bin_hanning_window(self.num_bins)
    self.window_influence = float(tracker_config.window_influence)
    self.min_box_size = float(tracker_config.min_box_size)
    self.size_lr = float(tracker_config.size_lr)
    self._template_jit = jax.jit(self._template_memory)
    self._network_step_jit = jax.jit(self._network_step)

  # --------------------------------------------------------------------------- device functions

  def _template_memory(self, variables, crops):
    return self.model.apply(variables, normalize_images(crops, self.dtype),
                            method=self.model.template_memory)

  def _network_step(self, variables, memory, crops, centre_boxes, resize_factors):
    """Search crops (K, S, S, 3) uint8, the boxes they are centred on (K, 4) and their resize
    factors (K,) -> normalised cxcywh (K, 4) in the crop and the score (K,)."""
    previous = crop_boxes(memory["trajectory"], centre_boxes.astype(jnp.float32),
                          resize_factors.astype(jnp.float32), self.search_size)
    prompt = seq.prompt_tokens(previous, self.num_bins, self.coordinate_range)
    search_memory = self.model.apply(variables, memory["template"],
                                     normalize_images(crops, self.dtype),
                                     method=self.model.search_memory)
    logits_fn = lambda sequence: self.model.apply(variables, sequence, search_memory,
                                                  method=self.model.decoder_logits)
    tokens, probs = seq.greedy_decode(logits_fn, prompt, self.num_bins, self.window,
                                      self.window_influence)
    corners = seq.dequantize(tokens, self.num_bins, self.coordinate_range)
    wh = jnp.maximum(corners[:, 2:] - corners[:, :2], 0.0)
    box = jnp.concatenate([corners[:, :2] + 0.5 * wh, wh], axis=-1)
    chosen = jnp.take_along_axis(probs, tokens[..., None], axis=-1)[..., 0]
    return box, jnp.mean(chosen, axis=-1)

  # --------------------------------------------------------------------------- batched hooks

  def empty_memory(self, variables: Mapping[str, Any], num_streams: int):
    ts = self.template_size
    one = jax.eval_shape(self._template_jit, variables,
                         jax.ShapeDtypeStruct((1, ts, ts, 3), jnp.uint8))
    k = int(num_streams)
    template = jax.tree_util.tree_map(lambda s: jnp.zeros((k,) + s.shape[1:], s.dtype), one)
    return {"template": template,
            "trajectory": jnp.zeros((k, self.num_previous, 4), jnp.float32)}

  def initial_memory(self, variables: Mapping[str, Any], frame: np.ndarray, box: np.ndarray):
    crop, _, _ = sample_target(frame, box, self.template_factor, self.template_size)
    trajectory = np.broadcast_to(np.asarray(box, np.float32), (1, self.num_previous, 4))
    return {"template": self._template_jit(variables, crop[None]),
            "trajectory": jnp.asarray(trajectory)}

  def idle_inputs(self):
    """An all-padding search crop, a unit centre box and resize factor 1."""
    size = self.search_size
    return (np.zeros((size, size, 3), np.uint8), np.array([0.0, 0.0, 1.0, 1.0], np.float32),
            np.ones((), np.float32))

  def search_inputs(self, frame: np.ndarray, box: np.ndarray):
    """``((crop, centre box, resize factor), resize_factor)`` of the region around ``box``."""
    crop, _, resize_factor = sample_target(frame, box, self.search_factor, self.search_size)
    return ((crop, np.asarray(box, np.float32), np.float32(resize_factor)), resize_factor)

  def network_step(self, variables: Mapping[str, Any], memory, crops, centre_boxes,
                   resize_factors):
    return self._network_step_jit(variables, memory, crops, centre_boxes, resize_factors)

  def frame_result(self, outputs, box: np.ndarray, resize_factor: float, frame_shape):
    """``(pred (4,), score ())`` of one slot -> ``(box_xywh, score)``; ``(None, 0.0)`` when not
    finite."""
    pred, score = (np.asarray(x, np.float64) for x in outputs)
    if not (np.all(np.isfinite(pred)) and np.isfinite(score)):
      return None, 0.0
    prev = np.asarray(box, np.float64)
    mapped = crop_to_image_box(pred, prev, resize_factor, self.search_size)
    height, width = frame_shape[:2]
    wh = prev[2:] * (1.0 - self.size_lr) + mapped[2:] * self.size_lr
    centre = np.clip(mapped[:2] + 0.5 * mapped[2:], 0, [width, height])
    wh = np.maximum(self.min_box_size, np.minimum(wh, [width, height]))
    new_box = np.concatenate([centre - 0.5 * wh, wh])
    if not np.all(np.isfinite(new_box)):
      return None, 0.0
    return new_box, float(np.clip(score, 0.0, 1.0))

  def update_memory(self, variables: Mapping[str, Any], memory, slot: int, frame_id: int,
                    frame: np.ndarray, box: np.ndarray, score: float):
    """The box joins the slot's trajectory (the oldest leaves); the template stays."""
    del variables, frame_id, frame, score
    trajectory = _push_box(memory["trajectory"], jnp.int32(slot),
                           jnp.asarray(np.asarray(box, np.float32)))
    return dict(memory, trajectory=trajectory)

  # --------------------------------------------------------------------------- public API

  def init(self, variables: Mapping[str, Any], frame, box_xywh) -> TrackerState:
    frame = as_rgb_frame(frame)
    box = initial_box(box_xywh)
    return TrackerState(box=box, frame_id=0, memory=self.initial_memory(variables, frame, box),
                        score=1.0)

  def track(self, variables: Mapping[str, Any], state: TrackerState, frame):
    """One frame: ``(box_xywh (4,) float64, score, new_state)``."""
    frame = as_rgb_frame(frame)
    frame_id = state.frame_id + 1
    inputs, resize_factor = self.search_inputs(frame, state.box)
    outputs = jax.device_get(self.network_step(variables, state.memory,
                                               *(np.asarray(x)[None] for x in inputs)))
    box, score = self.frame_result(tuple(x[0] for x in outputs), state.box, resize_factor,
                                   frame.shape)
    if box is None:  # non-finite output: keep the previous box and trajectory, no confidence
      return state.box.copy(), 0.0, state.replace(frame_id=frame_id, score=0.0)
    memory = self.update_memory(variables, state.memory, 0, frame_id, frame, box, score)
    return box, score, TrackerState(box=box, frame_id=frame_id, memory=memory, score=score)


def build_tracker(config, dataset: str | None = None, dtype: Any = jnp.float32) -> ActrackTracker:
  """The family's tracker for ``config`` (``config.model``, ``config.tracker``); the same
  settings on every benchmark (``dataset`` is not read)."""
  del dataset
  return ActrackTracker(config.model, config.tracker, dtype=dtype)
