"""MOT report: trackers side by side (HOTA, DetA, AssA, MOTA, IDF1, IDSW), per sequence and
combined, as a table / markdown / CSV / JSON, and plots (HOTA per sequence as grouped bars, the
combined HOTA(alpha) curves).

  python -m trackjax.mot.report --dataset mot17 --dataset-root /data/MOT17 --split train \\
      --results runs/eval/results/mot17_train/mytracker bytetrack=runs/eval/.../bytetrack_iou \\
      --format markdown --plots reports/mot17
  # the same through the report command of trackjax (any MOT dataset name switches to this one):
  python -m trackjax.sot.report --dataset mot17 --dataset-root /data/MOT17 --results ...

Each ``--results`` folder is a tracker folder in TrackEval's layout (``<dir>/data/<seq>.txt``);
scores come from ``trackjax.mot.metrics`` (TrackEval). Tables show percentages (IDSW, FP, FN
as counts); CSV and JSON keep TrackEval's fractions.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from data_pipelines.sources.mot_challenge import DATASETS, read_mot_sequences
from trackjax.mot import metrics
from trackjax.mot import result_files as rf

FORMATS = ('table', 'markdown', 'csv', 'json')


def _cell(metric: str, value) -> str:
  if metric in metrics.COUNT_METRICS:
    return str(int(value))
  return f'{100.0 * float(value):.1f}'


def _rows(scores: Mapping[str, metrics.MotScores], columns) -> list[list[str]]:
  rows = []
  for name, s in scores.items():
    rows.append([name, metrics.COMBINED] + [_cell(c, s.combined[c]) for c in columns])
  for seq in sorted({q for s in scores.values() for q in s.per_sequence}):
    for name, s in scores.items():
      if seq in s.per_sequence:
        rows.append([name, seq] + [_cell(c, s.per_sequence[seq][c]) for c in columns])
  return rows


def _aligned(header: list[str], rows: list[list[str]]) -> str:
  widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
  line = lambda r: '  '.join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in
                             enumerate(zip(r, widths)))
  return '\n'.join([line(header), '  '.join('-' * w for w in widths)] + [line(r) for r in rows])


def format_report(scores: Mapping[str, metrics.MotScores], fmt: str = 'table',
                  columns: Sequence[str] = metrics.HEADLINE) -> str:
  """The scores of ``{tracker: MotScores}`` (combined first, then per sequence) as text."""
  if fmt not in FORMATS:
    raise ValueError(f'unknown format {fmt!r}; use one of {FORMATS}')
  header = ['tracker', 'sequence'] + list(columns)
  if fmt == 'json':
    return json.dumps({name: s.to_dict() for name, s in scores.items()}, indent=2) + '\n'
  if fmt == 'csv':
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(header)
    for name, s in scores.items():
      for seq, values in [(metrics.COMBINED, s.combined), *sorted(s.per_sequence.items())]:
        writer.writerow([name, seq] + [values[c] for c in columns])
    return out.getvalue()
  rows = _rows(scores, columns)
  if fmt == 'markdown':
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(r) + ' |' for r in rows]) + '\n'
  return _aligned(header, rows) + '\n(percentages; IDSW is a count)\n'


def write_plots(scores: Mapping[str, metrics.MotScores], out_dir, title: str = '') -> list[Path]:
  """``hota_per_sequence.png`` (grouped bars) and ``hota_alpha.png`` (combined HOTA(alpha))."""
  # Figure objects, no pyplot: the caller's backend (e.g. a notebook's inline plots) is left alone.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  out = Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  names = list(scores)
  sequences = sorted({q for s in scores.values() for q in s.per_sequence}) + [metrics.COMBINED]
  fig = Figure(figsize=(max(6.0, 0.9 * len(sequences) * max(1, len(names))), 4.0))
  ax = fig.subplots()
  width = 0.8 / max(1, len(names))
  for k, name in enumerate(names):
    values = [100 * (scores[name].combined['HOTA'] if q == metrics.COMBINED else
                     scores[name].per_sequence.get(q, {}).get('HOTA', np.nan)) for q in sequences]
    ax.bar(np.arange(len(sequences)) + (k - (len(names) - 1) / 2) * width, values, width,
           label=f'{name} ({values[-1]:.1f})')
  ax.set_xticks(np.arange(len(sequences)), sequences, rotation=30, ha='right', fontsize=8)
  ax.set_ylabel('HOTA (%)')
  ax.set_ylim(0, 100)
  ax.set_title(f'HOTA per sequence {title}'.strip())
  ax.legend(fontsize=8)
  fig.tight_layout()
  bars = out / 'hota_per_sequence.png'
  fig.savefig(bars, dpi=100, metadata={'Software': None})
  fig = Figure(figsize=(5.0, 4.0))
  ax = fig.subplots()
  for name in names:
    curve = 100 * np.asarray(scores[name].hota_alpha[metrics.COMBINED])
    ax.plot(metrics.ALPHAS, curve, marker='.', label=f'{name} ({curve.mean():.1f})')
  ax.set_xlabel('localisation threshold alpha')
  ax.set_ylabel('HOTA (%)')
  ax.set_ylim(0, 100)
  ax.set_title(f'HOTA(alpha) {title}'.strip())
  ax.legend(fontsize=8)
  fig.tight_layout()
  curves = out / 'hota_alpha.png'
  fig.savefig(curves, dpi=100, metadata={'Software': None})
  return [bars, curves]


def gt_files_of(sequences) -> dict[str, tuple[str, int]]:
  """``{name: (gt.txt, frames)}`` of ``MotSequence``s with ground truth."""
  return {s.name: (os.path.join(s.directory, 'gt', 'gt.txt'), len(s)) for s in sequences
          if s.gt is not None}


def score_tracker_dir(tracker_dir, gt_files: Mapping[str, tuple[str, int]], *,
                      benchmark: str = 'MOT17') -> metrics.MotScores:
  """Scores the ``<tracker_dir>/data/<seq>.txt`` files of the sequences of ``gt_files``."""
  files = {seq: str(rf.sequence_path(tracker_dir, seq)) for seq in gt_files}
  missing = [seq for seq, path in files.items() if not os.path.isfile(path)]
  if missing:
    raise FileNotFoundError(f'{tracker_dir}: no result file for {", ".join(missing[:5])}')
  return metrics.score_files(gt_files, files, benchmark=benchmark)


def _parse_results_arg(arg: str) -> tuple[str, Path]:
  name, sep, path = arg.partition('=')
  if sep and name and os.sep not in name:
    return name, Path(path)
  return Path(arg).resolve().name, Path(arg)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m trackjax.mot.report',
                                   description='Compare MOT tracker result folders.')
  parser.add_argument('--dataset', default='mot17', choices=DATASETS)
  parser.add_argument('--dataset-root', required=True, help='folder holding <split>/<seq>/')
  parser.add_argument('--split', default='train')
  parser.add_argument('--sequences', default='', help='comma-separated names; default all')
  parser.add_argument('--results', nargs='+', required=True, metavar='[NAME=]DIR',
                      help='tracker folders with data/<seq>.txt, optionally named')
  parser.add_argument('--format', default='table', choices=FORMATS)
  parser.add_argument('--output', default=None, help='write the report here instead of stdout')
  parser.add_argument('--plots', default=None, metavar='OUTDIR', help='write PNG plots here')
  args = parser.parse_args(argv)
  names = [n.strip() for n in args.sequences.split(',') if n.strip()] or None
  sequences = read_mot_sequences(args.dataset_root, args.split, dataset=args.dataset,
                                 sequences=names)
  gt_files = gt_files_of(sequences)
  if not gt_files:
    raise SystemExit(f'{args.dataset_root}/{args.split}: no sequence has gt/gt.txt')
  scores = {}
  for arg in args.results:
    name, path = _parse_results_arg(arg)
    scores[name] = score_tracker_dir(path, gt_files, benchmark=metrics.benchmark_of(args.dataset))
  text = format_report(scores, args.format)
  if args.output:
    Path(args.output).write_text(text)
  else:
    sys.stdout.write(text)
  if args.plots:
    write_plots(scores, args.plots, f'{args.dataset} {args.split}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
