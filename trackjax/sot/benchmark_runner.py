"""Runs the tracker of ``config.family`` over a benchmark, writes official result files, then the
report.

  python -m trackjax.main --config configs/<model>.py --config.mode=evaluate --workdir runs/eval \\
      --config.evaluate.dataset=got10k --config.evaluate.dataset_root=/data/GOT-10k \\
      --config.evaluate.split=val --config.evaluate.weights=weights/<model>

Datasets (``config.evaluate.dataset``, ``benchmark_datasets``): ``got10k`` (val/test), ``lasot``
(test), ``trackingnet`` (TEST chunk), ``otb``, ``uav123``, ``nfs``, ``custom`` folders and
``synthetic`` (the held-out ``test`` split of ``SyntheticSource``, rendered on the fly). The
family's tracker gets the benchmark's ``tracker_key`` as ``dataset`` (per-benchmark settings,
e.g. an update interval). Results go to
``config.evaluate.results_dir`` (default ``<workdir>/results/<dataset>_<split>/<tracker_name>``):
GOT-10k as ``<seq>/<seq>_001.txt`` + ``<seq>_time.txt``, every other benchmark as ``<seq>.txt`` +
``<seq>_time.txt``; the first line is the given initial box. GOT-10k test and TrackingNet also
get the server zip beside the folder.

Sequences run as batched streams (``config.evaluate.num_streams`` at once): a slot whose sequence
ends takes the next one. A sequence is written when it finishes; sequences already complete on
disk are skipped, so an interrupted run resumes where it stopped (a truncated file is redone).
The time of a frame is the batched step's wall time divided by the number of streams in it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from data_pipelines.sources.base import SequenceSource
from trackjax import console
from trackjax.families import get_family
from trackjax.sot import ope_metrics as om
from trackjax.sot import report
from trackjax.sot import result_files as rf
from trackjax.sot.benchmark_datasets import open_benchmark
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import SotTracker
from trackjax.sot.tracker_variables import load_tracker_variables

PROGRESS_LINE_EVERY_S = 10.0  # plain progress lines (stderr not a terminal) at least this often


def results_dir_of(config, workdir: str) -> Path:
  e = config.evaluate
  if e.results_dir:
    return Path(e.results_dir)
  return Path(workdir) / 'results' / f'{e.dataset}_{e.split}' / e.tracker_name


def _selected(source: SequenceSource, names: str) -> list[int]:
  index = {source.sequence(i).name: i for i in range(len(source))}
  if not names.strip():
    return list(range(len(source)))
  wanted = [n.strip() for n in names.split(',') if n.strip()]
  unknown = [n for n in wanted if n not in index]
  if unknown:
    raise ValueError(f'config.evaluate.sequences: unknown sequence(s) {unknown[:5]} in '
                     f'{source.name}')
  return [index[n] for n in wanted]


@dataclasses.dataclass
class _Job:
  index: int
  name: str
  length: int
  next_frame: int
  boxes: list
  times: list


def track_sequences(tracker: SotTracker, variables, source: SequenceSource, indices: list[int],
                    num_streams: int, on_done, reader_threads: int = 4, progress: bool = True):
  """Tracks ``indices`` of ``source`` as batched streams; ``on_done(job)`` gets each result.

  ``job.boxes`` (N, 4) starts with the given initial box; ``job.times`` has N seconds. Progress
  (process 0): a frame bar on a terminal, otherwise a line every tenth of the sequences and at
  least every ``PROGRESS_LINE_EVERY_S`` seconds.
  """
  if not indices:
    return
  streams = max(1, min(num_streams, len(indices)))
  batched = BatchedTracker(tracker, streams)
  state = batched.empty_state(variables)
  pending = list(indices)
  slots: dict[int, _Job] = {}
  total = sum(len(source.sequence(i)) for i in indices)
  bar = console.Progress(source.name, total, unit='frame', every_s=PROGRESS_LINE_EVERY_S,
                         enabled=progress and console.is_main_process())
  finished = shown = 0  # sequences done, and done at the last line
  line_every = max(1, len(indices) // 10)

  def finish(job: _Job):
    nonlocal finished
    on_done(job)
    finished += 1
    bar.set(bar.n, {'sequences': f'{finished}/{len(indices)}'})

  def line_if_due():  # once per step, however many sequences it finished
    nonlocal shown
    if finished // line_every > shown // line_every or finished == len(indices) > shown:
      bar.line()
      shown = finished

  bar.line(f'[{source.name}] tracking {len(indices)} sequences ({total} frames), '
           f'{streams} at once')
  with concurrent.futures.ThreadPoolExecutor(max(1, reader_threads)) as pool:
    while pending or slots:
      line_if_due()
      for slot in range(streams):
        if slot in slots or not pending:
          continue
        i = pending.pop(0)
        seq = source.sequence(i)
        first = np.asarray(seq.boxes[0], np.float64)
        if not (np.all(np.isfinite(first)) and first[2] > 0 and first[3] > 0):
          raise ValueError(f'{source.name}/{seq.name}: the first frame has no valid box '
                           f'({first.tolist()}); cannot initialise the tracker')
        start = time.perf_counter()
        state = batched.init_slot(variables, state, slot, source.read_frame(i, 0), first)
        job = _Job(i, seq.name, len(seq), 1, [first], [time.perf_counter() - start])
        bar.update(1)
        if job.length == 1:
          state = batched.release_slot(state, slot)
          finish(job)
        else:
          slots[slot] = job
      if not slots:
        continue
      order = sorted(slots)
      images = pool.map(lambda s: source.read_frame(slots[s].index, slots[s].next_frame), order)
      frames = dict(zip(order, images))
      start = time.perf_counter()
      boxes, _, state = batched.track(variables, state, frames)
      per_frame = (time.perf_counter() - start) / len(frames)
      bar.update(len(frames))
      for slot in order:
        job = slots[slot]
        job.boxes.append(boxes[slot])
        job.times.append(per_frame)
        job.next_frame += 1
        if job.next_frame == job.length:
          state = batched.release_slot(state, slot)
          del slots[slot]
          finish(job)
  line_if_due()
  bar.close()


def evaluate(config, workdir: str) -> dict[str, Any]:
  """Runs ``config.evaluate`` (see module docstring); returns a summary (also in the workdir)."""
  e = config.evaluate
  benchmark = open_benchmark(e)
  source = benchmark.source
  out_dir = results_dir_of(config, workdir)
  out_dir.mkdir(parents=True, exist_ok=True)
  indices = _selected(source, e.sequences)
  names = [source.sequence(i).name for i in indices]
  lengths = {source.sequence(i).name: len(source.sequence(i)) for i in indices}
  done = rf.complete_sequences(out_dir, lengths, layout=benchmark.layout, require_times=True)
  todo = [i for i, n in zip(indices, names) if n not in done]
  logging.info('%s: %d sequences, %d already complete in %s', source.name, len(indices),
               len(done), out_dir)

  if todo:
    weights = e.weights or config.get('init_from', '')
    variables = load_tracker_variables(config, weights, seed=config.get('seed', 0))
    tracker = get_family(config.family).build_tracker(config, dataset=benchmark.tracker_key)

    def write(job: _Job):
      rf.write_sequence_result(out_dir, job.name, np.stack(job.boxes), np.asarray(job.times),
                               layout=benchmark.layout)

    track_sequences(tracker, variables, source, todo, e.num_streams, write,
                    reader_threads=e.reader_threads)

  summary: dict[str, Any] = {'dataset': source.name, 'results_dir': str(out_dir),
                             'sequences': len(indices), 'resumed': len(done),
                             'tracked': len(todo)}
  if benchmark.server_zip == 'got10k':
    summary['zip'] = str(rf.write_got10k_zip(out_dir, out_dir.with_suffix('.zip'),
                                             expected_sequences=names))
  elif benchmark.server_zip == 'trackingnet':
    summary['zip'] = str(rf.write_trackingnet_zip(out_dir, out_dir.with_suffix('.zip'),
                                                  expected_sequences=names))

  if e.report:
    ground_truth = {n: gt for n, gt in om.ground_truth_from_source(source).items() if n in lengths}
    if has_ground_truth(ground_truth):
      results = rf.read_results(out_dir, layout=benchmark.layout, sequences=names,
                                name=e.tracker_name)
      evaluation = report.evaluate_tracker(results, ground_truth, sequences=names,
                                           fps_protocol=benchmark.fps_protocol)
      table = report.format_report([evaluation], 'table')
      print(table)
      report_dir = out_dir.parent
      rf.atomic_write_text(report_dir / f'{e.tracker_name}_report.txt', table)
      rf.atomic_write_text(report_dir / f'{e.tracker_name}_report.json',
                           report.format_report([evaluation], 'json'))
      summary['metrics'] = evaluation.metrics()
    else:
      logging.info('%s: no ground truth beyond the first frame; report skipped', source.name)
  rf.atomic_write_text(out_dir.parent / f'{e.tracker_name}_summary.json',
                       json.dumps(summary, indent=2, default=float))
  return summary


def has_ground_truth(ground_truth) -> bool:
  """True when some sequence has a valid box after its first frame (not a server-only split)."""
  for gt in ground_truth.values():
    boxes = np.asarray(gt.boxes)[1:]
    if boxes.size and np.any(np.all(np.isfinite(boxes), axis=1)):
      return True
  return False
