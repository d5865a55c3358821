"""MAPNet-R's tracker post-processing (TransT's inference) on cases worked out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from trackjax.families.mapnet.config import tracker_config
from trackjax.families.mapnet.postprocess import (foreground_probability, frame_box,
                                                  hanning_window, scale_ratio_penalty, select_box)


def test_foreground_probability_is_the_softmax_of_the_first_logit():
  logits = jnp.array([[[math.log(3.0), 0.0], [0.0, 0.0], [0.0, math.log(3.0)]]])
  np.testing.assert_allclose(foreground_probability(logits), [[0.75, 0.5, 0.25]], rtol=1e-6)


def test_hanning_window_peaks_in_the_centre_and_wins_a_flat_score_map():
  window = hanning_window(32)
  assert window.shape == (1024,)
  np.testing.assert_allclose(window, np.outer(np.hanning(32), np.hanning(32)).reshape(-1),
                             rtol=1e-6)
  # np.hanning(32) peaks at 15 and 16: four equal central tokens, the first is row 15, column 15.
  centre = 15 * 32 + 15
  assert window[centre] == window.max() and window[0] == 0
  logits = jnp.zeros((2, 1024, 2))  # every score 0.5
  boxes = jnp.tile(jnp.array([0.5, 0.5, 0.1, 0.1]), (2, 1024, 1))
  box, score, index = select_box(logits, boxes, window)
  assert index.tolist() == [centre, centre]
  np.testing.assert_allclose(score, [0.5, 0.5])
  # At influence 0.49 a score of ~1 in a corner (window 0: 0.51) loses to the flat centre
  # (0.51 * 0.5 + 0.49 * 0.995 = 0.743); near the centre (window 0.634: 0.82) it wins.
  logits = logits.at[0, 0, 0].set(10.0)
  assert int(select_box(logits, boxes, window)[2][0]) == centre
  logits = logits.at[0, 10 * 32 + 12, 0].set(10.0)
  assert int(select_box(logits, boxes, window)[2][0]) == 10 * 32 + 12


def test_penalty_with_k_zero_is_the_identity_and_by_hand_otherwise():
  pred_wh = jnp.array([[[2.0, 2.0], [1.0, 1.0], [0.0, -1.0]]])
  prev_wh = jnp.array([[1.0, 1.0]])
  np.testing.assert_array_equal(scale_ratio_penalty(pred_wh, prev_wh, 0.0), np.ones((1, 3)))
  k = 0.3
  penalty = np.asarray(scale_ratio_penalty(pred_wh, prev_wh, k))
  # sz(1, 1) = sqrt(2 * 2) = 2, sz(2, 2) = 4: scale change 2, same ratio -> exp(-(2 - 1) k).
  np.testing.assert_allclose(penalty[0, :2], [math.exp(-k), 1.0], rtol=1e-6)
  assert np.isfinite(penalty).all()  # degenerate sizes are floored
  # The penalty can move the choice; k = 0 never does.
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(3, 16, 2)), jnp.float32)
  boxes = jax.nn.sigmoid(jnp.asarray(rng.normal(size=(3, 16, 4)), jnp.float32))
  window = hanning_window(4)
  plain = select_box(logits, boxes, window, window_influence=0.49)
  with_zero = select_box(logits, boxes, window, jnp.full((3, 2), 0.2), 0.49, penalty_k=0.0)
  for a, b in zip(plain, with_zero):
    np.testing.assert_array_equal(a, b)


def test_select_box_is_jittable_and_skips_non_finite_scores():
  config = tracker_config()
  window = hanning_window(4)
  logits = jnp.zeros((1, 16, 2)).at[0, 5].set(jnp.array([jnp.nan, 0.0]))
  logits = logits.at[0, 6, 0].set(2.0)
  boxes = jnp.tile(jnp.array([0.5, 0.5, 0.2, 0.2]), (1, 16, 1)).at[0, 6].set(
      jnp.array([0.6, 0.4, 0.3, 0.1]))
  fn = jax.jit(lambda l, b: select_box(l, b, window, None, config.window_influence,
                                       config.penalty_k))
  box, score, index = fn(logits, boxes)
  assert int(index[0]) == 6
  np.testing.assert_allclose(box[0], [0.6, 0.4, 0.3, 0.1])
  np.testing.assert_allclose(score[0], 1 / (1 + math.exp(-2.0)), rtol=1e-6)


def test_frame_box_maps_back_by_hand():
  prev = np.array([100.0, 100.0, 50.0, 50.0])  # centre (125, 125)
  resize_factor = 256 / 200  # the search window spans 200 frame pixels
  frame_hw = (480, 640)
  box, score = frame_box([0.5, 0.5, 0.25, 0.25], 0.9, prev, resize_factor, 256, frame_hw)
  np.testing.assert_allclose(box, prev)
  assert float(score) == 0.9
  # Centre 125 + 0.25 * 200 = 175, size 0.1 * 200 = 20 by 0.2 * 200 = 40.
  box, _ = frame_box([0.75, 0.5, 0.1, 0.2], 0.9, prev, resize_factor, 256, frame_hw)
  np.testing.assert_allclose(box, [165.0, 105.0, 20.0, 40.0])
  # size_lr blends the previous size: 50 * 0.5 + 20 * 0.5 = 35 by 45.
  box, _ = frame_box([0.75, 0.5, 0.1, 0.2], 0.9, prev, resize_factor, 256, frame_hw, size_lr=0.5)
  np.testing.assert_allclose(box, [175 - 17.5, 125 - 22.5, 35.0, 45.0])


def test_minimum_size_and_both_clip_modes():
  prev = np.array([100.0, 100.0, 50.0, 50.0])
  rf, frame_hw = 256 / 200, (480, 640)
  # 0.01 * 200 = 2 pixels wide: raised to 10 around the same centre.
  box, _ = frame_box([0.5, 0.5, 0.01, 0.3], 1.0, prev, rf, 256, frame_hw)
  np.testing.assert_allclose(box, [120.0, 95.0, 10.0, 60.0])
  # Centre left of the frame: TransT clamps the centre to x = 0 and keeps the size.
  box, _ = frame_box([0.0, 0.5, 0.2, 0.2], 1.0, [-50.0, 100.0, 50.0, 50.0], rf, 256, frame_hw)
  np.testing.assert_allclose(box, [-20.0, 105.0, 40.0, 40.0])
  # 'corners' (geometry.boxes.clip_box): x1 in [0, W - 10], x2 in [10, W].
  box, _ = frame_box([0.0, 0.5, 0.2, 0.2], 1.0, [-50.0, 100.0, 50.0, 50.0], rf, 256, frame_hw,
                     clip="corners")
  np.testing.assert_allclose(box, [0.0, 105.0, 10.0, 40.0])


def test_non_finite_predictions_keep_the_previous_box_with_score_zero():
  prev = np.array([[100.0, 100.0, 50.0, 50.0], [10.0, 20.0, 30.0, 40.0],
                   [5.0, 5.0, 20.0, 20.0]])
  pred = np.array([[np.nan, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2], [0.5, 0.5, np.inf, 0.2]])
  score = np.array([0.8, np.nan, 0.7])
  box, out_score = frame_box(pred, score, prev, np.array([1.0, 2.0, 1.5]), 256, (480, 640))
  np.testing.assert_array_equal(box, prev)
  np.testing.assert_array_equal(out_score, [0.0, 0.0, 0.0])


def test_batched_frame_box_equals_one_stream_at_a_time():
  rng = np.random.default_rng(1)
  pred = rng.uniform(0.05, 0.95, (4, 4))
  score = rng.uniform(size=4)
  prev = np.column_stack([rng.uniform(0, 300, (4, 2)), rng.uniform(5, 80, (4, 2))])
  rf = rng.uniform(0.5, 3.0, 4)
  frame_hw = np.array([[480, 640], [240, 320], [100, 100], [720, 1280]])
  for clip in ("centre", "corners"):
    boxes, scores = frame_box(pred, score, prev, rf, 256, frame_hw, clip=clip)
    for k in range(4):
      one_box, one_score = frame_box(pred[k], score[k], prev[k], rf[k], 256, frame_hw[k],
                                     clip=clip)
      np.testing.assert_allclose(boxes[k], one_box)
      assert float(scores[k]) == float(one_score)
