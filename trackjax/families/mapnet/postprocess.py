"""TransT's inference post-processing (``pytracking/tracker/transt/transt.py``) as pure functions.

Per frame, on the network's (..., L, 2) logits and (..., L, 4) normalised cxcywh boxes:

1. ``foreground_probability``: softmax over the two logits, foreground first.
2. ``scale_ratio_penalty``: SiamRPN's penalty ``exp(-(r * s - 1) * k)`` of a change of size
   (``s``) or aspect ratio (``r``) against the previous box; TransT's ``k = 0`` makes it 1 exactly
   (its code has the penalty commented out).
3. ``select_box``: ``pscore = penalty * score * (1 - w) + hanning * w`` (window influence 0.49),
   the best token's box and its foreground probability.
4. ``frame_box`` (host, numpy): the box mapped back to the frame
   (``geometry.crops.crop_to_image_box``), the size smoothed with ``size_lr`` (TransT: 1, the
   prediction), clipped (``'centre'``: TransT's ``_bbox_clip``; ``'corners'``:
   ``geometry.boxes.clip_box``) with sides of at least ``min_box_size``. A non-finite prediction
   or score keeps the previous box with score 0: never NaN.

Steps 1-3 are jax.numpy (inside the jitted tracking step, or on host arrays); step 4 needs the
frame-side numbers the host holds (previous box, crop resize factor, frame size). All accept
leading batch dimensions (K streams).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from trackjax.geometry.boxes import clip_box
from trackjax.geometry.crops import crop_to_image_box

CLIP_MODES = ("centre", "corners")
_EPS = 1e-6


def foreground_probability(logits) -> jnp.ndarray:
  """(..., L, 2) logits, foreground first -> (..., L) softmax foreground probability."""
  return jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)[..., 0]


def hanning_window(side: int) -> np.ndarray:
  """(side * side,) float32 ``np.outer(np.hanning(side), np.hanning(side))`` flattened row-major."""
  hanning = np.hanning(side)
  return np.outer(hanning, hanning).reshape(-1).astype(np.float32)


def scale_ratio_penalty(pred_wh, prev_wh, penalty_k: float) -> jnp.ndarray:
  """SiamRPN++'s penalty of (..., L, 2) normalised predicted sizes against (..., 2) previous ones.

  ``s = change(sz(w, h) / sz(w0, h0))``, ``r = change((w0 / h0) / (w / h))`` with
  ``change(x) = max(x, 1 / x)`` and ``sz(w, h) = sqrt((w + p)(h + p))``, ``p = (w + h) / 2``;
  penalty ``exp(-(r * s - 1) * k)``. Sizes are floored at 1e-6, so the penalty is finite;
  ``penalty_k == 0`` returns ones (exactly the identity on the scores).
  """
  pred_wh = jnp.asarray(pred_wh, jnp.float32)
  if float(penalty_k) == 0.0:
    return jnp.ones(pred_wh.shape[:-1], jnp.float32)
  pred_wh = jnp.maximum(pred_wh, _EPS)
  prev_wh = jnp.maximum(jnp.asarray(prev_wh, jnp.float32), _EPS)[..., None, :]

  def size(wh):
    pad = (wh[..., 0] + wh[..., 1]) * 0.5
    return jnp.sqrt((wh[..., 0] + pad) * (wh[..., 1] + pad))

  change = lambda r: jnp.maximum(r, 1.0 / r)
  scale = change(size(pred_wh) / size(prev_wh))
  ratio = change((prev_wh[..., 0] / prev_wh[..., 1]) / (pred_wh[..., 0] / pred_wh[..., 1]))
  return jnp.exp(-(ratio * scale - 1.0) * penalty_k)


def select_box(logits, boxes, window, prev_wh=None, window_influence: float = 0.49,
               penalty_k: float = 0.0):
  """The best token of each (..., L) score map: ``(box (..., 4), score (...), index (...))``.

  Args:
    logits: (..., L, 2) network logits; boxes: (..., L, 4) normalised cxcywh.
    window: (L,) cosine window (``hanning_window``).
    prev_wh: (..., 2) previous box size normalised by the search window side (only read when
      ``penalty_k != 0``).

  The score returned is the chosen token's foreground probability (before penalty and window).
  Non-finite penalised scores never win; if all are, token 0 is taken and ``frame_box`` keeps the
  previous box.
  """
  score = foreground_probability(logits)
  boxes = jnp.asarray(boxes, jnp.float32)
  if float(penalty_k) != 0.0:
    score_penalised = score * scale_ratio_penalty(boxes[..., 2:], prev_wh, penalty_k)
  else:
    score_penalised = score
  window = jnp.asarray(window, jnp.float32)
  pscore = score_penalised * (1.0 - window_influence) + window * window_influence
  pscore = jnp.where(jnp.isfinite(pscore), pscore, -jnp.inf)
  index = jnp.argmax(pscore, axis=-1)
  box = jnp.take_along_axis(boxes, index[..., None, None], axis=-2)[..., 0, :]
  best = jnp.take_along_axis(score, index[..., None], axis=-1)[..., 0]
  return box, best, index


def frame_box(pred_cxcywh, score, prev_box_xywh, resize_factor, search_size: int, frame_hw,
              min_box_size: float = 10.0, clip: str = "centre", size_lr: float = 1.0):
  """Maps selected predictions back to the frame (host, numpy): ``(box_xywh, score)``.

  Args:
    pred_cxcywh: (..., 4) normalised box in the search crop; score: (...) its confidence.
    prev_box_xywh: (..., 4) previous frame box (the crop was centred on it).
    resize_factor: (...) ``search_size / crop window side`` of each crop.
    frame_hw: (..., 2) or (2,) frame height and width.

  Returns float64 boxes with sides of at least ``min_box_size`` (when the frame is that large)
  and scores; non-finite predictions or scores keep ``prev_box_xywh`` with score 0.
  """
  if clip not in CLIP_MODES:
    raise ValueError(f"unknown clip mode {clip!r}: use one of {CLIP_MODES}")
  pred = np.asarray(pred_cxcywh, np.float64)
  score = np.asarray(score, np.float64)
  prev = np.asarray(prev_box_xywh, np.float64)
  resize_factor = np.asarray(resize_factor, np.float64)[..., None]
  frame_hw = np.asarray(frame_hw, np.float64)
  height, width = frame_hw[..., 0], frame_hw[..., 1]
  finite = np.all(np.isfinite(pred), axis=-1) & np.isfinite(score)
  pred = np.where(finite[..., None], pred, 0.5)  # computed on, then replaced below
  with np.errstate(invalid="ignore", over="ignore"):
    box = crop_to_image_box(pred, prev, resize_factor, search_size)
    wh = prev[..., 2:] * (1.0 - size_lr) + box[..., 2:] * size_lr
    centre = box[..., :2] + 0.5 * box[..., 2:]
    if clip == "centre":  # TransT's _bbox_clip
      cx = np.clip(centre[..., 0], 0, width)
      cy = np.clip(centre[..., 1], 0, height)
      w = np.maximum(min_box_size, np.minimum(wh[..., 0], width))
      h = np.maximum(min_box_size, np.minimum(wh[..., 1], height))
      out = np.stack([cx - w / 2, cy - h / 2, w, h], axis=-1)
    else:
      out = clip_box(np.concatenate([centre - wh / 2, wh], axis=-1), height, width,
                     margin=min_box_size)
  finite = finite & np.all(np.isfinite(out), axis=-1)
  return (np.where(finite[..., None], out, prev), np.where(finite, score, 0.0))
