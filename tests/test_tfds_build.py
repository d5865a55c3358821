"""TFDS builds (data_pipelines.tfds_build) and reading them back (sources.tfds_source)."""

import json
import os

import numpy as np
import pytest

from data_pipelines import tfds_build
from data_pipelines.sources import tfds_source
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.factory import make_source
from data_pipelines.sources.frame_files import FrameError
from data_pipelines.synthetic import SyntheticSource
from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from tests import dataset_fixtures as fx

SYNTHETIC = {'num_sequences': 3, 'num_frames': 24, 'image_size': (64, 80), 'seed': 5}


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
  """The synthetic data in GOT-10k layout and a small custom folder with one truncated frame."""
  root = tmp_path_factory.mktemp('folders')
  got10k = str(root / 'got10k' / 'train')
  write_got10k_layout(SyntheticSource(**SYNTHETIC), got10k, progress=False)
  custom = fx.write_custom(str(root / 'custom'), num_seqs=2, num_frames=21)
  fx.truncate_file(os.path.join(custom, 'seq1', '5.jpg'))
  return {'got10k': str(root / 'got10k'), 'custom': custom}


def _build(dataset, root, out, **kwargs):
  kwargs.setdefault('progress', False)
  return tfds_build.build(dataset, root, str(out), **kwargs)


def assert_same_sequences(folder, built):
  assert len(folder) == len(built) and folder.is_video == built.is_video
  for i in range(len(folder)):
    a, b = folder.sequence(i), built.sequence(i)
    assert (a.name, a.class_name, a.image_size) == (b.name, b.class_name, b.image_size)
    np.testing.assert_array_equal(a.boxes, b.boxes)  # float64, bit for bit (NaN where NaN)
    np.testing.assert_array_equal(a.visible, b.visible)
    assert (a.cover is None) == (b.cover is None)
    if a.cover is not None:
      np.testing.assert_array_equal(a.cover, b.cover)
    assert sorted(a.attributes) == sorted(b.attributes)
    for key, value in a.attributes.items():
      np.testing.assert_array_equal(value, b.attributes[key], err_msg=key)


def assert_same_frames(folder, built):
  for i in range(len(folder)):
    seq = folder.sequence(i)
    for f in range(len(seq)):
      try:
        expected = folder.read_frame(i, f)
      except FrameError as e:
        with pytest.raises(FrameError) as got:
          built.read_frame(i, f)
        assert got.value.reason == e.reason
        continue
      np.testing.assert_array_equal(built.read_frame(i, f), expected)
      if len(seq.frame_paths):  # the stored bytes are the file's
        with open(seq.frame_paths[f], 'rb') as file:
          assert built.frame_bytes(i, f) == file.read()


def test_got10k_layout_round_trip_in_parallel(folders, tmp_path):
  summary = _build('got10k', folders['got10k'], tmp_path / 'ds', workers=2, frames_per_shard=20)
  assert summary['num_shards'] == 3 and summary['examples'] == 72 and summary['skipped'] == 0
  folder = make_source('got10k', folders['got10k'], split='train')
  built = tfds_source.TfdsSource(str(tmp_path / 'ds'))
  assert built.meta['source_kind'] == 'got10k' and built.split == 'train'
  assert_same_sequences(folder, built)
  assert_same_frames(folder, built)
  # A plain TFDS dataset: builder_from_directory and the Grain random-access data source.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder_from_directory(str(tmp_path / 'ds'))
  assert builder.info.splits['train'].num_examples == 72
  source = builder.as_data_source('train')
  example = source[30]  # decoded by TFDS; sequence 2, frame 7
  assert example['objects']['sequence'][0].decode() == folder.sequence(1).name
  assert int(example['objects']['frame_index'][0]) == 6
  np.testing.assert_array_equal(example['objects']['box'][0], folder.sequence(1).boxes[6])
  assert example['image'].shape == (64, 80, 3)
  assert list(example['image_size']) == [64, 80]


def test_rendered_frames_are_stored_losslessly(tmp_path):
  summary = _build('synthetic', None, tmp_path / 'ds', split='val',
                   options=dict(SYNTHETIC, num_sequences=2), frames_per_shard=1000)
  assert summary['num_shards'] == 1 and summary['split'] == 'val'
  folder = SyntheticSource(**dict(SYNTHETIC, num_sequences=2), split='val')
  built = tfds_source.TfdsSource(str(tmp_path / 'ds'), 'val')
  assert_same_sequences(folder, built)
  assert_same_frames(folder, built)


def test_custom_folder_bad_frame_is_summarised_and_read_as_the_folder_reads_it(folders,
                                                                             tmp_path):
  summary = _build('custom', folders['custom'], tmp_path / 'ds', frames_per_shard=10)
  assert summary['skipped'] == 1 and summary['skipped_by_reason'] == {'truncated': 1}
  assert 'seq1/5.jpg (truncated' in summary['skipped_files'][0]
  text = tfds_build.summary_text(summary)
  assert 'skipped 1 bad files (truncated 1)' in text and 'seq1/5.jpg' in text
  folder = make_source('custom', folders['custom'])
  built = make_source('tfds', str(tmp_path / 'ds'))  # through the factory
  assert_same_sequences(folder, built)
  assert_same_frames(folder, built)  # the truncated frame: FrameError 'truncated' from both
  with pytest.raises(FrameError, match=r'trackjax_custom-train\.array_record-00001-of-00002\[4\]'):
    built.read_frame(1, 4)


def test_tfrecord_build_reads_through_as_dataset_and_random_access(folders, tmp_path):
  _build('got10k', folders['got10k'], tmp_path / 'ds', file_format='tfrecord',
         frames_per_shard=30)
  folder = make_source('got10k', folders['got10k'], split='train')
  built = tfds_source.TfdsSource(str(tmp_path / 'ds'))
  assert_same_frames(folder, built)  # random access at the recorded offsets
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder_from_directory(str(tmp_path / 'ds'))
  ds = builder.as_dataset('train', shuffle_files=False,
                          decoders={'image': tfds.decode.SkipDecoding()})
  count = 0
  for example in tfds.as_numpy(ds):  # tf.data, in build order
    name = example['objects']['sequence'][0].decode()
    frame = int(example['objects']['frame_index'][0])
    seq = folder.sequence(folder.names().index(name))
    with open(seq.frame_paths[frame], 'rb') as f:
      assert example['image'] == f.read()
    np.testing.assert_array_equal(example['objects']['box'][0], seq.boxes[frame])
    assert bool(example['objects']['visible'][0]) == bool(seq.visible[frame])
    assert int(example['objects']['cover'][0]) == int(seq.cover[frame])
    count += 1
  assert count == 72


def test_killed_build_resumes_and_equals_an_uninterrupted_one(folders, tmp_path):
  whole = tmp_path / 'whole'
  _build('got10k', folders['got10k'], whole, frames_per_shard=20)
  out = tmp_path / 'resumed'
  with pytest.raises(KeyboardInterrupt, match='injected failure in shard 2'):
    _build('got10k', folders['got10k'], out, frames_per_shard=20, fail_in_shard=(2, 5))
  assert sorted(os.listdir(out / tfds_build.PROGRESS_DIR)) == ['00000.json', '00001.json']
  with pytest.raises(DatasetError, match='unfinished TFDS build'):
    tfds_source.TfdsSource(str(out))
  with pytest.raises(KeyboardInterrupt):  # stopped again, between shards this time
    _build('got10k', folders['got10k'], out, frames_per_shard=20,
           after_shard=lambda done: (_ for _ in ()).throw(KeyboardInterrupt()))
  summary = _build('got10k', folders['got10k'], out, frames_per_shard=20)
  assert summary['shards_resumed'] == 3 and summary['num_shards'] == 3
  for name in sorted(os.listdir(whole)):
    if name.endswith(('.json', '.npz')) and name != 'dataset_info.json':
      continue
    if name == 'dataset_info.json':
      assert (json.loads((whole / name).read_text())['splits'] ==
              json.loads((out / name).read_text())['splits'])
    else:
      assert (whole / name).read_bytes() == (out / name).read_bytes(), name
  a, b = tfds_source.read_index(str(whole)), tfds_source.read_index(str(out))
  assert sorted(a[1]) == sorted(b[1])
  for key in a[1]:
    np.testing.assert_array_equal(a[1][key], b[1][key])
  with pytest.raises(DatasetError, match='holds another build'):  # not mixed with another
    _build('custom', folders['custom'], out)


def test_corrupt_or_truncated_shard_is_named(folders, tmp_path):
  _build('got10k', folders['got10k'], tmp_path / 'ds', frames_per_shard=40)
  shard = tmp_path / 'ds' / 'trackjax_got10k-train.array_record-00000-of-00002'
  data = bytearray(shard.read_bytes())
  for i in range(len(data) // 4, len(data) // 2):
    data[i] ^= 0x5A
  shard.write_bytes(bytes(data))  # same size, scrambled inside
  built = tfds_source.TfdsSource(str(tmp_path / 'ds'))
  with pytest.raises(tfds_source.CorruptShard, match=f'{shard}: corrupt shard, record 24'):
    for f in range(24):
      built.read_frame(1, f)
  shard.write_bytes(bytes(data[:len(data) // 2]))  # truncated: refused when opened
  with pytest.raises(tfds_source.CorruptShard, match=f'{shard}: corrupt shard'):
    tfds_source.TfdsSource(str(tmp_path / 'ds'))
  shard.unlink()
  with pytest.raises(tfds_source.CorruptShard, match=f'{shard}: missing shard'):
    tfds_source.TfdsSource(str(tmp_path / 'ds'))


def test_command_line(folders, tmp_path, capsys):
  out = tmp_path / 'ds'
  assert tfds_build.main(['--dataset', 'custom', '--root', folders['custom'], '--out', str(out),
                          '--workers', '1', '--frames-per-shard', '100']) == 0
  printed = capsys.readouterr().out
  assert 'trackjax_custom/train: 2 sequences, 42 frames in 42 examples, 1 array_record' in printed
  assert 'skipped 1 bad files (truncated 1)' in printed
  assert len(tfds_source.TfdsSource(str(out))) == 2


def _coco_with_a_shared_image(root):
  fx.write_coco(root, split='train2017')
  path = os.path.join(root, 'annotations', 'instances_train2017.json')
  with open(path) as f:
    doc = json.load(f)
  doc['annotations'].append({'id': 13, 'image_id': 1, 'bbox': [20, 10, 15, 25], 'category_id': 5,
                             'iscrowd': 0})
  with open(path, 'w') as f:
    json.dump(doc, f)
  return root


@pytest.mark.parametrize('dataset, write, split, examples', [
    ('lasot', lambda root: fx.write_lasot(root), 'all', 44),
    ('trackingnet', lambda root: fx.write_trackingnet(root), 'train', 24),
    ('coco', _coco_with_a_shared_image, 'train2017', 2),  # 3 objects, 2 images stored once each
])
def test_every_reader_round_trips(dataset, write, split, examples, tmp_path):
  root = str(tmp_path / dataset)
  write(root)
  options = {'chunks': [0]} if dataset == 'trackingnet' else {}  # reader options pass through
  summary = _build(dataset, root, tmp_path / 'ds', split=split, options=options)
  assert summary['examples'] == examples
  folder = make_source(dataset, root, **(options or {'split': split}))
  built = tfds_source.TfdsSource(str(tmp_path / 'ds'), split)
  assert_same_sequences(folder, built)
  assert_same_frames(folder, built)
  if dataset == 'coco':
    np.testing.assert_array_equal(built.visible_objects(), folder.visible_objects())
    assert summary['frames'] == 3 and len({built.example_of(i, 0) for i in range(3)}) == 2
