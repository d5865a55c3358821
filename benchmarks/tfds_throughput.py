"""Folders against TFDS shards: triplets/s, frame reads/s, build time and size on disk.

    PYTHONPATH=. python benchmarks/tfds_throughput.py --runs 5

Writes the synthetic dataset in GOT-10k layout (``data_pipelines.synthetic.got10k_writer``) to
``--data`` (once), builds it into TFDS ``--runs`` times (``data_pipelines.tfds_build``, ArrayRecord,
``--build-workers`` processes) and reports, as the median of ``--runs`` runs:
  * build time per 1,000 frames;
  * bytes on disk (in the files, and allocated in whole blocks as ``du`` counts) and file counts:
    the folder (frames and annotation files) against the TFDS directory (shards, metadata,
    index);
  * random frame reads per second (``read_frame`` of uniformly drawn frames, decode included);
  * training triplets per second through the Grain pipeline (``--workers`` processes, 0 = in
    process), the folder and the shards read in alternating order.
One JSON line with every figure ends the output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from data_pipelines import sot_processing
from data_pipelines import tfds_build
from data_pipelines.config import default_data_config
from data_pipelines.sources.factory import make_source
from data_pipelines.synthetic import SyntheticSource
from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from data_pipelines.train_iterator import build_train_iterator


def folder_bytes(path: str) -> tuple[int, int]:
  """(bytes in the files, bytes the file system allocates for them: whole blocks, as du)."""
  stats = [os.stat(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names]
  return sum(s.st_size for s in stats), sum(s.st_blocks * 512 for s in stats)


def make_config(entry: dict, workers: int):
  c = default_data_config()
  c.train_datasets = [dict(entry, ratio=1)]
  c.cache_dir = None
  c.num_workers = workers
  return c


def triplets_per_second(entry: dict, workers: int, batch: int, batches: int, seed: int) -> float:
  it = build_train_iterator(make_config(entry, workers), seed=seed, global_batch_size=batch,
                            build_processor=sot_processing.build_processor)
  for _ in range(1 + 2 * workers):  # every worker started and its sources opened
    next(it)
  start = time.perf_counter()
  for _ in range(batches):
    next(it)
  elapsed = time.perf_counter() - start
  it.close()
  return batch * batches / elapsed


def reads_per_second(source, count: int, seed: int) -> float:
  rng = np.random.default_rng(seed)
  picks = [(int(s), int(rng.integers(len(source.sequence(int(s))))))
           for s in rng.integers(len(source), size=count)]
  source.read_frame(*picks[0])  # opened (the TFDS data source is opened at the first read)
  start = time.perf_counter()
  for s, f in picks:
    source.read_frame(s, f)
  return count / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', default=os.path.join(tempfile.gettempdir(), 'tfds_bench'))
  parser.add_argument('--sequences', type=int, default=10)
  parser.add_argument('--frames', type=int, default=100)
  parser.add_argument('--image-size', default='480,640', help='height,width')
  parser.add_argument('--runs', type=int, default=5)
  parser.add_argument('--build-workers', type=int, default=1)
  parser.add_argument('--frames-per-shard', type=int, default=200)
  parser.add_argument('--workers', type=int, default=0, help='Grain worker processes')
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--batches', type=int, default=8)
  parser.add_argument('--reads', type=int, default=300)
  args = parser.parse_args()
  height, width = (int(v) for v in args.image_size.split(','))
  got10k = os.path.join(args.data, 'got10k')
  if not os.path.isfile(os.path.join(got10k, 'train', 'list.txt')):
    write_got10k_layout(SyntheticSource(args.sequences, args.frames, (height, width), seed=0),
                        os.path.join(got10k, 'train'))
  frames = sum(len(s) for s in [make_source('got10k', got10k).sequence(i)
                                for i in range(len(make_source('got10k', got10k)))])
  build_s, out = [], os.path.join(args.data, 'tfds')
  for _ in range(args.runs):
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    tfds_build.build('got10k', got10k, out, workers=args.build_workers,
                     frames_per_shard=args.frames_per_shard, progress=False)
    build_s.append(time.perf_counter() - start)
  folder_entry = {'name': 'got10k', 'root': got10k, 'options': {'split': 'train'}}
  tfds_entry = {'name': 'tfds', 'root': out, 'options': {}}
  sources = {'folders': make_source('got10k', got10k), 'tfds': make_source('tfds', out)}
  reads = {k: [] for k in sources}
  triplets = {k: [] for k in sources}
  for run in range(args.runs):
    order = ('folders', 'tfds') if run % 2 == 0 else ('tfds', 'folders')
    for kind in order:
      reads[kind].append(reads_per_second(sources[kind], args.reads, seed=run))
      entry = folder_entry if kind == 'folders' else tfds_entry
      triplets[kind].append(triplets_per_second(entry, args.workers, args.batch, args.batches,
                                                seed=run))
  result = {
      'frames': frames, 'image_size': [height, width], 'runs': args.runs,
      'build_s_per_1000_frames': statistics.median(build_s) * 1000 / frames,
      'build_workers': args.build_workers, 'frames_per_shard': args.frames_per_shard,
      'folder_bytes': folder_bytes(os.path.join(got10k, 'train')), 'tfds_bytes': folder_bytes(out),
      'files': {'folders': sum(len(n) for _, _, n in os.walk(os.path.join(got10k, 'train'))),
                'tfds': sum(len(n) for _, _, n in os.walk(out))},
      'reads_per_s': {k: statistics.median(v) for k, v in reads.items()},
      'triplets_per_s': {k: statistics.median(v) for k, v in triplets.items()},
      'grain_workers': args.workers, 'batch': args.batch,
  }
  print(f'{frames} frames {height}x{width}, median of {args.runs} runs')
  print(f'build: {result["build_s_per_1000_frames"]:.2f} s per 1000 frames '
        f'({args.build_workers} worker{"s" if args.build_workers > 1 else ""})')
  for label, k in (('in the files', 0), ('allocated (du)', 1)):
    folders, shards = result['folder_bytes'][k], result['tfds_bytes'][k]
    print(f'on disk, {label}: folders {folders / 2**20:.1f} MiB in {result["files"]["folders"]} '
          f'files, TFDS {shards / 2**20:.1f} MiB in {result["files"]["tfds"]} files '
          f'({shards / folders:.3f}x)')
  for kind in sources:
    print(f'{kind:8s}: {result["reads_per_s"][kind]:7.1f} random frame reads/s, '
          f'{result["triplets_per_s"][kind]:6.1f} triplets/s')
  print(json.dumps(result))


if __name__ == '__main__':
  main()
