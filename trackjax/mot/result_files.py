"""MOTChallenge result files: ``<tracker>/data/<seq>.txt``, one ``frame,id,x,y,w,h,score,-1,-1,-1``
line per track and frame (TrackEval's layout, the format the MOTChallenge and DanceTrack servers
take). Frames are 1-based, boxes top-left x, y, w, h in pixels with two decimals.

A sequence file is written whole to a temporary name and renamed, so a file that exists is
complete; ``completed_sequences`` is what a resumed run skips. Reading goes through the dataset
reader's row parser (``data_pipelines.sources.mot_challenge``), so malformed lines are reported
the same way (file and line).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from data_pipelines.sources.mot_challenge import MotBoxes, read_mot_file
from trackjax.mot.association import MotTracks

DATA_FOLDER = 'data'


def sequence_path(tracker_dir, sequence: str) -> Path:
  return Path(tracker_dir) / DATA_FOLDER / f'{sequence}.txt'


def format_tracks(frames: Iterable[tuple[int, MotTracks]]) -> str:
  """The file text for ``(frame, tracks)`` pairs (frames 1-based)."""
  lines = []
  for frame, tracks in frames:
    for track_id, (x, y, w, h), score in zip(tracks.ids, tracks.boxes_xywh, tracks.scores):
      lines.append(f'{int(frame)},{int(track_id)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{score:.2f},'
                   '-1,-1,-1')
  return '\n'.join(lines) + ('\n' if lines else '')


def write_sequence_results(tracker_dir, sequence: str,
                           frames: Iterable[tuple[int, MotTracks]]) -> Path:
  """Writes ``<tracker_dir>/data/<sequence>.txt`` atomically; returns its path."""
  path = sequence_path(tracker_dir, sequence)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.with_name(f'.{path.name}.partial')
  temporary.write_text(format_tracks(frames))
  os.replace(temporary, path)
  return path


def read_sequence_results(path, num_frames: int | None = None) -> MotBoxes:
  """A result file as ``MotBoxes`` (ids kept, scores = the score column, classes 1)."""
  boxes = read_mot_file(str(path), is_gt=True, num_frames=num_frames, strict=True)
  return dataclasses.replace(boxes, classes=np.ones_like(boxes.classes),
                             visibility=np.ones_like(boxes.visibility))


def completed_sequences(tracker_dir, sequences: Iterable[str]) -> list[str]:
  """The ``sequences`` whose result file exists (written whole, see module docstring)."""
  return [s for s in sequences if sequence_path(tracker_dir, s).is_file()]
