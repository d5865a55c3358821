"""Square crops around a target box, shared by training samples and inference.

This is the one implementation of STARK's ``sample_target`` and of the box mappings between a
frame and a crop. Conventions reproduced from the official code (researchmm/Stark):

* The crop window is ``crop_size = ceil(sqrt(w*h) * factor)`` pixels wide, its corner at
  ``round(centre - crop_size / 2)`` (round half to even, as Python's ``round``).
* Pixels of the window outside the frame are zero, and so are the frame's LAST row and column
  whenever the window reaches them: the official code pads with ``max(x2 - W + 1, 0)``, so only
  columns ``[0, W - 1)`` and rows ``[0, H - 1)`` of a frame ever contribute. ``pad_mask`` is True
  on padded pixels.
* The crop is then resized to ``out_size`` with OpenCV's bilinear rule (half-pixel centres,
  coordinates clamped at the crop's edges); a mask pixel is True when any padded pixel has a
  nonzero weight in it.

Instead of padding a (possibly huge) window and resizing it, ``sample_target`` samples the output
directly from the frame: ``cv2.resize`` of a view when the window lies inside the frame
(bit-exact with the reference), else one ``cv2.remap`` whose maps reproduce the resize rule
(OpenCV quantises remap coordinates to 1/32 pixel; on uniform-noise frames pixels differ by at
most 1 level). The mask is computed per axis (row mask OR column mask) and equals the
reference's mask exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def crop_window(box_xywh, factor: float) -> tuple[int, int, int]:
  """Returns ``(x1, y1, crop_size)`` of the square window STARK crops around ``box_xywh``.

  Raises:
    ValueError: when the box is not finite or the window would be smaller than one pixel.
  """
  x, y, w, h = (float(v) for v in box_xywh)
  area = w * h
  if not all(math.isfinite(v) for v in (x, y, w, h)) or area < 0:
    raise ValueError(f'cannot crop around box {list(box_xywh)}')
  crop_size = math.ceil(math.sqrt(area) * factor)
  if crop_size < 1:
    raise ValueError(f'box {list(box_xywh)} is too small: crop size {crop_size} < 1')
  x1 = round(x + 0.5 * w - crop_size * 0.5)
  y1 = round(y + 0.5 * h - crop_size * 0.5)
  return int(x1), int(y1), int(crop_size)


def _resize_taps(crop_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
  """OpenCV's bilinear source taps along one axis: index ``s`` and weight ``a`` of ``s + 1``."""
  scale = 1.0 / (out_size / crop_size)  # cv2 stores the inverse scale and inverts it.
  f = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
  s = np.floor(f)
  a = f - s
  s = s.astype(np.int64)
  low = s < 0
  s[low], a[low] = 0, 0
  high = s >= crop_size - 1
  s[high], a[high] = crop_size - 1, 0
  return s, a


def _axis_pad_mask(start: int, crop_size: int, out_size: int, valid: int) -> np.ndarray:
  """True for output positions along one axis that take weight from a padded pixel.

  The 2-D mask is the OR of a row mask and a column mask (a padded pixel lies in a padded row or
  column). Each axis is resized as a 2-pixel-thick float64 indicator with ``cv2.resize``, so the
  tap weights, tiny rounding-level ones included, are OpenCV's own at O(crop_size) cost (a
  1-pixel-thick input takes another OpenCV code path with different rounding).
  """
  q = start + np.arange(crop_size)
  padded = ((q < 0) | (q >= valid)).astype(np.float64)
  strip = np.broadcast_to(padded[None, :], (2, crop_size)).copy()
  return cv2.resize(strip, (out_size, 2), interpolation=cv2.INTER_LINEAR)[0] != 0


def _axis_map(start: int, crop_size: int, out_size: int) -> np.ndarray:
  s, a = _resize_taps(crop_size, out_size)
  return (start + s).astype(np.float32) + a


def sample_target(image: np.ndarray, box_xywh, factor: float, out_size: int,
                  *, flip: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
  """Crops ``out_size`` x ``out_size`` pixels around ``box_xywh`` as STARK's ``sample_target``.

  Args:
    image: (H, W, C) uint8 frame (C = 3 usually).
    box_xywh: window centre box, pixels of ``image``.
    factor: window side relative to ``sqrt(w * h)``.
    out_size: side of the output crop.
    flip: crop as if ``image`` had been flipped left-right first (``box_xywh`` is then in the
      flipped frame's coordinates); no flipped copy of the frame is made.

  Returns:
    ``(crop, pad_mask, resize_factor)``: crop (S, S, C) uint8, pad_mask (S, S) bool (True on
    padding), and ``resize_factor = out_size / crop_size``.
  """
  if image.ndim != 3:
    raise ValueError(f'expected an (H, W, C) image, got shape {image.shape}')
  height, width, channels = image.shape
  x1, y1, crop_size = crop_window(box_xywh, factor)
  mask_x = _axis_pad_mask(x1, crop_size, out_size, width - 1)
  mask_y = _axis_pad_mask(y1, crop_size, out_size, height - 1)
  pad_mask = mask_y[:, None] | mask_x[None, :]
  resize_factor = out_size / crop_size

  # Only rows [0, H-1) and columns [0, W-1) of the (possibly flipped) frame contribute.
  if flip:
    view = image[:height - 1, 1:]  # flipped column u is column W - 2 - u of this view
  else:
    view = image[:height - 1, :width - 1]
  if view.size == 0:
    return np.zeros((out_size, out_size, channels), np.uint8), pad_mask, resize_factor

  inside = x1 >= 0 and y1 >= 0 and x1 + crop_size <= width - 1 and y1 + crop_size <= height - 1
  if inside:
    if flip:
      xa = width - 1 - (x1 + crop_size)  # view columns of the window, reversed afterwards
      window = view[y1:y1 + crop_size, xa:xa + crop_size]
    else:
      window = view[y1:y1 + crop_size, x1:x1 + crop_size]
    crop = cv2.resize(window, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
    if flip:
      crop = crop[:, ::-1]
  else:
    map_x = _axis_map(x1, crop_size, out_size)
    if flip:
      map_x = (width - 2) - map_x
    map_y = _axis_map(y1, crop_size, out_size)
    map_x = np.ascontiguousarray(np.broadcast_to(map_x[None, :], (out_size, out_size)))
    map_y = np.ascontiguousarray(np.broadcast_to(map_y[:, None], (out_size, out_size)))
    crop = cv2.remap(view, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  crop = crop.reshape(out_size, out_size, channels)
  return np.ascontiguousarray(crop), pad_mask, resize_factor


def image_to_crop_box(box_xywh, crop_center_box_xywh, resize_factor: float, out_size: int,
                      normalize: bool = True) -> np.ndarray:
  """Maps a frame box into the crop taken around ``crop_center_box_xywh`` (training targets).

  As the reference ``transform_image_to_crop``: the window centre lands on ``(out_size - 1) / 2``
  and offsets scale by ``resize_factor``. Returns xywh in crop pixels, or divided by ``out_size``
  when ``normalize``.
  """
  box = np.asarray(box_xywh, dtype=np.float64)
  ref = np.asarray(crop_center_box_xywh, dtype=np.float64)
  centre = box[..., :2] + 0.5 * box[..., 2:]
  ref_centre = ref[..., :2] + 0.5 * ref[..., 2:]
  centre_out = (out_size - 1) / 2 + (centre - ref_centre) * resize_factor
  wh_out = box[..., 2:] * resize_factor
  out = np.concatenate([centre_out - 0.5 * wh_out, wh_out], axis=-1)
  return out / out_size if normalize else out


def crop_to_image_box(pred_cxcywh_norm, prev_box_xywh, resize_factor: float,
                      search_size: int) -> np.ndarray:
  """Maps a normalised cxcywh prediction in the search crop back to a frame xywh box.

  As the STARK tracker: the crop is centred on the previous box's centre and spans
  ``search_size / resize_factor`` frame pixels.
  """
  pred = np.asarray(pred_cxcywh_norm, dtype=np.float64) * search_size / resize_factor
  prev = np.asarray(prev_box_xywh, dtype=np.float64)
  half_side = 0.5 * search_size / resize_factor
  prev_centre = prev[..., :2] + 0.5 * prev[..., 2:]
  centre = pred[..., :2] + prev_centre - half_side
  wh = pred[..., 2:]
  return np.concatenate([centre - 0.5 * wh, wh], axis=-1)
