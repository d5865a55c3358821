"""Training input from TFDS builds: the folders' samples for the same seed, exact restore, flags."""

import os

import numpy as np
import pytest

from data_pipelines import config as data_config
from data_pipelines import sot_processing
from data_pipelines import tfds_build
from data_pipelines import train_iterator
from data_pipelines.synthetic import SyntheticSource
from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from tests import dataset_fixtures as fx


@pytest.fixture(scope='module')
def data(tmp_path_factory):
  """GOT-10k-layout synthetic data and a custom folder (one truncated frame), with their TFDS
  builds (the custom one as TFRecord)."""
  root = tmp_path_factory.mktemp('data')
  got10k = str(root / 'got10k')
  write_got10k_layout(SyntheticSource(3, 24, (96, 128), seed=2, split='val'),
                      os.path.join(got10k, 'val'), progress=False)
  custom = fx.write_custom(str(root / 'custom'), num_seqs=2, num_frames=21, height=48, width=64)
  for i in range(2, 16):  # an interrupted copy: skipped and counted, the same way from both
    fx.truncate_file(os.path.join(custom, 'seq1', f'{i}.jpg'))
  tfds_build.build('got10k', got10k, str(root / 'tfds' / 'got10k' / 'val'), split='val',
                   frames_per_shard=30, progress=False)
  tfds_build.build('custom', custom, str(root / 'tfds' / 'custom'), file_format='tfrecord',
                   progress=False)
  return {'got10k': got10k, 'custom': custom, 'tfds': str(root / 'tfds')}


def _config(data, mix, backend='grain', workers=0, **roots):
  c = data_config.default_data_config()
  c.mix = mix
  for kind, root in roots.items():
    c.roots[kind] = root
  c.train_datasets = data_config.resolve_datasets(c, 'train')
  c.mix = ''
  c.cache_dir = None
  c.backend = backend
  c.num_workers = workers
  c.processing.template_size = 32
  c.processing.search_size = 64
  return c


def _folders(data, **kwargs):
  return _config(data, 'got10k_val:1,custom:1', got10k=data['got10k'],
                 custom=data['custom'], **kwargs)


def _tfds(data, **kwargs):
  return _config(data, f'got10k_val:1,custom@tfds:{data["tfds"]}/custom:1',
                 got10k=f'tfds:{data["tfds"]}/got10k', **kwargs)


def _take(config, n, seed=0, state=None):
  it = train_iterator.build_train_iterator(config, seed=seed, global_batch_size=4,
                                           build_processor=sot_processing.build_processor)
  if state is not None:
    it.set_state(state)
  batches = [next(it) for _ in range(n)]
  after = it.get_state()
  it.close()
  return batches, after


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert sorted(x) == sorted(y)
    for k in x:
      np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_mix_syntax_resolves_to_tfds_entries(data):
  c = _tfds(data)
  got10k, custom = c.train_datasets
  assert got10k['name'] == custom['name'] == 'tfds'
  assert got10k == {'name': 'tfds', 'root': f'{data["tfds"]}/got10k', 'ratio': 1.0,
                    'options': {'split': 'val'}, 'label': 'got10k_val'}  # reads got10k/val
  vottrain = _config(data, 'got10k_vottrain:1', got10k=f'tfds:{data["tfds"]}/got10k')
  assert vottrain.train_datasets[0]['options']['split'] == 'train'
  assert vottrain.train_datasets[0]['options']['split_file'].endswith('got10k_vot_train_split.txt')
  assert custom == {'name': 'tfds', 'root': f'{data["tfds"]}/custom', 'ratio': 1.0,
                    'options': {}, 'label': 'custom'}
  direct = _config(data, f'tfds@{data["tfds"]}/custom:2').train_datasets
  assert direct[0]['name'] == 'tfds' and direct[0]['ratio'] == 2.0
  from_root = _config(data, 'tfds:1', tfds=f'{data["tfds"]}/custom').train_datasets
  assert from_root[0]['root'] == f'{data["tfds"]}/custom'
  with pytest.raises(ValueError, match='trackingnet_chunks chooses TrackingNet folders'):
    c = data_config.default_data_config()
    c.mix, c.roots.trackingnet, c.trackingnet_chunks = 'trackingnet:1', f'tfds:{data["tfds"]}', '0'
    data_config.resolve_datasets(c, 'train')
  with pytest.raises(ValueError, match=r'config.data.roots.got10k: /nowhere is not a directory '
                                       r'\(expected a TFDS dataset'):
    _config(data, 'got10k_vottrain:1', got10k='tfds:/nowhere')


@pytest.mark.parametrize('backend', ['grain', 'tfdata'])
def test_same_seed_gives_the_folder_samples(data, backend):
  folders, _ = _take(_folders(data, backend=backend), 3, seed=7)
  shards, _ = _take(_tfds(data, backend=backend), 3, seed=7)
  _assert_same(folders, shards)
  assert sum(int(b['skipped'][:, 1].sum()) for b in shards) > 0  # truncated custom frames


@pytest.mark.parametrize('backend, workers', [('grain', 0), ('grain', 2), ('tfdata', 2)])
def test_restored_iterator_continues_identically(data, backend, workers):
  config = _tfds(data, backend=backend, workers=workers)
  _, state = _take(config, 2, seed=1)
  expected, _ = _take(config, 4, seed=1)
  resumed, _ = _take(config, 2, seed=1, state=state)
  _assert_same(resumed, expected[2:])
