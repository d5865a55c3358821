"""Kalman filter against hand computation, the gated assignment on hand-made costs, and
ByteTrack's birth / confirmation / loss / second-association rules."""

import ml_collections
import numpy as np
import pytest

from trackjax.mot import kalman
from trackjax.mot.association import (ByteTracker, association_config, fuse_score, iou_matrix,
                                      linear_assignment)


def test_box_conversions_round_trip():
  boxes = np.array([[10.0, 20.0, 20.0, 40.0], [0.0, 0.0, 5.0, 10.0]])
  xyah = kalman.xywh_to_xyah(boxes)
  np.testing.assert_allclose(xyah[0], [20.0, 40.0, 0.5, 40.0])
  np.testing.assert_allclose(kalman.xyah_to_xywh(xyah), boxes)


def test_kalman_initiate_predict_update_by_hand():
  mean, cov = kalman.initiate([[10.0, 20.0, 0.5, 40.0]])
  # position std 2 * h / 20 = 4, velocity std 10 * h / 160 = 2.5, aspect 1e-2 / 1e-5
  np.testing.assert_allclose(np.diag(cov[0]), [16, 16, 1e-4, 16, 6.25, 6.25, 1e-10, 6.25])
  mean, cov = kalman.predict(mean, cov)
  np.testing.assert_allclose(mean[0], [10, 20, 0.5, 40, 0, 0, 0, 0])
  # P'xx = Pxx + Pvv + (h / 20)^2, P'xv = Pvv, P'vv = Pvv + (h / 160)^2
  assert cov[0, 0, 0] == pytest.approx(16 + 6.25 + 4)
  assert cov[0, 0, 4] == pytest.approx(6.25)
  assert cov[0, 4, 4] == pytest.approx(6.25 + 0.0625)
  assert cov[0, 2, 2] == pytest.approx(1e-4 + 1e-10 + 1e-4)
  new_mean, new_cov = kalman.update(mean, cov, [[12.0, 20.0, 0.5, 44.0]])
  s = 26.25 + 4.0  # innovation variance with R = (h / 20)^2
  assert new_mean[0, 0] == pytest.approx(10 + 26.25 / s * 2)
  assert new_mean[0, 4] == pytest.approx(6.25 / s * 2)
  assert new_mean[0, 3] == pytest.approx(40 + 26.25 / s * 4)
  assert new_mean[0, 1] == pytest.approx(20) and new_mean[0, 5] == pytest.approx(0)
  assert new_cov[0, 0, 0] == pytest.approx(26.25 - 26.25**2 / s)
  assert new_cov[0, 4, 4] == pytest.approx(6.3125 - 6.25**2 / s)
  np.testing.assert_allclose(new_cov[0], new_cov[0].T, atol=1e-12)


def test_kalman_is_batched():
  boxes = np.array([[10.0, 20.0, 0.5, 40.0], [50.0, 60.0, 0.4, 80.0]])
  mean, cov = kalman.predict(*kalman.initiate(boxes))
  one_mean, one_cov = kalman.update(mean[1:], cov[1:], boxes[1:] + 3)
  both_mean, both_cov = kalman.update(mean, cov, boxes + 3)
  np.testing.assert_allclose(both_mean[1:], one_mean)
  np.testing.assert_allclose(both_cov[1:], one_cov)


def test_iou_and_fuse_score():
  iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
  np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])
  assert iou_matrix(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
  np.testing.assert_allclose(fuse_score(np.array([[0.2, 1.0]]), [0.5, 0.9]), [[0.6, 1.0]])


def test_linear_assignment_on_hand_costs():
  matches, rows, cols = linear_assignment([[0.1, 0.9], [0.2, 0.3]], 0.8)
  np.testing.assert_array_equal(matches, [[0, 0], [1, 1]])
  assert rows.size == 0 and cols.size == 0
  matches, rows, cols = linear_assignment([[0.9, 0.85]], 0.8)  # all above the threshold
  assert matches.shape == (0, 2) and rows.tolist() == [0] and cols.tolist() == [0, 1]
  # lapjv extend_cost semantics: one cheap match beats two matches near the threshold.
  matches, rows, cols = linear_assignment([[0.0, 0.7], [0.7, 5.0]], 0.8)
  np.testing.assert_array_equal(matches, [[0, 0]])
  assert rows.tolist() == [1] and cols.tolist() == [1]
  matches, rows, cols = linear_assignment([[0.5, 0.2, 0.1]], 0.8)  # more columns than rows
  np.testing.assert_array_equal(matches, [[0, 2]])
  assert cols.tolist() == [0, 1]


@pytest.mark.parametrize('shape', [(0, 3), (3, 0), (0, 0)])
def test_linear_assignment_empty(shape):
  matches, rows, cols = linear_assignment(np.zeros(shape), 0.8)
  assert matches.shape == (0, 2)
  assert rows.tolist() == list(range(shape[0])) and cols.tolist() == list(range(shape[1]))


BOX = np.array([[100.0, 50.0, 20.0, 50.0]])


def _tracker(**overrides):
  config = association_config()
  config.update(overrides)
  return ByteTracker(config, frame_rate=30.0)


def _run(tracker, frames):
  state, outputs = tracker.init(), []
  for boxes, scores in frames:
    state, tracks = tracker.update(state, np.asarray(boxes).reshape(-1, 4), scores)
    outputs.append(tracks)
  return state, outputs


def test_birth_needs_new_track_thresh_and_first_frame_confirms():
  state, (out,) = _run(_tracker(), [(BOX, [0.65])])  # high (> 0.6) but below 0.7
  assert len(out) == 0 and not state.tracks
  state, (out,) = _run(_tracker(), [(BOX, [0.7])])
  assert out.ids.tolist() == [1] and out.scores[0] == pytest.approx(0.7)
  np.testing.assert_allclose(out.boxes_xywh, BOX, atol=1e-6)


def test_unconfirmed_tracks_need_a_second_detection_or_are_removed():
  empty = (np.zeros((0, 4)), [])
  state, outs = _run(_tracker(), [empty, (BOX, [0.9]), empty])
  assert [len(o) for o in outs] == [0, 0, 0] and not state.tracks  # born, missed: removed
  state, outs = _run(_tracker(), [empty, (BOX, [0.9]), (BOX + [1, 0, 0, 0], [0.9])])
  assert [len(o) for o in outs] == [0, 0, 1] and outs[2].ids.tolist() == [1]


def test_lost_tracks_are_kept_for_the_buffer_then_removed():
  empty = (np.zeros((0, 4)), [])
  tracker = _tracker(track_buffer=5)
  state, outs = _run(tracker, [(BOX, [0.9])] + [empty] * 5)
  assert len(outs[-1]) == 0 and [t.status for t in state.tracks] == ['lost']
  state, _ = tracker.update(state, np.zeros((0, 4)), [])  # 6 frames after the last update
  assert not state.tracks
  state, outs = _run(tracker, [(BOX, [0.9])] + [empty] * 5 + [(BOX, [0.9])])
  assert outs[-1].ids.tolist() == [1]  # re-found within the buffer: same id
  assert state.next_id == 2


def test_track_buffer_scales_with_frame_rate():
  assert ByteTracker(association_config(), frame_rate=15.0).max_time_lost == 15


def test_low_score_detections_continue_tracks_in_the_second_association():
  tracker = _tracker()
  state, outs = _run(tracker, [(BOX, [0.9]), (BOX + [1, 0, 0, 0], [0.3])])
  assert outs[1].ids.tolist() == [1] and outs[1].scores[0] == pytest.approx(0.3)
  state, outs = _run(tracker, [(BOX, [0.9]), (BOX + [1, 0, 0, 0], [0.05])])  # below low_thresh
  assert len(outs[1]) == 0 and state.tracks[0].status == 'lost'
  # a low-score detection never starts a track
  state, outs = _run(tracker, [(BOX, [0.3]), (BOX, [0.3])])
  assert not state.tracks


def test_first_association_prefers_the_overlapping_detection_and_ids_are_unique():
  two = np.array([[100.0, 50.0, 20.0, 50.0], [200.0, 50.0, 20.0, 50.0]])
  frames = [(two + [3 * t, 0, 0, 0], [0.9, 0.8]) for t in range(10)]
  _, outs = _run(_tracker(), frames)
  for out in outs:
    assert sorted(out.ids.tolist()) == [1, 2]
  order = np.argsort(outs[-1].ids)
  np.testing.assert_allclose(outs[-1].boxes_xywh[order], frames[-1][0], atol=1.5)


def test_degenerate_detections_are_ignored():
  boxes = np.array([[0.0, 0.0, 0.0, 10.0], [np.nan, 0, 5, 5], [100.0, 50.0, 20.0, 50.0]])
  _, (out,) = _run(_tracker(), [(boxes, [0.9, 0.9, 0.9])])
  np.testing.assert_allclose(out.boxes_xywh, boxes[2:], atol=1e-6)


def test_output_filters_area_and_aspect():
  wide = np.array([[0.0, 0.0, 40.0, 10.0]])  # w / h = 4 > 1.6
  _, (out,) = _run(_tracker(), [(wide, [0.9])])
  assert len(out) == 0
  _, (out,) = _run(_tracker(max_aspect_ratio=0.0), [(wide, [0.9])])
  assert len(out) == 1
  _, (out,) = _run(_tracker(), [(np.array([[0.0, 0.0, 2.0, 4.0]]), [0.9])])  # area 8 <= 10
  assert len(out) == 0


def test_appearance_term_overrides_a_close_iou_match():
  config = association_config()
  config.appearance_weight = 0.5
  tracker = ByteTracker(config)
  baseline = ByteTracker(association_config())
  a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
  boxes = np.array([[100.0, 50.0, 20.0, 50.0], [104.0, 50.0, 20.0, 50.0]])
  state, out = tracker.update(tracker.init(), boxes, [0.9, 0.9], np.stack([a, b]))
  base_state, base_out = baseline.update(baseline.init(), boxes, [0.9, 0.9])
  id_of_a = int(out.ids[np.argmin(out.boxes_xywh[:, 0])])
  # Next frame the two look-swapped: appearance follows the look, IoU alone the position.
  state, out = tracker.update(state, boxes, [0.9, 0.9], np.stack([b, a]))
  assert int(out.ids[np.argmax(out.boxes_xywh[:, 0])]) == id_of_a
  _, base_out = baseline.update(base_state, boxes, [0.9, 0.9], np.stack([b, a]))
  assert int(base_out.ids[np.argmin(base_out.boxes_xywh[:, 0])]) == id_of_a
  # the proximity gate: appearance never links boxes that do not overlap
  far = np.array([[100.0, 50.0, 20.0, 50.0], [400.0, 50.0, 20.0, 50.0]])
  state, out = tracker.update(tracker.init(), far, [0.9, 0.9], np.stack([a, b]))
  state, out = tracker.update(state, far, [0.9, 0.9], np.stack([b, a]))
  assert sorted(out.ids.tolist()) == [1, 2]
  assert int(out.ids[np.argmin(out.boxes_xywh[:, 0])]) == 1
  state, _ = tracker.update(tracker.init(), boxes, [0.9, 0.9])  # born without embeddings
  with pytest.raises(ValueError, match='has no embedding'):
    tracker.update(state, boxes, [0.9, 0.9], np.stack([a, b]))


def test_config_has_bytetrack_defaults():
  config = association_config()
  assert isinstance(config, ml_collections.ConfigDict)
  assert (config.track_thresh, config.low_thresh, config.new_track_thresh, config.match_thresh,
          config.second_match_thresh, config.unconfirmed_match_thresh, config.track_buffer) == (
              0.6, 0.1, 0.7, 0.8, 0.5, 0.7, 30)
  assert config.fuse_score and config.appearance_weight == 0.0
