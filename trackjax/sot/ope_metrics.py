"""One-pass evaluation (OPE) metrics for single-object tracking, numpy only.

Two protocols, each following its public toolkit:

* OPE (OTB, LaSOT, UAV, NFS, TrackingNet; pytracking's analysis, the ``lib/test/analysis``
  ``extract_results`` of the trackers built on it, and got10k ``ExperimentOTB``): per-frame IoU and centre error; per-sequence
  success curve (21 IoU thresholds ``0:0.05:1``, a frame counts when ``IoU > t``), precision curve
  (0..50 px, ``error <= t``) and normalised-precision curve (0..0.5 in steps of 0.01, ``<= t``).
  Curves are averaged over sequences; AUC is the mean of the averaged success curve, precision its
  value at 20 px, normalised precision its value at 0.2.
* GOT-10k (got10k toolkit 0.1.3 ``ExperimentGOT10k``): IoU of both boxes clipped to the image,
  frame 0 skipped, only frames with ``cover > 0``; IoUs of all repetitions and sequences
  concatenated; AO is their mean, SR_t the fraction with ``IoU > t``; success curve on 101
  thresholds.

Conventions shared by both toolkits: boxes are ``[x, y, w, h]``; the centre is ``x + (w - 1) / 2``;
frame 0 of an OPE prediction is replaced by the ground truth (it is the given box).

Invalid ground-truth frames (``w <= 0`` or ``h <= 0``, NaN, or ``visible == False``) never count as
successes. By default they stay in the denominator of every curve (pytracking's default,
``exclude_invalid_frames=False``, used by the LaSOT leaderboards); ``exclude_invalid_frames=True``
drops them instead (as got10k ``ExperimentUAV123`` does for NaN boxes).

What was checked against each toolkit, step by step (the readers are in ``data_pipelines.sources``,
the result files in ``result_files``):

* GOT-10k val (``ExperimentGOT10k.report``, ``datasets/got10k.py``, ``utils/metrics.py``):
  ground truth ``groundtruth.txt`` read as float64 (the toolkit: ``np.loadtxt(delimiter=',')``;
  trackjax also takes tabs and spaces, same values); the scored frames are ``cover.label > 0``
  after frame 0 (``absence.label`` is not used by the toolkit; trackjax falls back to it only
  without ``cover.label``, where the toolkit fails); the bound is ``meta_info.ini``'s
  ``resolution: (W, H)`` (``Sequence.image_size``; trackjax reads the first frame's header when
  the file is missing, where the toolkit fails); both boxes are clipped (``x`` to ``[0, W]``, then
  ``w`` to ``[0, W - x]``, same for y, h), then ``IoU = inter / (union + eps)`` clipped to
  ``[0, 1]``, float64 (``got10k_iou``); result files ``<seq>/<seq>_[0-9]*.txt`` (every
  repetition, comma separated, first line the initial box, as many lines as the ground truth);
  times ``<seq>/<seq>_time.txt``, every column, NaN and non-positive times dropped, FPS the mean of
  ``1 / t`` over all frames of all sequences concatenated; AO ``mean(ious)``, SR
  ``mean(ious > 0.5)`` (SR0.75 as the server's, ``> 0.75``), curve ``np.linspace(0, 1, 101)``.
  Only deviation: a NaN/inf prediction scores IoU 0 (the toolkit's AO becomes NaN).
* LaSOT (pytracking ``lasotdataset`` + ``extract_results``, dataset ``'lasot'``):
  ``full_occlusion.txt`` and ``out_of_view.txt`` (one comma-separated 0/1 line) give
  ``target_visible = neither``; invalid frames (not visible or ``w, h <= 0``) have IoU -1 and
  centre errors inf (normalised too) and stay in the denominator; frame 0 is the ground truth;
  zero-size predictions take the previous box (not where the ground truth has NaN). The LaSOT
  MATLAB toolkit was not compared.
* OTB-100 (pytracking ``otbdataset``, got10k ``datasets/otb.py``): ``groundtruth_rect.txt``
  (comma, tab or space); the frame ranges both toolkits cut (David 300-770, Football1 1-74,
  Freeman3 1-460, Freeman4 1-283, Diving 1-215) and pytracking's Tiger1 (``initOmit`` 5: frames
  and boxes from frame 6) are built into the OTB source; two-target folders give ``<seq>.1`` and
  ``<seq>.2`` (pytracking names them ``Jogging_1``, ``Human4_2``).
* UAV123 (pytracking ``uavdataset``, got10k ``datasets/uav123.py`` and its ``uav123.json``): the
  123 ``anno/UAV123/<seq>.txt`` files, with the folder and frame range of each (sub)sequence
  built into the source (``bird1_1`` is frames 1-253 of ``data_seq/UAV123/bird1``); NaN rows are
  invalid frames: IoU failures in the denominator, as pytracking's ``'uav'``. Deviation: pytracking
  gives them centre error -1, a hit at every precision threshold; here they miss (P@20 and NP can
  be lower than pytracking's by the share of NaN frames; AUC is equal).
* NFS 30 fps (got10k ``datasets/nfs.py``, the layout trackjax reads): ``<seq>/30/<seq>.txt``
  rows ``id x1 y1 x2 y2 frame lost occluded generated label`` give boxes in row order; a file with
  about 8x as many rows as frames (240 fps annotations) takes every 8th row, one extra row or frame
  is cut; ``lost`` and ``occluded`` are not used by the toolkit: every frame is scored (they are
  kept as per-frame conditions).
* TrackingNet: TEST is scored by the server only (``result_files.write_trackingnet_zip``); TRAIN
  chunks are scored as OTB (all frames annotated).
* custom folders (trackjax's own format): OPE as above, and GOT-10k numbers over frames after the
  first whose target is not absent (``absence.label``), clipped when the source knows the image
  size.

Known floating-point differences, none visible at 1e-6: pytracking accumulates curves in float32
and its ``torch.arange`` thresholds 0.65 and 0.75 are one ulp above ``np.linspace``'s; OPE IoU
here has no ``eps`` in the denominator (pytracking has none; got10k ``ExperimentOTB`` adds
``2.2e-16``).

Deviations from pytracking, on purpose:
* A prediction with NaN/inf or a negative size scores as a failure (IoU 0, infinite centre error)
  instead of aborting the whole evaluation; ``invalid_predictions='raise'`` aborts instead.
* Prediction and ground truth must have the same length (pytracking pads or truncates silently).
* pytracking's UAV branch sets the centre error of invalid frames to -1 (a success at every
  threshold), and the normalised centre error of invalid frames to -1 for non-LaSOT datasets;
  here invalid frames are failures in every curve.

Attributes come in two kinds, reported apart (``split_attributes``): sequence attributes (a flag
per sequence, as OTB/LaSOT/UAV attribute files: ``ARC``, ``BC``...) select whole sequences and
are scored exactly like the overall numbers on those sequences; per-frame conditions (a 0/1 array
per sequence: ``full_occlusion``, ``out_of_view``, ``cut_by_image``...) are scored only on the
frames after the first that have the condition and a visible target. A condition whose frames
never show the target (e.g. full occlusion, where no box exists) has no score (``None``), only its
frame counts (``FrameCount``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Sequence

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0
GOT10K_THRESHOLDS = np.linspace(0.0, 1.0, 101)
PRECISION_INDEX = 20  # PRECISION_THRESHOLDS[20] == 20 px.
NORM_PRECISION_INDEX = 20  # NORM_PRECISION_THRESHOLDS[20] == 0.2.

FirstFrame = Literal['gt', 'skip', 'keep']
InvalidPredictions = Literal['fail', 'raise']


class GroundTruth(NamedTuple):
  """Annotation of one sequence as the metrics need it.

  ``data_pipelines.sources.base.Sequence`` has the same fields and can be passed wherever a
  ``GroundTruth`` is expected.

  Attributes:
    boxes: (N, 4) ``[x, y, w, h]``; NaN rows where unknown.
    visible: (N,) bool or None (all visible).
    cover: (N,) int GOT-10k visible-ratio class or None.
    attributes: flags (``{'OCC': True}``) or per-frame (N,) arrays; other values are ignored.
    image_size: (height, width) or None.
  """

  boxes: np.ndarray
  visible: np.ndarray | None = None
  cover: np.ndarray | None = None
  attributes: Mapping[str, Any] = {}
  image_size: tuple[int, int] | None = None


def ground_truth_from_source(source) -> dict[str, GroundTruth]:
  """Reads every sequence annotation of a ``SequenceSource`` into ``{name: GroundTruth}``."""
  out = {}
  for index in range(len(source)):
    seq = source.sequence(index)
    out[seq.name] = GroundTruth(seq.boxes, seq.visible, seq.cover, dict(seq.attributes),
                                seq.image_size)
  return out


def as_boxes(boxes, what: str = 'boxes') -> np.ndarray:
  """Returns ``boxes`` as a float64 (N, 4) array; raises ValueError naming ``what`` otherwise."""
  array = np.asarray(boxes, dtype=np.float64)
  if array.ndim == 1 and array.shape[0] == 4:
    array = array[None]
  if array.ndim != 2 or array.shape[1] != 4:
    raise ValueError(f'{what}: expected shape (N, 4), got {array.shape}')
  return array


# ----------------------------------------------------------------------------- per-frame errors


def iou_xywh(boxes1, boxes2) -> np.ndarray:
  """IoU of matching rows of two (N, 4) ``[x, y, w, h]`` arrays (continuous coordinates).

  Empty intersections give 0, and so do two empty boxes (union 0). NaN inputs give NaN.
  """
  a, b = as_boxes(boxes1, 'boxes1'), as_boxes(boxes2, 'boxes2')
  if a.shape != b.shape:
    raise ValueError(f'iou_xywh: shapes differ, {a.shape} vs {b.shape}')
  iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
  ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
  inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
  union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
  with np.errstate(invalid='ignore', divide='ignore'):
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
  iou = np.where(np.isnan(union), np.nan, iou)
  return np.clip(iou, 0.0, 1.0)


def box_centres(boxes) -> np.ndarray:
  """Centres ``x + (w - 1) / 2, y + (h - 1) / 2`` (pixel-index convention of both toolkits)."""
  b = as_boxes(boxes)
  return b[:, :2] + (b[:, 2:] - 1.0) / 2.0


def centre_error(pred, gt) -> np.ndarray:
  """Euclidean distance in pixels between predicted and ground-truth centres."""
  return np.linalg.norm(box_centres(pred) - box_centres(gt), axis=1)


def normalized_centre_error(pred, gt) -> np.ndarray:
  """Centre offset divided by the ground-truth width and height, then its Euclidean norm."""
  gt = as_boxes(gt, 'gt')
  with np.errstate(invalid='ignore', divide='ignore'):
    offset = (box_centres(pred) - box_centres(gt)) / gt[:, 2:]
  return np.linalg.norm(offset, axis=1)


def got10k_clip_boxes(boxes, image_size: tuple[int, int]) -> np.ndarray:
  """Clips boxes to the image exactly as the got10k toolkit's ``rect_iou(bound=...)`` does.

  ``x`` is clamped to ``[0, W]``, then ``w`` to ``[0, W - x]`` (same for y, h). A box sticking out
  on the left/top is therefore shifted, not cut (a box at x=-10, w=30 becomes x=0, w=30): this is
  the toolkit's behaviour and is kept so AO matches the server.

  Args:
    boxes: (N, 4) ``[x, y, w, h]``.
    image_size: (height, width).
  """
  b = as_boxes(boxes).copy()
  height, width = float(image_size[0]), float(image_size[1])
  b[:, 0] = np.clip(b[:, 0], 0.0, width)
  b[:, 1] = np.clip(b[:, 1], 0.0, height)
  b[:, 2] = np.clip(b[:, 2], 0.0, width - b[:, 0])
  b[:, 3] = np.clip(b[:, 3], 0.0, height - b[:, 1])
  return b


def got10k_iou(boxes1, boxes2) -> np.ndarray:
  """IoU as the got10k toolkit's ``rect_iou``: ``inter / (union + eps)`` clipped to ``[0, 1]``.

  Same operations in the same order as the toolkit (float64, ``eps = np.finfo(float).eps``), so
  thresholds such as ``IoU > 0.5`` split the frames exactly as it does. NaN inputs give NaN.
  """
  a, b = as_boxes(boxes1, 'boxes1'), as_boxes(boxes2, 'boxes2')
  if a.shape != b.shape:
    raise ValueError(f'got10k_iou: shapes differ, {a.shape} vs {b.shape}')
  iw = np.maximum(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]),
                  0.0)
  ih = np.maximum(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]),
                  0.0)
  inter = iw * ih
  union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
  return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def invalid_prediction_rows(pred) -> np.ndarray:
  """(N,) bool: rows with a non-finite value or a negative width or height."""
  p = as_boxes(pred, 'pred')
  return ~np.all(np.isfinite(p), axis=1) | np.any(p[:, 2:] < 0, axis=1)


def valid_ground_truth_rows(gt, visible=None) -> np.ndarray:
  """(N,) bool: finite boxes with positive width and height that are marked visible."""
  g = as_boxes(gt, 'gt')
  valid = np.all(np.isfinite(g), axis=1) & np.all(np.nan_to_num(g[:, 2:]) > 0, axis=1)
  if visible is not None:
    visible = np.asarray(visible).astype(bool).reshape(-1)
    if visible.shape[0] != g.shape[0]:
      raise ValueError(f'visible: {visible.shape[0]} frames, boxes: {g.shape[0]}')
    valid &= visible
  return valid


# ----------------------------------------------------------------------------- curves


def success_curve(ious, thresholds=SUCCESS_THRESHOLDS, num_frames: int | None = None) -> np.ndarray:
  """Fraction of frames with ``IoU > t`` (strict) for each threshold ``t``.

  Args:
    ious: (N,) IoUs; NaN or negative entries never count.
    thresholds: (T,) thresholds.
    num_frames: denominator; ``len(ious)`` when None.
  """
  ious = np.nan_to_num(np.asarray(ious, np.float64).reshape(-1), nan=-1.0)
  n = ious.shape[0] if num_frames is None else num_frames
  if n <= 0:
    return np.zeros(len(thresholds))
  return np.sum(ious[:, None] > np.asarray(thresholds)[None, :], axis=0) / n


def precision_curve(errors, thresholds=PRECISION_THRESHOLDS,
                    num_frames: int | None = None) -> np.ndarray:
  """Fraction of frames with ``error <= t`` for each threshold ``t`` (NaN never counts)."""
  errors = np.nan_to_num(np.asarray(errors, np.float64).reshape(-1), nan=np.inf)
  n = errors.shape[0] if num_frames is None else num_frames
  if n <= 0:
    return np.zeros(len(thresholds))
  return np.sum(errors[:, None] <= np.asarray(thresholds)[None, :], axis=0) / n


def fps_from_times(times) -> float:
  """Mean of ``1 / t`` over positive per-frame times (seconds); NaN when there are none.

  NaN and non-positive times are dropped, as both toolkits do (``t[t > 0]``); an infinite time
  stays and adds ``1 / inf = 0``.
  """
  t = np.asarray(times, np.float64).reshape(-1)
  with np.errstate(invalid='ignore'):
    t = t[t > 0]
  return float(np.mean(1.0 / t)) if t.size else float('nan')


# ----------------------------------------------------------------------------- OPE


@dataclasses.dataclass(frozen=True)
class SequenceErrors:
  """Per-frame errors of one sequence under the OPE protocol.

  Attributes:
    name: sequence name.
    iou: (N,) IoU, -1 on invalid or skipped frames.
    centre_error: (N,) pixels, inf on invalid or skipped frames.
    norm_centre_error: (N,) inf on invalid or skipped frames.
    valid: (N,) bool, frames with a valid, visible ground truth.
    counted: (N,) bool, frames that belong to the evaluation at all (False for a skipped frame 0).
  """

  name: str
  iou: np.ndarray
  centre_error: np.ndarray
  norm_centre_error: np.ndarray
  valid: np.ndarray
  counted: np.ndarray

  def __len__(self) -> int:
    return int(self.iou.shape[0])

  def curves(self, frame_mask=None, exclude_invalid_frames: bool = False):
    """Success, precision and normalised-precision curves over the selected frames.

    Returns:
      ``(success, precision, norm_precision, denominator)``; the curves are None when the
      denominator is 0.
    """
    selected = self.counted.copy()
    if frame_mask is not None:
      selected &= np.asarray(frame_mask, bool)
    if exclude_invalid_frames:
      selected &= self.valid
    n = int(selected.sum())
    if n == 0:
      return None, None, None, 0
    return (success_curve(self.iou[selected], SUCCESS_THRESHOLDS, n),
            precision_curve(self.centre_error[selected], PRECISION_THRESHOLDS, n),
            precision_curve(self.norm_centre_error[selected], NORM_PRECISION_THRESHOLDS, n), n)

  def mean_iou(self) -> float:
    """Mean IoU over valid counted frames (pytracking's ``avg_overlap``); NaN when none."""
    keep = self.valid & self.counted
    return float(np.mean(self.iou[keep])) if keep.any() else float('nan')


def hold_empty_predictions(pred, gt) -> np.ndarray:
  """Replaces zero-width/height predictions by the previous frame's (pytracking convention).

  Frames whose ground truth has NaN keep their prediction, as in pytracking.
  """
  p = as_boxes(pred, 'pred').copy()
  g = as_boxes(gt, 'gt')
  empty = np.any(p[:, 2:] == 0, axis=1) & ~np.any(np.isnan(g), axis=1)
  for i in np.flatnonzero(empty[1:]) + 1:  # In order, so runs of empty boxes chain.
    p[i] = p[i - 1]
  return p


def sequence_errors(pred, gt, visible=None, *, name: str = '', first_frame: FirstFrame = 'gt',
                    invalid_predictions: InvalidPredictions = 'fail',
                    hold_empty: bool = True) -> SequenceErrors:
  """Per-frame IoU and centre errors of one sequence (OPE protocol).

  Args:
    pred: (N, 4) predicted ``[x, y, w, h]``.
    gt: (N, 4) ground truth.
    visible: optional (N,) visibility flags; False frames are invalid.
    name: sequence name, used in error messages.
    first_frame: 'gt' sets prediction 0 to the ground truth (both toolkits), 'skip' leaves frame 0
      out of numerator and denominator, 'keep' scores the prediction as given.
    invalid_predictions: 'fail' scores NaN / negative-size predictions as failures, 'raise' raises.
    hold_empty: replace zero-size predictions by the previous one (pytracking).
  """
  p, g = as_boxes(pred, f'{name} prediction'), as_boxes(gt, f'{name} ground truth')
  if p.shape[0] != g.shape[0]:
    raise ValueError(f'{name}: prediction has {p.shape[0]} frames, ground truth {g.shape[0]}')
  if first_frame not in ('gt', 'skip', 'keep'):
    raise ValueError(f'first_frame must be gt, skip or keep, got {first_frame!r}')
  if first_frame == 'gt' and p.shape[0]:
    p = p.copy()
    p[0] = g[0]
  bad = invalid_prediction_rows(p)
  if bad.any() and invalid_predictions == 'raise':
    raise ValueError(f'{name}: invalid prediction (NaN/inf or negative size) at frame '
                     f'{int(np.argmax(bad))}')
  if hold_empty:
    p = hold_empty_predictions(p, g)
    bad = invalid_prediction_rows(p)
  valid = valid_ground_truth_rows(g, visible)
  ok = valid & ~bad
  with np.errstate(invalid='ignore', divide='ignore'):
    iou = np.where(ok, iou_xywh(p, g), -1.0)
    ce = np.where(ok, centre_error(p, g), np.inf)
    nce = np.where(ok, normalized_centre_error(p, g), np.inf)
  counted = np.ones(g.shape[0], bool)
  if first_frame == 'skip' and g.shape[0]:
    counted[0] = False
  return SequenceErrors(name, iou, ce, nce, valid, counted)


@dataclasses.dataclass(frozen=True)
class OPEScores:
  """Curves averaged over sequences and the headline numbers derived from them.

  ``num_frames`` is the sum of the per-sequence denominators (frames the curves are taken over).
  """

  success_curve: np.ndarray
  precision_curve: np.ndarray
  norm_precision_curve: np.ndarray
  num_sequences: int
  fps: float = float('nan')
  num_frames: int = 0

  @property
  def auc(self) -> float:
    return float(np.mean(self.success_curve))

  @property
  def precision(self) -> float:
    return float(self.precision_curve[PRECISION_INDEX])

  @property
  def norm_precision(self) -> float:
    return float(self.norm_precision_curve[NORM_PRECISION_INDEX])

  @property
  def success_rate_50(self) -> float:
    return float(self.success_curve[10])

  def as_dict(self, curves: bool = False) -> dict[str, Any]:
    out = {'auc': self.auc, 'precision': self.precision, 'norm_precision': self.norm_precision,
           'success_rate_50': self.success_rate_50, 'num_sequences': self.num_sequences,
           'num_frames': self.num_frames, 'fps': self.fps}
    if curves:
      out.update(success_curve=self.success_curve.tolist(),
                 precision_curve=self.precision_curve.tolist(),
                 norm_precision_curve=self.norm_precision_curve.tolist())
    return out


def ope_scores(errors: Iterable[SequenceErrors],
               frame_masks: Mapping[str, np.ndarray] | None = None, *,
               exclude_invalid_frames: bool = False, fps: float = float('nan')) -> OPEScores | None:
  """Averages per-sequence curves over sequences.

  Args:
    errors: per-sequence errors.
    frame_masks: optional ``{name: (N,) bool}`` restricting frames (per-frame conditions); a
      sequence with no selected frame is left out of the average.
    exclude_invalid_frames: drop invalid ground-truth frames from the denominators.
    fps: stored as is.

  Returns:
    The scores, or None when no sequence contributes.
  """
  succ, prec, nprec, frames = [], [], [], 0
  for e in errors:
    mask = None if frame_masks is None else frame_masks.get(e.name)
    s, p, n, count = e.curves(mask, exclude_invalid_frames)
    if count == 0:
      continue
    succ.append(s)
    prec.append(p)
    nprec.append(n)
    frames += count
  if not succ:
    return None
  return OPEScores(np.mean(succ, axis=0), np.mean(prec, axis=0), np.mean(nprec, axis=0),
                   len(succ), fps, frames)


# ----------------------------------------------------------------------------- attributes


def split_attributes(attributes: Mapping[str, Any], num_frames: int):
  """Splits attributes into sequence flags ``{name: bool}`` and per-frame ``{name: (N,) bool}``.

  Flags are bools or 0/1 integers; per-frame entries are 1-D bool or 0/1 integer arrays of length
  ``num_frames``. Anything else (strings, class names, continuous per-frame measurements such as a
  blur length or a visible fraction, arrays of another length) is ignored.
  """
  flags, frames = {}, {}
  for key, value in attributes.items():
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and int(value) in (0, 1)):
      flags[key] = bool(value)
    elif isinstance(value, (np.ndarray, list, tuple)):
      array = np.asarray(value)
      binary = array.dtype.kind == 'b' or (
          array.dtype.kind in 'iu' and np.isin(array, (0, 1)).all())
      if array.ndim == 1 and array.shape[0] == num_frames and binary:
        frames[key] = array.astype(bool)
  return flags, frames


def sequence_attribute_sets(ground_truth: Mapping[str, Any],
                            names: Iterable[str]) -> dict[str, list[str]]:
  """``{attribute: [sequences whose flag is set]}`` for the sequence attributes, sorted by name."""
  out: dict[str, list[str]] = {}
  for name in names:
    gt = ground_truth[name]
    flags, _ = split_attributes(gt.attributes or {}, as_boxes(gt.boxes).shape[0])
    for key, flag in flags.items():
      if flag:
        out.setdefault(key, []).append(name)
  return {k: out[k] for k in sorted(out)}


def frame_condition_masks(ground_truth: Mapping[str, Any],
                          names: Iterable[str]) -> dict[str, dict[str, np.ndarray]]:
  """``{condition: {sequence: (N,) bool}}``: frames after the first that have the condition.

  Frame 0 is left out (its box is given, not tracked); sequences with no such frame are absent,
  and so are conditions no sequence has. Sorted by name.
  """
  out: dict[str, dict[str, np.ndarray]] = {}
  for name in names:
    gt = ground_truth[name]
    _, frames = split_attributes(gt.attributes or {}, as_boxes(gt.boxes).shape[0])
    for key, mask in frames.items():
      mask = mask.copy()
      mask[:1] = False
      if mask.any():
        out.setdefault(key, {})[name] = mask
  return {k: out[k] for k in sorted(out)}


@dataclasses.dataclass(frozen=True)
class FrameCount:
  """Frames (after the first) having one per-frame condition, over the evaluated sequences.

  Attributes:
    sequences: sequences with at least one such frame.
    frames: frames having the condition.
    visible_frames: those of them with a valid, visible ground-truth box (the frames scored).
  """

  sequences: int
  frames: int
  visible_frames: int


# ----------------------------------------------------------------------------- OPE report


@dataclasses.dataclass(frozen=True)
class OPEReport:
  """OPE evaluation of one tracker on one benchmark.

  Attributes:
    overall: all frames of all sequences.
    per_sequence: one sequence each.
    per_attribute: sequence attributes: all frames of the sequences having the flag.
    mean_iou: pytracking's ``avg_overlap`` per sequence.
    per_condition: per-frame conditions: the frames having the condition and a visible target;
      None when no such frame has one (nothing can be scored).
    condition_frames: how many frames have each condition, and how many of them are visible.
  """

  overall: OPEScores
  per_sequence: dict[str, OPEScores]
  per_attribute: dict[str, OPEScores]
  mean_iou: dict[str, float]
  per_condition: dict[str, OPEScores | None] = dataclasses.field(default_factory=dict)
  condition_frames: dict[str, FrameCount] = dataclasses.field(default_factory=dict)


def evaluate_ope(predictions: Mapping[str, np.ndarray], ground_truth: Mapping[str, Any], *,
                 times: Mapping[str, np.ndarray] | None = None,
                 exclude_invalid_frames: bool = False, first_frame: FirstFrame = 'gt',
                 invalid_predictions: InvalidPredictions = 'fail', hold_empty: bool = True,
                 sequences: Sequence[str] | None = None) -> OPEReport:
  """OPE scores of one tracker: overall, per sequence, per attribute and per-frame condition.

  Args:
    predictions: ``{sequence: (N, 4) boxes}``.
    ground_truth: ``{sequence: GroundTruth}`` (or ``Sequence`` objects).
    times: optional ``{sequence: per-frame seconds}``; per-sequence FPS is ``mean(1 / t)`` and the
      overall FPS the mean of per-sequence FPS (got10k ``ExperimentOTB``).
    sequences: names to evaluate; default all ground-truth sequences, sorted. Each must have a
      prediction (KeyError naming it otherwise).
    Other arguments: see ``sequence_errors`` and ``ope_scores``; ``exclude_invalid_frames`` does not
    apply to per-frame conditions, which are always scored on visible frames only.
  """
  names = sorted(ground_truth) if sequences is None else list(sequences)
  missing = [n for n in names if n not in predictions]
  if missing:
    raise KeyError(f'no prediction for {len(missing)} sequence(s), e.g. {missing[:3]}')
  errors = []
  for name in names:
    gt = ground_truth[name]
    errors.append(sequence_errors(predictions[name], gt.boxes, gt.visible, name=name,
                                  first_frame=first_frame,
                                  invalid_predictions=invalid_predictions, hold_empty=hold_empty))
  seq_fps = {n: fps_from_times(times[n]) if times and n in times else float('nan') for n in names}
  per_sequence = {}
  for e in errors:
    scores = ope_scores([e], exclude_invalid_frames=exclude_invalid_frames, fps=seq_fps[e.name])
    if scores is None:
      raise ValueError(f'{e.name}: no frame left to evaluate')
    per_sequence[e.name] = scores
  finite = [f for f in seq_fps.values() if np.isfinite(f)]
  overall = ope_scores(errors, exclude_invalid_frames=exclude_invalid_frames,
                       fps=float(np.mean(finite)) if finite else float('nan'))
  per_attribute = {}
  for attr, members in sequence_attribute_sets(ground_truth, names).items():
    chosen = set(members)
    scores = ope_scores([e for e in errors if e.name in chosen],
                        exclude_invalid_frames=exclude_invalid_frames)
    if scores is not None:
      per_attribute[attr] = scores
  per_condition, condition_frames = {}, {}
  by_name = {e.name: e for e in errors}
  for cond, masks in frame_condition_masks(ground_truth, names).items():
    visible = sum(int((m & by_name[n].valid & by_name[n].counted).sum()) for n, m in masks.items())
    condition_frames[cond] = FrameCount(len(masks), sum(int(m.sum()) for m in masks.values()),
                                        visible)
    per_condition[cond] = ope_scores([by_name[n] for n in masks], masks,
                                     exclude_invalid_frames=True)
  return OPEReport(overall, per_sequence, per_attribute, {e.name: e.mean_iou() for e in errors},
                   per_condition, condition_frames)


# ----------------------------------------------------------------------------- GOT-10k


@dataclasses.dataclass(frozen=True)
class Got10kScores:
  """GOT-10k numbers from a set of concatenated IoUs."""

  ao: float
  sr50: float
  sr75: float
  success_curve: np.ndarray
  num_frames: int
  fps: float = float('nan')

  def as_dict(self, curves: bool = False) -> dict[str, Any]:
    out = {'ao': self.ao, 'sr50': self.sr50, 'sr75': self.sr75, 'num_frames': self.num_frames,
           'fps': self.fps}
    if curves:
      out['success_curve'] = self.success_curve.tolist()
    return out


def got10k_scores(ious, times=None) -> Got10kScores | None:
  """AO, SR0.5, SR0.75 and the 101-point success curve of concatenated IoUs; None when empty."""
  ious = np.asarray(ious, np.float64).reshape(-1)
  if ious.size == 0:
    return None
  fps = fps_from_times(times) if times is not None else float('nan')
  return Got10kScores(float(np.mean(ious)), float(np.mean(ious > 0.5)), float(np.mean(ious > 0.75)),
                      success_curve(ious, GOT10K_THRESHOLDS), int(ious.size), fps)


def got10k_frame_mask(gt) -> np.ndarray:
  """(N,) bool frames GOT-10k scores: not frame 0, ``cover > 0`` (else ``visible``, else all)."""
  n = as_boxes(gt.boxes).shape[0]
  if gt.cover is not None:
    mask = np.asarray(gt.cover).reshape(-1) > 0
  elif gt.visible is not None:
    mask = np.asarray(gt.visible).astype(bool).reshape(-1)
  else:
    mask = np.ones(n, bool)
  if mask.shape[0] != n:
    raise ValueError(f'cover/visible has {mask.shape[0]} frames, boxes {n}')
  mask = mask.copy()
  mask[:1] = False
  return mask


def got10k_ious(pred, gt, *, name: str = '',
                invalid_predictions: InvalidPredictions = 'fail') -> np.ndarray:
  """(N,) toolkit IoUs (``got10k_iou``) of one repetition, both boxes clipped to ``image_size``.

  Without an image size nothing is clipped. Invalid predictions (NaN / inf / negative size) give
  IoU 0 ('fail') or raise ('raise'); a negative size gives 0 in the toolkit too (clipped to 0).
  """
  p, g = as_boxes(pred, f'{name} prediction'), as_boxes(gt.boxes, f'{name} ground truth')
  if p.shape[0] != g.shape[0]:
    raise ValueError(f'{name}: prediction has {p.shape[0]} frames, ground truth {g.shape[0]}')
  bad = invalid_prediction_rows(p)
  if bad.any() and invalid_predictions == 'raise':
    raise ValueError(f'{name}: invalid prediction at frame {int(np.argmax(bad))}')
  if gt.image_size is not None:
    p, g = got10k_clip_boxes(p, gt.image_size), got10k_clip_boxes(g, gt.image_size)
  with np.errstate(invalid='ignore'):
    iou = got10k_iou(p, g)
  return np.where(bad, 0.0, np.nan_to_num(iou, nan=0.0))


@dataclasses.dataclass(frozen=True)
class Got10kReport:
  """GOT-10k evaluation of one tracker.

  ``per_attribute`` holds sequence attributes (all scored frames of those sequences),
  ``per_condition`` per-frame conditions (the scored frames having the condition; None when none).
  """

  overall: Got10kScores
  per_sequence: dict[str, Got10kScores]
  per_attribute: dict[str, Got10kScores]
  per_condition: dict[str, Got10kScores | None] = dataclasses.field(default_factory=dict)


def evaluate_got10k(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any], *,
                    times: Mapping[str, np.ndarray] | None = None,
                    invalid_predictions: InvalidPredictions = 'fail',
                    sequences: Sequence[str] | None = None) -> Got10kReport:
  """GOT-10k AO / SR / FPS: overall (all IoUs concatenated), per sequence, attribute, condition.

  Args:
    predictions: ``{sequence: (N, 4) array or list of (N, 4) arrays, one per repetition}``.
    ground_truth: ``{sequence: GroundTruth}``; ``image_size`` enables the toolkit's clipping.
    times: ``{sequence: (N,) or (N, R) seconds}``; FPS = mean of ``1 / t`` over positive times,
      per sequence and over all frames concatenated.
    sequences: names to evaluate (default: all ground-truth sequences, sorted).
  """
  names = sorted(ground_truth) if sequences is None else list(sequences)
  missing = [n for n in names if n not in predictions]
  if missing:
    raise KeyError(f'no prediction for {len(missing)} sequence(s), e.g. {missing[:3]}')
  ious, masks = {}, {}
  for name in names:
    gt = ground_truth[name]
    reps = predictions[name]
    if isinstance(reps, np.ndarray) and reps.ndim == 2:
      reps = [reps]
    keep = got10k_frame_mask(gt)
    ious[name] = [got10k_ious(r, gt, name=name, invalid_predictions=invalid_predictions)
                  for r in reps]
    masks[name] = keep

  def gather(selection: Mapping[str, np.ndarray]) -> np.ndarray:
    parts = [iou[selection[n]] for n in selection for iou in ious[n]]
    return np.concatenate(parts) if parts else np.zeros(0)

  def gather_times(selection: Iterable[str]):
    if not times:
      return None
    parts = [np.asarray(times[n], np.float64).reshape(-1) for n in selection if n in times]
    return np.concatenate(parts) if parts else None

  per_sequence = {}
  for name in names:
    scores = got10k_scores(gather({name: masks[name]}), gather_times([name]))
    if scores is not None:
      per_sequence[name] = scores
  overall = got10k_scores(gather(masks), gather_times(names))
  if overall is None:
    raise ValueError('GOT-10k evaluation: no frame with cover > 0 in any sequence')
  per_attribute = {}
  for attr, members in sequence_attribute_sets(ground_truth, names).items():
    scores = got10k_scores(gather({n: masks[n] for n in members}), gather_times(members))
    if scores is not None:
      per_attribute[attr] = scores
  per_condition = {}
  for cond, cond_masks in frame_condition_masks(ground_truth, names).items():
    per_condition[cond] = got10k_scores(gather({n: m & masks[n] for n, m in cond_masks.items()}))
  return Got10kReport(overall, per_sequence, per_attribute, per_condition)
