"""Runs a MOT family's tracker over a MOTChallenge-layout benchmark, writes result files, scores.

  python -m trackjax.main --config configs/<model>.py --config.mode=evaluate --workdir runs/eval \\
      --config.evaluate.dataset=mot17 --config.evaluate.dataset_root=/data/MOT17 \\
      --config.evaluate.split=train --config.evaluate.detections=/data/yolox_mot17 \\
      --config.evaluate.weights=runs/train

Sequences come from ``data_pipelines.sources.mot_challenge`` (``config.evaluate.dataset``:
mot17, mot20, dancetrack or synthetic_mot; with ``dataset_root=''`` the synthetic set's held-out
split is generated into ``<workdir>/synthetic_mot/``). Detections are each sequence's
``det/det.txt`` or ``config.evaluate.detections/<seq>.txt``: a JAX detector is out of scope.

Results: ``<results_dir>/<tracker_name>/data/<seq>.txt`` (TrackEval's layout; ``results_dir``
defaults to ``<workdir>/results/<dataset>_<split>``), and with ``compare_baseline`` the IoU-only
baseline (the same tracker's ``without_appearance()``, no weights needed) in
``<results_dir>/<baseline_name>/``. A sequence file is written whole when its sequence ends, so a
rerun skips the sequences already on disk (resume) unless what they were made from changed:
``<tracker>/inputs.json`` keeps a fingerprint of each sequence's detections, length, frame rate
and size, the association settings and a digest of the weights. Frames whose image is missing or
broken are counted, given no detections (the tracks coast on the Kalman filter) and get no
output rows.

With ground truth (``config.evaluate.report``), TrackEval scores every tracker (HOTA, DetA, AssA,
MOTA, IDF1, IDSW per sequence and combined); the side-by-side table is printed through
``trackjax.console`` and saved with plots as ``<results_dir>/mot_report.{txt,json}`` and
``<results_dir>/plots/``. ``evaluate`` returns ``{'tracked', 'resumed', 'metrics',
'per_sequence', 'baseline_metrics', 'baseline_per_sequence', 'results_dir', ...}``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import FrameError
from data_pipelines.sources.mot_challenge import (MotBoxes, MotSequence, load_frame,
                                                  read_mot_sequences)
from data_pipelines.synthetic.mot import write_synthetic_mot
from trackjax import console
from trackjax.families import get_family
from trackjax.mot import metrics
from trackjax.mot import report
from trackjax.mot import result_files as rf
from trackjax.sot.tracker_variables import load_tracker_variables

SYNTHETIC_FOLDER = 'synthetic_mot'
_PARAMS_FILE = 'params.json'


def results_dir_of(config, workdir: str) -> Path:
  e = config.evaluate
  if e.results_dir:
    return Path(e.results_dir)
  return Path(workdir) / 'results' / f'{e.dataset}_{e.split}'


def synthetic_root(evaluate_config, workdir: str) -> Path:
  """The held-out synthetic set in ``<workdir>/synthetic_mot``, written unless it already holds
  the same sizes (generation is deterministic)."""
  e = evaluate_config
  params = {'test_sequences': int(e.synthetic_sequences), 'frames': int(e.synthetic_frames),
            'image_size': [int(v) for v in e.synthetic_image_size],
            'targets': [int(v) for v in e.synthetic_targets], 'seed': int(e.synthetic_seed)}
  root = Path(workdir) / SYNTHETIC_FOLDER
  marker = root / _PARAMS_FILE
  if marker.is_file() and json.loads(marker.read_text()) == params:
    return root
  if root.is_dir():
    shutil.rmtree(root)  # other sizes: no stale sequence may stay
  write_synthetic_mot(root, train_sequences=0, test_sequences=params['test_sequences'],
                      frames=params['frames'], image_size=tuple(params['image_size']),
                      targets=tuple(params['targets']), seed=params['seed'])
  marker.write_text(json.dumps(params))
  return root


def open_sequences(evaluate_config, workdir: str) -> list[MotSequence]:
  """The selected sequences of ``config.evaluate``, each with detections."""
  e = evaluate_config
  root = e.dataset_root
  if not root:
    if e.dataset != 'synthetic_mot':
      raise ValueError(f'config.evaluate.dataset_root is empty: give the {e.dataset} folder '
                       '(holding train/ and test/)')
    root = str(synthetic_root(e, workdir))
  names = [n.strip() for n in str(e.sequences).split(',') if n.strip()] or None
  sequences = read_mot_sequences(root, e.split, dataset=e.dataset,
                                 detections=e.detections or None, sequences=names)
  without = [s.name for s in sequences if s.detections is None]
  if without:
    raise DatasetError(f'{root}/{e.split}: no det/det.txt for {", ".join(without[:5])}; give '
                       'config.evaluate.detections (a folder of <seq>.txt)')
  return sequences


def track_sequence(tracker, variables, sequence: MotSequence, *, needs_frames: bool,
                   progress: console.Progress | None = None) -> dict[str, Any]:
  """Tracks one sequence; returns ``frames`` [(frame, MotTracks)], ``seconds``, ``bad_frames``.

  Frames are decoded (one thread ahead) only when ``needs_frames`` (the appearance term); the
  sequence's missing frames are skipped either way, broken ones when they are decoded.
  """
  state = tracker.init(variables, frame_rate=sequence.frame_rate)
  detections = sequence.detections if sequence.detections is not None else MotBoxes.empty()
  missing = set(sequence.missing_frames)
  out, bad, seconds = [], 0, 0.0

  def read(frame: int):
    if not needs_frames or frame in missing:
      return None
    try:
      return load_frame(sequence.frame_paths[frame - 1])
    except FrameError as error:
      return error

  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    upcoming = pool.submit(read, 1)
    for frame in range(1, len(sequence) + 1):
      image = upcoming.result()
      if frame < len(sequence):
        upcoming = pool.submit(read, frame + 1)
      dets = detections.at_frame(frame)
      start = time.perf_counter()
      if isinstance(image, FrameError) or frame in missing:
        bad += 1
        _, state = tracker.track(variables, state, None, np.zeros((0, 4)), np.zeros(0))
      else:
        tracks, state = tracker.track(variables, state, image, dets.boxes_xywh, dets.scores)
        out.append((frame, tracks))
      seconds += time.perf_counter() - start
      if progress is not None:
        progress.update(1)
  if bad:
    logging.warning('%s: %d of %d frames unreadable or missing; skipped (no detections, no '
                    'output)', sequence.name, bad, len(sequence))
  return {'frames': out, 'seconds': seconds, 'bad_frames': bad}


def variables_digest(variables) -> str | None:
  """SHA-1 of every leaf of the variables (paths and bytes); None for None."""
  if variables is None:
    return None
  import jax  # pylint: disable=g-import-not-at-top
  sha = hashlib.sha1()
  for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(variables)[0],
                           key=lambda item: jax.tree_util.keystr(item[0])):
    sha.update(jax.tree_util.keystr(path).encode())
    sha.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return sha.hexdigest()


def input_fingerprint(sequence: MotSequence, settings) -> str:
  """What a result file depends on: the detections, the sequence's length, frame rate and
  size, and ``settings`` (the association settings and the weights' digest)."""
  sha = hashlib.sha1()
  d = sequence.detections
  for array in (d.frames, d.boxes_xywh, d.scores):
    sha.update(np.ascontiguousarray(array).tobytes())
  sha.update(json.dumps([len(sequence), sequence.frame_rate, list(sequence.image_size),
                         list(sequence.missing_frames), settings], sort_keys=True,
                        default=str).encode())
  return sha.hexdigest()


def run_tracker(name: str, tracker, variables, sequences: list[MotSequence],
                out_dir: Path) -> dict[str, Any]:
  """Tracks the sequences without an up-to-date result file in ``out_dir/<name>``."""
  tracker_dir = out_dir / name
  inputs_file = tracker_dir / 'inputs.json'
  settings = {'association': tracker.association.to_dict() if hasattr(tracker, 'association')
                             else None, 'weights': variables_digest(variables)}
  fingerprints = {s.name: input_fingerprint(s, settings) for s in sequences}
  recorded = json.loads(inputs_file.read_text()) if inputs_file.is_file() else {}
  done = {n for n in rf.completed_sequences(tracker_dir, fingerprints)
          if recorded.get(n) == fingerprints[n]}
  todo = [s for s in sequences if s.name not in done]
  logging.info('%s: %d sequences, %d already complete in %s', name, len(sequences), len(done),
               tracker_dir)
  speed_file = tracker_dir / 'speed.json'
  speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
  if todo:
    needs_frames = bool(getattr(tracker, 'uses_appearance', True))
    bar = console.Progress(name, sum(len(s) for s in todo), unit='frame', every_s=10.0,
                           enabled=console.is_main_process())
    bar.line(f'[{name}] tracking {len(todo)} sequences ({sum(len(s) for s in todo)} frames)')
    for sequence in todo:
      result = track_sequence(tracker, variables, sequence, needs_frames=needs_frames,
                              progress=bar)
      rf.write_sequence_results(tracker_dir, sequence.name, result['frames'])
      recorded[sequence.name] = fingerprints[sequence.name]
      inputs_file.write_text(json.dumps(recorded, indent=2))
      speed[sequence.name] = {'frames': len(sequence), 'seconds': result['seconds'],
                              'bad_frames': result['bad_frames']}
      speed_file.write_text(json.dumps(speed, indent=2))
    bar.close()
  frames = sum(v['frames'] for v in speed.values())
  seconds = sum(v['seconds'] for v in speed.values())
  return {'tracked': len(todo), 'resumed': len(done), 'dir': str(tracker_dir),
          'fps': frames / seconds if seconds > 0 else None}


def evaluate(config, workdir: str) -> dict[str, Any]:
  """Runs ``config.evaluate`` (module docstring); returns the summary (also written as JSON)."""
  e = config.evaluate
  sequences = open_sequences(e, workdir)
  out_dir = results_dir_of(config, workdir)
  out_dir.mkdir(parents=True, exist_ok=True)
  tracker = get_family(config.family).build_tracker(config, dataset=e.dataset)
  variables = None
  if getattr(tracker, 'uses_appearance', True):
    variables = load_tracker_variables(config, e.weights or config.get('init_from', ''),
                                       seed=config.get('seed', 0))
  runs = {e.tracker_name: run_tracker(e.tracker_name, tracker, variables, sequences, out_dir)}
  if e.compare_baseline:
    runs[e.baseline_name] = run_tracker(e.baseline_name, tracker.without_appearance(), None,
                                        sequences, out_dir)
  summary: dict[str, Any] = {
      'dataset': e.dataset, 'split': e.split, 'results_dir': str(out_dir),
      'sequences': len(sequences), 'tracked': runs[e.tracker_name]['tracked'],
      'resumed': runs[e.tracker_name]['resumed'], 'fps': runs[e.tracker_name]['fps'],
      'metrics': None, 'per_sequence': None, 'baseline_metrics': None,
      'baseline_per_sequence': None,
      'baseline_fps': runs[e.baseline_name]['fps'] if e.compare_baseline else None}
  gt_files = report.gt_files_of(sequences)
  if e.report and len(gt_files) == len(sequences):
    scores = {name: report.score_tracker_dir(run['dir'], gt_files,
                                             benchmark=metrics.benchmark_of(e.dataset))
              for name, run in runs.items()}
    table = report.format_report(scores, 'table')
    console.show(f'{e.dataset} {e.split}: {len(sequences)} sequences\n{table}')
    (out_dir / 'mot_report.txt').write_text(table)
    (out_dir / 'mot_report.json').write_text(report.format_report(scores, 'json'))
    try:
      summary['plots'] = [str(p) for p in report.write_plots(scores, out_dir / 'plots',
                                                             f'{e.dataset} {e.split}')]
    except ImportError as error:  # matplotlib is optional
      logging.warning('no plots: %s', error)
    summary['metrics'] = scores[e.tracker_name].combined
    summary['per_sequence'] = scores[e.tracker_name].per_sequence
    if e.compare_baseline:
      summary['baseline_metrics'] = scores[e.baseline_name].combined
      summary['baseline_per_sequence'] = scores[e.baseline_name].per_sequence
  elif e.report:
    logging.info('%s %s: %d of %d sequences have ground truth; scoring skipped', e.dataset,
                 e.split, len(gt_files), len(sequences))
  (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2, default=float))
  return summary
