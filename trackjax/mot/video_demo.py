"""MOT video demo: draws track ids (one colour per id) on a sequence, video or image folder.

  python -m trackjax.main --config configs/<model>.py --config.mode=track --workdir runs/demo \\
      --config.demo.source=/data/MOT17/train/MOT17-04-FRCNN --config.demo.weights=runs/train
  # a video or image folder with its detections (MOTChallenge det.txt lines, frame 1 = first):
  python -m trackjax.main ... --config.demo.source=clip.mp4 --config.demo.detections=clip_det.txt

``config.demo.source``: a MOTChallenge sequence folder (``seqinfo.ini``; detections from its
``det/det.txt`` unless ``config.demo.detections`` is given), an image folder or a video
(``trackjax.sot.video_demo.FrameReader``; then ``detections`` is required), or '' for the first
held-out synthetic sequence (generated into the workdir). Writes, under the workdir, an mp4
(``output_video``, OpenCV ``mp4v``), a GIF (``output_gif``, downscaled, every ``gif_every``-th
frame) and the tracks as MOTChallenge result lines (``output_tracks``); unreadable frames of a
sequence are counted and skipped. Id k's colour is the
hue ``k * 0.618`` (golden-ratio steps, so neighbouring ids differ), the same in every frame.
"""

from __future__ import annotations

import colorsys
import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from data_pipelines.sources.frame_files import FrameError
from data_pipelines.sources.mot_challenge import MotBoxes, load_frame, read_mot_file
from data_pipelines.sources.mot_challenge import read_mot_sequence
from trackjax import console
from trackjax.demo_video import DemoVideo
from trackjax.families import get_family
from trackjax.mot import result_files as rf
from trackjax.mot.association import MotTracks
from trackjax.sot.tracker_variables import load_tracker_variables

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def id_colour(track_id: int) -> tuple[int, int, int]:
  """RGB colour of a track id: golden-ratio hue steps, full saturation and value."""
  r, g, b = colorsys.hsv_to_rgb((int(track_id) * 0.618033988749895) % 1.0, 0.85, 1.0)
  return int(255 * r), int(255 * g), int(255 * b)


def draw_tracks(frame_rgb: np.ndarray, tracks: MotTracks, frame: int) -> np.ndarray:
  """A copy of the frame with each track's box and id tag in its colour, and the frame number."""
  out = np.ascontiguousarray(frame_rgb.copy())
  height, width = out.shape[:2]
  thickness = max(1, round(max(height, width) / 480))
  scale = 0.4 * thickness
  for track_id, box in zip(tracks.ids, tracks.boxes_xywh):
    colour = id_colour(track_id)
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
    label = str(int(track_id))
    (text_w, text_h), baseline = cv2.getTextSize(label, _FONT, scale, thickness)
    tag_h = text_h + baseline + 2
    top = y - tag_h if y - tag_h >= 0 else max(0, y) + thickness
    left = min(max(0, x), max(0, width - text_w - 2))
    cv2.rectangle(out, (left, top), (left + text_w + 2, top + tag_h - 1), colour, cv2.FILLED)
    cv2.putText(out, label, (left + 1, top + text_h + 1), _FONT, scale, (0, 0, 0), thickness,
                cv2.LINE_AA)
  cv2.putText(out, f'#{frame}  {len(tracks)} tracks', (5, height - 5), _FONT, 0.45 * thickness,
              (255, 255, 255), thickness, cv2.LINE_AA)
  return out


def _sequence_frames(sequence) -> Iterator[np.ndarray | None]:
  """The frames of a sequence, None for a missing or broken one (counted and skipped)."""
  for path in sequence.frame_paths:
    try:
      yield load_frame(path)
    except FrameError as error:
      logging.warning('skipped frame: %s', error)
      yield None


def open_source(config, workdir: str) -> tuple[Iterator[np.ndarray], MotBoxes, float, str]:
  """(frames, detections, frame rate, name) of ``config.demo.source``."""
  d = config.demo
  source = str(d.source).strip()
  if not source:
    from trackjax.mot.benchmark_runner import synthetic_root  # pylint: disable=g-import-not-at-top
    root = synthetic_root(config.evaluate, workdir) / 'test'
    source = str(sorted(p for p in root.iterdir() if (p / 'seqinfo.ini').is_file())[0])
  if os.path.isfile(os.path.join(source, 'seqinfo.ini')):
    sequence = read_mot_sequence(source, detections_file=d.detections or None)
    if sequence.detections is None:
      raise FileNotFoundError(f'{source}: no det/det.txt; give config.demo.detections')
    return _sequence_frames(sequence), sequence.detections, sequence.frame_rate, sequence.name
  if not d.detections:
    raise ValueError(f'config.demo.source={source} is not a MOTChallenge sequence folder: give '
                     'its detections in config.demo.detections (det.txt lines)')
  from trackjax.sot.video_demo import FrameReader  # pylint: disable=g-import-not-at-top
  reader = FrameReader(source)
  detections = read_mot_file(d.detections, is_gt=False)
  return iter(reader), detections, reader.fps or 25.0, Path(source).stem


def run_demo(config, workdir: str) -> dict:
  """Tracks ``config.demo.source`` and writes the video, GIF and tracks; returns their paths."""
  d = config.demo
  out_dir = Path(workdir)
  out_dir.mkdir(parents=True, exist_ok=True)
  frames, detections, frame_rate, name = open_source(config, workdir)
  tracker = get_family(config.family).build_tracker(config)
  if d.baseline:
    tracker = tracker.without_appearance()
  variables = None
  if getattr(tracker, 'uses_appearance', True):
    variables = load_tracker_variables(config, d.weights or config.get('init_from', ''),
                                       seed=config.get('seed', 0))
  video = DemoVideo(out_dir, d, float(d.fps) or frame_rate or 25.0)
  state = tracker.init(variables, frame_rate=frame_rate)
  written, ids, skipped = [], set(), 0
  bar = console.Progress(f'demo {name}', d.max_frames or None, unit='frame', every_s=10.0,
                         enabled=console.is_main_process())
  try:
    for index, image in enumerate(frames):
      frame = index + 1
      if d.max_frames and index >= d.max_frames:
        break
      if image is None:  # unreadable: no detections, nothing drawn
        skipped += 1
        _, state = tracker.track(variables, state, None, np.zeros((0, 4)), np.zeros(0))
        continue
      dets = detections.at_frame(frame)
      tracks, state = tracker.track(variables, state, image, dets.boxes_xywh, dets.scores)
      written.append((frame, tracks))
      ids.update(int(i) for i in tracks.ids)
      video.add(index, draw_tracks(image, tracks, frame))
      bar.update(1)
  finally:
    bar.close()
    video.release()
  if not written:
    raise ValueError(f'config.demo.source={d.source}: no frame could be read')
  outputs = {'frames': len(written), 'skipped_frames': skipped, 'identities': len(ids),
             'sequence': name}
  if d.output_tracks:
    path = out_dir / d.output_tracks
    path.write_text(rf.format_tracks(written))
    outputs['tracks'] = str(path)
  outputs.update(video.close())
  logging.info('demo outputs: %s', outputs)
  return outputs
