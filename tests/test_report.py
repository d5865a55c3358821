"""Report on a tiny fake GOT-10k-style benchmark: numbers, formats, plots, dataset loaders."""

import csv
import io
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from data_pipelines.sources.base import DatasetError
from tests import dataset_fixtures as fx
from trackjax.sot import ope_metrics as om
from trackjax.sot import report
from trackjax.sot import result_files as rf

GT_BOX = [10.0, 10.0, 20.0, 20.0]


def _write_benchmark(root):
  """Two 6-frame sequences; in s2 the last frame is absent (cover 0); s1 frames 2, 3 are cut."""
  split = root / 'val'
  for name in ('s1', 's2'):
    d = split / name
    d.mkdir(parents=True)
    gt = np.tile(GT_BOX, (6, 1))
    absence = np.zeros(6, int)
    cover = np.full(6, 8)
    cut = np.zeros(6, int)
    if name == 's2':
      gt[5] = 0
      absence[5], cover[5] = 1, 0
    else:
      cut[2:4] = 1
    rf.write_boxes(d / 'groundtruth.txt', gt, fmt='%.4f')
    (d / 'absence.label').write_text(''.join(f'{v}\n' for v in absence))
    (d / 'cover.label').write_text(''.join(f'{v}\n' for v in cover))
    (d / 'cut_by_image.label').write_text(''.join(f'{v}\n' for v in cut))
    (d / 'meta_info.ini').write_text('[METAINFO]\nobject_class: cat\nresolution: (100, 80)\n')
  (split / 'list.txt').write_text('s1\ns2\n')


def _write_trackers(tmp_path):
  perfect, shifted = tmp_path / 'res' / 'perfect', tmp_path / 'res' / 'shifted'
  for name in ('s1', 's2'):
    boxes = np.tile(GT_BOX, (6, 1))
    rf.write_sequence_result(perfect, name, boxes, [0.01] * 6, layout='got10k')
    moved = boxes + [5.0, 0, 0, 0]  # IoU 300 / 500 = 0.6, centre error 5 px.
    rf.write_sequence_result(shifted, name, moved, [0.02] * 6)
  return perfect, shifted


@pytest.fixture(name='bench')
def _bench(tmp_path):
  _write_benchmark(tmp_path / 'data')
  perfect, shifted = _write_trackers(tmp_path)
  return tmp_path, perfect, shifted


def _expected():
  auc_a = ((20 / 21) + (20 / 21) * 5 / 6) / 2
  auc_b = ((12 + 8 / 6) / 21 + (12 * 5 / 6 + 8 / 6) / 21) / 2
  return auc_a, auc_b


def test_load_ground_truth_got10k(bench):
  tmp_path, _, _ = bench
  gt = report.load_ground_truth('got10k', tmp_path / 'data', 'val')
  assert list(gt) == ['s1', 's2']
  assert gt['s1'].image_size == (80, 100)
  np.testing.assert_array_equal(gt['s2'].visible, [1, 1, 1, 1, 1, 0])
  np.testing.assert_array_equal(gt['s2'].cover, [8, 8, 8, 8, 8, 0])
  np.testing.assert_array_equal(gt['s1'].attributes['cut_by_image'], [0, 0, 1, 1, 0, 0])


def test_csv_numbers_match_hand_computation(bench):
  tmp_path, perfect, shifted = bench
  out = tmp_path / 'report.csv'
  assert report.main(['--dataset', 'got10k', '--dataset-root', str(tmp_path / 'data'),
                      '--split', 'val', '--results', str(perfect), f'B={shifted}',
                      '--format', 'csv', '--output', str(out)]) == 0
  rows = {(r['scope'], r['tracker']): r for r in csv.DictReader(io.StringIO(out.read_text()))}
  auc_a, auc_b = _expected()
  a, b = rows['overall', 'perfect'], rows['overall', 'B']
  assert float(a['auc']) == pytest.approx(auc_a)
  assert float(b['auc']) == pytest.approx(auc_b)
  assert float(a['precision']) == pytest.approx(11 / 12)
  assert float(b['precision']) == pytest.approx(11 / 12)  # 5 px <= 20 px.
  assert float(a['ao']) == 1.0 and float(b['ao']) == pytest.approx(0.6)
  assert float(b['sr50']) == 1.0 and float(b['sr75']) == 0.0
  assert float(a['fps']) == pytest.approx(100) and float(b['fps']) == pytest.approx(50)
  cut = rows['cut_by_image', 'B']
  assert float(cut['auc']) == pytest.approx(12 / 21)
  assert float(cut['ao']) == pytest.approx(0.6)
  assert list(rows) == [('overall', 'perfect'), ('overall', 'B'),
                        ('cut_by_image', 'perfect'), ('cut_by_image', 'B')]


def test_json_table_and_markdown(bench):
  tmp_path, perfect, shifted = bench
  gt = report.load_ground_truth('got10k', tmp_path / 'data', 'val')
  results = [rf.read_results(perfect), rf.read_results(shifted)]
  evaluations = report.compare(results, gt, fps_protocol='got10k')
  payload = json.loads(report.format_report(evaluations, 'json'))
  assert sorted(payload) == ['perfect', 'shifted']
  assert payload['shifted']['overall']['ao'] == pytest.approx(0.6)
  assert len(payload['shifted']['curves']['success']) == 21
  assert sorted(payload['shifted']['per_sequence']) == ['s1', 's2']
  assert payload['shifted']['overall']['frames'] == 12
  cut = payload['shifted']['frame_conditions']['cut_by_image']
  assert cut['frames_with_condition'] == 2 and cut['visible_frames'] == 2
  assert not cut['no_visible_target'] and cut['ao'] == pytest.approx(0.6)
  assert payload['shifted']['sequence_attributes'] == {}
  table = report.format_report(evaluations, 'table')
  assert table.splitlines()[0].split() == ['scope', 'tracker', 'seqs', 'frames', 'AUC', 'P@20',
                                           'NP@0.2', 'AO', 'SR0.5', 'SR0.75', 'FPS']
  assert f'{100 * _expected()[1]:.2f}' in table
  lines = table.splitlines()
  title = lines.index(report.SECTION_TITLES['frame_condition'])
  assert lines[title + 1].split()[:4] == ['cut_by_image', 'perfect', '1', '2']
  assert report.SECTION_TITLES['sequence_attribute'] not in lines  # No flags here.
  markdown = report.format_report(evaluations, 'markdown')
  assert '| overall | shifted | 2 | 12 |' in markdown
  assert f"**{report.SECTION_TITLES['frame_condition']}**" in markdown
  assert '| cut_by_image | shifted | 1 | 2 | 57.14 |' in markdown
  assert report.format_report(evaluations, 'json') == json.dumps(payload, indent=2,
                                                                   sort_keys=True) + '\n'


def test_missing_results_and_only_common(bench):
  tmp_path, perfect, shifted = bench
  (shifted / 's2.txt').unlink()
  gt = report.load_ground_truth('got10k', tmp_path / 'data', 'val')
  results = [rf.read_results(perfect), rf.read_results(shifted)]
  with pytest.raises(rf.ResultsFormatError, match='s2'):
    report.compare(results, gt)
  evaluations = report.compare(results, gt, only_common=True)
  assert evaluations[0].ope.overall.num_sequences == 1


def test_plots_are_valid_pngs(bench):
  tmp_path, perfect, shifted = bench
  gt = report.load_ground_truth('got10k', tmp_path / 'data', 'val')
  evaluations = report.compare([rf.read_results(perfect), rf.read_results(shifted)], gt)
  paths = report.write_plots(evaluations, tmp_path / 'plots', 'GOT-10k val')
  names = sorted(p.relative_to(tmp_path / 'plots').as_posix() for p in paths)
  assert names == ['conditions/precision_cut_by_image.png', 'conditions/success_cut_by_image.png',
                   'conditions_auc.png', 'got10k_success.png', 'norm_precision.png',
                   'precision.png', 'success.png']
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  for p in paths:
    assert p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    image = matplotlib.image.imread(p)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
  again = report.write_plots(evaluations, tmp_path / 'plots2', 'GOT-10k val')
  assert again[0].read_bytes() == paths[0].read_bytes()  # Deterministic output.


def test_load_ground_truth_lasot_and_otb(tmp_path):
  seq = tmp_path / 'lasot' / 'cat' / 'cat-1'
  seq.mkdir(parents=True)
  rf.write_boxes(seq / 'groundtruth.txt', np.tile(GT_BOX, (4, 1)))
  (seq / 'full_occlusion.txt').write_text('0,1,0,0\n')
  (seq / 'out_of_view.txt').write_text('0,0,0,1\n')
  gt = report.load_ground_truth('lasot', tmp_path / 'lasot', 'all')
  np.testing.assert_array_equal(gt['cat-1'].visible, [1, 0, 1, 0])
  np.testing.assert_array_equal(gt['cat-1'].attributes['out_of_view'], [0, 0, 0, 1])
  otb = tmp_path / 'otb' / 'Basketball'
  for i in range(2):
    fx.write_jpeg(str(otb / 'img' / f'{i + 1:04d}.jpg'), 8, 8)
  (otb / 'groundtruth_rect.txt').write_text('1\t2\t3\t4\n5\t6\t7\t8\n')
  gt = report.load_ground_truth('otb', tmp_path / 'otb')
  np.testing.assert_array_equal(gt['Basketball'].boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
  (otb / 'groundtruth_rect.txt').write_text('1\t2\t3\t4\n5\t6\t7\n')
  with pytest.raises(DatasetError, match=r'groundtruth_rect\.txt:2'):
    report.load_ground_truth('otb', tmp_path / 'otb')
  with pytest.raises(DatasetError, match='no groundtruth_rect'):
    report.load_ground_truth('otb', tmp_path / 'lasot')
  with pytest.raises(FileNotFoundError, match='dataset root not found'):
    report.load_ground_truth('otb', tmp_path / 'nothing')


def _conditions_evaluation():
  """Two sequences: 'a' has the sequence attribute ARC; frames 2-3 of 'a' are fully occluded
  (no box), frames 1-2 of 'b' are cut by the image border and tracked with IoU 0.6."""
  gt_a, gt_b = np.tile(GT_BOX, (5, 1)), np.tile(GT_BOX, (4, 1))
  gt_a[2:4] = 0
  occluded = np.array([0, 0, 1, 1, 0], bool)
  cut = np.array([0, 1, 1, 0], bool)
  truth = {'a': om.GroundTruth(gt_a, ~occluded, attributes={'ARC': True,
                                                           'full_occlusion': occluded}),
           'b': om.GroundTruth(gt_b, np.ones(4, bool), attributes={'ARC': False,
                                                                  'cut_by_image': cut})}
  pred_b = gt_b.copy()
  pred_b[1:3] += [5.0, 0, 0, 0]
  results = rf.TrackerResults('mine', 'plain', {'a': [np.tile(GT_BOX, (5, 1))], 'b': [pred_b]},
                              {})
  return report.evaluate_tracker(results, truth)


def test_per_frame_conditions_are_a_labelled_part_and_say_no_visible_target():
  e = _conditions_evaluation()
  table = report.format_report([e], 'table').splitlines()
  attr = table.index(report.SECTION_TITLES['sequence_attribute'])
  cond = table.index(report.SECTION_TITLES['frame_condition'])
  assert attr < cond
  assert table[attr + 1].split()[:4] == ['ARC', 'mine', '1', '5']
  assert table[attr + 1].split()[4] == f'{100 * 3 / 5 * 20 / 21:.2f}'  # Hidden frames fail.
  cut_row = next(line for line in table[cond:] if line.startswith('cut_by_image'))
  assert cut_row.split()[4] == f'{100 * 12 / 21:.2f}' and cut_row.split()[7] == '60.00'
  occ_row = next(line for line in table[cond:] if line.startswith('full_occlusion'))
  assert occ_row.split()[2:4] == ['1', '0'] and 'no visible target in its 2 frame(s)' in occ_row
  assert '0.00' not in occ_row and '-' not in occ_row.split()[4:]

  rows = list(csv.DictReader(io.StringIO(report.format_report([e], 'csv'))))
  occ = next(r for r in rows if r['scope'] == 'full_occlusion')
  assert occ['section'] == 'frame_condition' and occ['note'] == report.NO_VISIBLE_TARGET
  assert occ['auc'] == '' and occ['ao'] == '' and occ['frames_with_condition'] == '2'
  arc = next(r for r in rows if r['scope'] == 'ARC')
  assert arc['section'] == 'sequence_attribute' and float(arc['auc']) == pytest.approx(12 / 21)
  assert [r['section'] for r in rows] == ['overall', 'sequence_attribute', 'frame_condition',
                                          'frame_condition']

  payload = json.loads(report.format_report([e], 'json'))['mine']
  assert payload['frame_conditions']['full_occlusion'] == {
      'auc': None, 'precision': None, 'norm_precision': None, 'ao': None, 'sr50': None,
      'sr75': None, 'fps': None, 'sequences': 1, 'frames_with_condition': 2,
      'visible_frames': 0, 'no_visible_target': True}
  assert payload['sequence_attributes']['ARC']['sequences'] == 1
  markdown = report.format_report([e], 'markdown')
  assert '| full_occlusion | mine | 1 | 0 | no visible target in its 2 frame(s) |' in markdown


def test_condition_plots_label_no_visible_target(tmp_path, monkeypatch):
  e = _conditions_evaluation()
  curves, bars = [], []
  monkeypatch.setattr(report, '_plot_curves', lambda path, *args: curves.append(path) or path)
  draw_bars = report._plot_auc_bars  # pylint: disable=protected-access
  monkeypatch.setattr(report, '_plot_auc_bars',
                      lambda *args: bars.append(args) or draw_bars(*args))
  report.write_plots([e], tmp_path)
  names = sorted(p.relative_to(tmp_path).as_posix() for p in curves)
  assert 'conditions/success_cut_by_image.png' in names
  assert 'attributes/success_ARC.png' in names
  assert not any('full_occlusion' in n for n in names)  # No curve where nothing is scored.
  (_, attrs, _, attr_path, attr_title, _), (_, conds, _, cond_path, cond_title, _) = bars
  assert attrs == ['ARC'] and 'sequence attribute' in attr_title
  assert conds == ['cut_by_image', 'full_occlusion'] and 'per-frame condition' in cond_title
  assert cond_path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_ground_truth_from_sequence_source():
  from data_pipelines.sources.base import Sequence  # pylint: disable=g-import-not-at-top

  class Source:
    name = 'fake'
    is_video = True

    def __len__(self):
      return 1

    def sequence(self, index):
      return Sequence('only', [], np.tile(GT_BOX, (3, 1)), np.ones(3, bool),
                      attributes={'OCC': True}, image_size=(50, 60))

  gt = om.ground_truth_from_source(Source())
  assert list(gt) == ['only'] and gt['only'].image_size == (50, 60)
  r = om.evaluate_ope({'only': np.tile(GT_BOX, (3, 1))}, gt)
  assert r.per_attribute['OCC'].auc == pytest.approx(20 / 21)


def test_metrics_and_report_import_without_jax():
  code = ('import sys; sys.modules["jax"] = None; sys.modules["flax"] = None\n'
          'import trackjax.sot.report, trackjax.sot.ope_metrics\n'
          'import trackjax.sot.result_files, trackjax.sot.benchmark_datasets')
  root = pathlib.Path(__file__).resolve().parents[1]
  env = dict(os.environ, PYTHONPATH=str(root))
  subprocess.run([sys.executable, '-c', code], check=True, cwd=root, env=env)
