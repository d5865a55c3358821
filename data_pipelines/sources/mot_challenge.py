"""MOTChallenge-layout multi-object datasets: MOT17, MOT20, DanceTrack and the synthetic MOT set.

Layout (one folder per sequence under ``<root>/<split>/``)::

  <seq>/seqinfo.ini        [Sequence] name, imDir, frameRate, seqLength, imWidth, imHeight, imExt
  <seq>/img1/000001.jpg    frame k is ``%06d<imExt>`` % k, k = 1 .. seqLength
  <seq>/gt/gt.txt          frame, id, x, y, w, h, consider, class, visibility   (train splits)
  <seq>/det/det.txt        frame, -1, x, y, w, h, score[, -1, -1, -1]           (detections)

Boxes stay exactly as in the files: pixel ``x, y, w, h`` with the top-left corner at ``(x, y)``
(MOTChallenge counts pixels from 1; nothing is shifted here, the result files use the same
convention, so scores are unaffected). DanceTrack's ``gt.txt`` has the same nine columns (with
consider, class and visibility all 1).

Error rules, as for the SOT readers: a missing or malformed ``seqinfo.ini`` raises
``DatasetError`` naming the file (and line for a bad value); a malformed row of ``gt.txt`` /
``det.txt`` (too few columns, a non-number, a non-positive size, a frame outside 1..seqLength)
is counted and skipped, with one warning per file naming the first bad ``file:line`` and the
count (``strict=True`` raises on it instead). Missing frame images are counted and listed in
``MotSequence.missing_frames`` with a warning; ``load_frame`` raises ``FrameError`` on them, and
the runners skip such frames.

``training_boxes`` selects the ground truth that ReID training uses: the MOTChallenge rule is
consider flag 1 and class 1 (pedestrian); classes 2 (person on vehicle), 7 (static person), 8
(distractor) and 12 (reflection) are the classes TrackEval treats as distractors, and in MOT20
also class 6 (non-motorised vehicle); none of them is a training identity. DanceTrack and the
synthetic set label every row class 1, consider 1.
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import os

import numpy as np

from data_pipelines.sources import annotation_files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import NumberedFrames, read_image

DATASETS = ('mot17', 'mot20', 'dancetrack', 'synthetic_mot')
SPLITS = {'mot17': ('train', 'test'), 'mot20': ('train', 'test'),
          'dancetrack': ('train', 'val', 'test'), 'synthetic_mot': ('train', 'test')}
PEDESTRIAN_CLASS = 1
SEQINFO_KEYS = ('seqLength', 'imWidth', 'imHeight', 'frameRate')
_MAX_NAMED_BAD_ROWS = 3


@dataclasses.dataclass(frozen=True)
class MotBoxes:
  """Rows of a ``gt.txt`` or ``det.txt`` (N rows, sorted by frame, file order within a frame).

  Attributes:
    frames: (N,) int32, 1-based frame numbers.
    ids: (N,) int32 identities; -1 for detections.
    boxes_xywh: (N, 4) float32 pixel ``x, y, w, h`` exactly as in the file.
    scores: (N,) float32; detections: confidence; ground truth: the consider flag (column 7).
    classes: (N,) int32 ground-truth class; -1 for detections.
    visibility: (N,) float32 ground-truth visible fraction; 1 for detections.
  """

  frames: np.ndarray
  ids: np.ndarray
  boxes_xywh: np.ndarray
  scores: np.ndarray
  classes: np.ndarray
  visibility: np.ndarray

  def __len__(self) -> int:
    return int(self.frames.shape[0])

  def select(self, mask_or_index) -> 'MotBoxes':
    """The rows picked by a boolean mask or an index array."""
    return MotBoxes(*(getattr(self, f.name)[mask_or_index] for f in dataclasses.fields(self)))

  def at_frame(self, frame: int) -> 'MotBoxes':
    """The rows of 1-based frame ``frame``."""
    lo, hi = np.searchsorted(self.frames, [frame, frame + 1])
    return self.select(slice(int(lo), int(hi)))

  @staticmethod
  def empty() -> 'MotBoxes':
    return make_boxes(np.zeros((0, 10)))


@dataclasses.dataclass(frozen=True)
class MotSequence:
  """One MOT sequence: frames on disk, annotation and detections in memory.

  Attributes:
    name: sequence name (the folder name).
    frame_paths: frame k at index k - 1.
    image_size: (width, height) from ``seqinfo.ini``.
    frame_rate: frames per second from ``seqinfo.ini``.
    gt: the ground truth, or None when the split has none (test splits of the benchmarks).
    detections: the detections (``det/det.txt`` or the override folder), or None.
    missing_frames: 1-based frames whose image file is missing (counted and skipped by runners).
    directory: the sequence folder (its ``gt/gt.txt`` is what scoring reads).
  """

  name: str
  frame_paths: tuple[str, ...]
  image_size: tuple[int, int]
  frame_rate: float
  gt: MotBoxes | None
  detections: MotBoxes | None
  missing_frames: tuple[int, ...] = ()
  directory: str = ''

  def __len__(self) -> int:
    return len(self.frame_paths)


def make_boxes(rows: np.ndarray, *, is_gt: bool = False) -> MotBoxes:
  """``MotBoxes`` from (N, >= 7) float rows of a MOTChallenge file, stably sorted by frame."""
  rows = np.asarray(rows, np.float64)
  rows = rows.reshape(-1, 10) if rows.ndim != 2 else rows
  rows = rows[np.argsort(rows[:, 0], kind='stable')]
  n = rows.shape[0]
  column = lambda k, default: rows[:, k] if rows.shape[1] > k else np.full(n, default)
  return MotBoxes(
      frames=rows[:, 0].astype(np.int32),
      ids=rows[:, 1].astype(np.int32) if is_gt else np.full(n, -1, np.int32),
      boxes_xywh=rows[:, 2:6].astype(np.float32),
      scores=column(6, 1.0).astype(np.float32),
      classes=column(7, PEDESTRIAN_CLASS).astype(np.int32) if is_gt else np.full(n, -1, np.int32),
      visibility=column(8, 1.0).astype(np.float32) if is_gt else np.ones(n, np.float32))


def _bad_row(fields: list[str], num_frames: int | None, min_columns: int) -> str | None:
  if len(fields) < min_columns:
    return f'expected at least {min_columns} comma-separated values, got {len(fields)}'
  try:
    values = [float(v) for v in fields]
  except ValueError:
    return 'not a number'
  if not np.all(np.isfinite(values[:min_columns])):
    return 'not a finite number'
  frame = values[0]
  if frame != int(frame) or frame < 1 or (num_frames is not None and frame > num_frames):
    return f'frame {fields[0]} outside 1..{num_frames}' if num_frames else f'bad frame {fields[0]}'
  if values[4] <= 0 or values[5] <= 0:
    return 'non-positive box size'
  return None


def read_mot_file(path: str, *, is_gt: bool, num_frames: int | None = None,
                  strict: bool = False) -> MotBoxes:
  """Reads a MOTChallenge ``gt.txt`` (``is_gt``) or ``det.txt``.

  Malformed rows are skipped and counted; one warning names the first few as ``file:line``.
  With ``strict`` the first malformed row raises instead.

  Raises:
    DatasetError: unreadable file; with ``strict``, a malformed row (naming file and line).
  """
  lines = annotation_files._read_lines(path)  # pylint: disable=protected-access
  min_columns = 9 if is_gt else 7
  rows, bad = [], []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    fields = [f.strip() for f in line.replace('\t', ',').split(',')]
    if fields and not fields[-1]:  # a trailing comma
      fields.pop()
    problem = _bad_row(fields, num_frames, min_columns)
    if problem is not None:
      if strict:
        raise DatasetError(f'{path}:{number}: {problem}: {line!r}')
      bad.append(f'{path}:{number}: {problem}')
      continue
    rows.append([float(v) for v in fields[:10]] + [-1.0] * (10 - min(len(fields), 10)))
  if bad:
    named = '; '.join(bad[:_MAX_NAMED_BAD_ROWS])
    named += '; ...' if len(bad) > _MAX_NAMED_BAD_ROWS else ''
    logging.warning('%s: skipped %d malformed row%s of %d (%s)', path, len(bad),
                    '' if len(bad) == 1 else 's', len(bad) + len(rows), named)
  array = np.asarray(rows, np.float64) if rows else np.zeros((0, 10))
  return make_boxes(array, is_gt=is_gt)


def read_seqinfo(path: str) -> dict:
  """The ``[Sequence]`` section of ``seqinfo.ini`` with typed values.

  Raises:
    DatasetError: missing file, section or key, or a bad number, naming the file (and line).
  """
  parser = configparser.ConfigParser(interpolation=None)
  parser.optionxform = str  # keys are camelCase
  try:
    with open(path, encoding='utf-8-sig') as f:
      text = f.read()
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  try:
    parser.read_string(text, source=path)
  except configparser.Error as e:
    raise DatasetError(f'{path}: malformed ini ({e})') from e
  if not parser.has_section('Sequence'):
    raise DatasetError(f'{path}: no [Sequence] section')
  section = parser['Sequence']
  info = {'name': section.get('name', os.path.basename(os.path.dirname(path))),
          'imDir': section.get('imDir', 'img1'), 'imExt': section.get('imExt', '.jpg')}
  lines = text.splitlines()
  for key in SEQINFO_KEYS:
    if key not in section:
      raise DatasetError(f'{path}: missing key {key!r} in [Sequence]')
    value = section[key]
    line = next((i for i, l in enumerate(lines, 1) if l.split('=')[0].strip() == key), 0)
    try:
      number = float(value)
    except ValueError:
      number = -1.0
    if number <= 0 or (key != 'frameRate' and number != int(number)):
      raise DatasetError(f'{path}:{line}: {key} must be a positive '
                         f'{"number" if key == "frameRate" else "integer"}, got {value!r}')
    info[key] = number if key == 'frameRate' else int(number)
  return info


def read_mot_sequence(directory: str, *, detections_file: str | None = None,
                      strict: bool = False) -> MotSequence:
  """Reads one sequence folder (``seqinfo.ini``, ``img1/``, ``gt/gt.txt``, ``det/det.txt``)."""
  info = read_seqinfo(os.path.join(directory, 'seqinfo.ini'))
  num_frames = info['seqLength']
  image_dir = os.path.join(directory, info['imDir'])
  frame_paths = NumberedFrames(image_dir, f'%06d{info["imExt"]}', 1, num_frames)
  try:
    present = set(os.listdir(image_dir))
  except OSError:
    present = set()
  missing = tuple(k + 1 for k in range(num_frames)
                  if os.path.basename(frame_paths[k]) not in present)
  if missing:
    logging.warning('%s: %d of %d frame images missing (first: %s); they are skipped',
                    image_dir, len(missing), num_frames, frame_paths[missing[0] - 1])
  gt_path = os.path.join(directory, 'gt', 'gt.txt')
  gt = read_mot_file(gt_path, is_gt=True, num_frames=num_frames,
                     strict=strict) if os.path.isfile(gt_path) else None
  det_path = detections_file or os.path.join(directory, 'det', 'det.txt')
  if detections_file is not None and not os.path.isfile(detections_file):
    raise DatasetError(f'{detections_file}: missing detections file for sequence '
                       f'{os.path.basename(directory)}')
  dets = read_mot_file(det_path, is_gt=False, num_frames=num_frames,
                       strict=strict) if os.path.isfile(det_path) else None
  return MotSequence(name=os.path.basename(os.path.normpath(directory)),
                     frame_paths=tuple(frame_paths), image_size=(info['imWidth'], info['imHeight']),
                     frame_rate=float(info['frameRate']), gt=gt, detections=dets,
                     missing_frames=missing, directory=os.path.normpath(directory))


def _holds_sequences(folder: str) -> bool:
  return os.path.isdir(folder) and any(
      os.path.isfile(os.path.join(folder, n, 'seqinfo.ini')) for n in os.listdir(folder))


def read_mot_sequences(root: str, split: str = 'train', *, dataset: str = 'mot17',
                       detections: str | None = None, sequences=None,
                       strict: bool = False) -> list[MotSequence]:
  """The sequences of ``<root>/<split>/`` (or ``root`` itself when it holds sequence folders).

  Args:
    root: the dataset folder (e.g. ``MOT17/``, holding ``train/`` and ``test/``).
    split: ``train`` or ``test`` (DanceTrack also ``val``).
    dataset: one of ``DATASETS`` (they share the layout; it picks the valid splits).
    detections: a folder of ``<seq>.txt`` files in ``det.txt`` format replacing ``det/det.txt``
      (e.g. YOLOX detections); a sequence without its file raises.
    sequences: names to keep (in that order); None keeps all, sorted by name.
    strict: raise on the first malformed row instead of skipping it.

  Raises:
    DatasetError: unknown dataset or split, no sequence found, a requested sequence missing, or a
      malformed ``seqinfo.ini``; the message names the folder or file.
  """
  if dataset not in DATASETS:
    raise DatasetError(f'unknown MOT dataset {dataset!r}; use one of {", ".join(DATASETS)}')
  if split not in SPLITS[dataset]:
    raise DatasetError(f'{dataset}: unknown split {split!r}; use {", ".join(SPLITS[dataset])}')
  base = os.path.join(root, split)
  if not os.path.isdir(base) and _holds_sequences(root):
    base = root
  if not os.path.isdir(base):
    raise DatasetError(f'{base}: no such folder (expected {root}/{split}/<seq>/seqinfo.ini)')
  found = sorted(n for n in os.listdir(base)
                 if os.path.isfile(os.path.join(base, n, 'seqinfo.ini')))
  if not found:
    raise DatasetError(f'{base}: no sequence folders with seqinfo.ini')
  if sequences:
    missing = [n for n in sequences if n not in found]
    if missing:
      raise DatasetError(f'{base}: no sequence {", ".join(missing)} (found {", ".join(found)})')
    found = list(sequences)
  out = []
  for name in found:
    det_file = os.path.join(detections, f'{name}.txt') if detections else None
    out.append(read_mot_sequence(os.path.join(base, name), detections_file=det_file,
                                 strict=strict))
  return out


def training_boxes(gt: MotBoxes, *, min_visibility: float = 0.0,
                   classes: tuple[int, ...] = (PEDESTRIAN_CLASS,)) -> MotBoxes:
  """Ground-truth rows for ReID training: consider flag 1, class in ``classes`` (pedestrian),
  visibility >= ``min_visibility``, positive size and a real identity (id >= 0)."""
  keep = ((gt.scores > 0.5) & np.isin(gt.classes, classes) & (gt.visibility >= min_visibility)
          & (gt.ids >= 0) & (gt.boxes_xywh[:, 2] > 0) & (gt.boxes_xywh[:, 3] > 0))
  return gt.select(keep)


def load_frame(path: str) -> np.ndarray:
  """A frame as (H, W, 3) uint8 RGB. Raises ``FrameError`` naming a missing or broken file."""
  return read_image(path)
