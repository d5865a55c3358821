"""A PNG contact sheet of a few frames per sequence with the boxes drawn, for eyeballing a source."""

from __future__ import annotations

import cv2
import numpy as np

from data_pipelines.sources import base


def preview_grid(source: base.SequenceSource, sequences: list[int], frames: list[int],
                 tile_width: int = 320) -> np.ndarray:
  """(rows * h, cols * w, 3) uint8 RGB grid: one row per sequence, one column per frame.

  The target box is green when visible and red when not; the label gives frame, cover and flags.
  """
  rows = []
  for index in sequences:
    seq = source.sequence(index)
    tiles = []
    for frame in frames:
      frame = min(frame, len(seq) - 1)
      image = source.read_frame(index, frame)
      scale = tile_width / image.shape[1]
      tile = cv2.resize(image, (tile_width, int(round(image.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA)
      x, y, w, h = seq.boxes[frame] * scale
      colour = (0, 255, 0) if seq.visible[frame] else (255, 0, 0)
      cv2.rectangle(tile, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))),
                    colour, 1, cv2.LINE_AA)
      tags = [k for k in ('occlusion', 'out_of_view', 'motion_blur', 'illumination')
              if np.asarray(seq.attributes.get(k, np.zeros(len(seq), bool)))[frame]]
      cover = '' if seq.cover is None else f' c{seq.cover[frame]}'
      label = f'{index}:{frame}{cover} {" ".join(t[:5] for t in tags)}'
      cv2.putText(tile, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
      cv2.putText(tile, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                  cv2.LINE_AA)
      tiles.append(tile)
    rows.append(np.concatenate(tiles, axis=1))
  return np.concatenate(rows, axis=0)


def save_preview(source: base.SequenceSource, path: str, sequences: list[int], frames: list[int],
                 tile_width: int = 320) -> None:
  """Writes ``preview_grid`` to ``path`` (PNG)."""
  grid = preview_grid(source, sequences, frames, tile_width)
  if not cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
    raise OSError(f'could not write {path}')
