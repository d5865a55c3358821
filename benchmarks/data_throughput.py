"""Training-input throughput: template/search triplets per second, in process and with workers.

    PYTHONPATH=. python benchmarks/data_throughput.py --workers 2 --runs 5

Writes textured 1280x720 JPEG sequences in GOT-10k layout to ``--data`` (once), or reads an
existing GOT-10k-layout folder given with ``--data``. To benchmark on the synthetic dataset
instead, write it with ``python -m data_pipelines.synthetic --out DIR ...`` and pass
``--data DIR`` (or ``--source synthetic``-style entries through ``--dataset-name``).

Reports, as the median of ``--runs`` runs:
  * in process (one worker): triplets/s (wall clock and per CPU-second) and the time split per triplet into JPEG decode,
    crop + augmentation (everything else in the sample function) and batching (np.stack);
  * the full Grain pipeline with ``--workers`` processes: triplets/s overall and per worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import cv2
import numpy as np

from data_pipelines import sot_processing
from data_pipelines.config import default_data_config
from data_pipelines.train_iterator import build_train_iterator
from data_pipelines.train_samples import SampleFn


def photo_like_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """Smooth noise summed over four octaves: JPEGs of ~160 KB at 1280x720, quality 90, about
  the size of real benchmark frames (per-pixel noise would make them 2-3x larger and slower)."""
  image = np.zeros((height, width, 3), np.float32)
  for cells, amplitude in ((8, 90), (32, 50), (128, 25), (320, 10)):
    coarse = rng.uniform(-1, 1, (max(2, height * cells // width), cells, 3)).astype(np.float32)
    image += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
  return np.clip(image + 128, 0, 255).astype(np.uint8)


def write_sequences(root: str, num_sequences: int, num_frames: int, height: int = 720,
                    width: int = 1280, seed: int = 0) -> str:
  """Textured scenes with a moving object, GOT-10k layout (``train/<seq>/%08d.jpg``)."""
  split = os.path.join(root, 'train')
  rng = np.random.default_rng(seed)
  names = []
  for s in range(num_sequences):
    name = f'bench_{s:04d}'
    names.append(name)
    seq_dir = os.path.join(split, name)
    if os.path.isfile(os.path.join(seq_dir, 'groundtruth.txt')):
      continue
    os.makedirs(seq_dir, exist_ok=True)
    scene = photo_like_texture(rng, height + 64, width + 64)
    side = rng.uniform(40, 320)  # object size sqrt(w*h) spread as in real benchmarks
    aspect = rng.uniform(0.5, 2.0)
    w, h = side * np.sqrt(aspect), side / np.sqrt(aspect)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    vx, vy = rng.normal(0, 4, 2)
    boxes = []
    for f in range(num_frames):
      x = float(np.clip(x + vx, 0, width - w))
      y = float(np.clip(y + vy, 0, height - h))
      frame = scene[f % 64:f % 64 + height, f % 64:f % 64 + width].copy()
      cv2.rectangle(frame, (int(x), int(y)), (int(x + w), int(y + h)), (30, 200, 240), -1)
      cv2.imwrite(os.path.join(seq_dir, f'{f + 1:08d}.jpg'), frame,
                  [cv2.IMWRITE_JPEG_QUALITY, 90])
      boxes.append(f'{x:.2f},{y:.2f},{w:.2f},{h:.2f}')
    with open(os.path.join(seq_dir, 'groundtruth.txt'), 'w') as fh:
      fh.write('\n'.join(boxes) + '\n')
  with open(os.path.join(split, 'list.txt'), 'w') as fh:
    fh.write('\n'.join(names) + '\n')
  return root


def make_config(data_root: str, reduced_decode: bool):
  c = default_data_config()
  c.train_datasets = [{'name': 'got10k', 'root': data_root, 'ratio': 1,
                       'options': {'split': 'train'}}]
  c.cache_dir = None
  c.processing.reduced_decode = reduced_decode
  return c


def in_process_run(config, num_triplets: int, batch_size: int, seed: int) -> dict:
  """Times decode, crop/augment and batching of ``num_triplets`` samples in this process."""
  fn = SampleFn(config, seed, sot_processing.build_processor)
  processor = fn.processor
  decode = [0.0]
  for source in processor.sources:
    original = source.read_frame

    def timed(index, frame, reduce=1, _original=original):
      t = time.perf_counter()
      out = _original(index, frame, reduce)
      decode[0] += time.perf_counter() - t
      return out

    source.read_frame = timed
  sample_time, batch_time = 0.0, 0.0
  pending = []
  start, cpu_start = time.perf_counter(), time.process_time()
  for i in range(num_triplets):
    t = time.perf_counter()
    pending.append(fn(seed * 1_000_000 + i))
    sample_time += time.perf_counter() - t
    if len(pending) == batch_size:
      t = time.perf_counter()
      {k: np.stack([p[k] for p in pending]) for k in pending[0]}
      batch_time += time.perf_counter() - t
      pending = []
  total = time.perf_counter() - start
  cpu = time.process_time() - cpu_start
  return {'triplets_per_s': num_triplets / total,
          'triplets_per_cpu_s': num_triplets / cpu,
          'decode_ms': 1e3 * decode[0] / num_triplets,
          'crop_augment_ms': 1e3 * (sample_time - decode[0]) / num_triplets,
          'batch_ms': 1e3 * batch_time / num_triplets}


def pipeline_run(config, workers: int, num_batches: int, batch_size: int, seed: int) -> float:
  config.num_workers = workers
  it = build_train_iterator(config, seed=seed, global_batch_size=batch_size,
                            build_processor=sot_processing.build_processor)
  next(it)  # start-up (worker spawn, index build) is not throughput
  start, cpu_start = time.perf_counter(), time.process_time()
  for _ in range(num_batches):
    next(it)
  rate = num_batches * batch_size / (time.perf_counter() - start)
  main_cpu_ms = 1e3 * (time.process_time() - cpu_start) / (num_batches * batch_size)
  it.close()
  return rate, main_cpu_ms


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', default=os.path.join(tempfile.gettempdir(), 'trackjax_bench'))
  parser.add_argument('--sequences', type=int, default=8)
  parser.add_argument('--frames', type=int, default=60)
  parser.add_argument('--triplets', type=int, default=200)
  parser.add_argument('--batch-size', type=int, default=16)
  parser.add_argument('--workers', type=int, default=os.cpu_count() or 1)
  parser.add_argument('--runs', type=int, default=5)
  parser.add_argument('--no-reduced-decode', action='store_true')
  parser.add_argument('--cv-threads', type=int, default=1,
                      help='cv2.setNumThreads in this process (1 = honest per-core figures)')
  args = parser.parse_args()
  cv2.setNumThreads(args.cv_threads)

  if not os.path.isdir(os.path.join(args.data, 'train')):
    t = time.perf_counter()
    write_sequences(args.data, args.sequences, args.frames)
    print(f'wrote {args.sequences} x {args.frames} frames (1280x720 JPEG) to {args.data} '
          f'in {time.perf_counter() - t:.1f}s')
  config = make_config(args.data, not args.no_reduced_decode)

  runs = [in_process_run(config, args.triplets, args.batch_size, seed=r)
          for r in range(args.runs)]
  med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
  sizes = [os.path.getsize(os.path.join(d, f)) for d, _, fs in
           os.walk(os.path.join(args.data, 'train')) for f in fs if f.endswith('.jpg')]
  print(f'{len(sizes)} frames, median JPEG size {statistics.median(sizes) / 1e3:.0f} kB')
  print(f'in process, 1 worker: {med["triplets_per_s"]:.1f} triplets/s '
        f'(median of {args.runs}; runs {[round(r["triplets_per_s"], 1) for r in runs]})')
  print(f'  {med["triplets_per_cpu_s"]:.1f} triplets per CPU-second (robust to other load)')
  print(f'  per triplet: decode {med["decode_ms"]:.2f} ms, crop+augment '
        f'{med["crop_augment_ms"]:.2f} ms, batching {med["batch_ms"]:.2f} ms')
  if args.workers > 0:
    results = [pipeline_run(config, args.workers, max(2, args.triplets // args.batch_size),
                            args.batch_size, seed=100 + r) for r in range(args.runs)]
    rates = [r for r, _ in results]
    rate = statistics.median(rates)
    print(f'grain, {args.workers} workers: {rate:.1f} triplets/s, '
          f'{rate / args.workers:.1f} per worker (median of {args.runs}; '
          f'runs {[round(r, 1) for r in rates]}); main process '
          f'{statistics.median(c for _, c in results):.2f} CPU-ms per triplet')


if __name__ == '__main__':
  main()
