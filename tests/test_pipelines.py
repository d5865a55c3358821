"""Grain and tf.data pipelines: determinism, sharding, restore, Orbax hookup, skip rate."""

import logging
import os

import numpy as np
import pytest

from data_pipelines import sot_processing
from data_pipelines import train_iterator
from data_pipelines import train_samples
from data_pipelines.config import default_data_config
from data_pipelines.train_iterator import SkipRateExceeded
from data_pipelines.train_samples import SKIP_REASONS, global_index
from tests import dataset_fixtures as fx


def build_train_iterator(config, **kwargs):
  """The iterator of template/search samples (what a family's train task chooses)."""
  return train_iterator.build_train_iterator(
      config, build_processor=sot_processing.build_processor, **kwargs)


def sample_fn(config, seed):
  return train_samples.SampleFn(config, seed, sot_processing.build_processor)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('got10k'))
  fx.write_got10k(root, names=('s1', 's2', 's3'), num_frames=22, height=96, width=128)
  custom = os.path.join(root, 'custom')
  fx.write_custom(custom, num_seqs=2, num_frames=21, height=48, width=64)
  return root


def _config(root, backend='grain', **overrides):
  c = default_data_config()
  c.train_datasets = [{'name': 'got10k', 'root': root, 'ratio': 1, 'options': {'split': 'train'}},
                      {'name': 'custom', 'root': os.path.join(root, 'custom'), 'ratio': 1}]
  c.cache_dir = None
  c.backend = backend
  c.processing.template_size = 32
  c.processing.search_size = 64
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _take(it, n):
  return [next(it) for _ in range(n)]


def _assert_same(batches_a, batches_b):
  assert len(batches_a) == len(batches_b)
  for a, b in zip(batches_a, batches_b):
    assert sorted(a) == sorted(b)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_batches_shapes_and_sample_determinism(data_root):
  it = build_train_iterator(_config(data_root), seed=3, global_batch_size=4)
  batch = next(it)
  assert batch['template_images'].shape == (4, 2, 32, 32, 3)
  assert batch['search_masks'].shape == (4, 64, 64) and batch['skipped'].shape == (4, 2)
  fn = sample_fn(_config(data_root), seed=3)
  for i in range(4):  # element i of batch 0 is sample i, a pure function of (seed, index)
    np.testing.assert_array_equal(fn(i)['search_images'], batch['search_images'][i])
  other = next(build_train_iterator(_config(data_root), seed=4, global_batch_size=4))
  assert not np.array_equal(other['search_images'], batch['search_images'])


def test_processes_take_their_slice_of_the_global_batch(data_root):
  full = _take(build_train_iterator(_config(data_root), seed=0, global_batch_size=4), 2)
  parts = [_take(build_train_iterator(_config(data_root), seed=0, global_batch_size=4,
                                      process_index=p, process_count=2), 2) for p in range(2)]
  for step in range(2):
    joined = {k: np.concatenate([parts[0][step][k], parts[1][step][k]]) for k in full[step]}
    _assert_same([full[step]], [joined])
  assert [global_index(i, 2, 4, 1) for i in range(5)] == [2, 3, 6, 7, 10]


@pytest.mark.parametrize('backend, workers', [('grain', 0), ('grain', 2), ('tfdata', 2)])
def test_restored_iterator_continues_identically(data_root, backend, workers):
  cfg = _config(data_root, backend, num_workers=workers)
  it = build_train_iterator(cfg, seed=1, global_batch_size=2)
  _take(it, 2)
  state = it.get_state()
  expected = _take(it, 2)
  it.close()
  fresh = build_train_iterator(cfg, seed=1, global_batch_size=2)
  fresh.set_state(state)
  _assert_same(_take(fresh, 2), expected)
  fresh.close()


@pytest.mark.parametrize('backend, workers', [('grain', 0), ('grain', 2), ('tfdata', 0)])
def test_stream_state_re_slices_for_another_process_count(data_root, backend, workers):
  cfg = _config(data_root, backend, num_workers=workers)
  two = [build_train_iterator(cfg, seed=1, global_batch_size=4, process_index=p, process_count=2)
         for p in range(2)]
  for it in two:
    _take(it, 2)
  stream = train_iterator.TrainIterator.stream_state([it.get_state() for it in two])
  assert stream['next_batch'] == 2 and stream['process_count'] == 2
  expected = [{k: np.concatenate([a[k], b[k]]) for k in a}
              for a, b in zip(_take(two[0], 2), _take(two[1], 2))]
  one = build_train_iterator(cfg, seed=1, global_batch_size=4)
  one.set_stream_state(stream, 0, 1)  # 2 -> 1 process: the same global batches
  _assert_same(_take(one, 2), expected)
  assert one.get_state()['samples'] == 2 * 4 + 2 * 4  # process 0 takes the totals
  back = train_iterator.TrainIterator.stream_state([one.get_state()])
  halves = [build_train_iterator(cfg, seed=1, global_batch_size=4, process_index=p,
                                 process_count=2) for p in range(2)]
  for p, it in enumerate(halves):  # 1 -> 2 processes: each its slice of the next global batch
    it.set_stream_state(back, p, 2)
  following = _take(build_train_iterator(cfg, seed=1, global_batch_size=4), 5)[4]
  first, second = _take(halves[0], 1)[0], _take(halves[1], 1)[0]
  joined = {k: np.concatenate([first[k], second[k]]) for k in following}
  _assert_same([joined], [following])
  for it in two + halves + [one]:
    it.close()
  with pytest.raises(ValueError, match='different global batches'):
    train_iterator.TrainIterator.stream_state([{'backend': {'next_batch': 1}},
                                               {'backend': {'next_batch': 2}}])


def test_grain_and_tfdata_give_identical_batches(data_root):
  g = build_train_iterator(_config(data_root, 'grain'), seed=5, global_batch_size=3)
  t = build_train_iterator(_config(data_root, 'tfdata'), seed=5, global_batch_size=3)
  _assert_same(_take(g, 2), _take(t, 2))
  t.close()


def test_orbax_saves_and_restores_the_iterator(data_root, tmp_path):
  import orbax.checkpoint as ocp
  from data_pipelines.train_iterator import checkpoint_args
  cfg = _config(data_root)
  it = build_train_iterator(cfg, seed=2, global_batch_size=2)
  _take(it, 3)
  with ocp.CheckpointManager(str(tmp_path / 'ckpt')) as mngr:
    mngr.save(3, args=ocp.args.Composite(data=checkpoint_args(it)))
    mngr.wait_until_finished()
  expected = _take(it, 2)
  fresh = build_train_iterator(cfg, seed=2, global_batch_size=2)
  with ocp.CheckpointManager(str(tmp_path / 'ckpt')) as mngr:
    mngr.restore(3, args=ocp.args.Composite(data=checkpoint_args(fresh, restore=True)))
  _assert_same(_take(fresh, 2), expected)


def test_skip_rate_guard(data_root, tmp_path):
  broken = str(tmp_path / 'broken')
  fx.write_custom(broken, num_seqs=1, num_frames=21)
  for name in os.listdir(os.path.join(broken, 'seq0')):
    if name.endswith('.jpg'):
      with open(os.path.join(broken, 'seq0', name), 'wb') as f:
        f.write(b'corrupt')
  cfg = _config(data_root, skip_check_min_draws=20, max_skip_rate=0.05)
  cfg.train_datasets = list(cfg.train_datasets) + [{'name': 'custom', 'root': broken,
                                                    'ratio': 2}]
  it = build_train_iterator(cfg, seed=0, global_batch_size=4)
  with pytest.raises(SkipRateExceeded, match=r'per dataset: got10k: 0, custom: 0, custom: \d+'):
    _take(it, 10)
  cfg.max_skip_rate = 0.9
  it = build_train_iterator(cfg, seed=0, global_batch_size=4)
  batches = _take(it, 3)
  assert sum(int(b['skipped'][:, 2].sum()) for b in batches) > 0
  assert it.skipped_per_dataset() == {'got10k': 0, 'custom': it.skipped_per_dataset()['custom']}


def test_unusable_sequences_reported_at_start_and_bad_frames_counted_by_reason(
    data_root, tmp_path, caplog):
  broken = str(tmp_path / 'broken')
  fx.write_custom(broken, num_seqs=3, num_frames=21)
  gt = os.path.join(broken, 'seq0', 'groundtruth.txt')
  fx.write_lines(gt, [['NaN'] * 4] * 21)  # no valid box: dropped
  for name in os.listdir(os.path.join(broken, 'seq1')):
    if name.endswith('.jpg'):
      fx.truncate_file(os.path.join(broken, 'seq1', name), 0.5)
  cfg = _config(data_root, max_skip_rate=0.95)
  cfg.train_datasets = list(cfg.train_datasets) + [{'name': 'custom', 'root': broken,
                                                    'ratio': 10}]
  with caplog.at_level(logging.INFO):
    it = build_train_iterator(cfg, seed=0, global_batch_size=4)
    batches = _take(it, 2)
  start = [r for r in caplog.records if 'sequences usable' in r.getMessage()]
  assert [r.levelno for r in start] == [logging.INFO, logging.INFO, logging.WARNING]
  assert start[0].getMessage() == 'dataset 0 (got10k_train): 3 of 3 sequences usable'
  assert start[2].getMessage() == (f'dataset 2 (custom): 2 of 3 sequences usable; dropped 1 '
                                   f'without a valid box: seq0 ({gt})')
  for b in batches:  # every skipped draw is one failed frame read, with its reason
    np.testing.assert_array_equal(b['skipped_by_reason'].sum(-1), b['skipped'])
  skipped = it.get_state()['skipped']
  assert skipped[:2] == [0, 0] and skipped[2] > 0
  assert it.skipped_by_reason()[2] == {'missing': 0, 'unreadable': 0, 'truncated': skipped[2],
                                       'undecodable': 0, 'other': 0}
  warned = [r.getMessage() for r in caplog.records if 'for bad data' in r.getMessage()]
  assert len(warned) == 1 and warned[0].startswith('dataset 2 (custom): skipped ')  # at 1, 10..
  assert 'so far for bad data (truncated ' in warned[0]


def test_skips_without_a_failed_frame_read_count_as_other(data_root, monkeypatch):
  from data_pipelines.sources.base import DatasetError
  process = sot_processing.TrackingProcessor.process

  def refuse_dataset_1(self, rng, draw):  # as the processor refuses a box it cannot crop
    if draw.templates[0].dataset == 1:
      raise sot_processing.BadData(1, DatasetError('gt.txt:3: absurd box'))
    return process(self, rng, draw)

  monkeypatch.setattr(sot_processing.TrackingProcessor, 'process', refuse_dataset_1)
  fn = sample_fn(_config(data_root), seed=0)
  samples = [fn(i) for i in range(6)]
  by_reason = sum(s['skipped_by_reason'] for s in samples)
  other = SKIP_REASONS.index('other')
  assert by_reason[1, other] == sum(int(s['skipped'][1]) for s in samples) > 0
  assert by_reason.sum() == by_reason[1, other]


def test_bad_backend_and_batch_split(data_root):
  with pytest.raises(ValueError, match='backend'):
    build_train_iterator(_config(data_root, 'torch'), seed=0, global_batch_size=2)
  with pytest.raises(ValueError, match='does not split'):
    build_train_iterator(_config(data_root), seed=0, global_batch_size=3, process_count=2)
