"""Online STARK-S / STARK-ST tracker with explicit state, as the official ``stark_st`` tracker.

  tracker = StarkTracker(config.model, config.tracker, dataset='lasot')
  state = tracker.init(variables, first_frame, box_xywh)
  for frame in frames:
    box_xywh, score, state = tracker.track(variables, state, frame)

Per frame (reference ``lib/test/tracker/stark_st.py``): crop the search region (factor 5, size
320) around the previous box with ``geometry.crops.sample_target``, run the jitted ``track_step``
on the cached template tokens, average ``pred_boxes`` over queries, map back with
``crop_to_image_box`` and clamp with ``clip_box(margin)``. The box is always taken whatever the
score. STARK-ST keeps two templates, ``[z1, copy(z1)]`` at init; the frame counter starts at 0 at
init and is incremented at the start of each ``track`` call; when ``frame_id % interval == 0``
and ``sigmoid(score) > threshold`` the dynamic template is re-cropped (factor 2, size 128)
around the new box in the current frame. STARK-S never updates and reports score 1.

Crops travel to the device as uint8 and are normalised inside the jitted functions. The network
functions take a batch dimension; the batched hooks of ``trackjax.sot.tracker.SotTracker``
(memory = the template tokens of each slot) reuse them, so ``trackjax.sot.streams`` runs K
streams that each follow the single-stream path.

Robustness (beyond the reference, which would crash): frames may be (H, W), (H, W, 1), (H, W, 3)
or (H, W, 4) of any size and dtype; initial boxes smaller than ``sot.tracker.MIN_BOX_SIZE`` are
grown around their centre; boxes partly or fully outside the frame are tracked from padded crops;
non-finite network outputs keep the previous box and report score 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.families.stark.model import Tokens, build_stark, inference_variables
from trackjax.geometry.boxes import clip_box
from trackjax.geometry.crops import crop_to_image_box, sample_target
from trackjax.models.image_normalization import normalize_images
from trackjax.models.matmul_precision import check_matmul_dtype
from trackjax.sot.tracker import InferenceForm, as_rgb_frame, initial_box


@flax.struct.dataclass
class TrackerState:
  """Everything one stream carries from frame to frame.

  Attributes:
    box: (4,) float64 ``[x, y, w, h]`` of the last frame, pixels.
    frame_id: frames tracked since ``init`` (0 right after ``init``).
    templates: cached template tokens (1, T * L, C): the initial template first, then (ST) the
      dynamic one.
    score: confidence of the last frame (sigmoid of the score head; 1 for STARK-S).
  """

  box: np.ndarray
  frame_id: int
  templates: Tokens
  score: float = 1.0


def _sigmoid(x: float) -> float:
  return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def update_interval(tracker_config, dataset: str) -> int:
  """Template update interval of ``dataset`` from ``config.tracker.update_intervals``."""
  intervals = dict(tracker_config.update_intervals)
  interval = int(intervals.get(dataset, intervals['default']))
  if interval < 1:
    raise ValueError(f'config.tracker.update_intervals[{dataset!r}] must be >= 1, got {interval}')
  return interval


class StarkTracker:
  """Jitted STARK pieces plus the host-side crop logic; the state goes in and out explicitly.

  Args:
    model_config: ``config.model``.
    tracker_config: ``config.tracker`` (``update_intervals``, ``update_threshold``, ``box_margin``).
    dataset: key of ``update_intervals``; default ``tracker_config.dataset``.
    dtype: compute dtype of the network (float32 as the reference; bfloat16 as an option).

  ``variables`` are prepared for inference once (``model.inference_variables``: norms folded into
  kernels, Winograd kernels, split attention projections; with ``model_config.matmul_dtype=
  'bfloat16'`` also bf16-rounded product kernels) and reused while the same object is passed.
  """

  def __init__(self, model_config, tracker_config, dataset: str | None = None, dtype: Any = jnp.float32):
    self.model_config = model_config
    self.model = build_stark(model_config, dtype=dtype)
    self.dtype = dtype
    self.has_score = bool(model_config.score_head)
    self.num_templates = int(model_config.num_templates)
    self.template_factor = float(model_config.template_factor)
    self.template_size = int(model_config.template_size)
    self.search_factor = float(model_config.search_factor)
    self.search_size = int(model_config.search_size)
    self.dataset = dataset or tracker_config.get('dataset', 'default')
    self.interval = update_interval(tracker_config, self.dataset)
    self.threshold = float(tracker_config.update_threshold)
    self.margin = float(tracker_config.box_margin)
    self.matmul_dtype = check_matmul_dtype(model_config.get('matmul_dtype', 'float32'),
                                           'config.model.matmul_dtype')
    self._encode_jit = jax.jit(self._encode)
    self._network_step_jit = jax.jit(self._network_step)
    self.write_tokens = jax.jit(_write_tokens)
    # ``variables`` as the jitted functions take them, prepared once per variables object.
    self.inference_variables = InferenceForm(
        lambda variables: inference_variables(variables, self.matmul_dtype))

  def encode(self, variables, crops, masks) -> Tokens:
    """Jitted ``_encode`` on the inference form of ``variables``."""
    return self._encode_jit(self.inference_variables(variables), crops, masks)

  def network_step(self, variables, templates: Tokens, crops, masks):
    """Jitted ``_network_step`` on the inference form of ``variables``."""
    return self._network_step_jit(self.inference_variables(variables), templates, crops, masks)

  # --------------------------------------------------------------------------- device functions

  def _encode(self, variables, crops, masks) -> Tokens:
    """uint8 template crops (B, S, S, 3) and masks (B, S, S) -> tokens (B, L, C)."""
    return self.model.apply(variables, normalize_images(crops, self.dtype), masks,
                            method=self.model.encode)

  def _network_step(self, variables, templates: Tokens, crops, masks):
    """Search crops (B, S, S, 3) uint8 -> normalised cxcywh (B, 4) and score logits (B,)."""
    out = self.model.apply(variables, templates, normalize_images(crops, self.dtype), masks,
                           method=self.model.track_step)
    boxes = jnp.mean(out['pred_boxes'], axis=1)
    if 'pred_logits' in out:
      logits = jnp.max(out['pred_logits'][..., 0], axis=1)
    else:
      logits = jnp.full(boxes.shape[:1], jnp.inf, jnp.float32)
    return boxes, logits

  # --------------------------------------------------------------------------- host helpers

  def template_crop(self, frame: np.ndarray, box: np.ndarray):
    crop, mask, _ = sample_target(frame, box, self.template_factor, self.template_size)
    return crop, mask

  def search_crop(self, frame: np.ndarray, box: np.ndarray):
    return sample_target(frame, box, self.search_factor, self.search_size)

  def encode_template(self, variables, frame: np.ndarray, box: np.ndarray) -> Tokens:
    """Tokens (1, L, C) of the template cropped around ``box``."""
    crop, mask = self.template_crop(frame, box)
    return self.encode(variables, crop[None], mask[None])

  def initial_templates(self, variables, frame: np.ndarray, box: np.ndarray) -> Tokens:
    """``[z1] * num_templates`` side by side: (1, T * L, C)."""
    z1 = self.encode_template(variables, frame, box)
    return Tokens.concatenate([z1] * self.num_templates)

  def box_from_prediction(self, pred_cxcywh, prev_box: np.ndarray, resize_factor: float,
                          frame_shape) -> np.ndarray | None:
    """Frame box from a normalised crop prediction, clipped; None when not finite."""
    pred = np.asarray(pred_cxcywh, np.float64)
    if not np.all(np.isfinite(pred)):
      return None
    box = crop_to_image_box(pred, prev_box, resize_factor, self.search_size)
    box = clip_box(box, frame_shape[0], frame_shape[1], margin=self.margin)
    return box if np.all(np.isfinite(box)) else None

  def score_of(self, logit: float) -> float:
    if not self.has_score:
      return 1.0
    return _sigmoid(float(logit)) if math.isfinite(float(logit)) else 0.0

  def wants_update(self, frame_id: int, score: float) -> bool:
    return self.num_templates > 1 and frame_id % self.interval == 0 and score > self.threshold

  # --------------------------------------------------------------------------- public API

  def init(self, variables: Mapping[str, Any], frame, box_xywh) -> TrackerState:
    """Encodes the template around ``box_xywh`` in the first frame."""
    frame = as_rgb_frame(frame)
    box = initial_box(box_xywh)
    return TrackerState(box=box, frame_id=0, templates=self.initial_templates(variables, frame, box),
                        score=1.0)

  def track(self, variables: Mapping[str, Any], state: TrackerState, frame):
    """One frame: returns ``(box_xywh (4,) float64, score, new_state)``."""
    frame = as_rgb_frame(frame)
    frame_id = state.frame_id + 1
    crop, mask, resize_factor = self.search_crop(frame, state.box)
    pred, logit = self.network_step(variables, state.templates, crop[None], mask[None])
    pred, logit = jax.device_get((pred, logit))
    box = self.box_from_prediction(pred[0], state.box, resize_factor, frame.shape)
    if box is None:  # non-finite output: keep the previous box, no confidence
      return state.box.copy(), 0.0, state.replace(frame_id=frame_id, score=0.0)
    score = self.score_of(logit[0])
    templates = state.templates
    if self.wants_update(frame_id, score):
      dynamic = self.encode_template(variables, frame, box)
      templates = self.write_tokens(templates, dynamic, jnp.int32(0),
                                    jnp.int32(dynamic.feat.shape[1] * (self.num_templates - 1)))
    return box, score, TrackerState(box=box, frame_id=frame_id, templates=templates, score=score)

  # --------------------------------------------------------------------------- batched hooks
  # (trackjax.sot.tracker.SotTracker; memory = template tokens (K, T * L, C))

  def empty_memory(self, variables: Mapping[str, Any], num_streams: int) -> Tokens:
    """Zero template tokens of ``num_streams`` slots (shapes from ``jax.eval_shape``)."""
    ts = self.template_size
    one = jax.eval_shape(self.encode, variables, jax.ShapeDtypeStruct((1, ts, ts, 3), jnp.uint8),
                         jax.ShapeDtypeStruct((1, ts, ts), jnp.bool_))
    k, n = int(num_streams), self.num_templates
    return jax.tree_util.tree_map(lambda s: jnp.zeros((k, n * s.shape[1]) + s.shape[2:], s.dtype),
                                  one)

  def initial_memory(self, variables: Mapping[str, Any], frame: np.ndarray,
                     box: np.ndarray) -> Tokens:
    return self.initial_templates(variables, frame, box)

  def idle_inputs(self) -> tuple[np.ndarray, np.ndarray]:
    """An all-padding search crop and its mask."""
    size = self.search_size
    return np.zeros((size, size, 3), np.uint8), np.ones((size, size), bool)

  def search_inputs(self, frame: np.ndarray, box: np.ndarray):
    """``((crop, mask), resize_factor)`` of the search region around ``box``."""
    crop, mask, resize_factor = self.search_crop(frame, box)
    return (crop, mask), resize_factor

  def frame_result(self, outputs, box: np.ndarray, resize_factor: float, frame_shape):
    """``(pred (4,), logit ())`` of one slot -> ``(box_xywh, score)``; ``(None, 0.0)`` if not
    finite."""
    pred, logit = outputs
    new_box = self.box_from_prediction(pred, box, resize_factor, frame_shape)
    if new_box is None:
      return None, 0.0
    return new_box, self.score_of(logit)

  def update_memory(self, variables: Mapping[str, Any], memory: Tokens, slot: int, frame_id: int,
                    frame: np.ndarray, box: np.ndarray, score: float) -> Tokens:
    """Re-crops the dynamic template of ``slot`` around ``box`` when an update is due."""
    if not self.wants_update(frame_id, score):
      return memory
    dynamic = self.encode_template(variables, frame, box)
    offset = dynamic.feat.shape[1] * (self.num_templates - 1)
    return self.write_tokens(memory, dynamic, jnp.int32(slot), jnp.int32(offset))


def build_tracker(config, dataset: str | None = None, dtype: Any = jnp.float32) -> StarkTracker:
  """The family's tracker for ``config`` (``config.model``, ``config.tracker``)."""
  return StarkTracker(config.model, config.tracker, dataset=dataset, dtype=dtype)


def _write_tokens(tokens: Tokens, part: Tokens, row, offset) -> Tokens:
  """Writes ``part`` (1, L, C) into batch row ``row`` at token ``offset`` of ``tokens``."""
  return jax.tree_util.tree_map(
      lambda dst, src: jax.lax.dynamic_update_slice(
          dst, src.astype(dst.dtype), (row, offset) + (0,) * (dst.ndim - 2)),
      tokens, part)
