"""Hand-computed checks of the OPE and GOT-10k metrics."""

import importlib.util

import numpy as np
import pytest

from trackjax.sot import ope_metrics as om


def test_iou_known_boxes():
  a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]], float)
  b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10], [0, 0, 0, 0]], float)
  np.testing.assert_allclose(om.iou_xywh(a, b), [50 / 150, 0.0, 1.0, 0.0])


def test_iou_rejects_bad_shape():
  with pytest.raises(ValueError, match='boxes1'):
    om.iou_xywh(np.zeros((2, 3)), np.zeros((2, 4)))


def test_centre_error_uses_minus_one_convention():
  gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
  pred = np.array([[3, 4, 10, 10], [0, 0, 20, 20]], float)
  # Centres: (4.5, 4.5) vs (7.5, 8.5); and (4.5, 4.5) vs (9.5, 9.5).
  np.testing.assert_allclose(om.centre_error(pred, gt), [5.0, 5.0 * np.sqrt(2)])
  np.testing.assert_allclose(om.normalized_centre_error(pred, gt), [0.5, 0.5 * np.sqrt(2)])


def test_success_curve_is_strict_and_precision_inclusive():
  curve = om.success_curve([0.5, 0.55, 1.0, 0.0])
  assert curve[0] == pytest.approx(3 / 4)  # IoU 0 does not pass t = 0.
  assert curve[10] == pytest.approx(2 / 4)  # t = 0.5: 0.5 is not > 0.5.
  assert curve[20] == 0.0  # Nothing is > 1.
  assert len(curve) == 21
  prec = om.precision_curve([20.0, 20.0001, 0.0, np.inf])
  assert prec[20] == pytest.approx(2 / 4)
  assert prec[0] == pytest.approx(1 / 4)
  assert len(prec) == 51


def _seq(n=4):
  gt = np.tile(np.array([[10, 10, 20, 20]], float), (n, 1))
  return gt


def test_first_frame_handling():
  gt = _seq()
  pred = gt.copy()
  pred[0] = [500, 500, 5, 5]
  pred[1] = [30, 30, 20, 20]  # IoU 0.
  e = om.sequence_errors(pred, gt)
  np.testing.assert_allclose(e.iou, [1, 0, 1, 1])
  s, _, _, n = e.curves()
  assert n == 4 and s[0] == pytest.approx(3 / 4)
  skip = om.sequence_errors(pred, gt, first_frame='skip')
  s, _, _, n = skip.curves()
  assert n == 3 and s[0] == pytest.approx(2 / 3)
  keep = om.sequence_errors(pred, gt, first_frame='keep')
  assert keep.iou[0] == 0.0


def test_absent_frames_kept_or_excluded():
  gt = _seq()
  gt[3] = 0  # LaSOT-style absent box.
  visible = np.array([1, 1, 0, 1], bool)
  e = om.sequence_errors(gt.copy(), gt, visible)
  np.testing.assert_array_equal(e.valid, [True, True, False, False])
  s, p, n_p, n = e.curves()
  assert n == 4 and s[0] == pytest.approx(0.5) and p[20] == pytest.approx(0.5)
  assert n_p[20] == pytest.approx(0.5)
  s, p, _, n = e.curves(exclude_invalid_frames=True)
  assert n == 2 and s[0] == 1.0 and p[0] == 1.0
  assert e.mean_iou() == 1.0


def test_nan_and_outside_predictions():
  gt = _seq()
  pred = gt.copy()
  pred[2] = np.nan
  pred[3] = [1000, 1000, 20, 20]  # Outside the image: simply no overlap.
  e = om.sequence_errors(pred, gt)
  np.testing.assert_allclose(e.iou, [1, 1, -1, 0])
  assert np.isinf(e.centre_error[2])
  with pytest.raises(ValueError, match='frame 2'):
    om.sequence_errors(pred, gt, name='seqA', invalid_predictions='raise')


def test_empty_prediction_holds_previous_box():
  gt = _seq()
  pred = gt.copy()
  pred[2] = [0, 0, 0, 0]
  assert om.sequence_errors(pred, gt).iou[2] == 1.0
  assert om.sequence_errors(pred, gt, hold_empty=False).iou[2] == 0.0


def test_length_mismatch_names_sequence():
  with pytest.raises(ValueError, match='seqX'):
    om.sequence_errors(np.zeros((3, 4)), _seq(), name='seqX')


def test_evaluate_ope_averages_sequences_and_attributes():
  gt_a, gt_b = _seq(4), _seq(2)
  pred_a = gt_a.copy()
  pred_a[1:] += [5, 0, 0, 0]  # IoU 15*20 / (2*400 - 300) = 0.6, centre error 5.
  pred_b = gt_b.copy()
  truth = {
      'a': om.GroundTruth(gt_a, attributes={'OCC': True, 'FM': np.array([0, 1, 1, 0])}),
      'b': om.GroundTruth(gt_b, attributes={'OCC': False, 'note': 'text'}),
  }
  report = om.evaluate_ope({'a': pred_a, 'b': pred_b}, truth,
                           times={'a': [0.1, 0.1, 0.1, 0.1], 'b': [0.05, 0.05]})
  a, b = report.per_sequence['a'], report.per_sequence['b']
  assert a.success_curve[12] == pytest.approx(0.25)  # t = 0.6: 0.6 > 0.6 is false.
  assert a.success_curve[11] == pytest.approx(1.0)  # t = 0.55.
  assert a.precision_curve[4] == pytest.approx(0.25) and a.precision_curve[5] == 1.0
  assert b.auc == pytest.approx(20 / 21)
  assert report.overall.auc == pytest.approx((a.auc + b.auc) / 2)
  assert report.overall.num_sequences == 2
  assert report.overall.fps == pytest.approx((10 + 20) / 2)
  assert list(report.per_attribute) == ['OCC']  # A sequence flag; FM is per frame.
  assert report.per_attribute['OCC'].auc == pytest.approx(a.auc)
  assert report.per_attribute['OCC'].num_frames == 4
  fm = report.per_condition['FM']
  assert fm.num_sequences == 1 and fm.num_frames == 2
  assert fm.success_curve[11] == 1.0 and fm.success_curve[12] == 0.0
  assert report.condition_frames['FM'] == om.FrameCount(sequences=1, frames=2, visible_frames=2)
  with pytest.raises(KeyError, match='b'):
    om.evaluate_ope({'a': pred_a}, truth)


def test_frame_conditions_score_visible_frames_only():
  gt = _seq(6)
  gt[[2, 3]] = 0  # Fully occluded: no box (LaSOT style), not visible.
  visible = np.array([1, 1, 0, 0, 1, 1], bool)
  occluded = np.array([0, 0, 1, 1, 0, 0], bool)
  partly = np.array([1, 1, 1, 0, 1, 0], bool)  # Frame 0 is never part of a condition.
  pred = gt.copy()
  pred[[2, 3]] = [10, 10, 20, 20]
  pred[4] += [5, 0, 0, 0]  # IoU 0.6.
  truth = {'s': om.GroundTruth(gt, visible, cover=visible.astype(int) * 8,
                               attributes={'full_occlusion': occluded, 'partly': partly})}
  ope = om.evaluate_ope({'s': pred}, truth)
  assert ope.per_condition['full_occlusion'] is None  # Nothing to score, not a 0.
  assert ope.condition_frames['full_occlusion'] == om.FrameCount(1, 2, 0)
  scores = ope.per_condition['partly']  # Frames 1 (IoU 1), 2 (hidden: left out), 4 (IoU 0.6).
  assert ope.condition_frames['partly'] == om.FrameCount(1, 3, 2) and scores.num_frames == 2
  assert scores.success_curve[11] == 1.0 and scores.success_curve[12] == 0.5
  # The overall numbers keep the hidden frames as failures (pytracking's default).
  assert ope.overall.success_curve[0] == pytest.approx(4 / 6)
  got = om.evaluate_got10k({'s': pred}, truth)
  assert got.per_condition['full_occlusion'] is None
  assert got.per_condition['partly'].ao == pytest.approx((1.0 + 0.6) / 2)
  assert got.overall.num_frames == 3


def test_got10k_iou_has_the_toolkit_eps():
  a = np.array([[0, 0, 1e-8, 1e-8], [0, 0, 10, 10]], float)
  b = np.array([[0, 0, 1e-8, 1e-8], [5, 0, 10, 10]], float)
  eps, area = np.finfo(float).eps, 1e-8 * 1e-8
  np.testing.assert_array_equal(om.got10k_iou(a, b),
                                [area / (area + area - area + eps), 50 / (150 + eps)])
  assert om.got10k_iou(a, b)[0] < 0.32 and om.iou_xywh(a, b)[0] == 1.0


def test_got10k_clipping_follows_toolkit():
  clipped = om.got10k_clip_boxes([[90, 90, 20, 20], [-10, 5, 30, 10]], (100, 100))
  np.testing.assert_allclose(clipped, [[90, 90, 10, 10], [0, 5, 30, 10]])
  truth = om.GroundTruth(np.array([[0, 0, 5, 5], [90, 90, 20, 20]], float), image_size=(100, 100))
  pred = np.array([[0, 0, 5, 5], [90, 90, 10, 10]], float)
  np.testing.assert_allclose(om.got10k_ious(pred, truth), [1.0, 1.0])
  unclipped = om.GroundTruth(truth.boxes)
  np.testing.assert_allclose(om.got10k_ious(pred, unclipped), [1.0, 0.25])


def test_got10k_ao_sr_and_fps():
  gt = np.tile(np.array([[0, 0, 10, 10]], float), (5, 1))
  pred = gt.copy()
  pred[0] = [50, 50, 1, 1]  # Frame 0 is skipped.
  pred[1] = [5, 0, 10, 10]  # IoU 1/3.
  pred[2] = [2, 0, 10, 10]  # IoU 8/12.
  pred[3] = [1, 0, 10, 10]  # IoU 9/11, but cover 0 below: not counted.
  cover = np.array([8, 8, 8, 0, 8])
  truth = {'s': om.GroundTruth(gt, cover=cover, image_size=(20, 20))}
  times = {'s': np.array([0.5, 0.25, 0.0, np.nan, 0.5])}
  report = om.evaluate_got10k({'s': [pred, gt.copy()]}, truth, times=times)
  ious = np.array([1 / 3, 8 / 12, 1.0, 1.0, 1.0, 1.0])  # Two repetitions, concatenated.
  assert report.overall.ao == pytest.approx(ious.mean())
  assert report.overall.sr50 == pytest.approx(5 / 6)
  assert report.overall.sr75 == pytest.approx(4 / 6)
  assert report.overall.num_frames == 6
  assert report.overall.fps == pytest.approx((2 + 4 + 2) / 3)
  assert len(report.overall.success_curve) == 101
  assert report.overall.success_curve[0] == 1.0
  assert report.per_sequence['s'].ao == pytest.approx(report.overall.ao)


def test_got10k_attribute_subsets():
  gt = np.tile(np.array([[0, 0, 10, 10]], float), (3, 1))
  truth = {'a': om.GroundTruth(gt, attributes={'small': True}),
           'b': om.GroundTruth(gt, attributes={'small': False})}
  miss = gt + [100, 0, 0, 0]
  report = om.evaluate_got10k({'a': gt, 'b': miss}, truth)
  assert report.overall.ao == pytest.approx(0.5)
  assert report.per_attribute['small'].ao == 1.0
  assert report.per_attribute['small'].num_frames == 2


def test_fps_from_times():
  assert om.fps_from_times([0.5, 0.25, 0.0, -1.0, np.nan]) == pytest.approx(3.0)
  assert np.isnan(om.fps_from_times([]))


def _random_boxes(rng, n):
  xy = rng.uniform(-20, 200, (n, 2))
  wh = rng.uniform(1, 80, (n, 2))
  return np.concatenate([xy, wh], axis=1)


def test_matches_got10k_toolkit_on_random_boxes():
  rng = np.random.default_rng(0)
  gt, pred = _random_boxes(rng, 300), _random_boxes(rng, 300)
  pred[::3] = gt[::3] + rng.normal(0, 3, (100, 4))
  pred[:, 2:] = np.abs(pred[:, 2:])
  size = (180, 240)  # (height, width)
  ours_iou = om.iou_xywh(pred, gt)
  ours_clipped = om.got10k_ious(pred, om.GroundTruth(gt, image_size=size))
  ours_ce = om.centre_error(pred, gt)
  if importlib.util.find_spec('got10k') is not None and importlib.util.find_spec('shapely'):
    from got10k.utils import metrics as gm  # pylint: disable=g-import-not-at-top
    ref_iou = gm.rect_iou(pred.copy(), gt.copy())
    ref_clipped = gm.rect_iou(pred.copy(), gt.copy(), bound=(size[1], size[0]))
    ref_ce = gm.center_error(pred, gt)
  else:  # Reference values written out by hand from the toolkit's formulas.
    def clip(b):
      b = b.copy()
      b[:, 0] = np.clip(b[:, 0], 0, size[1])
      b[:, 1] = np.clip(b[:, 1], 0, size[0])
      b[:, 2] = np.clip(b[:, 2], 0, size[1] - b[:, 0])
      b[:, 3] = np.clip(b[:, 3], 0, size[0] - b[:, 1])
      return b

    def iou(a, b):
      x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
      y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
      w = np.maximum(x2 - np.maximum(a[:, 0], b[:, 0]), 0)
      h = np.maximum(y2 - np.maximum(a[:, 1], b[:, 1]), 0)
      return w * h / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - w * h + np.finfo(float).eps)

    ref_iou, ref_clipped = iou(pred, gt), iou(clip(pred), clip(gt))
    offset = (pred[:, :2] + (pred[:, 2:] - 1) / 2) - (gt[:, :2] + (gt[:, 2:] - 1) / 2)
    ref_ce = np.hypot(offset[:, 0], offset[:, 1])
  np.testing.assert_allclose(ours_iou, ref_iou, atol=1e-12)
  np.testing.assert_allclose(ours_clipped, ref_clipped, atol=1e-12)
  np.testing.assert_allclose(ours_ce, ref_ce, atol=1e-9)
  # OTB-style curves and GOT-10k AO/SR from the toolkit definitions.
  e = om.sequence_errors(pred, gt, first_frame='keep', hold_empty=False)
  s, p, _, _ = e.curves()
  np.testing.assert_allclose(s, np.mean(ref_iou[:, None] > np.linspace(0, 1, 21)[None], 0))
  np.testing.assert_allclose(p, np.mean(ref_ce[:, None] <= np.arange(51)[None], 0))
  g = om.got10k_scores(ours_clipped)
  assert g.ao == pytest.approx(np.mean(ref_clipped))
  assert g.sr50 == pytest.approx(np.mean(ref_clipped > 0.5))


def test_continuous_per_frame_values_are_not_attributes():
  flags, frames = om.split_attributes(
      {"OCC": True, "occlusion": np.array([0, 1, 1]), "visible_fraction": np.array([1.0, 0.4, 0.2]),
       "blur_length": np.array([0, 3, 7])}, 3)
  assert flags == {"OCC": True}
  assert set(frames) == {"occlusion"}
