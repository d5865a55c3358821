"""``sample_target`` byte for byte against a re-statement of the reference's pad-then-resize."""

import math
import time

import cv2
import numpy as np
import pytest

from trackjax.geometry import crops

SETTINGS = [(2.0, 128), (5.0, 320), (2.0, 16), (4.0, 7), (5.0, 40)]  # template, search, odd


def reference_sample_target(frame, box, factor, out_size):
  """The official ``sample_target`` as described: numpy slicing, copyMakeBorder, cv2.resize.

  Returns None where its slicing wraps negative indices (window wholly left of or above).
  """
  x, y, w, h = box
  crop_sz = math.ceil(math.sqrt(w * h) * factor)
  x1 = round(x + 0.5 * w - crop_sz * 0.5)
  y1 = round(y + 0.5 * h - crop_sz * 0.5)
  x2, y2 = x1 + crop_sz, y1 + crop_sz
  if x2 < 0 or y2 < 0:
    return None
  x1_pad, y1_pad = max(0, -x1), max(0, -y1)
  x2_pad = max(x2 - frame.shape[1] + 1, 0)
  y2_pad = max(y2 - frame.shape[0] + 1, 0)
  im_crop = frame[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad, :]
  padded = cv2.copyMakeBorder(im_crop, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
  height, width = padded.shape[:2]
  att_mask = np.ones((height, width))
  att_mask[y1_pad:height - y2_pad, x1_pad:width - x2_pad] = 0
  crop = cv2.resize(padded, (out_size, out_size))
  mask = cv2.resize(att_mask, (out_size, out_size)).astype(np.bool_)
  return crop, mask, out_size / crop_sz


def reference_frame(frame, flip, grayscale):
  """What the reference crops: 3 channels (as cv2.imread), then the joint gray and flip."""
  if frame.ndim == 2:
    frame = np.stack([frame] * 3, axis=2)
  if grayscale:
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    frame = np.stack([gray, gray, gray], axis=2)
  return np.fliplr(frame).copy() if flip else frame


def noise_frame(rng, height, width):
  return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def smooth_frame(rng, height, width):
  """Photo-like: smooth colour fields with a little sensor noise."""
  small = rng.uniform(0, 255, size=(max(2, height // 16), max(2, width // 16), 3))
  field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
  field += rng.normal(0, 3, size=field.shape)
  return np.clip(field, 0, 255).astype(np.uint8)


def box_for_window(x1, y1, crop_size, factor):
  """A box whose crop window is exactly ``(x1, y1, crop_size)``."""
  side = (crop_size - 0.5) / factor
  return np.array([x1 + 0.5 * crop_size - 0.5 * side, y1 + 0.5 * crop_size - 0.5 * side,
                   side, side])


def windows(rng, height, width):
  """Crop windows of every kind: inside, across each edge and corner, outside, tiny, huge."""
  side = max(height, width)
  out = []
  for _ in range(3):
    c = int(rng.integers(1, max(2, min(height, width) - 2)))
    out.append((int(rng.integers(0, max(1, width - c))), int(rng.integers(0, max(1, height - c))),
                c))  # inside (or touching the last row/column)
  for ex in (-1, 0, 1):  # left / inside / right, top / inside / bottom
    for ey in (-1, 0, 1):
      c = int(rng.integers(2, max(3, 2 * side)))
      x1 = {-1: -int(rng.integers(1, c)), 0: (width - c) // 2,
            1: width - 1 - int(rng.integers(0, c))}[ex]
      y1 = {-1: -int(rng.integers(1, c)), 0: (height - c) // 2,
            1: height - 1 - int(rng.integers(0, c))}[ey]
      out.append((x1, y1, c))
  out.append((int(rng.integers(0, width)), int(rng.integers(0, height)), 1))  # tiny
  out.append((width - 1, height - 1, 1))  # tiny, on the excluded corner pixel
  c = int(rng.integers(side, 4 * side))  # huge: the frame lies inside the window
  out.append((-int(rng.integers(1, c - width + 2)), -int(rng.integers(1, c - height + 2)), c))
  out.append((width + 3, int(rng.integers(-5, height)), 7))  # outside, right
  out.append((int(rng.integers(-5, width)), height - 1, 9))  # outside, below (on the last row)
  out.append((-20, 3, 10))  # outside, left: the reference wraps
  out.append((3, -12, 4))  # outside, above: the reference wraps
  return out


@pytest.mark.parametrize('kind', ['noise', 'smooth', 'gray_frame'])
def test_byte_identical_to_pad_then_resize(kind):
  rng = np.random.default_rng({'noise': 0, 'smooth': 1, 'gray_frame': 2}[kind])
  checked = wrapped = 0
  for trial in range(24):
    height, width = int(rng.integers(2, 120)), int(rng.integers(2, 120))
    if trial == 0:
      height, width = 1, 1
    frame = (smooth_frame if kind == 'smooth' else noise_frame)(rng, height, width)
    if kind == 'gray_frame':
      frame = frame[:, :, 0] if trial % 2 else frame[:, :, :1]
    flip, grayscale = bool(trial % 2), bool(trial % 3 == 0)
    ref_frame = reference_frame(frame if frame.ndim == 3 and frame.shape[2] == 3
                                else frame.reshape(height, width), flip, grayscale)
    for i, (x1, y1, c) in enumerate(windows(rng, height, width)):
      factor, out_size = SETTINGS[(trial + i) % len(SETTINGS)]
      box = box_for_window(x1, y1, c, factor)
      assert crops.crop_window(box, factor) == (x1, y1, c)
      got, got_mask, got_rf = crops.sample_target(frame, box, factor, out_size, flip=flip,
                                                  grayscale=grayscale)
      assert got.dtype == np.uint8 and got.shape == (out_size, out_size, 3)
      assert got_mask.dtype == bool and got_mask.shape == (out_size, out_size)
      want = reference_sample_target(ref_frame, box, factor, out_size)
      if want is None:  # documented: all padding where the reference wraps
        assert not got.any() and got_mask.all()
        wrapped += 1
        continue
      msg = f'{kind} trial {trial} frame {width}x{height} window {(x1, y1, c)} flip {flip}'
      assert np.array_equal(got, want[0]) and np.array_equal(got_mask, want[1]), msg
      assert got_rf == want[2]
      checked += 1
  assert checked > 300 and wrapped > 20


@pytest.mark.parametrize('flip', [False, True])
def test_random_boxes_on_full_size_frames(flip):
  """Tracking-like boxes on 1280x720 frames, both settings, exact-2x (INTER_AREA) windows."""
  rng = np.random.default_rng(3)
  frame = smooth_frame(rng, 720, 1280)
  frame[::7] = noise_frame(rng, 1, 1280)  # sharp rows: rounding differences would show
  ref_frame = np.fliplr(frame).copy() if flip else frame
  cases = []
  for i in range(40):
    w, h = rng.uniform(5, 500), rng.uniform(5, 400)
    cases.append(([rng.uniform(-w, 1280), rng.uniform(-h, 720), w, h], *SETTINGS[i % 2]))
  cases += [(box_for_window(-100, 200, 256, 2.0), 2.0, 128),  # exact 2x
            (box_for_window(1000, 500, 640, 5.0), 5.0, 320)]
  for box, factor, out_size in cases:
    got, got_mask, got_rf = crops.sample_target(frame, box, factor, out_size, flip=flip)
    want, want_mask, want_rf = reference_sample_target(ref_frame, box, factor, out_size)
    np.testing.assert_array_equal(got, want, err_msg=f'box {box}')
    np.testing.assert_array_equal(got_mask, want_mask, err_msg=f'box {box}')
    assert got_rf == want_rf


def test_windows_over_the_reused_buffer_size(monkeypatch):
  """Windows too large for the per-thread reused buffer are built with np.zeros: same bytes."""
  monkeypatch.setattr(crops, '_REUSED_WINDOW_BYTES', 3 * 50 * 50)
  rng = np.random.default_rng(5)
  frame = noise_frame(rng, 60, 80)
  for x1, y1, c in [(-5, -5, 50), (-5, -5, 51), (-30, 10, 120), (40, 30, 200)]:
    box = box_for_window(x1, y1, c, 5.0)
    got = crops.sample_target(frame, box, 5.0, 40, flip=c % 2 == 1)
    want = reference_sample_target(np.fliplr(frame).copy() if c % 2 else frame, box, 5.0, 40)
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize('crop_size,out_size', [(97, 7), (200, 16), (1000, 160)])
def test_rows_left_unwritten_are_never_read(crop_size, out_size):
  """Large windows copy only the rows ``_rows_read`` names: every row that moves cv2's output
  must be among them."""
  read = crops._rows_read(crop_size, out_size)  # pylint: disable=protected-access
  assert read.sum() < crop_size
  window = np.zeros((crop_size, crop_size, 3), np.uint8)
  for r in range(crop_size):
    window[r] = 255
    assert read[r] or not cv2.resize(window, (out_size, out_size)).any(), f'row {r}'
    window[r] = 0


def test_grayscale_frames_equal_their_3_channel_copies():
  rng = np.random.default_rng(4)
  gray = smooth_frame(rng, 50, 70)[:, :, 1]
  rgb = np.stack([gray] * 3, axis=2)
  box = [-10.3, 20.8, 40.2, 30.7]
  want = crops.sample_target(rgb, box, 2.0, 64)
  for frame in (gray, gray[:, :, None]):
    for grayscale in (False, True):
      got = crops.sample_target(frame, box, 2.0, 64, grayscale=grayscale)
      np.testing.assert_array_equal(got[0], want[0])
      np.testing.assert_array_equal(got[1], want[1])
  with pytest.raises(ValueError, match=r'\(2, 2, 4\)'):
    crops.sample_target(np.zeros((2, 2, 4), np.uint8), box, 2.0, 8)


def test_absurd_box_raises_without_allocating():
  frame = np.zeros((720, 1280, 3), np.uint8)
  start = time.perf_counter()
  with pytest.raises(crops.WindowTooLarge, match=r'100000000000.0\].*1280x720 frame'):
    crops.sample_target(frame, [10.0, 20.0, 1e11, 1e11], 5.0, 320)
  assert time.perf_counter() - start < 0.5
  limit = crops.max_window(720, 1280)
  assert limit == crops.MAX_WINDOW_TO_FRAME * 1280
  crops.sample_target(frame, box_for_window(-10, -10, limit, 5.0), 5.0, 320)  # at the limit: ok
  with pytest.raises(crops.WindowTooLarge):
    crops.sample_target(frame, box_for_window(-10, -10, limit + 1, 5.0), 5.0, 320)
  assert crops.max_window(3, 2) == crops.max_window(256, 100) >= 4096  # tiny frames
