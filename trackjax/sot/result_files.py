"""Tracking results on disk, in the layouts the official toolkits and servers read.

Layouts:
* ``plain`` (OTB, LaSOT, UAV123, NFS, TrackingNet; pytracking and got10k ``ExperimentOTB``):
  ``<dir>/<seq>.txt`` with one ``x,y,w,h`` line per frame, and optionally ``<dir>/<seq>_time.txt``
  with one time in seconds per line.
* ``got10k``: ``<dir>/<seq>/<seq>_001.txt`` (``_002``, ``_003`` for repetitions, comma
  separated) and ``<dir>/<seq>/<seq>_time.txt`` (one line per frame, one comma-separated column
  per repetition). Reading takes every ``<seq>_[0-9]*.txt``, as the got10k toolkit scores them.

Every box file starts with the given initial box (frame 0), as both toolkits write and read it.

Server zips: GOT-10k takes the ``got10k`` layout at the zip root (``<seq>/<seq>_001.txt``,
``<seq>/<seq>_time.txt``); TrackingNet takes ``<seq>.txt`` files (comma separated) at the zip root.

Every write goes to a temporary file in the same folder and is renamed into place, so an interrupted
run never leaves a partial file under the final name. Reading a malformed file raises
``ResultsFormatError`` naming the file and line.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

Layout = Literal['plain', 'got10k']
TIME_SUFFIX = '_time.txt'
_FIELD_SPLIT = re.compile(r'[,\s]+')
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # Fixed timestamp: identical inputs give identical zips.


class ResultsFormatError(ValueError):
  """A results file is missing, malformed or inconsistent; the message names the file (and line)."""


# ----------------------------------------------------------------------------- text files


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """Writes ``text`` to ``path`` through a temporary file and an atomic rename."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def format_rows(values: np.ndarray, delimiter: str = ',', fmt: str = '%.3f') -> str:
  """One line per row of a 2-D array; NaN is written as ``nan``."""
  return ''.join(delimiter.join(fmt % v for v in row) + '\n' for row in values)


def read_table(path: str | os.PathLike, num_fields: int | None = None) -> np.ndarray:
  """Reads a numeric text table with comma, tab or space delimiters into a float64 2-D array.

  Blank lines are allowed only at the end of the file. ``num_fields`` fixes the column count.

  Raises:
    ResultsFormatError: naming the file and line for a missing file, a non-number, a wrong number
      of fields or a blank line between rows.
  """
  path = Path(path)
  try:
    lines = path.read_text(encoding='utf-8-sig').splitlines()
  except OSError as err:
    raise ResultsFormatError(f'{path}: cannot read ({err.strerror})') from err
  while lines and not lines[-1].strip():
    lines.pop()
  rows = []
  width = num_fields
  for number, line in enumerate(lines, start=1):
    text = line.strip()
    if not text:
      raise ResultsFormatError(f'{path}:{number}: blank line inside the table')
    fields = _FIELD_SPLIT.split(text)
    try:
      row = [float(f) for f in fields]
    except ValueError as err:
      raise ResultsFormatError(f'{path}:{number}: not a number in {text!r}') from err
    if width is None:
      width = len(row)
    if len(row) != width:
      raise ResultsFormatError(f'{path}:{number}: expected {width} fields, got {len(row)}')
    rows.append(row)
  return np.asarray(rows, np.float64).reshape(len(rows), width or 0)


def write_boxes(path: str | os.PathLike, boxes, delimiter: str = ',', fmt: str = '%.3f') -> None:
  """Writes (N, 4) ``[x, y, w, h]`` boxes, one line per frame, atomically."""
  boxes = np.asarray(boxes, np.float64)
  if boxes.ndim != 2 or boxes.shape[1] != 4:
    raise ValueError(f'{path}: boxes must have shape (N, 4), got {boxes.shape}')
  atomic_write_text(path, format_rows(boxes, delimiter, fmt))


def read_boxes(path: str | os.PathLike) -> np.ndarray:
  """Reads a box file (comma, tab or space separated) into an (N, 4) float64 array."""
  return read_table(path, num_fields=4)


def write_times(path: str | os.PathLike, times, fmt: str = '%.8f') -> None:
  """Writes per-frame times: (N,) one per line, or (N, R) one comma-separated column per run."""
  times = np.asarray(times, np.float64)
  if times.ndim == 1:
    times = times[:, None]
  if times.ndim != 2:
    raise ValueError(f'{path}: times must have shape (N,) or (N, R), got {times.shape}')
  atomic_write_text(path, format_rows(times, ',', fmt))


def read_times(path: str | os.PathLike) -> np.ndarray:
  """Reads a time file: (N,) for one column, else (N, R)."""
  table = read_table(path)
  return table[:, 0] if table.shape[1] == 1 else table


# ----------------------------------------------------------------------------- layouts


def plain_result_path(results_dir: str | os.PathLike, seq: str) -> Path:
  return Path(results_dir) / f'{seq}.txt'


def plain_time_path(results_dir: str | os.PathLike, seq: str) -> Path:
  return Path(results_dir) / f'{seq}{TIME_SUFFIX}'


def got10k_result_path(results_dir: str | os.PathLike, seq: str, repetition: int = 1) -> Path:
  if not 1 <= repetition <= 999:
    raise ValueError(f'repetition must be in 1..999, got {repetition}')
  return Path(results_dir) / seq / f'{seq}_{repetition:03d}.txt'


def got10k_time_path(results_dir: str | os.PathLike, seq: str) -> Path:
  return Path(results_dir) / seq / f'{seq}{TIME_SUFFIX}'


def got10k_repetition_paths(results_dir: str | os.PathLike, seq: str) -> list[Path]:
  """Every repetition file of ``seq``, sorted: the toolkit's glob ``<seq>/<seq>_[0-9]*.txt``.

  The got10k toolkit scores all files that match (``_001``, ``_002``... as it writes them, but
  also e.g. ``_1.txt``); ``<seq>_time.txt`` does not match.
  """
  return sorted(p for p in (Path(results_dir) / seq).glob(f'{glob.escape(seq)}_[0-9]*.txt')
                if p.is_file())


def write_sequence_result(results_dir: str | os.PathLike, seq: str, boxes, times=None, *,
                          layout: Layout = 'plain', repetition: int = 1, delimiter: str = ',',
                          fmt: str = '%.3f') -> Path:
  """Writes one sequence's boxes (and times) in ``layout``; returns the box file path.

  The time file is written before the box file, so a box file on disk always has its times.
  In the GOT-10k layout, repetition ``r > 1`` adds column ``r`` to an existing time file
  (the got10k toolkit's convention); the file must then hold ``r - 1`` columns.
  """
  boxes = np.asarray(boxes, np.float64)
  if layout == 'plain':
    if times is not None:
      write_times(plain_time_path(results_dir, seq), times)
    path = plain_result_path(results_dir, seq)
    write_boxes(path, boxes, delimiter, fmt)
    return path
  if layout != 'got10k':
    raise ValueError(f'unknown layout {layout!r}; expected plain or got10k')
  if delimiter != ',':
    raise ValueError('the GOT-10k layout is comma separated')
  if times is not None:
    time_path = got10k_time_path(results_dir, seq)
    column = np.asarray(times, np.float64).reshape(-1, 1)
    if repetition > 1 and time_path.exists():
      old = read_table(time_path)
      if old.shape[0] != column.shape[0]:
        raise ResultsFormatError(f'{time_path}: {old.shape[0]} rows, new times have '
                                 f'{column.shape[0]}')
      column = np.concatenate([old[:, :repetition - 1], column], axis=1)
    write_times(time_path, column)
  path = got10k_result_path(results_dir, seq, repetition)
  write_boxes(path, boxes, ',', fmt)
  return path


def detect_layout(results_dir: str | os.PathLike) -> Layout:
  """'got10k' when the folder holds ``<seq>/<seq>_001.txt`` entries, else 'plain'."""
  root = Path(results_dir)
  if not root.is_dir():
    raise ResultsFormatError(f'{root}: results folder not found')
  for child in sorted(root.iterdir()):
    if child.is_dir() and (child / f'{child.name}_001.txt').is_file():
      return 'got10k'
  return 'plain'


def list_sequences(results_dir: str | os.PathLike, layout: Layout | None = None) -> list[str]:
  """Sorted names of the sequences that have a result file (complete or not)."""
  root = Path(results_dir)
  layout = layout or detect_layout(root)
  if layout == 'got10k':
    return sorted(c.name for c in root.iterdir()
                  if c.is_dir() and (c / f'{c.name}_001.txt').is_file())
  return sorted(p.name[:-4] for p in root.glob('*.txt')
                if not p.name.endswith(TIME_SUFFIX) and not p.name.startswith('.'))


@dataclasses.dataclass
class TrackerResults:
  """Results of one tracker read back from a folder.

  Attributes:
    name: tracker name (the folder name by default).
    layout: 'plain' or 'got10k'.
    boxes: ``{seq: [(N, 4) array per repetition]}``.
    times: ``{seq: (N,) or (N, R) seconds}`` for sequences with a time file.
  """

  name: str
  layout: Layout
  boxes: dict[str, list[np.ndarray]]
  times: dict[str, np.ndarray]

  def first_repetition(self) -> dict[str, np.ndarray]:
    return {seq: reps[0] for seq, reps in self.boxes.items()}


def read_results(results_dir: str | os.PathLike, *, layout: Layout | None = None,
                 sequences: Iterable[str] | None = None, name: str | None = None) -> TrackerResults:
  """Reads every sequence (or ``sequences``) of a results folder.

  Raises:
    ResultsFormatError: a requested sequence has no result file, or a file is malformed.
  """
  root = Path(results_dir)
  layout = layout or detect_layout(root)
  names = list_sequences(root, layout) if sequences is None else list(sequences)
  boxes, times = {}, {}
  for seq in names:
    if layout == 'got10k':
      paths = got10k_repetition_paths(root, seq)
      time_path = got10k_time_path(root, seq)
    else:
      paths = [plain_result_path(root, seq)]
      time_path = plain_time_path(root, seq)
    paths = [p for p in paths if p.is_file()]
    if not paths:
      raise ResultsFormatError(f'{root}: no result file for sequence {seq!r}')
    boxes[seq] = [read_boxes(p) for p in paths]
    if time_path.is_file():
      times[seq] = read_times(time_path)
  return TrackerResults(name or root.name, layout, boxes, times)


def complete_sequences(results_dir: str | os.PathLike, lengths: Mapping[str, int], *,
                       layout: Layout = 'plain', repetitions: int = 1,
                       require_times: bool | None = None) -> set[str]:
  """Sequences whose results are all on disk, readable and of the expected length.

  A runner resumes by skipping these. A truncated or malformed file makes its sequence incomplete.

  Args:
    results_dir: results folder.
    lengths: ``{seq: number of frames}`` of the sequences to check.
    layout: 'plain' or 'got10k'.
    repetitions: GOT-10k repetitions required (files ``_001`` .. ``_{repetitions:03d}``).
    require_times: also require the time file with ``N`` rows (and ``repetitions`` columns);
      default True for GOT-10k (its toolkit needs it), False for plain.
  """
  root = Path(results_dir)
  if require_times is None:
    require_times = layout == 'got10k'
  done = set()
  for seq, length in lengths.items():
    if layout == 'got10k':
      paths = [got10k_result_path(root, seq, r) for r in range(1, repetitions + 1)]
      time_path = got10k_time_path(root, seq)
    else:
      paths = [plain_result_path(root, seq)]
      time_path = plain_time_path(root, seq)
    try:
      if any(read_boxes(p).shape[0] != length for p in paths):
        continue
      if require_times:
        t = read_table(time_path)
        if t.shape[0] != length or (layout == 'got10k' and t.shape[1] < repetitions):
          continue
    except ResultsFormatError:
      continue
    done.add(seq)
  return done


# ----------------------------------------------------------------------------- server zips


def _write_zip(zip_path: str | os.PathLike, members: Sequence[tuple[str, bytes]]) -> Path:
  """Writes a deterministic zip (sorted members, fixed timestamps) atomically."""
  zip_path = Path(zip_path)
  zip_path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f'.{zip_path.name}.', suffix='.tmp', dir=zip_path.parent)
  os.close(fd)
  try:
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
      for arcname, data in sorted(members):
        info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        z.writestr(info, data)
    os.replace(tmp, zip_path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  return zip_path


def _check_expected(found: Iterable[str], expected: Iterable[str] | None, where: Path) -> None:
  if expected is None:
    return
  missing = sorted(set(expected) - set(found))
  if missing:
    raise ResultsFormatError(f'{where}: {len(missing)} sequence(s) missing, e.g. {missing[:5]}')


def write_got10k_zip(results_dir: str | os.PathLike, zip_path: str | os.PathLike, *,
                     expected_sequences: Iterable[str] | None = None) -> Path:
  """Zips a GOT-10k results folder for the evaluation server.

  Members: ``<seq>/<seq>_NNN.txt`` and ``<seq>/<seq>_time.txt`` at the zip root. Every file is
  parsed first, so a malformed file fails here and not on the server.
  """
  root = Path(results_dir)
  seqs = list_sequences(root, 'got10k')
  _check_expected(seqs, expected_sequences, root)
  members = []
  for seq in seqs:
    for path in sorted((root / seq).glob(f'{seq}_[0-9][0-9][0-9].txt')):
      read_boxes(path)
      members.append((f'{seq}/{path.name}', path.read_bytes()))
    time_path = got10k_time_path(root, seq)
    if not time_path.is_file():
      raise ResultsFormatError(f'{time_path}: missing (the GOT-10k server needs it)')
    read_table(time_path)
    members.append((f'{seq}/{time_path.name}', time_path.read_bytes()))
  return _write_zip(zip_path, members)


def write_trackingnet_zip(results_dir: str | os.PathLike, zip_path: str | os.PathLike, *,
                          expected_sequences: Iterable[str] | None = None,
                          fmt: str = '%.2f') -> Path:
  """Zips plain results for the TrackingNet server: ``<seq>.txt`` (comma separated) at the zip root.

  Files are re-written comma separated with ``fmt`` whatever their delimiter on disk.
  """
  root = Path(results_dir)
  seqs = list_sequences(root, 'plain')
  _check_expected(seqs, expected_sequences, root)
  members = []
  for seq in seqs:
    boxes = read_boxes(plain_result_path(root, seq))
    members.append((f'{seq}.txt', format_rows(boxes, ',', fmt).encode()))
  return _write_zip(zip_path, members)
