"""Crop geometry against a literal pad-then-resize version of the reference sample_target."""

import math

import cv2
import numpy as np
import pytest

from trackjax.geometry import boxes as box_lib
from trackjax.geometry import crops


def reference_sample_target(image, box, factor, out_size):
  """Literal pad-then-resize, as the official code (fully-outside windows made all padding)."""
  x, y, w, h = box
  crop_size = math.ceil(math.sqrt(w * h) * factor)
  x1 = round(x + 0.5 * w - crop_size * 0.5)
  y1 = round(y + 0.5 * h - crop_size * 0.5)
  x2, y2 = x1 + crop_size, y1 + crop_size
  height, width = image.shape[:2]
  x1_pad, y1_pad = max(0, -x1), max(0, -y1)
  x2_pad, y2_pad = max(x2 - width + 1, 0), max(y2 - height + 1, 0)
  patch = np.zeros((crop_size, crop_size, image.shape[2]), np.uint8)
  mask = np.ones((crop_size, crop_size), np.float64)
  r0, r1 = y1 + y1_pad, y2 - y2_pad
  c0, c1 = x1 + x1_pad, x2 - x2_pad
  if r1 > r0 and c1 > c0:
    patch[r0 - y1:r1 - y1, c0 - x1:c1 - x1] = image[r0:r1, c0:c1]
    mask[r0 - y1:r1 - y1, c0 - x1:c1 - x1] = 0
  crop = cv2.resize(patch, (out_size, out_size))
  mask = cv2.resize(mask, (out_size, out_size)).astype(bool)
  return crop, mask, out_size / crop_size


def noise_image(rng, height, width):
  """Uniform noise: the hardest case for interpolation differences."""
  return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def random_box(rng, height, width):
  kind = rng.integers(4)
  if kind == 0:  # tiny
    w, h = rng.uniform(0.3, 4, size=2)
  elif kind == 1:  # huge
    w, h = rng.uniform(1, 3, size=2) * (width, height)
  else:
    w, h = rng.uniform(2, 0.7 * width), rng.uniform(2, 0.7 * height)
  cx = rng.uniform(-0.5 * width, 1.5 * width)
  cy = rng.uniform(-0.5 * height, 1.5 * height)
  return np.array([cx - w / 2, cy - h / 2, w, h])


@pytest.mark.parametrize('flip', [False, True])
def test_sample_target_matches_pad_then_resize(flip):
  rng = np.random.default_rng(0)
  worst = 0
  for trial in range(600):
    height, width = int(rng.integers(3, 90)), int(rng.integers(3, 90))
    image = noise_image(rng, height, width)
    box = random_box(rng, height, width)
    factor, out_size = [(2.0, 16), (5.0, 40), (2.0, 13), (4.0, 7), (2.0, 128), (5.0, 320)][
        trial % 6]
    if math.ceil(math.sqrt(box[2] * box[3]) * factor) < 1:
      continue
    ref_image = image[:, ::-1].copy() if flip else image
    want, want_mask, want_rf = reference_sample_target(ref_image, box, factor, out_size)
    got, got_mask, got_rf = crops.sample_target(image, box, factor, out_size, flip=flip)
    assert got.dtype == np.uint8 and got.shape == (out_size, out_size, 3)
    np.testing.assert_array_equal(got_mask, want_mask, err_msg=f'trial {trial} box {box}')
    worst = max(worst, int(np.abs(got.astype(int) - want.astype(int)).max()))
    assert got_rf == want_rf
  assert worst <= 2


def test_interior_window_is_bit_exact_and_uses_window_only():
  rng = np.random.default_rng(1)
  image = rng.integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
  box = np.array([600.3, 300.7, 41.2, 37.9])
  want, want_mask, _ = reference_sample_target(image, box, 5.0, 320)
  got, got_mask, _ = crops.sample_target(image, box, 5.0, 320)
  np.testing.assert_array_equal(got, want)
  assert not got_mask.any()


def test_last_row_and_column_are_padding():
  image = np.full((11, 11, 3), 200, np.uint8)
  crop, mask, rf = crops.sample_target(image, [0, 0, 11, 11], 1.0, 11)  # window = whole frame
  assert rf == 1.0
  assert mask[-1].all() and mask[:, -1].all() and not mask[:-1, :-1].any()
  assert (crop[-1] == 0).all() and (crop[:, -1] == 0).all() and (crop[:-1, :-1] == 200).all()


def test_crop_window_rounds_half_to_even_and_rejects_empty():
  assert crops.crop_window([0.5, 0.5, 1, 1], 2.0) == (0, 0, 2)  # round(0.0)
  assert crops.crop_window([1.0, 2.0, 1, 1], 1.0) == (1, 2, 1)  # round(1.0), round(2.0)
  assert crops.crop_window([0.0, 0.0, 3, 3], 1.0)[0] == 0  # 1.5 - 1.5
  assert crops.crop_window([1.0, 1.0, 1, 1], 3.0)[0] == 0  # 1.5 - 1.5 = 0.0
  assert crops.crop_window([0.5, 0, 2, 1], 1.0)[0] == 0  # round(1.5 - 1.0)=round(0.5)=0
  assert crops.crop_window([1.5, 0, 2, 1], 1.0)[0] == 2  # round(1.5)=2
  with pytest.raises(ValueError, match='too small'):
    crops.crop_window([5, 5, 0, 0], 2.0)
  with pytest.raises(ValueError):
    crops.sample_target(np.zeros((8, 8, 3), np.uint8), [1, 1, np.nan, 2], 2.0, 8)


def test_box_to_crop_and_back():
  rng = np.random.default_rng(2)
  for _ in range(500):
    prev = np.array([*rng.uniform(-50, 500, 2), *rng.uniform(1, 400, 2)])
    box = prev + np.array([*rng.normal(0, 20, 2), *rng.normal(0, 5, 2)])
    box[2:] = np.abs(box[2:]) + 1
    _, _, crop_size = crops.crop_window(prev, 5.0)
    rf = 320 / crop_size
    in_crop = crops.image_to_crop_box(box, prev, rf, 320)
    back = crops.crop_to_image_box(box_lib.xywh_to_cxcywh(in_crop), prev, rf, 320)
    # The reference centres training crops on (S - 1) / 2 and inference crops on S / 2: half a
    # crop pixel apart. Round trip within one crop pixel.
    np.testing.assert_allclose(back[2:], box[2:], atol=1e-6)
    assert np.abs(back[:2] - box[:2]).max() * rf <= 1.0


def test_image_to_crop_box_centre_and_scale():
  out = crops.image_to_crop_box([10, 20, 4, 6], [10, 20, 4, 6], 2.0, 128, normalize=False)
  np.testing.assert_allclose(out, [63.5 - 4, 63.5 - 6, 8, 12])
  np.testing.assert_allclose(crops.image_to_crop_box([10, 20, 4, 6], [10, 20, 4, 6], 2.0, 128),
                             out / 128)


def test_box_conversions_and_clip():
  b = np.array([[1.0, 2.0, 3.0, 4.0]])
  np.testing.assert_allclose(box_lib.xyxy_to_xywh(box_lib.xywh_to_xyxy(b)), b)
  np.testing.assert_allclose(box_lib.cxcywh_to_xywh(box_lib.xywh_to_cxcywh(b)), b)
  np.testing.assert_allclose(box_lib.xyxy_to_cxcywh(box_lib.cxcywh_to_xyxy(b)), b)
  np.testing.assert_allclose(box_lib.xywh_to_cxcywh(b), [[2.5, 4.0, 3.0, 4.0]])
  np.testing.assert_allclose(box_lib.clip_box([-5, 95, 30, 30], 100, 200), [0, 90, 25, 10])
  np.testing.assert_allclose(box_lib.clip_box([195, 10, 2, 2], 100, 200), [190, 10, 10, 10])
  assert list(box_lib.is_valid_xywh([[0, 0, 1, 1], [0, 0, 0, 1], [np.nan, 0, 1, 1]])) == [
      True, False, False]


def test_full_size_frames_partly_outside():
  rng = np.random.default_rng(5)
  image = rng.integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)
  for box, factor, size in [([-40.3, 600.2, 120.5, 90.1], 5.0, 320),
                            ([1200.7, -20.1, 70.2, 300.9], 2.0, 128),
                            ([100.0, 50.0, 1100.0, 640.0], 5.0, 320),  # window >> frame
                            ([1270.2, 710.6, 3.3, 2.1], 2.0, 128)]:  # tiny, at the corner
    for flip in (False, True):
      want, want_mask, _ = reference_sample_target(image[:, ::-1].copy() if flip else image,
                                                   box, factor, size)
      got, got_mask, _ = crops.sample_target(image, box, factor, size, flip=flip)
      np.testing.assert_array_equal(got_mask, want_mask)
      assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
