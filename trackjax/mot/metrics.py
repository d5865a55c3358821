"""HOTA, CLEAR and Identity metrics through TrackEval, on MOTChallenge files.

``score_files`` copies the ground-truth files and the tracker's result files into the folder
layout TrackEval's ``MotChallenge2DBox`` reads (``gt/<seq>/gt/gt.txt``,
``trackers/<name>/data/<seq>.txt``, the sequence lengths given as ``SEQ_INFO``, no split folder)
in a temporary directory and runs ``trackeval.Evaluator`` with ``HOTA``, ``CLEAR`` and
``Identity``: exactly the official MOT17/MOT20/DanceTrack scoring (its preprocessing removes
tracker boxes matched to distractor classes and scores class 1 only; ``benchmark='MOT20'`` adds
MOT20's extra distractor class). DanceTrack's own scripts run the same evaluator with MOT17 rules.

Numbers are fractions (HOTA 0.643 = 64.3), as TrackEval returns them; ``IDSW``, ``FP``, ``FN``
are counts. HOTA, DetA, AssA and LocA are the means over TrackEval's 19 localisation thresholds
alpha = 0.05 .. 0.95; ``hota_alpha`` keeps the curves. TrackEval 1.3.0 runs on NumPy 2 as is
(no ``np.float`` / ``np.int`` aliases left in it), so no compatibility shim is needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

METRIC_NAMES = ('HOTA', 'DetA', 'AssA', 'LocA', 'MOTA', 'MOTP', 'IDF1', 'IDSW', 'FP', 'FN')
HEADLINE = ('HOTA', 'DetA', 'AssA', 'MOTA', 'IDF1', 'IDSW')
COUNT_METRICS = ('IDSW', 'FP', 'FN')
COMBINED = 'COMBINED'
ALPHAS = tuple(float(a) for a in np.arange(0.05, 0.99, 0.05))
_TRACKEVAL_KEYS = {'HOTA': ('HOTA', 'HOTA'), 'DetA': ('HOTA', 'DetA'), 'AssA': ('HOTA', 'AssA'),
                   'LocA': ('HOTA', 'LocA'), 'MOTA': ('CLEAR', 'MOTA'), 'MOTP': ('CLEAR', 'MOTP'),
                   'IDF1': ('Identity', 'IDF1'), 'IDSW': ('CLEAR', 'IDSW'),
                   'FP': ('CLEAR', 'CLR_FP'), 'FN': ('CLEAR', 'CLR_FN')}


@dataclasses.dataclass(frozen=True)
class MotScores:
  """Scores of one tracker: ``per_sequence[seq][metric]``, ``combined[metric]`` and the
  HOTA(alpha) curves ``hota_alpha[seq or 'COMBINED']`` (19 values)."""

  per_sequence: dict[str, dict[str, float]]
  combined: dict[str, float]
  hota_alpha: dict[str, list[float]]

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def _values(result: Mapping) -> tuple[dict[str, float], list[float]]:
  out = {}
  for name, (metric, key) in _TRACKEVAL_KEYS.items():
    value = np.asarray(result[metric][key], np.float64)
    value = float(value.mean()) if value.ndim else float(value)
    out[name] = int(round(value)) if name in COUNT_METRICS else value
  return out, [float(v) for v in np.asarray(result['HOTA']['HOTA'], np.float64)]


def trackeval_results(gt_files: Mapping[str, tuple[str, int]], tracker_files: Mapping[str, str],
                      *, benchmark: str = 'MOT17', tracker_name: str = 'tracker') -> dict:
  """TrackEval's raw result dict ``{seq or 'COMBINED_SEQ': {'pedestrian': {metric: ...}}}``.

  Args:
    gt_files: ``{sequence: (gt.txt path, number of frames)}``.
    tracker_files: ``{sequence: result file}`` for the same sequences.
    benchmark: ``MOT17`` (also MOT16 and DanceTrack rules) or ``MOT20``.
  """
  import trackeval  # pylint: disable=g-import-not-at-top  (heavy, optional extra 'mot')
  missing = sorted(set(gt_files) - set(tracker_files))
  if missing:
    raise FileNotFoundError(f'no result file for sequence(s) {", ".join(missing)}')
  with tempfile.TemporaryDirectory(prefix='trackeval_') as tmp:
    root = Path(tmp)
    for seq, (gt_path, _) in gt_files.items():
      (root / 'gt' / seq / 'gt').mkdir(parents=True)
      shutil.copyfile(gt_path, root / 'gt' / seq / 'gt' / 'gt.txt')
      (root / 'trackers' / tracker_name / 'data').mkdir(parents=True, exist_ok=True)
      shutil.copyfile(tracker_files[seq], root / 'trackers' / tracker_name / 'data' / f'{seq}.txt')
    dataset_config = {
        'GT_FOLDER': str(root / 'gt'), 'TRACKERS_FOLDER': str(root / 'trackers'),
        'OUTPUT_FOLDER': str(root / 'output'), 'TRACKERS_TO_EVAL': [tracker_name],
        'BENCHMARK': benchmark, 'SPLIT_TO_EVAL': 'train', 'SKIP_SPLIT_FOL': True,
        'SEQ_INFO': {seq: int(n) for seq, (_, n) in gt_files.items()},
        'PRINT_CONFIG': False, 'DO_PREPROC': True, 'TRACKER_SUB_FOLDER': 'data'}
    eval_config = {'USE_PARALLEL': False, 'PRINT_RESULTS': False, 'PRINT_CONFIG': False,
                   'TIME_PROGRESS': False, 'OUTPUT_SUMMARY': False, 'OUTPUT_DETAILED': False,
                   'PLOT_CURVES': False, 'BREAK_ON_ERROR': True, 'LOG_ON_ERROR': None}
    with contextlib.redirect_stdout(io.StringIO()):
      evaluator = trackeval.Evaluator(eval_config)
      dataset = trackeval.datasets.MotChallenge2DBox(dataset_config)
      metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({'PRINT_CONFIG': False}),
                 trackeval.metrics.Identity({'PRINT_CONFIG': False})]
      results, messages = evaluator.evaluate([dataset], metrics)
  message = messages['MotChallenge2DBox'][tracker_name]
  if message != 'Success':
    raise RuntimeError(f'TrackEval failed: {message}')
  return results['MotChallenge2DBox'][tracker_name]


def score_files(gt_files: Mapping[str, tuple[str, int]], tracker_files: Mapping[str, str], *,
                benchmark: str = 'MOT17') -> MotScores:
  """``MotScores`` of the result files against the ground truth (see ``trackeval_results``)."""
  raw = trackeval_results(gt_files, tracker_files, benchmark=benchmark)
  per_sequence, curves = {}, {}
  for seq in sorted(gt_files):
    per_sequence[seq], curves[seq] = _values(raw[seq]['pedestrian'])
  combined, curves[COMBINED] = _values(raw['COMBINED_SEQ']['pedestrian'])
  return MotScores(per_sequence, combined, curves)


def benchmark_of(dataset: str) -> str:
  """TrackEval's ``BENCHMARK`` for a dataset name of ``mot_challenge.DATASETS``."""
  return 'MOT20' if dataset == 'mot20' else 'MOT17'
