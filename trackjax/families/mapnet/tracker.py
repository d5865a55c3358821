"""Online MAPNet-R tracker with explicit state, as TransT's tracker (``pytracking/tracker/transt``).

  tracker = MapnetTracker(config.model, config.tracker)
  state = tracker.init(variables, first_frame, box_xywh)
  for frame in frames:
    box_xywh, score, state = tracker.track(variables, state, frame)

``init`` crops the template (factor 2, 128 px) around the initial box and encodes it once; the
template is never updated. Per frame: the search region (factor 4, 256 px) around the previous
box (``geometry.crops.sample_target``), then one jitted step that runs the network on the cached
template tokens AND ``postprocess.select_box`` (softmax foreground score, Hanning window blended
with ``window_influence``, optional scale/ratio penalty), so only the chosen normalised box and
its score come to the host; ``postprocess.frame_box`` maps it back to the frame (size smoothing
``size_lr``, clip ``clip``, sides of at least ``min_box_size``). The box is always taken whatever
the score; the score reported is the chosen token's foreground probability.

The jitted functions take a batch dimension; the batched hooks of
``trackjax.sot.tracker.SotTracker`` (memory = the template tokens of each slot) reuse them, so
``trackjax.sot.streams`` runs K streams that each follow the single-stream path.

Robustness (as STARK's tracker): frames may be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of any
size and dtype (``as_rgb_frame``); initial boxes are checked and grown to a minimum size
(``initial_box``); boxes partly or fully outside the frame are tracked from padded crops;
non-finite network outputs keep the previous box and report score 0, never NaN.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.families.mapnet import postprocess
from trackjax.families.mapnet.model import Tokens, build_mapnet, inference_variables
from trackjax.geometry.crops import sample_target
from trackjax.models.image_normalization import normalize_images
from trackjax.sot.tracker import InferenceForm, as_rgb_frame, initial_box


@flax.struct.dataclass
class TrackerState:
  """Everything one stream carries from frame to frame.

  Attributes:
    box: (4,) float64 ``[x, y, w, h]`` of the last frame, pixels.
    frame_id: frames tracked since ``init`` (0 right after ``init``).
    template: cached template tokens (1, L, C).
    score: foreground probability of the last frame's box (1 after ``init``, 0 after a
      non-finite output).
  """

  box: np.ndarray
  frame_id: int
  template: Tokens
  score: float = 1.0


class MapnetTracker:
  """Jitted MAPNet-R step plus the host-side crop logic; the state goes in and out explicitly.

  Args:
    model_config: ``config.model``.
    tracker_config: ``config.tracker`` (``window_influence``, ``penalty_k``, ``size_lr``,
      ``min_box_size``, ``clip``).
    dtype: compute dtype of the network (float32; bfloat16 as an option).

  ``variables`` are prepared for inference once (``model.inference_variables``) and reused while
  the same object is passed.
  """

  def __init__(self, model_config, tracker_config, dtype: Any = jnp.float32):
    self.model_config = model_config
    self.model = build_mapnet(model_config, dtype=dtype)
    self.dtype = dtype
    self.template_factor = float(model_config.template_factor)
    self.template_size = int(model_config.template_size)
    self.search_factor = float(model_config.search_factor)
    self.search_size = int(model_config.search_size)
    side = self.search_size // int(model_config.feature_stride)
    self.window = postprocess.hanning_window(side)
    self.window_influence = float(tracker_config.window_influence)
    self.penalty_k = float(tracker_config.penalty_k)
    self.size_lr = float(tracker_config.size_lr)
    self.min_box_size = float(tracker_config.min_box_size)
    self.clip = str(tracker_config.clip)
    if self.clip not in postprocess.CLIP_MODES:
      raise ValueError(f"config.tracker.clip={self.clip!r}: use one of {postprocess.CLIP_MODES}")
    self._encode_jit = jax.jit(self._encode)
    self._network_step_jit = jax.jit(self._network_step)
    # ``variables`` as the jitted functions take them, prepared once per variables object.
    self.inference_variables = InferenceForm(
        lambda variables: inference_variables(variables, model_config))

  def encode(self, variables, crops, masks) -> Tokens:
    """Jitted ``_encode`` on the inference form of ``variables``."""
    return self._encode_jit(self.inference_variables(variables), crops, masks)

  def network_step(self, variables, template: Tokens, crops, masks, prev_wh):
    """Jitted ``_network_step`` on the inference form of ``variables``."""
    return self._network_step_jit(self.inference_variables(variables), template, crops, masks,
                                  prev_wh)

  # --------------------------------------------------------------------------- device functions

  def _encode(self, variables, crops, masks) -> Tokens:
    """uint8 template crops (B, S, S, 3) and masks (B, S, S) -> tokens (B, L, C)."""
    return self.model.apply(variables, normalize_images(crops, self.dtype), masks,
                            method=self.model.encode_template)

  def _network_step(self, variables, template: Tokens, crops, masks, prev_wh):
    """Search crops (B, S, S, 3) uint8 and previous sizes (B, 2) normalised by the crop window
    -> the chosen normalised cxcywh (B, 4) and its foreground probability (B,)."""
    out = self.model.apply(variables, template, normalize_images(crops, self.dtype), masks,
                           method=self.model.track_step)
    box, score, _ = postprocess.select_box(
        out["pred_logits"], out["pred_boxes"], self.window, prev_wh,
        window_influence=self.window_influence, penalty_k=self.penalty_k)
    return box, score

  # --------------------------------------------------------------------------- host helpers

  def encode_template(self, variables, frame: np.ndarray, box: np.ndarray) -> Tokens:
    """Tokens (1, L, C) of the template cropped around ``box``."""
    crop, mask, _ = sample_target(frame, box, self.template_factor, self.template_size)
    return self.encode(variables, crop[None], mask[None])

  def search_inputs(self, frame: np.ndarray, box: np.ndarray):
    """``((crop, mask, prev_wh), resize_factor)`` of the search region around ``box``;
    ``prev_wh`` is the box size over the crop window side (the penalty's reference size)."""
    crop, mask, resize_factor = sample_target(frame, box, self.search_factor, self.search_size)
    prev_wh = (np.asarray(box[2:], np.float64) * resize_factor / self.search_size)
    return (crop, mask, prev_wh.astype(np.float32)), resize_factor

  def frame_result(self, outputs, box: np.ndarray, resize_factor: float, frame_shape):
    """``(pred (4,), score ())`` of one slot -> ``(box_xywh, score)``; ``(None, 0.0)`` when not
    finite."""
    pred, score = (np.asarray(x, np.float64) for x in outputs)
    if not (np.all(np.isfinite(pred)) and np.isfinite(score)):
      return None, 0.0
    new_box, new_score = postprocess.frame_box(
        pred, score, box, resize_factor, self.search_size, frame_shape[:2],
        min_box_size=self.min_box_size, clip=self.clip, size_lr=self.size_lr)
    if not np.all(np.isfinite(new_box)):
      return None, 0.0
    return new_box, float(new_score)

  # --------------------------------------------------------------------------- public API

  def init(self, variables: Mapping[str, Any], frame, box_xywh) -> TrackerState:
    """Encodes the template around ``box_xywh`` in the first frame."""
    frame = as_rgb_frame(frame)
    box = initial_box(box_xywh)
    return TrackerState(box=box, frame_id=0, template=self.encode_template(variables, frame, box),
                        score=1.0)

  def track(self, variables: Mapping[str, Any], state: TrackerState, frame):
    """One frame: returns ``(box_xywh (4,) float64, score, new_state)``."""
    frame = as_rgb_frame(frame)
    frame_id = state.frame_id + 1
    inputs, resize_factor = self.search_inputs(frame, state.box)
    outputs = self.network_step(variables, state.template, *(x[None] for x in inputs))
    pred, score = jax.device_get(outputs)
    box, score = self.frame_result((pred[0], score[0]), state.box, resize_factor, frame.shape)
    if box is None:  # non-finite output: keep the previous box, no confidence
      return state.box.copy(), 0.0, state.replace(frame_id=frame_id, score=0.0)
    return box, score, TrackerState(box=box, frame_id=frame_id, template=state.template,
                                    score=score)

  # --------------------------------------------------------------------------- batched hooks
  # (trackjax.sot.tracker.SotTracker; memory = template tokens (K, L, C))

  def empty_memory(self, variables: Mapping[str, Any], num_streams: int) -> Tokens:
    """Zero template tokens of ``num_streams`` slots (shapes from ``jax.eval_shape``)."""
    ts = self.template_size
    one = jax.eval_shape(self.encode, variables, jax.ShapeDtypeStruct((1, ts, ts, 3), jnp.uint8),
                         jax.ShapeDtypeStruct((1, ts, ts), jnp.bool_))
    k = int(num_streams)
    return jax.tree_util.tree_map(lambda s: jnp.zeros((k,) + s.shape[1:], s.dtype), one)

  def initial_memory(self, variables: Mapping[str, Any], frame: np.ndarray,
                     box: np.ndarray) -> Tokens:
    return self.encode_template(variables, frame, box)

  def idle_inputs(self):
    """An all-padding search crop, its mask and a unit previous size."""
    size = self.search_size
    return (np.zeros((size, size, 3), np.uint8), np.ones((size, size), bool),
            np.ones((2,), np.float32))

  def update_memory(self, variables: Mapping[str, Any], memory: Tokens, slot: int, frame_id: int,
                    frame: np.ndarray, box: np.ndarray, score: float) -> Tokens:
    """No template update (TransT / MAPNet keep the initial template)."""
    del variables, slot, frame_id, frame, box, score
    return memory


def build_tracker(config, dataset: str | None = None, dtype: Any = jnp.float32) -> MapnetTracker:
  """The family's tracker for ``config`` (``config.model``, ``config.tracker``); the same
  settings on every benchmark (``dataset`` is not read)."""
  del dataset
  return MapnetTracker(config.model, config.tracker, dtype=dtype)
