"""Crop time per frame of ``trackjax.geometry.crops.sample_target`` at 1280x720, old vs new.

  PYTHONPATH=. python benchmarks/crop_speed.py --repeats 9 --number 40

Cases: the template crop (factor 2 -> 128) and the search crop (factor 5 -> 320) around boxes
inside the frame, across its edges and corners, and a large box whose window exceeds the frame.
``old`` is the implementation before crops became byte-identical to the reference (a view
resize inside the frame, else ``cv2.remap``), kept below only for this comparison; ``new`` is
the library's pad-then-resize. Prints, per case, the median (and min) milliseconds per crop
over ``--repeats`` runs of ``--number`` crops (old and new take turns), and the spread of the
runs, (max - min) / median, as a measure of how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from trackjax.geometry import crops

# ------------------------------------------------------------------ OLD implementation (copy)
# The remap-based sample_target this repository used before the byte-identical crops; not used
# anywhere else. Differs from the reference by up to 1 grey level outside the frame.


def _old_resize_taps(crop_size, out_size):
  scale = 1.0 / (out_size / crop_size)
  f = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
  s = np.floor(f)
  a = f - s
  s = s.astype(np.int64)
  low = s < 0
  s[low], a[low] = 0, 0
  high = s >= crop_size - 1
  s[high], a[high] = crop_size - 1, 0
  return s, a


def _old_axis_map(start, crop_size, out_size):
  s, a = _old_resize_taps(crop_size, out_size)
  return (start + s).astype(np.float32) + a


def old_sample_target(image, box_xywh, factor, out_size, *, flip=False):
  """OLD: view resize inside the frame, ``cv2.remap`` with 1/32-pixel coordinates elsewhere."""
  height, width, channels = image.shape
  x1, y1, crop_size = crops.crop_window(box_xywh, factor)
  axis_pad_mask = crops._axis_pad_mask  # pylint: disable=protected-access  (unchanged)
  mask_x = axis_pad_mask(x1, crop_size, out_size, width - 1)
  mask_y = axis_pad_mask(y1, crop_size, out_size, height - 1)
  pad_mask = mask_y[:, None] | mask_x[None, :]
  resize_factor = out_size / crop_size
  view = image[:height - 1, 1:] if flip else image[:height - 1, :width - 1]
  inside = x1 >= 0 and y1 >= 0 and x1 + crop_size <= width - 1 and y1 + crop_size <= height - 1
  if inside:
    if flip:
      xa = width - 1 - (x1 + crop_size)
      crop = cv2.resize(view[y1:y1 + crop_size, xa:xa + crop_size], (out_size, out_size))
      crop = crop[:, ::-1]
    else:
      crop = cv2.resize(view[y1:y1 + crop_size, x1:x1 + crop_size], (out_size, out_size))
  else:
    map_x = _old_axis_map(x1, crop_size, out_size)
    if flip:
      map_x = (width - 2) - map_x
    map_y = _old_axis_map(y1, crop_size, out_size)
    map_x = np.ascontiguousarray(np.broadcast_to(map_x[None, :], (out_size, out_size)))
    map_y = np.ascontiguousarray(np.broadcast_to(map_y[:, None], (out_size, out_size)))
    crop = cv2.remap(view, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  crop = crop.reshape(out_size, out_size, channels)
  return np.ascontiguousarray(crop), pad_mask, resize_factor

# ------------------------------------------------------------------ benchmark


def frame_1280x720(seed=0):
  """A photo-like frame: smooth colour fields plus sensor noise."""
  rng = np.random.default_rng(seed)
  small = rng.uniform(0, 255, size=(45, 80, 3))
  field = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_CUBIC)
  return np.clip(field + rng.normal(0, 3, field.shape), 0, 255).astype(np.uint8)


CASES = {  # name: (box xywh, flip)
    'inside': ([560.0, 300.0, 110.0, 90.0], False),
    'inside_flip': ([560.0, 300.0, 110.0, 90.0], True),
    'left_edge': ([-30.0, 320.0, 110.0, 90.0], False),
    'corner': ([1200.0, 660.0, 110.0, 90.0], False),
    'large_box': ([300.0, 150.0, 650.0, 450.0], False),
}
SETTINGS = {'template': (2.0, 128), 'search': (5.0, 320)}


def time_crops(fns, frame, box, factor, size, flip, repeats, number):
  """Milliseconds per crop of each ``fns`` value, one entry per run; the implementations take
  turns run by run, so that they see the same machine load."""
  runs = {name: [] for name in fns}
  for fn in fns.values():
    fn(frame, box, factor, size, flip=flip)  # warm up
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      for _ in range(number):
        fn(frame, box, factor, size, flip=flip)
      runs[name].append((time.perf_counter() - start) / number * 1e3)
  return runs


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=9)
  parser.add_argument('--number', type=int, default=40, help='crops per timed run')
  parser.add_argument('--threads', type=int, default=0,
                      help='cv2.setNumThreads (0: OpenCV default)')
  args = parser.parse_args()
  if args.threads:
    cv2.setNumThreads(args.threads)
  frame = frame_1280x720()
  impls = {'old': old_sample_target, 'new': crops.sample_target}
  print(f'cv2 {cv2.__version__}, {cv2.getNumThreads()} threads, {os.cpu_count()} CPUs, load '
        f'{os.getloadavg()[0]:.1f}; ms per crop over {args.repeats} runs of {args.number}: '
        f'median (min) [spread = (max - min) / median]')
  print(f'{"case":<22}{"window":>7}{"old":>22}{"new":>22}{"new/old":>9}')
  for setting, (factor, size) in SETTINGS.items():
    for case, (box, flip) in CASES.items():
      window = crops.crop_window(box, factor)[2]
      runs = time_crops(impls, frame, box, factor, size, flip, args.repeats, args.number)
      medians = {name: statistics.median(r) for name, r in runs.items()}
      cells = [f'{medians[n]:7.3f} ({min(r):6.3f}) [{(max(r) - min(r)) / medians[n]:4.0%}]'
               for n, r in runs.items()]
      ratio = medians['new'] / medians['old']
      print(f'{setting + "/" + case:<22}{window:>7}{cells[0]:>22}{cells[1]:>22}{ratio:>8.2f}x')
  print(f'load after: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()
