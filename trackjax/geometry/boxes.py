"""Box formats and conversions (numpy).

Three layouts are used across trackjax, all in pixels unless stated otherwise:
  * xywh: ``[x1, y1, w, h]`` (dataset annotations, result files),
  * xyxy: ``[x1, y1, x2, y2]`` (losses, IoU),
  * cxcywh: ``[cx, cy, w, h]`` (network outputs).
Every function accepts a single box of shape (4,) or a batch of shape (..., 4).
"""

from __future__ import annotations

import numpy as np


def _as_boxes(box) -> np.ndarray:
  box = np.asarray(box, dtype=np.float64)
  if box.shape[-1:] != (4,):
    raise ValueError(f'expected boxes with a last dimension of 4, got shape {box.shape}')
  return box


def xywh_to_xyxy(box) -> np.ndarray:
  b = _as_boxes(box)
  return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(box) -> np.ndarray:
  b = _as_boxes(box)
  return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def xywh_to_cxcywh(box) -> np.ndarray:
  b = _as_boxes(box)
  return np.concatenate([b[..., :2] + 0.5 * b[..., 2:], b[..., 2:]], axis=-1)


def cxcywh_to_xywh(box) -> np.ndarray:
  b = _as_boxes(box)
  return np.concatenate([b[..., :2] - 0.5 * b[..., 2:], b[..., 2:]], axis=-1)


def xyxy_to_cxcywh(box) -> np.ndarray:
  return xywh_to_cxcywh(xyxy_to_xywh(box))


def cxcywh_to_xyxy(box) -> np.ndarray:
  return xywh_to_xyxy(cxcywh_to_xywh(box))


def is_valid_xywh(box) -> np.ndarray:
  """True where a box is finite with positive width and height."""
  b = _as_boxes(box)
  return np.all(np.isfinite(b), axis=-1) & (b[..., 2] > 0) & (b[..., 3] > 0)


def clip_box(box_xywh, height: int, width: int, margin: float = 10) -> np.ndarray:
  """Clamps a predicted xywh box into the frame as the reference trackers' ``clip_box`` does.

  x1 is clamped to [0, W - margin], x2 to [margin, W], and w = max(margin, x2 - x1); the same
  for y with H. The result always has width and height of at least ``margin``.
  """
  x1, y1, w, h = np.moveaxis(_as_boxes(box_xywh), -1, 0)
  x2, y2 = x1 + w, y1 + h
  x1 = np.clip(x1, 0, width - margin)
  x2 = np.clip(x2, margin, width)
  y1 = np.clip(y1, 0, height - margin)
  y2 = np.clip(y2, margin, height)
  w = np.maximum(margin, x2 - x1)
  h = np.maximum(margin, y2 - y1)
  return np.stack([x1, y1, w, h], axis=-1)
