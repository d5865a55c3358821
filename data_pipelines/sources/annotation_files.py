"""Parsing of the small text files that tracking datasets ship: box lists and per-frame labels.

Every error is a ``DatasetError`` naming the file and the 1-based line.
"""

from __future__ import annotations

import os
import re

import numpy as np

from data_pipelines.sources.base import DatasetError, Sequence

_SEPARATORS = re.compile(r'[,\t ]+')
_UTF16_BOMS = (b'\xff\xfe', b'\xfe\xff')
ANNOTATION_FILE = 'annotation_file'  # Sequence.attributes key: where the boxes were read


def _read_lines(path: str) -> list[str]:
  """The lines of a text file: UTF-8 with or without a byte-order mark (or UTF-16 with one), LF,
  CRLF or CR line ends, as Windows and macOS editors save them."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  utf16 = data.startswith(_UTF16_BOMS)
  try:
    text = data.decode('utf-16' if utf16 else 'utf-8-sig')  # either drops the mark
  except UnicodeDecodeError as e:
    raise DatasetError(f'{path}: not a text file (invalid {"UTF-16" if utf16 else "UTF-8"} '
                       f'at byte {e.start})') from e
  lines = text.splitlines()
  while lines and not lines[-1].strip():  # trailing newlines are fine
    lines.pop()
  return lines


def read_boxes(path: str, *, max_lines: int | None = None) -> np.ndarray:
  """Reads one ``x, y, w, h`` box a line (comma, tab or space separated) as (N, 4) float64.

  NaN and non-positive boxes are kept (see ``make_sequence`` for what they mean).
  ``max_lines`` reads only the first lines (test splits annotate only the first frame).

  Raises:
    DatasetError: empty file, empty or malformed line (not 4 numbers); the message names the
      file and line.
  """
  lines = _read_lines(path)
  if max_lines is not None:
    lines = lines[:max_lines]
  if not lines:
    raise DatasetError(f'{path}: no boxes (empty file)')
  boxes = np.empty((len(lines), 4), np.float64)
  for i, line in enumerate(lines):
    fields = _SEPARATORS.split(line.strip())
    if len(fields) != 4 or not fields[0]:
      what = 'empty line' if not line.strip() else f'expected 4 numbers, got {len(fields)}'
      raise DatasetError(f'{path}:{i + 1}: {what}: {line!r}')
    try:
      boxes[i] = [float(v) for v in fields]
    except ValueError as e:
      raise DatasetError(f'{path}:{i + 1}: not a number in {line!r}') from e
  return boxes


def read_labels(path: str, num_frames: int | None = None) -> np.ndarray:
  """Reads one integer a line (GOT-10k ``absence.label``/``cover.label``) or one comma-separated
  line of 0/1 flags (LaSOT ``full_occlusion.txt``) as an int array.

  Raises:
    DatasetError: malformed value, or a count different from ``num_frames``.
  """
  lines = _read_lines(path)
  values = []
  for i, line in enumerate(lines):
    for field in _SEPARATORS.split(line.strip()):
      if not field:
        raise DatasetError(f'{path}:{i + 1}: empty line')
      try:
        values.append(int(float(field)))
      except ValueError as e:
        raise DatasetError(f'{path}:{i + 1}: not a number: {field!r}') from e
  out = np.asarray(values, dtype=np.int64)
  if num_frames is not None and out.shape[0] != num_frames:
    raise DatasetError(f'{path}: {out.shape[0]} labels for {num_frames} frames')
  return out


def read_name_list(path: str) -> list[str]:
  """Reads a list file (one sequence name a line, blank lines ignored)."""
  return [line.strip() for line in _read_lines(path) if line.strip()]


def check_count(path: str, boxes: np.ndarray, num_frames: int) -> None:
  """Raises when an annotation file does not have one line per frame."""
  if boxes.shape[0] != num_frames:
    raise DatasetError(f'{path}: {boxes.shape[0]} lines for {num_frames} frames '
                       f'(line count must equal frame count)')


def visible_from_boxes(boxes: np.ndarray, image_size=None) -> np.ndarray:
  """Frames with a valid box: finite, of positive size and, when ``image_size`` ((H, W), or one
  (H, W) row per box) is known, not wholly outside the frame."""
  valid = np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
  if image_size is not None:
    size = np.asarray(image_size, np.float64)
    height, width = size[..., 0], size[..., 1]
    with np.errstate(invalid='ignore'):  # NaN boxes are already invalid
      valid &= ((boxes[:, 0] < width) & (boxes[:, 1] < height) & (boxes[:, 0] + boxes[:, 2] > 0)
                & (boxes[:, 1] + boxes[:, 3] > 0))
  return valid


def annotation_file(sequence: Sequence) -> str | None:
  """The file a reader took the sequence's boxes from (``attributes['annotation_file']``)."""
  return sequence.attributes.get(ANNOTATION_FILE)


def make_sequence(name: str, frame_paths, gt_path: str, boxes: np.ndarray, *,
                  strict: bool = False, absent: np.ndarray | None = None,
                  cover: np.ndarray | None = None, annotated_frames: int | None = None,
                  attributes=None, **fields) -> Sequence:
  """Builds a ``Sequence`` from parsed boxes and per-frame flags.

  A frame is visible when its box is valid (``visible_from_boxes``, with ``fields['image_size']``
  when given), it is not flagged ``absent`` and (when given) its ``cover`` is above 0. Invalid
  boxes mark frames invisible; with ``strict`` an invalid box on a frame that no flag declares
  absent raises, naming the line. ``annotated_frames`` (test splits): only the first boxes are
  known, the rest are NaN. ``gt_path`` is kept as ``attributes['annotation_file']``.
  """
  n = len(frame_paths)
  if annotated_frames is None:
    check_count(gt_path, boxes, n)
  else:
    full = np.full((n, 4), np.nan)
    full[:annotated_frames] = boxes[:annotated_frames]
    boxes = full
  valid = visible_from_boxes(boxes, fields.get('image_size'))
  declared_absent = np.zeros(n, bool) if absent is None else absent.astype(bool)
  if cover is not None:
    declared_absent |= cover <= 0
  if strict:
    known = n if annotated_frames is None else annotated_frames
    bad = np.nonzero(~valid[:known] & ~declared_absent[:known])[0]
    if bad.size:
      raise DatasetError(f'{gt_path}:{bad[0] + 1}: invalid box (NaN, non-positive size or '
                         f'outside the frame): {boxes[bad[0]].tolist()}')
  visible = valid & ~declared_absent
  return Sequence(name=name, frame_paths=frame_paths, boxes=boxes, visible=visible,
                  cover=cover, attributes={ANNOTATION_FILE: gt_path, **(attributes or {})},
                  **fields)


def natural_key(name: str):
  return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', name)]


def list_images(directory: str) -> list[str]:
  """Naturally sorted (frame 2 before frame 10) image file names (jpg, jpeg, png, bmp) of a directory."""
  try:
    names = os.listdir(directory)
  except OSError as e:
    raise DatasetError(f'{directory}: cannot list images ({e.strerror})') from e
  return sorted((n for n in names if n.lower().endswith(('.jpg', '.jpeg', '.png', '.bmp'))),
                key=natural_key)
