"""Square crops around a target box, shared by training samples and inference.

This is the one implementation of ``sample_target`` (pytracking's crop with the padding mask, as
the transformer trackers' reference code has it in ``lib/train/data/processing_utils.py``) and of
the box mappings between a frame and a crop. ``sample_target`` returns the bytes of the official
pad-then-resize:

* The crop window is ``crop_size = ceil(sqrt(w*h) * factor)`` pixels wide, its corner at
  ``round(centre - crop_size / 2)`` (round half to even, as Python's ``round``).
* Pixels of the window outside the frame are zero, and so are the frame's LAST row and column
  whenever the window reaches them: the official code pads with ``max(x2 - W + 1, 0)``, so only
  columns ``[0, W - 1)`` and rows ``[0, H - 1)`` of a frame ever contribute. ``pad_mask`` is True
  on padded pixels.
* The padded window is resized to ``out_size`` with ``cv2.resize`` (INTER_LINEAR, which OpenCV
  turns into INTER_AREA for an exact 2x downscale); the mask is the resized 0/1 padding
  indicator cast to bool.

The padded window is built with the reference's bytes, but cheaply: only the in-frame part is
copied into a zero window (a reused per-thread buffer, zeroed again after use), and the same
``cv2.resize`` call reads it. Bilinear taps read two source rows per output row, so a window at
least 6x the output copies only the rows they can reach. OpenCV's fixed-point resize rounds
differently by column and by code path, so it is called, never re-implemented.
A window inside the frame is resized straight from a view of the frame. Joint flip and
grayscale act on the in-frame part only (``cv2.flip``, ``cv2.cvtColor``: per pixel, so equal to
the reference's whole-frame conversion), never on a copy of the frame.

Two differences from the reference, both outside what its tracker can produce: a window wholly
left of or above the frame (``x2 < 0`` or ``y2 < 0``, where the reference's slicing wraps
negative indices into a crop of the wrong size) is all padding here, and a window longer than
``MAX_WINDOW_TO_FRAME`` frame sides raises ``WindowTooLarge`` instead of allocating it.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

# The reference tracker clips its box into the frame, so its windows are at most
# ``5 * sqrt(W * H) <= 5 * max(W, H)``. Training's scale jitter multiplies ``sqrt(w * h)`` by
# ``exp(N(0, 1) * 0.5 / sqrt(2))``: even a box covering a 16:9 frame gets a search window under
# 16 frame sides up to 4 sigma. Longer windows come from annotation errors, and would take
# gigabytes of address space. For tiny frames the limit never drops below 16 * 256 pixels (a
# 50 MB window, mostly never touched).
MAX_WINDOW_TO_FRAME = 16
_MIN_FRAME_SIDE = 256
_REUSED_WINDOW_BYTES = 64 << 20  # per thread: windows up to 4729 pixels square
_reused = threading.local()


class WindowTooLarge(ValueError):
  """A crop window absurdly larger than its frame (the message names the box and frame size)."""


def crop_window(box_xywh, factor: float) -> tuple[int, int, int]:
  """Returns ``(x1, y1, crop_size)`` of the square window ``sample_target`` crops around ``box_xywh``.

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


def max_window(height: int, width: int) -> int:
  """Longest crop window side ``sample_target`` accepts for an (height, width) frame."""
  return MAX_WINDOW_TO_FRAME * max(height, width, _MIN_FRAME_SIDE)


def _axis_pad_mask(start: int, crop_size: int, out_size: int, valid: int) -> np.ndarray:
  """True for output positions along one axis that take weight from a padded pixel.

  The 2-D mask is the OR of a row mask and a column mask (a padded pixel lies in a padded row or
  column, and bilinear weights are non-negative). Each axis is resized as a 2-pixel-thick
  float64 indicator with ``cv2.resize``, so the tap weights, tiny rounding-level ones included,
  are OpenCV's own at O(crop_size) cost (a 1-pixel-thick input takes another OpenCV code path
  with different rounding). Equal to the reference's 2-D mask (verified on 20,000 windows).
  """
  q = start + np.arange(crop_size)
  padded = ((q < 0) | (q >= valid)).astype(np.float64)
  strip = np.broadcast_to(padded[None, :], (2, crop_size)).copy()
  return cv2.resize(strip, (out_size, 2), interpolation=cv2.INTER_LINEAR)[0] != 0


def _rows_read(crop_size: int, out_size: int) -> np.ndarray:
  """(crop_size,) bool: window rows that a bilinear resize from ``crop_size`` to ``out_size`` can
  read: the two taps ``floor((i + 0.5) * crop_size / out_size - 0.5) + {0, 1}`` of each output
  row ``i``, with one row of margin either side (OpenCV rounds the coordinate to float32)."""
  first = np.floor((np.arange(out_size) + 0.5) * (crop_size / out_size) - 0.5).astype(np.int64)
  first = np.clip(first, 0, crop_size - 1)  # OpenCV clamps the taps into the window
  read = np.zeros(crop_size + 3, bool)
  for k in range(4):
    read[first + k] = True  # rows first - 1 .. first + 2, shifted by one
  return read[1:crop_size + 1]


def _resize_padded(part: np.ndarray, rows, col: int, crop_size: int,
                   out_size: int) -> np.ndarray:
  """``cv2.resize`` to ``out_size`` of the zero (crop_size, crop_size, 3) window that holds
  ``part`` at window rows ``rows`` (a slice or an index array) from column ``col``: the
  reference's padded window, without its cost.

  The window is a view of this thread's reused zero buffer (up to 64 MB; the pixels written are
  zeroed again afterwards), so it costs about the part's size: glibc serves callocs of 4-32 MB
  from its heap and clears them, and the page faults of fresh larger ones cost milliseconds.
  """
  cols = slice(col, col + part.shape[1])
  if part.dtype != np.uint8 or crop_size * crop_size * 3 > _REUSED_WINDOW_BYTES:
    window = np.zeros((crop_size, crop_size, 3), part.dtype)
    window[rows, cols] = part
    return cv2.resize(window, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
  buffer = getattr(_reused, 'buffer', None)
  if buffer is None:
    buffer = _reused.buffer = np.zeros(_REUSED_WINDOW_BYTES, np.uint8)
  window = buffer[:crop_size * crop_size * 3].reshape(crop_size, crop_size, 3)
  try:
    window[rows, cols] = part
    return cv2.resize(window, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
  finally:
    window[rows, cols] = 0


def sample_target(image: np.ndarray, box_xywh, factor: float, out_size: int, *,
                  flip: bool = False, grayscale: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, float]:
  """Crops ``out_size`` x ``out_size`` pixels around ``box_xywh`` as the reference ``sample_target``.

  Args:
    image: (H, W, 3) RGB frame, or a grayscale (H, W) / (H, W, 1) one, which is cropped as the
      3-channel frame of equal channels that ``cv2.imread`` gives the reference.
    box_xywh: window centre box, pixels of ``image`` (of the flipped frame when ``flip``).
    factor: window side relative to ``sqrt(w * h)``.
    out_size: side of the output crop.
    flip: crop as the reference crops ``np.fliplr(image)`` (training's joint flip); no flipped
      copy of the frame is made.
    grayscale: crop as the reference crops the frame after ``cv2.cvtColor(RGB2GRAY)`` stacked to
      3 channels (training's joint grayscale); only the in-frame part is converted.

  Returns:
    ``(crop, pad_mask, resize_factor)``: crop (S, S, 3) of the frame's dtype, pad_mask (S, S)
    bool (True on padding), and ``resize_factor = out_size / crop_size``.

  Raises:
    ValueError: a box that is not finite or gives a window under one pixel, a frame of another
      shape; ``WindowTooLarge`` when the window is longer than ``max_window(H, W)``.
  """
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[:, :, 0]
  if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
    raise ValueError(f'expected an (H, W, 3), (H, W, 1) or (H, W) frame, got shape {image.shape}')
  height, width = image.shape[:2]
  x1, y1, crop_size = crop_window(box_xywh, factor)
  if crop_size > max_window(height, width):
    raise WindowTooLarge(
        f'box {[float(v) for v in np.asarray(box_xywh).reshape(-1)]} gives a {crop_size}-pixel crop window (factor {factor}) for a '
        f'{width}x{height} frame: more than {MAX_WINDOW_TO_FRAME}x the frame')
  resize_factor = out_size / crop_size

  # The part of the window that the frame fills: rows [0, H-1) and columns [0, W-1) only.
  r0, r1 = max(y1, 0), min(y1 + crop_size, height - 1)
  c0, c1 = max(x1, 0), min(x1 + crop_size, width - 1)
  inside = r0 == y1 and c0 == x1 and r1 == y1 + crop_size and c1 == x1 + crop_size
  part = None
  if r0 < r1 and c0 < c1:
    rows = slice(r0, r1)
    if not inside and crop_size >= 6 * out_size:  # most rows are never read: copy the others
      rows = np.flatnonzero(_rows_read(crop_size, out_size)[r0 - y1:r1 - y1]) + r0
    # Column u of the flipped frame is column W - 1 - u of the frame.
    part = image[rows, width - c1:width - c0] if flip else image[rows, c0:c1]
  if part is not None and len(part):
    if grayscale and part.ndim == 3:
      part = cv2.cvtColor(part, cv2.COLOR_RGB2GRAY)  # per pixel: equal to converting the frame
    if part.ndim == 2:
      part = cv2.cvtColor(part, cv2.COLOR_GRAY2RGB)  # stacked to 3 channels
    if flip:
      part = cv2.flip(part, 1)
  else:
    part = None  # the resize reads padding only
  if inside:  # the window is the part: a view of the frame unless converted or flipped
    crop = cv2.resize(part, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
  elif part is None:  # zeros resize to zeros
    crop = np.zeros((out_size, out_size, 3), image.dtype)
  else:
    rows = slice(r0 - y1, r1 - y1) if isinstance(rows, slice) else rows - y1
    crop = _resize_padded(part, rows, c0 - x1, crop_size, out_size)

  if inside:
    pad_mask = np.zeros((out_size, out_size), bool)
  else:
    mask_x = _axis_pad_mask(x1, crop_size, out_size, width - 1)
    mask_y = _axis_pad_mask(y1, crop_size, out_size, height - 1)
    pad_mask = mask_y[:, None] | mask_x[None, :]
  return crop, pad_mask, resize_factor


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

  As the reference trackers' ``map_box_back``: the crop is centred on the previous box's centre
  and spans ``search_size / resize_factor`` frame pixels.
  """
  pred = np.asarray(pred_cxcywh_norm, dtype=np.float64) * search_size / resize_factor
  prev = np.asarray(prev_box_xywh, dtype=np.float64)
  half_side = 0.5 * search_size / resize_factor
  prev_centre = prev[..., :2] + 0.5 * prev[..., 2:]
  centre = pred[..., :2] + prev_centre - half_side
  wh = pred[..., 2:]
  return np.concatenate([centre - 0.5 * wh, wh], axis=-1)
