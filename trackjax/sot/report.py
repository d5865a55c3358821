"""Side-by-side comparison of tracker result folders: tables, CSV/JSON and success/precision plots.

Usage::

  python -m trackjax.sot.report --dataset got10k --dataset-root /data/GOT-10k --split val \\
      --results results/baseline ours=results/mine --format markdown --plots reports/got10k_val

A MOT dataset (``--dataset mot17|mot20|dancetrack|synthetic_mot``) hands the whole command to
``trackjax.mot.report`` (HOTA / IDF1 / MOTA tables and plots of MOTChallenge result folders).

Every results folder is scored with both protocols of ``ope_metrics``: OPE (AUC, P@20, NP@0.2
from the first repetition) and GOT-10k (AO, SR0.5, SR0.75 over all repetitions). FPS follows the
dataset's toolkit: GOT-10k's mean of ``1 / t`` over all frames for ``got10k`` and ``custom``,
otherwise the mean of per-sequence FPS (got10k ``ExperimentOTB``). Numbers in tables are
percentages, in CSV and JSON fractions. Ground truth comes from the same dataset readers
(``data_pipelines.sources``), opened by the same mapping (``benchmark_datasets.open_source``), as
``--config.mode=evaluate``, so both score alike.

The report has three parts (``SECTIONS``):
* overall: every frame of every sequence, as the toolkits score it;
* sequence attributes (a flag per sequence, e.g. ``ARC``, ``BC``): the same scores restricted to
  the sequences that have the attribute, all of their frames;
* per-frame conditions (a 0/1 value per frame, e.g. ``full_occlusion``, ``out_of_view``,
  ``cut_by_image``): scores on only the frames after the first that have the condition and show
  the target. A condition whose frames never show it (fully occluded or out-of-view frames have
  no ground-truth box) is reported as "no visible target" with its frame count, not as 0.
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

from trackjax.sot import ope_metrics as om
from trackjax.sot import result_files as rf

DATASETS = ('got10k', 'custom', 'lasot', 'otb', 'uav123', 'nfs', 'trackingnet')
DatasetKind = Literal['got10k', 'custom', 'lasot', 'otb', 'uav123', 'nfs', 'trackingnet']
OutputFormat = Literal['table', 'markdown', 'csv', 'json']
METRICS = ('auc', 'precision', 'norm_precision', 'ao', 'sr50', 'sr75', 'fps')
METRIC_TITLES = {'auc': 'AUC', 'precision': 'P@20', 'norm_precision': 'NP@0.2', 'ao': 'AO',
                 'sr50': 'SR0.5', 'sr75': 'SR0.75', 'fps': 'FPS'}
Section = Literal['overall', 'sequence_attribute', 'frame_condition']
SECTIONS = ('overall', 'sequence_attribute', 'frame_condition')
SECTION_TITLES = {
    'overall': 'Overall (all frames of all sequences)',
    'sequence_attribute': 'Sequence attributes (all frames of the sequences that have the '
                          'attribute)',
    'frame_condition': 'Per-frame conditions (only the frames after the first that have the '
                       'condition and show the target)',
}
NO_VISIBLE_TARGET = 'no visible target'
TABLE_NOTES = ("seqs, frames: the sequences and frames AUC, P@20 and NP@0.2 are taken over "
               "(for a condition, its frames that show the target).\n"
               "'-': nothing to score with that protocol (GOT-10k skips the first frame and "
               "frames with cover 0).")
GOT10K_PROTOCOL_DATASETS = ('got10k', 'custom')  # as benchmark_datasets


# ----------------------------------------------------------------------------- ground truth


def open_dataset(kind: DatasetKind, root: str | os.PathLike, split: str | None = None):
  """The dataset source for ``kind``, opened as the benchmark runner opens it
  (``benchmark_datasets.open_source``).

  ``split``: GOT-10k ``val`` (default), ``test`` or ``train``; LaSOT ``test`` (default, the
  official 280), ``train`` or ``all``; TrackingNet ``test`` (default, the ``TEST`` chunk) or a
  chunk folder such as ``TRAIN_0``. For the other datasets a split is a sub-folder of ``root``.
  """
  from trackjax.sot import benchmark_datasets  # pylint: disable=g-import-not-at-top
  if kind not in DATASETS:
    raise ValueError(f'unknown dataset kind {kind!r}; expected one of {DATASETS}')
  return benchmark_datasets.open_source(kind, root, split)


def load_ground_truth(kind: DatasetKind, root: str | os.PathLike,
                      split: str | None = None) -> dict[str, om.GroundTruth]:
  """Ground truth of a benchmark as ``{sequence: GroundTruth}``, read by its dataset source.

  The readers and the side files they use are described in ``data_pipelines.sources`` and checked
  against the toolkits in ``ope_metrics``; e.g. GOT-10k gives cover, visibility, the image size
  from ``meta_info.ini`` and the per-frame condition ``cut_by_image``, LaSOT the per-frame
  conditions ``full_occlusion`` and ``out_of_view``.
  """
  return om.ground_truth_from_source(open_dataset(kind, root, split))


# ----------------------------------------------------------------------------- comparison


@dataclasses.dataclass(frozen=True)
class TrackerEvaluation:
  """Both protocols' results for one tracker."""

  name: str
  ope: om.OPEReport
  got10k: om.Got10kReport
  fps_protocol: Literal['got10k', 'ope']

  def metrics(self, attribute: str | None = None,
              section: Section = 'sequence_attribute') -> dict[str, float] | None:
    """Headline numbers (fractions; FPS in frames/s) overall, for one sequence attribute or for
    one per-frame condition (``section='frame_condition'``).

    None when the scope does not exist, or, for a condition, when none of its frames shows the
    target (``condition_frames`` then says how many frames it has).
    """
    if attribute is None:
      ope, got = self.ope.overall, self.got10k.overall
    elif section == 'frame_condition':
      ope, got = self.ope.per_condition.get(attribute), self.got10k.per_condition.get(attribute)
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
  """Sequence attributes any tracker was scored on, sorted."""
  keys = set()
  for e in evaluations:
    keys |= set(e.ope.per_attribute) | set(e.got10k.per_attribute)
  return sorted(keys)


def conditions_of(evaluations: Sequence[TrackerEvaluation]) -> list[str]:
  """Per-frame conditions present in the evaluated sequences, sorted."""
  keys = set()
  for e in evaluations:
    keys |= set(e.ope.condition_frames)
  return sorted(keys)


def summary_rows(evaluations: Sequence[TrackerEvaluation]) -> list[dict[str, Any]]:
  """One row per (section, scope, tracker), in report order.

  Each row has ``section`` (one of ``SECTIONS``), ``scope`` ('overall', the attribute or the
  condition), ``tracker``, ``sequences`` and ``frames`` (sequences and frames the OPE scores are
  taken over), the ``METRICS`` (NaN where a protocol has nothing to score) and ``note``
  (``NO_VISIBLE_TARGET`` for a condition none of whose frames shows the target). Condition rows
  also have ``frames_with_condition``.
  """
  rows = []
  for e in evaluations:
    o = e.ope.overall
    rows.append({'section': 'overall', 'scope': 'overall', 'tracker': e.name,
                 'sequences': o.num_sequences, 'frames': o.num_frames, **e.metrics(), 'note': ''})
  for attr in attributes_of(evaluations):
    for e in evaluations:
      metrics = e.metrics(attr)
      if metrics is None:
        continue
      scores = e.ope.per_attribute.get(attr)
      rows.append({'section': 'sequence_attribute', 'scope': attr, 'tracker': e.name,
                   'sequences': scores.num_sequences if scores else 0,
                   'frames': scores.num_frames if scores else 0, **metrics, 'note': ''})
  for cond in conditions_of(evaluations):
    for e in evaluations:
      count = e.ope.condition_frames.get(cond)
      if count is None:
        continue
      metrics = e.metrics(cond, 'frame_condition')
      scored = metrics is not None
      rows.append({'section': 'frame_condition', 'scope': cond, 'tracker': e.name,
                   'sequences': count.sequences, 'frames': count.visible_frames,
                   **(metrics if scored else {m: float('nan') for m in METRICS}),
                   'note': '' if scored else NO_VISIBLE_TARGET,
                   'frames_with_condition': count.frames})
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


def _json_scores(metrics: Mapping[str, float] | None) -> dict[str, Any]:
  if metrics is None:
    return {m: None for m in METRICS}
  return {k: _json_value(v) for k, v in metrics.items()}


def _json_payload(e: TrackerEvaluation) -> dict[str, Any]:
  overall = e.ope.overall
  attributes = {}
  for a in attributes_of([e]):
    metrics = e.metrics(a)
    if metrics is None:
      continue
    scores = e.ope.per_attribute.get(a)
    attributes[a] = {**_json_scores(metrics), 'sequences': scores.num_sequences if scores else 0,
                     'frames': scores.num_frames if scores else 0}
  conditions = {}
  for c, count in e.ope.condition_frames.items():
    metrics = e.metrics(c, 'frame_condition')
    conditions[c] = {**_json_scores(metrics), 'sequences': count.sequences,
                     'frames_with_condition': count.frames,
                     'visible_frames': count.visible_frames,
                     'no_visible_target': metrics is None}
  return {
      'overall': {**_json_scores(e.metrics()), 'sequences': overall.num_sequences,
                  'frames': overall.num_frames},
      'sequence_attributes': attributes,
      'frame_conditions': conditions,
      'per_sequence': {
          s: {'auc': sc.auc, 'precision': sc.precision, 'norm_precision': sc.norm_precision,
              'ao': _json_value(e.got10k.per_sequence[s].ao)
                    if s in e.got10k.per_sequence else None,
              'fps': _json_value(sc.fps)}
          for s, sc in e.ope.per_sequence.items()},
      'curves': {'success': overall.success_curve.tolist(),
                 'precision': overall.precision_curve.tolist(),
                 'norm_precision': overall.norm_precision_curve.tolist(),
                 'got10k_success': e.got10k.overall.success_curve.tolist()},
      'num_sequences': overall.num_sequences,
  }


def format_report(evaluations: Sequence[TrackerEvaluation], fmt: OutputFormat = 'table') -> str:
  """The comparison as an aligned text table, Markdown, CSV or JSON.

  Table and Markdown print the three ``SECTIONS`` apart, each under its ``SECTION_TITLES`` line;
  CSV has a ``section`` column and JSON the keys ``overall``, ``sequence_attributes`` and
  ``frame_conditions`` (with ``frames_with_condition``, ``visible_frames`` and
  ``no_visible_target``).
  """
  rows = summary_rows(evaluations)
  if fmt == 'json':
    payload = {e.name: _json_payload(e) for e in evaluations}
    return json.dumps(payload, indent=2, sort_keys=True) + '\n'
  if fmt == 'csv':
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    columns = ['section', 'scope', 'tracker', 'sequences', 'frames', *METRICS, 'note',
               'frames_with_condition']
    writer.writerow(columns)
    for row in rows:
      writer.writerow([row['section'], row['scope'], row['tracker'], row['sequences'],
                       row['frames']]
                      + ['' if math.isnan(row[m]) else repr(float(row[m])) for m in METRICS]
                      + [row['note'], row.get('frames_with_condition', '')])
    return buffer.getvalue()
  if fmt not in ('table', 'markdown'):
    raise ValueError(f'unknown format {fmt!r}; expected table, markdown, csv or json')
  header = ['scope', 'tracker', 'seqs', 'frames'] + [METRIC_TITLES[m] for m in METRICS]
  sections = []
  for section in SECTIONS:
    cells = []
    for row in (r for r in rows if r['section'] == section):
      lead = [row['scope'], row['tracker'], str(row['sequences']), str(row['frames'])]
      if row['note']:
        note = f"{row['note']} in its {row['frames_with_condition']} frame(s)"
        cells.append(lead + [note])
      else:
        cells.append(lead + [_cell(m, row[m]) for m in METRICS])
    if cells:
      sections.append((section, cells))
  if fmt == 'markdown':
    lines = []
    for section, cells in sections:
      lines += [f'**{SECTION_TITLES[section]}**', '',
                '| ' + ' | '.join(header) + ' |',
                '|' + '|'.join(['---', '---', '---:', '---:'] + ['---:'] * len(METRICS)) + '|']
      for r in cells:
        if len(r) < len(header):  # a note spans the metric columns
          r = r + [''] * (len(header) - len(r))
        lines.append('| ' + ' | '.join(r) + ' |')
      lines.append('')
    lines.append(TABLE_NOTES.replace('\n', ' '))
    return '\n'.join(lines) + '\n'
  everything = [r for _, cells in sections for r in cells]
  full = [r for r in everything if len(r) == len(header)]
  widths = [max(len(str(c)) for c in column) for column in zip(header, *full)]
  lead_columns = zip(header[:4], *[r[:4] for r in everything])  # notes too
  widths[:4] = [max(len(c) for c in column) for column in lead_columns]

  def line(cells):
    if len(cells) < len(header):  # a note: left-aligned in place of the metric columns
      lead = '  '.join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(cells[:4], widths)))
      return f'{lead}  {cells[4]}'
    return '  '.join(c.ljust(w) if i < 2 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

  lines = [line(header), line(['-' * w for w in widths])]
  for k, (section, cells) in enumerate(sections):
    if k:
      lines += ['', SECTION_TITLES[section]]
    lines += [line(r) for r in cells]
  lines += ['', TABLE_NOTES]
  return '\n'.join(lines) + '\n'


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
  """Writes success, precision and normalised-precision plots: overall, per sequence attribute
  and per per-frame condition.

  Files: ``success.png``, ``precision.png``, ``norm_precision.png``, ``got10k_success.png``;
  for sequence attributes ``attributes/{success,precision}_<attr>.png`` and ``attributes_auc.png``
  (AUC per attribute and tracker); for per-frame conditions ``conditions/{success,precision}_
  <condition>.png`` (frames with the condition and a visible target) and ``conditions_auc.png``,
  where a condition with no visible target is labelled so instead of drawn as a zero bar.
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
              out / 'attributes' / ('{}_' + _safe(attr) + '.png'), f' (sequences with {attr})')
  if attributes:
    written.append(_plot_auc_bars(
        evaluations, attributes, lambda e, a: e.ope.per_attribute.get(a),
        out / 'attributes_auc.png', f'AUC per sequence attribute{suffix}',
        'all frames of the sequences that have the attribute'))
  conditions = conditions_of(evaluations)
  for cond in conditions:
    ope_plots(lambda e, c=cond: e.ope.per_condition.get(c),
              out / 'conditions' / ('{}_' + _safe(cond) + '.png'),
              f' (frames with {cond}, target visible)')
  if conditions:
    written.append(_plot_auc_bars(
        evaluations, conditions, lambda e, c: e.ope.per_condition.get(c),
        out / 'conditions_auc.png', f'AUC on each per-frame condition{suffix}',
        'frames after the first that have the condition and show the target'))
  return written


def _plot_auc_bars(evaluations, scopes, scores_of, path: Path, title: str, subtitle: str) -> Path:
  """Grouped AUC bars, one group per scope; a scope without scores says NO_VISIBLE_TARGET."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(max(6.0, 0.9 * len(scopes) + 2), 4.8), dpi=100)
  ax = fig.add_subplot(1, 1, 1)
  width = 0.8 / max(len(evaluations), 1)
  x = np.arange(len(scopes))
  for i, e in enumerate(evaluations):
    values = [s.auc if (s := scores_of(e, a)) is not None else 0.0 for a in scopes]
    ax.bar(x + (i - (len(evaluations) - 1) / 2) * width, values, width, label=e.name)
  for k, scope in enumerate(scopes):
    if all(scores_of(e, scope) is None for e in evaluations):
      ax.text(k, 0.02, NO_VISIBLE_TARGET, rotation=90, ha='center', va='bottom', fontsize=8,
              color='0.3')
  ax.set_xticks(x, scopes, rotation=30, ha='right')
  ax.set(ylabel='Success AUC', ylim=(0, 1))
  ax.set_title(f'{title}\n({subtitle})', fontsize=10)
  ax.grid(True, axis='y', alpha=0.4)
  ax.legend(fontsize=8)
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
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
  mot_datasets = ('mot17', 'mot20', 'dancetrack', 'synthetic_mot')  # trackjax.mot.report's
  pre = argparse.ArgumentParser(add_help=False)
  pre.add_argument('--dataset', default='got10k')
  if pre.parse_known_args(argv)[0].dataset in mot_datasets:
    from trackjax.mot import report as mot_report  # pylint: disable=g-import-not-at-top
    return mot_report.main(argv)
  parser = argparse.ArgumentParser(
      prog='python -m trackjax.sot.report',
      description='Compare tracker result folders on one benchmark.')
  parser.add_argument('--dataset', default='got10k', choices=DATASETS,
                      help='layout of --dataset-root (default got10k)')
  parser.add_argument('--dataset-root', required=True, help='benchmark root folder')
  parser.add_argument('--split', default=None,
                      help='GOT-10k val (default), test, train; LaSOT test (default), train, all; '
                           'TrackingNet test (default) or TRAIN_<k>')
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
  protocol = 'got10k' if args.dataset in GOT10K_PROTOCOL_DATASETS else 'ope'
  evaluations = compare(results, ground_truth, only_common=args.only_common,
                        exclude_invalid_frames=args.exclude_invalid_frames, fps_protocol=protocol)
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
