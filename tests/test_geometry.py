"""Crop windows, the last row/column rule and box mappings (pixel tests: test_crops_reference)."""

import numpy as np
import pytest

from trackjax.geometry import boxes as box_lib
from trackjax.geometry import crops


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
