"""Video demo: track one target through a video file, an image folder or a camera.

  python -m trackjax.main --config configs/stark_st50.py --config.mode=track --workdir runs/demo \\
      --config.demo.source=video.mp4 --config.demo.init_box=100,80,40,60 \\
      --config.demo.weights=weights/stark_st50

Writes, under the workdir, an annotated video (``config.demo.output_video``, OpenCV ``mp4v``), a
GIF (``output_gif``, Pillow, downscaled and subsampled) and the boxes (``output_boxes``, one
``x,y,w,h`` line per frame, the first being the initial box). Without ``init_box`` the target is
drawn with ``cv2.selectROI``, which needs a display.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import tqdm
from PIL import Image

from trackjax.evaluate import result_files as rf
from trackjax.track.stark_tracker import StarkTracker
from trackjax.track.tracker_variables import load_tracker_variables

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


class FrameReader:
  """RGB frames from a video file, an image folder (sorted names) or a camera index."""

  def __init__(self, source: str):
    source = str(source).strip()
    if not source:
      raise ValueError('config.demo.source is empty: give a video file, image folder or camera index')
    self.source = source
    self.paths: list[Path] | None = None
    self.capture = None
    self.fps = 0.0
    if source.isdigit():
      self.capture = cv2.VideoCapture(int(source))
    elif os.path.isdir(source):
      self.paths = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
      if not self.paths:
        raise FileNotFoundError(f'config.demo.source={source}: no image files in the folder')
    elif os.path.isfile(source):
      self.capture = cv2.VideoCapture(source)
    else:
      raise FileNotFoundError(f'config.demo.source={source}: no such file, folder or camera')
    if self.capture is not None:
      if not self.capture.isOpened():
        raise IOError(f'config.demo.source={source}: OpenCV cannot open it')
      self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

  def __iter__(self) -> Iterator[np.ndarray]:
    if self.paths is not None:
      for path in self.paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
          raise IOError(f'{path}: cannot decode image')
        yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
      return
    while True:
      ok, image = self.capture.read()
      if not ok:
        break
      yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

  def close(self):
    if self.capture is not None:
      self.capture.release()


def parse_box(text: str, field: str = 'config.demo.init_box') -> np.ndarray:
  """'x,y,w,h' -> (4,) float64 with positive w and h."""
  try:
    values = [float(v) for v in text.replace(' ', '').split(',')]
  except ValueError as err:
    raise ValueError(f'{field}={text!r}: expected four numbers x,y,w,h') from err
  if len(values) != 4 or not np.all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
    raise ValueError(f'{field}={text!r}: expected x,y,w,h with w > 0 and h > 0')
  return np.asarray(values, np.float64)


def select_box(frame_rgb: np.ndarray) -> np.ndarray:
  """Lets the user draw the target with ``cv2.selectROI`` (needs a display)."""
  if os.name == 'posix' and not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
    raise ValueError('config.demo.init_box is empty and no display is available to draw it; '
                     'pass --config.demo.init_box=x,y,w,h')
  x, y, w, h = cv2.selectROI('trackjax: draw the target, then ENTER',
                             cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), showCrosshair=True)
  cv2.destroyAllWindows()
  if w <= 0 or h <= 0:
    raise ValueError('no box drawn')
  return np.asarray([x, y, w, h], np.float64)


def draw_box(frame_rgb: np.ndarray, box, score: float | None, frame_index: int) -> np.ndarray:
  """A copy of the frame with the box, the score and the frame number drawn on it."""
  out = np.ascontiguousarray(frame_rgb.copy())
  x, y, w, h = (int(round(v)) for v in box)
  thickness = max(1, round(max(out.shape[:2]) / 320))
  cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), thickness)
  label = f'#{frame_index}' + (f'  score {score:.2f}' if score is not None else '')
  cv2.putText(out, label, (5, 15 * thickness), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thickness,
              (255, 255, 0), thickness, cv2.LINE_AA)
  return out


def _gif_frame(frame_rgb: np.ndarray, max_side: int) -> Image.Image:
  height, width = frame_rgb.shape[:2]
  scale = min(1.0, max_side / max(height, width)) if max_side > 0 else 1.0
  if scale < 1.0:
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    frame_rgb = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA)
  return Image.fromarray(frame_rgb)


def run_demo(config, workdir: str) -> dict:
  """Tracks ``config.demo.source`` and writes the video, GIF and boxes; returns their paths."""
  d = config.demo
  reader = FrameReader(d.source)
  out_dir = Path(workdir)
  out_dir.mkdir(parents=True, exist_ok=True)
  variables = load_tracker_variables(config.model, d.weights or config.get('init_from', ''),
                                     seed=config.get('seed', 0))
  tracker = StarkTracker(config.model, config.tracker)
  fps_out = float(d.fps) or reader.fps or 25.0
  writer = None
  gif_frames: list[Image.Image] = []
  boxes = []
  state = None
  bar = tqdm.tqdm(unit='frame', desc='demo')
  try:
    for index, frame in enumerate(reader):
      if d.max_frames and index >= d.max_frames:
        break
      if state is None:
        box = parse_box(d.init_box) if d.init_box else select_box(frame)
        state = tracker.init(variables, frame, box)
        score = None
      else:
        box, score, state = tracker.track(variables, state, frame)
      boxes.append(np.asarray(box, np.float64))
      annotated = draw_box(frame, box, score, index)
      if d.output_video:
        if writer is None:
          height, width = annotated.shape[:2]
          writer = cv2.VideoWriter(str(out_dir / d.output_video), cv2.VideoWriter_fourcc(*'mp4v'),
                                   fps_out, (width, height))
          if not writer.isOpened():
            raise IOError(f'{out_dir / d.output_video}: OpenCV cannot write mp4v video here')
        writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
      if d.output_gif and index % max(1, d.gif_every) == 0:
        gif_frames.append(_gif_frame(annotated, d.gif_max_side))
      bar.update(1)
      bar.set_postfix(fps=f'{bar.n / max(bar.format_dict["elapsed"], 1e-9):.1f}')
  finally:
    bar.close()
    reader.close()
    if writer is not None:
      writer.release()
  if not boxes:
    raise ValueError(f'config.demo.source={d.source}: no frame could be read')
  outputs = {'frames': len(boxes)}
  if d.output_boxes:
    rf.write_boxes(out_dir / d.output_boxes, np.stack(boxes))
    outputs['boxes'] = str(out_dir / d.output_boxes)
  if d.output_video:
    outputs['video'] = str(out_dir / d.output_video)
  if d.output_gif and gif_frames:
    gif_path = out_dir / d.output_gif
    duration = int(round(1000 * max(1, d.gif_every) / fps_out))
    gif_frames[0].save(gif_path, save_all=True, append_images=gif_frames[1:], duration=duration,
                       loop=0)
    outputs['gif'] = str(gif_path)
  logging.info('demo outputs: %s', outputs)
  return outputs
