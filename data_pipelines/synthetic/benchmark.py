"""Times the synthetic source on one core: plan, textures and frame rendering, as medians.

  python -m data_pipelines.synthetic.benchmark --size 640x480 --sequences 32 --frames 100
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from data_pipelines.synthetic import __main__ as cli
from data_pipelines.synthetic import source


def benchmark(num_sequences: int = 32, num_frames: int = 100, image_size=(480, 640), seed: int = 0,
              frames_per_sequence: int = 10) -> dict[str, float]:
  """Median milliseconds for a plan, a sequence's textures, a frame and a reduce=2 frame."""
  cv2.setNumThreads(1)
  src = source.SyntheticSource(num_sequences, num_frames, image_size, seed=seed,
                               cache_size=num_sequences)
  times = {'plan_ms': [], 'textures_ms': [], 'frame_ms': [], 'frame_reduce2_ms': []}
  rng = np.random.default_rng(seed)
  for i in range(num_sequences):
    t0 = time.perf_counter()
    src.plan(i)
    t1 = time.perf_counter()
    src.textures(i)
    t2 = time.perf_counter()
    times['plan_ms'].append(t1 - t0)
    times['textures_ms'].append(t2 - t1)
    for f in rng.integers(0, num_frames, frames_per_sequence):
      t0 = time.perf_counter()
      src.read_frame(i, int(f))
      t1 = time.perf_counter()
      src.read_frame(i, int(f), reduce=2)
      t2 = time.perf_counter()
      times['frame_ms'].append(t1 - t0)
      times['frame_reduce2_ms'].append(t2 - t1)
  return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog='python -m data_pipelines.synthetic.benchmark')
  parser.add_argument('--size', type=cli.parse_size, default=(480, 640), help='WIDTHxHEIGHT')
  parser.add_argument('--sequences', type=int, default=32)
  parser.add_argument('--frames', type=int, default=100)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  result = benchmark(args.sequences, args.frames, args.size, args.seed)
  height, width = args.size
  print(f'{width}x{height}, one OpenCV thread, medians: ' +
        ', '.join(f'{k} {v:.2f}' for k, v in result.items()))


if __name__ == '__main__':
  main()
