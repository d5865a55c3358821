"""Video demo: track one or several targets through a video file, an image folder or a camera.

  python -m trackjax.main --config configs/<model>.py --config.mode=track --workdir runs/demo \\
      --config.demo.source=video.mp4 --config.demo.init_box=100,80,40,60 \\
      --config.demo.weights=weights/<model>
  # several targets ('x,y,w,h;x,y,w,h;...', overrides init_box):
  python -m trackjax.main ... --config.demo.init_boxes='100,80,40,60;300,120,50,50'

Writes, under the workdir, an annotated video (``config.demo.output_video``, OpenCV ``mp4v``), a
GIF (``output_gif``, Pillow, downscaled and subsampled) and the boxes (``output_boxes``, one
``x,y,w,h`` line per frame, the first being the initial box).

The tracker is that of ``config.family``. Several targets run as ``BatchedTracker`` streams, one
slot each, all advanced by ONE jitted network step per frame; each slot follows the path of a
single-target run. The video and GIF show every target in its own colour (``TARGET_COLOURS``, cycled) labelled with its index and score. Target
``k`` (0-based, in the order given or drawn) gets its own boxes file: ``output_boxes`` with ``_<k>``
before the suffix (``demo_boxes_0.txt``, ``demo_boxes_1.txt``, ...); a single target keeps
``demo_boxes.txt``.

Without boxes the targets are drawn with the mouse, which needs a display: ``init_box=''`` (and no
``init_boxes``) draws one with ``cv2.selectROI``; ``init_boxes=draw`` draws several with
``cv2.selectROIs`` (ENTER or SPACE after each, ESC to finish). A given box must overlap the first
frame (it may stick out of it).
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from trackjax import console
from trackjax.demo_video import DemoVideo
from trackjax.families import get_family
from trackjax.sot import result_files as rf
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import SotTracker
from trackjax.sot.tracker_variables import load_tracker_variables

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
DRAW_SEVERAL = 'draw'  # config.demo.init_boxes value: draw the targets with cv2.selectROIs
# RGB colour of target k is TARGET_COLOURS[k % 10]: saturated hues far apart, then white and pink.
TARGET_COLOURS = ((0, 255, 0), (255, 48, 48), (48, 144, 255), (255, 224, 0), (255, 0, 255),
                  (0, 255, 255), (255, 136, 0), (160, 96, 255), (255, 255, 255), (255, 150, 200))
_FONT = cv2.FONT_HERSHEY_SIMPLEX


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


def _parse_xywh(text: str) -> np.ndarray:
  """'x,y,w,h' -> (4,) float64; a ValueError says what is wrong (the caller names the field)."""
  fields = ''.join(text.split()).split(',')
  if len(fields) != 4:
    raise ValueError(f'has {len(fields)} field{"s" * (len(fields) != 1)}, expected 4 (x,y,w,h)')
  values = []
  for field in fields:
    try:
      values.append(float(field))
    except ValueError:
      raise ValueError(f'has {field!r}, which is not a number') from None
  box = np.asarray(values, np.float64)
  if not np.all(np.isfinite(box)):
    raise ValueError('has a non-finite number')
  if box[2] <= 0 or box[3] <= 0:
    raise ValueError(f'needs w > 0 and h > 0, got w={box[2]:g}, h={box[3]:g}')
  return box


def parse_box(text: str, field: str = 'config.demo.init_box') -> np.ndarray:
  """'x,y,w,h' -> (4,) float64 with positive w and h."""
  try:
    return _parse_xywh(text)
  except ValueError as err:
    raise ValueError(f'{field}={text!r}: {err}') from None


def parse_boxes(text: str, field: str = 'config.demo.init_boxes') -> list[np.ndarray]:
  """'x,y,w,h;x,y,w,h;...' -> one (4,) float64 box per target, each with positive w and h."""
  boxes = []
  for k, item in enumerate(text.split(';')):
    try:
      if not item.strip():
        raise ValueError('is empty')
      boxes.append(_parse_xywh(item))
    except ValueError as err:
      raise ValueError(f"{field}={text!r}: box {k} ({item.strip()!r}) {err}; the format is "
                       f"'x,y,w,h;x,y,w,h;...'") from None
  return boxes


def check_inside_frame(boxes: Sequence[np.ndarray], frame_shape, field: str) -> None:
  """Raises ValueError naming ``field`` for a box that does not overlap the (H, W) frame."""
  height, width = frame_shape[:2]
  for k, (x, y, w, h) in enumerate(boxes):
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
      which = f'box {k} ' if field.endswith('init_boxes') else 'box '
      raise ValueError(f'{field}: {which}[{x:g},{y:g},{w:g},{h:g}] lies outside the first frame '
                       f'({width}x{height} pixels)')


def _require_display(message: str) -> None:
  if os.name == 'posix' and not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
    raise ValueError(message)


def select_box(frame_rgb: np.ndarray) -> np.ndarray:
  """Lets the user draw the target with ``cv2.selectROI`` (needs a display)."""
  _require_display('config.demo.init_box is empty and no display is available to draw it; '
                   'pass --config.demo.init_box=x,y,w,h')
  x, y, w, h = cv2.selectROI('trackjax: draw the target, then ENTER',
                             cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), showCrosshair=True)
  cv2.destroyAllWindows()
  if w <= 0 or h <= 0:
    raise ValueError('no box drawn')
  return np.asarray([x, y, w, h], np.float64)


def select_boxes(frame_rgb: np.ndarray) -> list[np.ndarray]:
  """Lets the user draw several targets with ``cv2.selectROIs`` (needs a display)."""
  _require_display(f'config.demo.init_boxes={DRAW_SEVERAL} needs a display to draw the targets; '
                   "pass --config.demo.init_boxes='x,y,w,h;x,y,w,h'")
  drawn = cv2.selectROIs('trackjax: draw each target, ENTER or SPACE after each, ESC to finish',
                         cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), showCrosshair=True,
                         fromCenter=False)
  cv2.destroyAllWindows()
  boxes = [box for box in np.asarray(drawn, np.float64).reshape(-1, 4) if box[2] > 0 and box[3] > 0]
  if not boxes:
    raise ValueError(f'config.demo.init_boxes={DRAW_SEVERAL}: no box drawn (draw a box, press '
                     'ENTER, then ESC to finish)')
  return boxes


def initial_targets(demo_config, frame_rgb: np.ndarray) -> list[np.ndarray]:
  """First-frame boxes: ``init_boxes`` (text, or 'draw'), else ``init_box``, else one drawn box."""
  text = str(demo_config.get('init_boxes', '') or '').strip()
  if text == DRAW_SEVERAL:
    return select_boxes(frame_rgb)
  if text:
    boxes = parse_boxes(text)
    check_inside_frame(boxes, frame_rgb.shape, 'config.demo.init_boxes')
    return boxes
  if demo_config.init_box:
    box = parse_box(demo_config.init_box)
    check_inside_frame([box], frame_rgb.shape, 'config.demo.init_box')
    return [box]
  return [select_box(frame_rgb)]


class TargetStreams:
  """The demo's targets after the first frame: one tracker stream for a single target, else one
  ``BatchedTracker`` slot per target, advanced together by one jitted network step per frame."""

  def __init__(self, tracker: SotTracker, variables, frame_rgb: np.ndarray,
               boxes: Sequence[np.ndarray]):
    self.tracker = tracker
    self.variables = variables
    self.count = len(boxes)
    if self.count == 1:
      self.batched = None
      self.state = tracker.init(variables, frame_rgb, boxes[0])
    else:
      self.batched = BatchedTracker(tracker, num_streams=self.count)
      state = self.batched.empty_state(variables)
      for slot, box in enumerate(boxes):
        state = self.batched.init_slot(variables, state, slot, frame_rgb, box)
      self.state = state

  def track(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Next frame: boxes (K, 4) float64 and scores (K,) of the targets."""
    if self.batched is None:
      box, score, self.state = self.tracker.track(self.variables, self.state, frame_rgb)
      return np.asarray(box, np.float64)[None], np.asarray([score], np.float64)
    frames = dict.fromkeys(range(self.count), frame_rgb)
    boxes, scores, self.state = self.batched.track(self.variables, self.state, frames)
    return boxes, scores


def draw_box(frame_rgb: np.ndarray, box, score: float | None, frame_index: int) -> np.ndarray:
  """A copy of the frame with the box, the score and the frame number drawn on it."""
  out = np.ascontiguousarray(frame_rgb.copy())
  x, y, w, h = (int(round(v)) for v in box)
  thickness = max(1, round(max(out.shape[:2]) / 320))
  cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), thickness)
  label = f'#{frame_index}' + (f'  score {score:.2f}' if score is not None else '')
  cv2.putText(out, label, (5, 15 * thickness), _FONT, 0.45 * thickness, (255, 255, 0), thickness,
              cv2.LINE_AA)
  return out


def draw_targets(frame_rgb: np.ndarray, boxes, scores, frame_index: int) -> np.ndarray:
  """A copy of the frame with target k's box in ``TARGET_COLOURS[k % 10]``, tagged 'k score' (just
  'k' when ``scores`` is None) on a patch of its colour above the box, and the frame number."""
  out = np.ascontiguousarray(frame_rgb.copy())
  height, width = out.shape[:2]
  thickness = max(1, round(max(height, width) / 320))
  scale = 0.4 * thickness
  for k, box in enumerate(boxes):
    colour = TARGET_COLOURS[k % len(TARGET_COLOURS)]
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
    label = f'{k}' if scores is None else f'{k} {float(scores[k]):.2f}'
    (text_w, text_h), baseline = cv2.getTextSize(label, _FONT, scale, thickness)
    tag_h = text_h + baseline + 2
    top = y - tag_h if y - tag_h >= 0 else max(0, y) + thickness  # above, else just inside
    left = min(max(0, x), max(0, width - text_w - 2))
    cv2.rectangle(out, (left, top), (left + text_w + 2, top + tag_h - 1), colour, cv2.FILLED)
    cv2.putText(out, label, (left + 1, top + text_h + 1), _FONT, scale, (0, 0, 0), thickness,
                cv2.LINE_AA)
  cv2.putText(out, f'#{frame_index}', (5, height - 5), _FONT, 0.45 * thickness, (255, 255, 255),
              thickness, cv2.LINE_AA)
  return out


def target_box_paths(path: Path, count: int) -> list[Path]:
  """``path`` for one target; ``<stem>_<k><suffix>`` next to it for each of several."""
  if count == 1:
    return [path]
  return [path.with_name(f'{path.stem}_{k}{path.suffix}') for k in range(count)]


def run_demo(config, workdir: str) -> dict:
  """Tracks the targets of ``config.demo`` and writes the video, GIF and boxes.

  Returns:
    ``frames``, ``targets`` (K), ``target_boxes`` (the K boxes files), ``boxes`` (the boxes file,
    one target only), ``video`` and ``gif``, for the outputs written.
  """
  d = config.demo
  reader = FrameReader(d.source)
  out_dir = Path(workdir)
  out_dir.mkdir(parents=True, exist_ok=True)
  video = DemoVideo(out_dir, d, float(d.fps) or reader.fps or 25.0)
  bar = None
  tracks = []  # (K, 4) boxes per frame
  try:
    frames = iter(reader)
    first = next(frames, None)
    if first is None:
      raise ValueError(f'config.demo.source={d.source}: no frame could be read')
    initial = initial_targets(d, first)  # boxes are checked before the weights load
    variables = load_tracker_variables(config, d.weights or config.get('init_from', ''),
                                       seed=config.get('seed', 0))
    tracker = get_family(config.family).build_tracker(config)
    streams = TargetStreams(tracker, variables, first, initial)
    desc = 'demo' if streams.count == 1 else f'demo, {streams.count} targets'
    bar = console.Progress(desc, d.max_frames or None, unit='frame', every_s=10.0,
                           enabled=console.is_main_process())
    for index, frame in enumerate(itertools.chain([first], frames)):
      if d.max_frames and index >= d.max_frames:
        break
      if index == 0:
        boxes, scores = np.stack(initial), None
      else:
        boxes, scores = streams.track(frame)
      tracks.append(boxes)
      if streams.count == 1:
        annotated = draw_box(frame, boxes[0], None if scores is None else scores[0], index)
      else:
        annotated = draw_targets(frame, boxes, scores, index)
      video.add(index, annotated)
      bar.update(1)
  finally:
    if bar is not None:
      bar.close()
    reader.close()
    video.release()
  tracks = np.stack(tracks)  # (N, K, 4)
  outputs = {'frames': len(tracks), 'targets': tracks.shape[1]}
  if d.output_boxes:
    paths = target_box_paths(out_dir / d.output_boxes, tracks.shape[1])
    for k, path in enumerate(paths):
      rf.write_boxes(path, tracks[:, k])
    outputs['target_boxes'] = [str(path) for path in paths]
    if len(paths) == 1:
      outputs['boxes'] = str(paths[0])
  outputs.update(video.close())
  logging.info('demo outputs: %s', outputs)
  return outputs
