"""Side-by-side comparison of tracker result folders: tables, CSV/JSON and success/precision plots.

Usage::

  python -m trackjax.evaluate.report --dataset got10k --dataset-root /data/GOT-10k --split val \\
      --results results/stark_st50 ours=results/mine --format markdown --plots reports/got10k_val

Every results folder is scored with both protocols of ``ope_metrics``: OPE (AUC, P@20, NP@0.2
from the first repetition) and GOT-10k (AO, SR0.5, SR0.75 over all repetitions). FPS follows the
dataset's toolkit: GOT-10k's mean of ``1 / t`` over all frames for ``got10k`` and ``custom``,
otherwise the mean of per-sequence FPS (got10k ``ExperimentOTB``). Numbers in tables are
percentages, in CSV and JSON fractions.
Outputs depend only on the inputs (sorted sequences and attributes, fixed plot metadata).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from trackjax.evaluate import ope_metrics as om
from trackjax.evaluate import result_files as rf

DatasetKind = Literal['got10k', 'custom', 'lasot', 'otb']
OutputFormat = Literal['table', 'markdown', 'csv', 'json']
METRICS = ('auc', 'precision', 'norm_precision', 'ao', 'sr50', 'sr75', 'fps')
METRIC_TITLES = {'auc': 'AUC', 'precision': 'P@20', 'norm_precision': 'NP@0.2', 'ao': 'AO',
                 'sr50': 'SR0.5', 'sr75': 'SR0.75', 'fps': 'FPS'}


# ----------------------------------------------------------------------------- ground truth


def _read_flags(path: Path, num_frames: int) -> np.ndarray:
  """Reads a per-frame 0/1 (or class) label file with one or more values per line."""
  values = rf.read_table(path).reshape(-1)
  if values.shape[0] != num_frames:
    raise rf.ResultsFormatError(f'{path}: {values.shape[0]} values, groundtruth has {num_frames}')
  return values


def _image_size_from_meta(seq_dir: Path) -> tuple[int, int] | None:
  """(height, width) from ``meta_info.ini`` (``resolution: (W, H)``), else from the first frame."""
  meta = seq_dir / 'meta_info.ini'
  if meta.is_file():
    for number, line in enumerate(meta.read_text().splitlines(), start=1):
      key, _, value = line.partition(':')
      if key.strip() == 'resolution':
        try:
          width, height = (int(float(v)) for v in value.strip().strip('()[]').split(','))
        except ValueError as err:
          raise rf.ResultsFormatError(f'{meta}:{number}: bad resolution {value.strip()!r}') from err
        return height, width
  frames = sorted(seq_dir.glob('*.jpg')) or sorted(seq_dir.glob('*.png'))
  if frames:
    from PIL import Image  # pylint: disable=g-import-not-at-top  (header only, lazily)
    with Image.open(frames[0]) as image:
      return image.height, image.width
  return None


def _sequence_dirs(root: Path, marker: str, split_file: Path | None) -> list[Path]:
  if split_file is not None and split_file.is_file():
    names = [n.strip() for n in split_file.read_text().splitlines() if n.strip()]
    dirs = [root / n for n in names]
    missing = [str(d) for d in dirs if not (d / marker).is_file()]
    if missing:
      raise rf.ResultsFormatError(f'{split_file}: {len(missing)} listed sequence(s) lack {marker}, '
                                  f'e.g. {missing[:3]}')
    return dirs
  return sorted(p.parent for p in root.glob(f'*/{marker}'))


def load_ground_truth(kind: DatasetKind, root: str | os.PathLike,
                      split: str | None = None) -> dict[str, om.GroundTruth]:
  """Ground truth of a benchmark as ``{sequence: GroundTruth}``.

  Minimal readers, until the dataset sources are connected:
  * ``got10k`` / ``custom``: ``root[/split]/<seq>/groundtruth.txt`` with optional ``absence.label``
    (visible = not absent), ``cover.label``, ``cut_by_image.label`` (a per-frame attribute) and
    ``meta_info.ini`` (image size; else read from the first frame). ``list.txt`` orders and selects.
  * ``lasot``: ``root/<class>/<class>-<n>/groundtruth.txt`` with ``full_occlusion.txt`` and
    ``out_of_view.txt`` (visible = neither, also per-frame attributes); ``split='test'`` reads the
    names from ``root/testing_set.txt`` when present.
  * ``otb``: ``root/<seq>/groundtruth_rect.txt`` (comma, tab or space separated).
  """
  base = Path(root)
  if not base.is_dir():
    raise FileNotFoundError(f'dataset root not found: {base}')
  out = {}
  if kind in ('got10k', 'custom'):
    seq_root = base / split if split else base
    for seq_dir in _sequence_dirs(seq_root, 'groundtruth.txt', seq_root / 'list.txt'):
      boxes = rf.read_boxes(seq_dir / 'groundtruth.txt')
      n = boxes.shape[0]
      visible = np.ones(n, bool)
      if (seq_dir / 'absence.label').is_file():
        visible = _read_flags(seq_dir / 'absence.label', n) == 0
      cover = None
      if (seq_dir / 'cover.label').is_file():
        cover = _read_flags(seq_dir / 'cover.label', n).astype(int)
      attributes = {}
      if (seq_dir / 'cut_by_image.label').is_file():
        attributes['cut_by_image'] = _read_flags(seq_dir / 'cut_by_image.label', n) > 0
      out[seq_dir.name] = om.GroundTruth(boxes, visible, cover, attributes,
                                         _image_size_from_meta(seq_dir))
  elif kind == 'lasot':
    split_file = base / 'testing_set.txt' if split == 'test' else None
    if split_file is not None and split_file.is_file():
      names = [n.strip() for n in split_file.read_text().splitlines() if n.strip()]
      dirs = [base / n.rsplit('-', 1)[0] / n for n in names]
    else:
      dirs = sorted(p.parent for p in base.glob('*/*/groundtruth.txt'))
    for seq_dir in dirs:
      boxes = rf.read_boxes(seq_dir / 'groundtruth.txt')
      n = boxes.shape[0]
      attributes = {}
      for attr, file_name in (('full_occlusion', 'full_occlusion.txt'),
                              ('out_of_view', 'out_of_view.txt')):
        if (seq_dir / file_name).is_file():
          attributes[attr] = _read_flags(seq_dir / file_name, n) > 0
      hidden = np.zeros(n, bool)
      for flags in attributes.values():
        hidden |= flags
      out[seq_dir.name] = om.GroundTruth(boxes, ~hidden, None, attributes, None)
  elif kind == 'otb':
    for seq_dir in sorted(p.parent for p in base.glob('*/groundtruth_rect.txt')):
      boxes = rf.read_boxes(seq_dir / 'groundtruth_rect.txt')
      out[seq_dir.name] = om.GroundTruth(boxes, None, None, {}, None)
  else:
    raise ValueError(f'unknown dataset kind {kind!r}; expected got10k, custom, lasot or otb')
  if not out:
    raise FileNotFoundError(f'no sequence found for {kind} under {base}'
                            + (f' (split {split})' if split else ''))
  return out


# ----------------------------------------------------------------------------- comparison


@dataclasses.dataclass(frozen=True)
class TrackerEvaluation:
  """Both protocols' results for one tracker."""

  name: str
  ope: om.OPEReport
  got10k: om.Got10kReport
  fps_protocol: Literal['got10k', 'ope']

  def metrics(self, attribute: str | None = None) -> dict[str, float] | None:
    """Headline numbers (fractions; FPS in frames/s) overall or for one attribute."""
    if attribute is None:
      ope, got = self.ope.overall, self.got10k.overall
    else:
      ope, got = self.ope.per_attribute.get(attribute), self.got10k.per_attribute.get(attribute)
      if ope is None and got is None:
        return None
    nan = float('nan')
    fps_source = got if self.fps_protocol == 'got10k' else ope
    return {
        'auc': ope.auc if ope else nan,
        'precision': ope.precision if ope else nan,
        'norm_precision': ope.norm_precision if ope else nan,
        'ao': got.ao if got else nan,
        'sr50': got.sr50 if got else nan,
        'sr75': got.sr75 if got else nan,
        'fps': fps_source.fps if fps_source is not None else nan,
    }


def evaluate_tracker(results: rf.TrackerResults, ground_truth: Mapping[str, Any], *,
                     sequences: Sequence[str] | None = None, exclude_invalid_frames: bool = False,
                     fps_protocol: Literal['got10k', 'ope'] = 'ope') -> TrackerEvaluation:
  """Scores one tracker's results with both protocols on ``sequences`` (default: all GT)."""
  names = sorted(ground_truth) if sequences is None else list(sequences)
  missing = [n for n in names if n not in results.boxes]
  if missing:
    raise rf.ResultsFormatError(f'{results.name}: no results for {len(missing)} sequence(s), '
                                f'e.g. {missing[:3]}')
  first = results.first_repetition()
  first_times = {n: (t if t.ndim == 1 else t[:, 0]) for n, t in results.times.items()}
  ope = om.evaluate_ope(first, ground_truth, times=first_times, sequences=names,
                        exclude_invalid_frames=exclude_invalid_frames)
  got = om.evaluate_got10k(results.boxes, ground_truth, times=results.times, sequences=names)
  return TrackerEvaluation(results.name, ope, got, fps_protocol)


def compare(results: Sequence[rf.TrackerResults], ground_truth: Mapping[str, Any], *,
            only_common: bool = False, exclude_invalid_frames: bool = False,
            fps_protocol: Literal['got10k', 'ope'] = 'ope') -> list[TrackerEvaluation]:
  """Evaluates several trackers on the same sequences.

  Args:
    results: one ``TrackerResults`` per tracker (names must differ).
    ground_truth: ``{sequence: GroundTruth}``.
    only_common: evaluate only the sequences every tracker has results for (else all GT
      sequences, and a missing result raises).
  """
  names = [r.name for r in results]
  if len(set(names)) != len(names):
    raise ValueError(f'tracker names must be unique, got {names}')
  sequences = sorted(ground_truth)
  if only_common:
    sequences = [s for s in sequences if all(s in r.boxes for r in results)]
    if not sequences:
      raise ValueError('no sequence has results from every tracker')
  return [evaluate_tracker(r, ground_truth, sequences=sequences,
                           exclude_invalid_frames=exclude_invalid_frames,
                           fps_protocol=fps_protocol) for r in results]


def attributes_of(evaluations: Sequence[TrackerEvaluation]) -> list[str]:
  keys = set()
  for e in evaluations:
    keys |= set(e.ope.per_attribute) | set(e.got10k.per_attribute)
  return sorted(keys)


def summary_rows(evaluations: Sequence[TrackerEvaluation]) -> list[dict[str, Any]]:
  """One row per (scope, tracker): scope is 'overall' or the attribute name."""
  rows = []
  for scope in [None] + attributes_of(evaluations):
    for e in evaluations:
      metrics = e.metrics(scope)
      if metrics is not None:
        rows.append({'scope': scope or 'overall', 'tracker': e.name, **metrics})
  return rows


# ----------------------------------------------------------------------------- formatting


def _cell(key: str, value: float) -> str:
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return '-'
  return f'{value:.1f}' if key == 'fps' else f'{100.0 * value:.2f}'


def _json_value(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def format_report(evaluations: Sequence[TrackerEvaluation], fmt: OutputFormat = 'table') -> str:
  """The comparison as an aligned text table, Markdown, CSV or JSON."""
  rows = summary_rows(evaluations)
  if fmt == 'json':
    payload = {}
    for e in evaluations:
      payload[e.name] = {
          'overall': {k: _json_value(v) for k, v in e.metrics().items()},
          'per_attribute': {a: {k: _json_value(v) for k, v in m.items()}
                            for a in attributes_of([e]) if (m := e.metrics(a)) is not None},
          'per_sequence': {
              s: {'auc': sc.auc, 'precision': sc.precision, 'norm_precision': sc.norm_precision,
                  'ao': _json_value(e.got10k.per_sequence[s].ao)
                        if s in e.got10k.per_sequence else None,
                  'fps': _json_value(sc.fps)}
              for s, sc in e.ope.per_sequence.items()},
          'curves': {'success': e.ope.overall.success_curve.tolist(),
                     'precision': e.ope.overall.precision_curve.tolist(),
                     'norm_precision': e.ope.overall.norm_precision_curve.tolist(),
                     'got10k_success': e.got10k.overall.success_curve.tolist()},
          'num_sequences': e.ope.overall.num_sequences,
      }
    return json.dumps(payload, indent=2, sort_keys=True) + '\n'
  header = ['scope', 'tracker'] + [METRIC_TITLES[m] for m in METRICS]
  if fmt == 'csv':
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(['scope', 'tracker'] + list(METRICS))
    for row in rows:
      writer.writerow([row['scope'], row['tracker']] + [
          '' if math.isnan(row[m]) else repr(float(row[m])) for m in METRICS])
    return buffer.getvalue()
  table = [[row['scope'], row['tracker']] + [_cell(m, row[m]) for m in METRICS] for row in rows]
  if fmt == 'markdown':
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---', '---'] + ['---:'] * len(METRICS)) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in table]
    return '\n'.join(lines) + '\n'
  if fmt == 'table':
    widths = [max(len(str(c)) for c in column) for column in zip(header, *table)]
    def line(cells):
      return '  '.join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines = [line(header), line(['-' * w for w in widths])] + [line(r) for r in table]
    return '\n'.join(lines) + '\n'
  raise ValueError(f'unknown format {fmt!r}; expected table, markdown, csv or json')


# ----------------------------------------------------------------------------- plots


def _plot_curves(path: Path, x: np.ndarray, curves: Sequence[tuple[str, float, np.ndarray]],
                 xlabel: str, ylabel: str, title: str, value_name: str) -> Path:
  """One curve per tracker, legend sorted by the headline value (highest first)."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top  (no pyplot, no GUI)
  fig = Figure(figsize=(6.0, 4.5), dpi=100)
  ax = fig.add_subplot(1, 1, 1)
  styles = ['-', '--', '-.', ':']
  order = sorted(curves, key=lambda c: (-c[1], c[0]))
  for i, (name, value, y) in enumerate(order):
    ax.plot(x, y, styles[(i // 10) % len(styles)], linewidth=1.8,
            label=f'{name} [{value_name}{value:.3f}]')
  ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=(x[0], x[-1]), ylim=(0, 1.0))
  ax.grid(True, alpha=0.4)
  ax.legend(loc='lower left' if x[-1] <= 1 else 'lower right', fontsize=8)
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, format='png', metadata={'Software': None})
  return path


def _safe(name: str) -> str:
  return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)


def write_plots(evaluations: Sequence[TrackerEvaluation], out_dir: str | os.PathLike,
                dataset_name: str = '') -> list[Path]:
  """Writes success, precision and normalised-precision plots (overall and per attribute).

  Files: ``success.png``, ``precision.png``, ``norm_precision.png``, ``got10k_success.png`` and
  ``attributes/success_<attr>.png``, ``attributes/precision_<attr>.png``, plus
  ``attributes_auc.png`` (AUC per attribute and tracker) when there are attributes.
  """
  out = Path(out_dir)
  suffix = f' on {dataset_name}' if dataset_name else ''
  written = []

  def ope_plots(scores_of, prefix: Path, label: str):
    entries = [(e.name, scores_of(e)) for e in evaluations]
    entries = [(n, s) for n, s in entries if s is not None]
    if not entries:
      return
    written.append(_plot_curves(
        prefix.with_name(prefix.name.format('success')), om.SUCCESS_THRESHOLDS,
        [(n, s.auc, s.success_curve) for n, s in entries], 'Overlap threshold', 'Success rate',
        f'Success plot{label}{suffix}', 'AUC '))
    written.append(_plot_curves(
        prefix.with_name(prefix.name.format('precision')), om.PRECISION_THRESHOLDS,
        [(n, s.precision, s.precision_curve) for n, s in entries],
        'Location error threshold (px)', 'Precision', f'Precision plot{label}{suffix}', 'P@20 '))
    return entries

  ope_plots(lambda e: e.ope.overall, out / '{}.png', '')
  written.append(_plot_curves(
      out / 'norm_precision.png', om.NORM_PRECISION_THRESHOLDS,
      [(e.name, e.ope.overall.norm_precision, e.ope.overall.norm_precision_curve)
       for e in evaluations], 'Normalized location error threshold', 'Normalized precision',
      f'Normalized precision plot{suffix}', 'NP@0.2 '))
  written.append(_plot_curves(
      out / 'got10k_success.png', om.GOT10K_THRESHOLDS,
      [(e.name, e.got10k.overall.ao, e.got10k.overall.success_curve) for e in evaluations],
      'Overlap threshold', 'Success rate', f'GOT-10k success plot{suffix}', 'AO '))
  attributes = attributes_of(evaluations)
  for attr in attributes:
    ope_plots(lambda e, a=attr: e.ope.per_attribute.get(a),
              out / 'attributes' / ('{}_' + _safe(attr) + '.png'), f' ({attr})')
  if attributes:
    written.append(_plot_attribute_bars(evaluations, attributes, out / 'attributes_auc.png',
                                        suffix))
  return written


def _plot_attribute_bars(evaluations, attributes, path: Path, suffix: str) -> Path:
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(max(6.0, 0.9 * len(attributes) + 2), 4.5), dpi=100)
  ax = fig.add_subplot(1, 1, 1)
  width = 0.8 / max(len(evaluations), 1)
  x = np.arange(len(attributes))
  for i, e in enumerate(evaluations):
    values = [e.ope.per_attribute[a].auc if a in e.ope.per_attribute else 0.0 for a in attributes]
    ax.bar(x + (i - (len(evaluations) - 1) / 2) * width, values, width, label=e.name)
  ax.set_xticks(x, attributes, rotation=30, ha='right')
  ax.set(ylabel='Success AUC', ylim=(0, 1), title=f'AUC per attribute{suffix}')
  ax.grid(True, axis='y', alpha=0.4)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, format='png', metadata={'Software': None})
  return path


# ----------------------------------------------------------------------------- command line


def _parse_results_arg(arg: str) -> tuple[str | None, Path]:
  """``DIR`` or ``NAME=DIR``."""
  name, sep, path = arg.partition('=')
  if sep and name and os.sep not in name:
    return name, Path(path)
  return None, Path(arg)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m trackjax.evaluate.report',
      description='Compare tracker result folders on one benchmark.')
  parser.add_argument('--dataset', default='got10k', choices=['got10k', 'custom', 'lasot', 'otb'],
                      help='layout of --dataset-root (default got10k)')
  parser.add_argument('--dataset-root', required=True, help='benchmark root folder')
  parser.add_argument('--split', default=None, help='split sub-folder / list (e.g. val, test)')
  parser.add_argument('--results', nargs='+', required=True, metavar='[NAME=]DIR',
                      help='result folders (plain or GOT-10k layout), optionally named')
  parser.add_argument('--format', default='table', choices=['table', 'markdown', 'csv', 'json'])
  parser.add_argument('--output', default=None, help='write the report here instead of stdout')
  parser.add_argument('--plots', default=None, metavar='OUTDIR', help='write PNG plots here')
  parser.add_argument('--only-common', action='store_true',
                      help='evaluate only sequences that every tracker has results for')
  parser.add_argument('--exclude-invalid-frames', action='store_true',
                      help='drop absent / invalid ground-truth frames from OPE denominators')
  args = parser.parse_args(argv)

  ground_truth = load_ground_truth(args.dataset, args.dataset_root, args.split)
  results = []
  for arg in args.results:
    name, path = _parse_results_arg(arg)
    results.append(rf.read_results(path, name=name or path.resolve().name))
  evaluations = compare(results, ground_truth, only_common=args.only_common,
                        exclude_invalid_frames=args.exclude_invalid_frames,
                        fps_protocol='got10k' if args.dataset in ('got10k', 'custom') else 'ope')
  text = format_report(evaluations, args.format)
  if args.output:
    rf.atomic_write_text(args.output, text)
  else:
    sys.stdout.write(text)
  if args.plots:
    title = args.dataset + (f' {args.split}' if args.split else '')
    write_plots(evaluations, args.plots, title)
  return 0


if __name__ == '__main__':
  sys.exit(main())
