"""The MOT jobs on a stand-in family (histogram embedder): the runner writes, scores and resumes;
the report command; the demo writes a video; the speed benchmark; main's dispatch."""

import json
import types

import jax.numpy as jnp
import ml_collections
import pytest

from trackjax.mot import benchmark_runner, report, speed_benchmark, video_demo
from trackjax.mot import config as mot_config
from trackjax.mot.association import association_config
from trackjax.mot.tracker import AppearanceTracker
from tests.test_mot_tracker import HistogramEmbedder


class CountingEmbedder(HistogramEmbedder):

  def embed(self, variables, frame_rgb, boxes_xywh):
    assert variables['params']['kernel'].shape == (2, 2)
    return super().embed(variables, frame_rgb, boxes_xywh)


def stand_in_family():
  embedders = []

  def build_tracker(config, dataset=None, dtype=jnp.float32):
    del dataset, dtype
    embedders.append(CountingEmbedder())
    return AppearanceTracker(config.tracker, embedder=embedders[-1])

  return types.SimpleNamespace(
      TASK='mot', build_tracker=build_tracker, embedders=embedders,
      init_variables=lambda model_config, rng: {'params': {'kernel': jnp.ones((2, 2))}},
      build_model=None, train_task=None)


@pytest.fixture
def family(monkeypatch):
  fake = stand_in_family()
  from trackjax.sot import tracker_variables  # pylint: disable=g-import-not-at-top
  for module in (benchmark_runner, video_demo, speed_benchmark, tracker_variables):
    monkeypatch.setattr(module, 'get_family', lambda name: fake)
  return fake


def make_config():
  config = ml_collections.ConfigDict()
  config.family = 'stand_in'
  config.mode = 'evaluate'
  config.seed = 0
  config.init_from = ''
  config.model = ml_collections.ConfigDict({'width': 1})
  config.tracker = association_config()
  config.tracker.appearance_weight = 0.5
  config.tracker.max_detections = 8
  mot_config.add_mot_jobs(config, tracker_name='appearance')
  mot_config.make_tiny_jobs(config)
  config.evaluate.synthetic_sequences = 2
  config.evaluate.synthetic_frames = 12
  return config


def test_runner_writes_scores_compares_and_resumes(tmp_path, family):
  config = make_config()
  with pytest.warns(UserWarning, match='RANDOM weights'):
    summary = benchmark_runner.evaluate(config, str(tmp_path))
  results = tmp_path / 'results' / 'synthetic_mot_test'
  names = ['SYNMOT-test-01', 'SYNMOT-test-02']
  for tracker in ('appearance', 'bytetrack_iou'):
    for name in names:
      lines = (results / tracker / 'data' / f'{name}.txt').read_text().splitlines()
      assert lines and all(len(line.split(',')) == 10 for line in lines)
  assert summary['tracked'] == 2 and summary['resumed'] == 0 and summary['sequences'] == 2
  for key in ('HOTA', 'DetA', 'AssA', 'MOTA', 'IDF1', 'IDSW'):
    assert key in summary['metrics'] and key in summary['baseline_metrics']
  assert 0 < summary['metrics']['HOTA'] <= 1 and set(summary['per_sequence']) == set(names)
  assert family.embedders[0].calls > 0
  text = (results / 'mot_report.txt').read_text()
  assert 'appearance' in text and 'bytetrack_iou' in text and 'COMBINED' in text
  assert (results / 'plots' / 'hota_per_sequence.png').stat().st_size > 0
  assert json.loads((results / 'summary.json').read_text())['metrics'] == summary['metrics']
  # The same scores as the report command on the written folders.
  scores = report.score_tracker_dir(results / 'appearance',
                                    report.gt_files_of(benchmark_runner.open_sequences(
                                        config.evaluate, str(tmp_path))))
  assert scores.combined == pytest.approx(summary['metrics'])

  # Resume: one result removed, only that sequence is tracked again, scores unchanged.
  (results / 'appearance' / 'data' / f'{names[1]}.txt').unlink()
  before = family.embedders[0].calls
  with pytest.warns(UserWarning, match='RANDOM weights'):
    again = benchmark_runner.evaluate(config, str(tmp_path))
  assert again['tracked'] == 1 and again['resumed'] == 1
  assert family.embedders[1].calls < before
  assert again['metrics'] == pytest.approx(summary['metrics'])
  # Nothing left to track: nothing is embedded.
  with pytest.warns(UserWarning, match='RANDOM weights'):
    third = benchmark_runner.evaluate(config, str(tmp_path))
  assert third['tracked'] == 0 and family.embedders[2].calls == 0
  # Other weights (another seed of the random ones): redone.
  config.seed = 1
  with pytest.warns(UserWarning, match='RANDOM weights'):
    assert benchmark_runner.evaluate(config, str(tmp_path))['tracked'] == 2
  config.seed = 0
  # Other association settings: the results are stale and redone.
  config.tracker.track_thresh = 0.5
  with pytest.warns(UserWarning, match='RANDOM weights'):
    assert benchmark_runner.evaluate(config, str(tmp_path))['tracked'] == 2
  # Other synthetic sizes: regenerated without stale sequences, tracked again.
  config.evaluate.synthetic_sequences = 1
  config.evaluate.synthetic_frames = 10
  with pytest.warns(UserWarning, match='RANDOM weights'):
    fourth = benchmark_runner.evaluate(config, str(tmp_path))
  assert fourth['sequences'] == 1 and fourth['tracked'] == 1
  assert list(fourth['per_sequence']) == names[:1]


def test_runner_skips_missing_frames_and_needs_detections(tmp_path, family):
  config = make_config()
  config.evaluate.compare_baseline = False
  config.evaluate.sequences = 'SYNMOT-test-01'
  root = benchmark_runner.synthetic_root(config.evaluate, str(tmp_path))
  (root / 'test' / 'SYNMOT-test-01' / 'img1' / '000008.jpg').unlink()
  config.evaluate.dataset_root = str(root)
  config.init_from = ''
  with pytest.warns(UserWarning, match='RANDOM weights'):
    summary = benchmark_runner.evaluate(config, str(tmp_path / 'run'))
  data = (tmp_path / 'run' / 'results' / 'synthetic_mot_test' / 'appearance' / 'data' /
          'SYNMOT-test-01.txt').read_text()
  frames = {int(line.split(',')[0]) for line in data.splitlines()}
  assert 8 not in frames and {7, 9} <= frames and summary['baseline_metrics'] is None
  speed = json.loads((tmp_path / 'run' / 'results' / 'synthetic_mot_test' / 'appearance' /
                      'speed.json').read_text())
  assert speed['SYNMOT-test-01']['bad_frames'] == 1
  (root / 'test' / 'SYNMOT-test-01' / 'det' / 'det.txt').unlink()
  with pytest.raises(ValueError, match='no det/det.txt for SYNMOT-test-01'):
    benchmark_runner.evaluate(config, str(tmp_path / 'run2'))


def test_report_command_and_the_shared_report_entry(tmp_path, family, capsys):
  config = make_config()
  config.evaluate.synthetic_sequences = 1
  with pytest.warns(UserWarning):
    benchmark_runner.evaluate(config, str(tmp_path))
  root = tmp_path / 'synthetic_mot'
  results = tmp_path / 'results' / 'synthetic_mot_test'
  args = ['--dataset', 'synthetic_mot', '--dataset-root', str(root), '--split', 'test',
          '--results', f'ours={results / "appearance"}', str(results / 'bytetrack_iou'),
          '--format', 'csv', '--plots', str(tmp_path / 'plots')]
  import matplotlib  # pylint: disable=g-import-not-at-top
  backend = matplotlib.get_backend()
  matplotlib.use('svg')  # stands for a notebook's inline backend, which the plots leave alone
  try:
    assert report.main(args) == 0
    assert matplotlib.get_backend() == 'svg'
  finally:
    matplotlib.use(backend)
  rows = capsys.readouterr().out.splitlines()
  assert rows[0] == 'tracker,sequence,HOTA,DetA,AssA,MOTA,IDF1,IDSW'
  assert {r.split(',')[0] for r in rows[1:]} == {'ours', 'bytetrack_iou'}
  assert (tmp_path / 'plots' / 'hota_alpha.png').is_file()
  from trackjax.sot import report as sot_report  # pylint: disable=g-import-not-at-top
  assert sot_report.main(args[:-2]) == 0
  assert capsys.readouterr().out.splitlines() == rows


def test_demo_writes_video_gif_and_tracks(tmp_path, family):
  config = make_config()
  config.mode = 'track'
  with pytest.warns(UserWarning, match='RANDOM weights'):
    outputs = video_demo.run_demo(config, str(tmp_path))
  assert outputs['frames'] == 6 and outputs['identities'] >= 1
  assert (tmp_path / 'mot_demo.mp4').stat().st_size > 0
  assert (tmp_path / 'mot_demo.gif').stat().st_size > 0
  lines = (tmp_path / 'mot_demo_tracks.txt').read_text().splitlines()
  assert lines and max(int(line.split(',')[0]) for line in lines) <= 6
  config.demo.baseline = True
  config.demo.output_gif = ''
  (tmp_path / 'synthetic_mot' / 'test' / 'SYNMOT-test-01' / 'img1' / '000002.jpg').unlink()
  outputs = video_demo.run_demo(config, str(tmp_path))  # no weights, no warning
  assert 'gif' not in outputs and outputs['frames'] == 5 and outputs['skipped_frames'] == 1


def test_id_colours_are_stable_and_distinct():
  assert video_demo.id_colour(3) == video_demo.id_colour(3)
  assert len({video_demo.id_colour(k) for k in range(1, 20)}) == 19


def test_speed_benchmark(tmp_path, family):
  config = make_config()
  result = speed_benchmark.run_speed_benchmark(config, str(tmp_path))
  assert [r['detections'] for r in result['results']] == [4, 8]
  for row in result['results']:
    assert row['embed_ms'] > 0 and row['tracker_fps'] > 0 and row['association_fps'] > 0
  assert json.loads((tmp_path / 'mot_speed.json').read_text())['results'] == result['results']


def test_main_dispatches_mot_modes(tmp_path, family, monkeypatch):
  from trackjax import main  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(main, 'get_family', lambda name: family)
  config = make_config()
  config.mode = 'benchmark'
  result = main.run(config, str(tmp_path))
  assert (tmp_path / 'mot_speed.json').is_file() and len(result['results']) == 2


def test_moving_boxes_stay_inside():
  boxes = speed_benchmark.moving_boxes(16, 50, (320, 240))
  assert boxes.shape == (50, 16, 4)
  assert (boxes[..., 0] >= 0).all() and (boxes[..., 0] + boxes[..., 2] <= 320 + 1e-9).all()
