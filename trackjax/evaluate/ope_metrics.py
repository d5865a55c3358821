"""One-pass evaluation (OPE) metrics for single-object tracking, numpy only.

Two protocols, each following its public toolkit:

* OPE (OTB, LaSOT, UAV, NFS, TrackingNet; pytracking ``extract_results`` and got10k
  ``ExperimentOTB``): per-frame IoU and centre error; per-sequence success curve (21 IoU thresholds
  ``0:0.05:1``, a frame counts when ``IoU > t``), precision curve (0..50 px, ``error <= t``) and
  normalised-precision curve (0..0.5 in steps of 0.01, ``<= t``). Curves are averaged over
  sequences; AUC is the mean of the averaged success curve, precision its value at 20 px,
  normalised precision its value at 0.2.
* GOT-10k (got10k toolkit 0.1.3 ``ExperimentGOT10k``): IoU of both boxes clipped to the image,
  frame 0 skipped, only frames with ``cover > 0``; IoUs of all repetitions and sequences
  concatenated; AO is their mean, SR_t the fraction with ``IoU > t``; success curve on 101
  thresholds.

Conventions shared by both toolkits: boxes are ``[x, y, w, h]``; the centre is ``x + (w - 1) / 2``;
frame 0 of an OPE prediction is replaced by the ground truth (it is the given box).

Invalid ground-truth frames (``w <= 0`` or ``h <= 0``, NaN, or ``visible == False``) never count as
successes. By default they stay in the denominator of every curve (pytracking's default, used by
the LaSOT leaderboards); ``exclude_invalid_frames=True`` drops them instead (as the got10k
LaSOT/UAV experiments do for NaN boxes).

Deviations from pytracking, on purpose:
* A prediction with NaN/inf or a negative size scores as a failure (IoU 0, infinite centre error)
  instead of aborting the whole evaluation; ``invalid_predictions='raise'`` aborts instead.
* Prediction and ground truth must have the same length (pytracking pads or truncates silently).
* pytracking's UAV branch sets the centre error of invalid frames to -1 (a success at every
  threshold), and the normalised centre error of invalid frames to -1 for non-LaSOT datasets;
  here invalid frames are failures in every curve.
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
  """Mean of ``1 / t`` over finite, positive per-frame times (seconds); NaN when there are none."""
  t = np.asarray(times, np.float64).reshape(-1)
  t = t[np.isfinite(t) & (t > 0)]
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
  """Curves averaged over sequences and the headline numbers derived from them."""

  success_curve: np.ndarray
  precision_curve: np.ndarray
  norm_precision_curve: np.ndarray
  num_sequences: int
  fps: float = float('nan')

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
           'fps': self.fps}
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
    frame_masks: optional ``{name: (N,) bool}`` restricting frames (per-frame attributes); a
      sequence with no selected frame is left out of the average.
    exclude_invalid_frames: drop invalid ground-truth frames from the denominators.
    fps: stored as is.

  Returns:
    The scores, or None when no sequence contributes.
  """
  succ, prec, nprec = [], [], []
  for e in errors:
    mask = None if frame_masks is None else frame_masks.get(e.name)
    s, p, n, count = e.curves(mask, exclude_invalid_frames)
    if count == 0:
      continue
    succ.append(s)
    prec.append(p)
    nprec.append(n)
  if not succ:
    return None
  return OPEScores(np.mean(succ, axis=0), np.mean(prec, axis=0), np.mean(nprec, axis=0),
                   len(succ), fps)


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


def attribute_masks(ground_truth: Mapping[str, Any],
                    names: Iterable[str]) -> dict[str, dict[str, np.ndarray]]:
  """``{attribute: {sequence: (N,) bool frame mask}}`` over the given sequences.

  A sequence flag selects all frames of the sequence; sequences without the attribute are absent.
  Attributes are returned sorted by name so reports are deterministic.
  """
  out: dict[str, dict[str, np.ndarray]] = {}
  for name in names:
    gt = ground_truth[name]
    n = as_boxes(gt.boxes).shape[0]
    flags, frames = split_attributes(gt.attributes or {}, n)
    for key, flag in flags.items():
      if flag:
        out.setdefault(key, {})[name] = np.ones(n, bool)
    for key, mask in frames.items():
      if mask.any():
        out.setdefault(key, {})[name] = mask
  return {k: out[k] for k in sorted(out)}


# ----------------------------------------------------------------------------- OPE report


@dataclasses.dataclass(frozen=True)
class OPEReport:
  """OPE evaluation of one tracker on one benchmark."""

  overall: OPEScores
  per_sequence: dict[str, OPEScores]
  per_attribute: dict[str, OPEScores]
  mean_iou: dict[str, float]


def evaluate_ope(predictions: Mapping[str, np.ndarray], ground_truth: Mapping[str, Any], *,
                 times: Mapping[str, np.ndarray] | None = None,
                 exclude_invalid_frames: bool = False, first_frame: FirstFrame = 'gt',
                 invalid_predictions: InvalidPredictions = 'fail', hold_empty: bool = True,
                 sequences: Sequence[str] | None = None) -> OPEReport:
  """OPE scores of one tracker: overall, per sequence and per attribute.

  Args:
    predictions: ``{sequence: (N, 4) boxes}``.
    ground_truth: ``{sequence: GroundTruth}`` (or ``Sequence`` objects).
    times: optional ``{sequence: per-frame seconds}``; per-sequence FPS is ``mean(1 / t)`` and the
      overall FPS the mean of per-sequence FPS (got10k ``ExperimentOTB``).
    sequences: names to evaluate; default all ground-truth sequences, sorted. Each must have a
      prediction (KeyError naming it otherwise).
    Other arguments: see ``sequence_errors`` and ``ope_scores``.
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
  for attr, masks in attribute_masks(ground_truth, names).items():
    scores = ope_scores([e for e in errors if e.name in masks], masks,
                        exclude_invalid_frames=exclude_invalid_frames)
    if scores is not None:
      per_attribute[attr] = scores
  return OPEReport(overall, per_sequence, per_attribute, {e.name: e.mean_iou() for e in errors})


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
  """(N,) IoUs of one repetition with both boxes clipped to the image (no clipping without size).

  Invalid predictions (NaN / negative size) give IoU 0 ('fail') or raise ('raise').
  """
  p, g = as_boxes(pred, f'{name} prediction'), as_boxes(gt.boxes, f'{name} ground truth')
  if p.shape[0] != g.shape[0]:
    raise ValueError(f'{name}: prediction has {p.shape[0]} frames, ground truth {g.shape[0]}')
  bad = invalid_prediction_rows(p)
  if bad.any() and invalid_predictions == 'raise':
    raise ValueError(f'{name}: invalid prediction at frame {int(np.argmax(bad))}')
  if gt.image_size is not None:
    p, g = got10k_clip_boxes(p, gt.image_size), got10k_clip_boxes(g, gt.image_size)
  return np.where(bad, 0.0, np.nan_to_num(iou_xywh(p, g), nan=0.0))


@dataclasses.dataclass(frozen=True)
class Got10kReport:
  """GOT-10k evaluation of one tracker."""

  overall: Got10kScores
  per_sequence: dict[str, Got10kScores]
  per_attribute: dict[str, Got10kScores]


def evaluate_got10k(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any], *,
                    times: Mapping[str, np.ndarray] | None = None,
                    invalid_predictions: InvalidPredictions = 'fail',
                    sequences: Sequence[str] | None = None) -> Got10kReport:
  """GOT-10k AO / SR / FPS: overall (all IoUs concatenated), per sequence and per attribute.

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
  for attr, attr_masks in attribute_masks(ground_truth, names).items():
    selection = {n: m & masks[n] for n, m in attr_masks.items()}
    scores = got10k_scores(gather(selection), gather_times(selection))
    if scores is not None:
      per_attribute[attr] = scores
  return Got10kReport(overall, per_sequence, per_attribute)
