"""Tracking speed of any SOT config: per-stream and batched fps, latency percentiles (JSON).

  PYTHONPATH=. python benchmarks/tracking_speed.py --config configs/stark_st50.py \
      --workdir runs/speed --stream-counts 1,8 --frames 20 --repeats 3

A thin wrapper over ``trackjax.sot.speed_benchmark.run_speed_benchmark`` (the same job as
``python -m trackjax.main --config.mode=benchmark``).
"""

from __future__ import annotations

import argparse

from trackjax.config_files import load_config
from trackjax.sot.speed_benchmark import run_speed_benchmark


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/stark_st50.py')
  parser.add_argument('--workdir', default='runs/speed')
  parser.add_argument('--stream-counts', default='', help='e.g. 1,8,32,128 (default: config)')
  parser.add_argument('--frames', type=int, default=0, help='timed frames per run')
  parser.add_argument('--repeats', type=int, default=0)
  parser.add_argument('--dtype', default='', choices=('', 'float32', 'bfloat16'))
  args = parser.parse_args()
  config = load_config(args.config)
  if args.stream_counts:
    config.speed.stream_counts = tuple(int(k) for k in args.stream_counts.split(','))
  if args.frames:
    config.speed.num_frames = args.frames
  if args.repeats:
    config.speed.repeats = args.repeats
  if args.dtype:
    config.speed.compute_dtype = args.dtype
  run_speed_benchmark(config, args.workdir)


if __name__ == '__main__':
  main()
