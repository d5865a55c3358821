"""MOT speed: embedding time per frame and tracker frames/s for N detections per frame.

  python -m trackjax.main --config configs/<model>.py --config.mode=benchmark \\
      --workdir runs/speed --config.speed.detection_counts=16,64,128

For each N of ``config.speed.detection_counts``, on synthetic frames of ``config.speed.image_size``
(width, height) with N boxes moving at constant speed (scores 0.9, so every box is embedded):
* ``embed_ms``: ``embedder.embed`` on one frame's N boxes (one jitted call up to the family's
  static maximum, more beyond it), blocking on the result;
* ``tracker_fps``: ``tracker.track`` end to end (embedding + association + Kalman);
* ``association_fps``: the IoU-only baseline (``without_appearance()``) on the same boxes.
Each figure is the median over ``repeats`` runs of ``num_frames`` frames after ``warmup_frames``
(the first calls compile). Variables: ``config.speed.weights`` or random (speed does not depend
on them). JSON goes to ``<workdir>/<config.speed.output>``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from trackjax import console
from trackjax.families import get_family
from trackjax.sot.speed_benchmark import device_description
from trackjax.sot.tracker_variables import load_tracker_variables, random_variables


def moving_boxes(count: int, num_frames: int, image_size, seed: int = 0) -> np.ndarray:
  """(T, N, 4) x, y, w, h: N pedestrian-like boxes at constant speed inside the frame."""
  width, height = image_size
  rng = np.random.default_rng(seed)
  h = rng.uniform(0.1, 0.3, count) * height
  w = h * rng.uniform(0.35, 0.5, count)
  start = rng.uniform(0, 1, (count, 2)) * [width - w.max(), height - h.max()]
  velocity = rng.normal(0, 2.0, (count, 2))
  t = np.arange(num_frames)[:, None, None]
  xy = start[None] + velocity[None] * t
  xy[..., 0] = np.clip(xy[..., 0], 0, width - w)
  xy[..., 1] = np.clip(xy[..., 1], 0, height - h)
  return np.concatenate([xy, np.broadcast_to(np.stack([w, h], 1), xy.shape)], -1)


def _median_rate(runs: list[float], frames: int) -> float:
  return statistics.median(frames / r for r in runs)


def measure_speed(config, variables=None) -> dict[str, Any]:
  s = config.speed
  tracker = get_family(config.family).build_tracker(config)
  baseline = tracker.without_appearance()
  if variables is None:
    variables = (load_tracker_variables(config, s.weights, seed=config.get('seed', 0))
                 if s.weights else random_variables(config, config.get('seed', 0)))
  width, height = (int(v) for v in s.image_size)
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
  total = int(s.warmup_frames) + int(s.num_frames)
  embedder = getattr(tracker, 'embedder', None)
  results = []
  for count in s.detection_counts:
    boxes = moving_boxes(int(count), total, (width, height))
    scores = np.full(int(count), 0.9)
    row: dict[str, Any] = {'detections': int(count)}
    if embedder is not None:
      runs = []
      for _ in range(int(s.repeats)):
        for t in range(int(s.warmup_frames)):
          np.asarray(embedder.embed(variables, frame, boxes[t]))
        start = time.perf_counter()
        for t in range(int(s.warmup_frames), total):
          np.asarray(embedder.embed(variables, frame, boxes[t]))
        runs.append(time.perf_counter() - start)
      row['embed_ms'] = 1000.0 * statistics.median(runs) / int(s.num_frames)
    for key, which in (('tracker_fps', tracker), ('association_fps', baseline)):
      runs = []
      for _ in range(int(s.repeats)):
        state = which.init(variables)
        for t in range(int(s.warmup_frames)):
          _, state = which.track(variables, state, frame, boxes[t], scores)
        start = time.perf_counter()
        for t in range(int(s.warmup_frames), total):
          _, state = which.track(variables, state, frame, boxes[t], scores)
        runs.append(time.perf_counter() - start)
      row[key] = _median_rate(runs, int(s.num_frames))
    results.append(row)
    console.show(f'speed: {count} detections: ' + ', '.join(
        f'{k} {v:.2f}' for k, v in row.items() if k != 'detections'))
  return {'device': device_description(), 'image_size': [width, height],
          'num_frames': int(s.num_frames), 'repeats': int(s.repeats), 'results': results}


def run_speed_benchmark(config, workdir: str) -> dict[str, Any]:
  result = measure_speed(config)
  path = Path(workdir) / config.speed.output
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(result, indent=2))
  result['output'] = str(path)
  return result
