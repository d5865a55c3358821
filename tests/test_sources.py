"""Every reader on fixtures written to tmp_path, malformed inputs included."""

import os
import time

import numpy as np
import pytest

from data_pipelines.sources import annotation_files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.coco import CocoSource
from data_pipelines.sources.custom_folder import CustomFolderSource
from data_pipelines.sources.factory import make_source, make_sources
from data_pipelines.sources.got10k import Got10kSource
from data_pipelines.sources.lasot import LasotSource, lasot_test_sequences
from data_pipelines.sources.otb_style import OtbStyleSource
from data_pipelines.sources.trackingnet import TrackingNetSource
from tests import dataset_fixtures as fx


def test_got10k_train_reads_boxes_flags_and_frames(tmp_path):
  absent = [np.zeros(25, int), np.zeros(25, int)]
  absent[1][[2, 7]] = 1
  fx.write_got10k(str(tmp_path), absent=absent)
  src = Got10kSource(str(tmp_path), 'train')
  assert len(src) == 2 and src.is_video
  seq = src.sequence(1)
  assert seq.name == 'GOT-10k_Train_000002' and len(seq) == 25
  np.testing.assert_allclose(seq.boxes, fx.boxes_for(25, seed=1))
  assert not seq.visible[2] and not seq.visible[7] and seq.visible.sum() == 23
  assert seq.cover[2] == 0 and seq.cover[0] == 8
  frame = src.read_frame(1, 3)
  assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
  assert src.read_frame(1, 3, reduce=2).shape == (24, 32, 3)
  assert seq.frame_paths[0].endswith('GOT-10k_Train_000002/00000001.jpg')


def test_got10k_split_file_by_name_or_index(tmp_path):
  fx.write_got10k(str(tmp_path), names=('a', 'b', 'c'), num_frames=20)
  by_index = str(tmp_path / 'vot_split.txt')
  fx.write_lines(by_index, [[2], [0]])
  assert Got10kSource(str(tmp_path), split_file=by_index).names() == ['c', 'a']
  by_name = str(tmp_path / 'names.txt')
  fx.write_lines(by_name, [['b']])
  assert Got10kSource(str(tmp_path), split_file=by_name).names() == ['b']
  fx.write_lines(by_index, [[0], [3]])
  with pytest.raises(DatasetError, match='index 3 outside the 3 sequences'):
    Got10kSource(str(tmp_path), split_file=by_index)


def test_got10k_test_split_annotates_first_frame(tmp_path):
  fx.write_got10k(str(tmp_path), 'test', names=('GOT-10k_Test_000001',), num_frames=6)
  seq = Got10kSource(str(tmp_path), 'test').sequence(0)
  assert len(seq) == 6 and np.isfinite(seq.boxes[0]).all() and np.isnan(seq.boxes[1:]).all()


def test_got10k_bgr_to_rgb(tmp_path):
  import cv2
  fx.write_got10k(str(tmp_path), names=('s',), num_frames=20)
  path = os.path.join(tmp_path, 'train', 's', '00000001.jpg')
  bgr = cv2.imread(path)
  np.testing.assert_array_equal(Got10kSource(str(tmp_path)).read_frame(0, 0), bgr[..., ::-1])


def test_custom_folder_delimiters_and_absence(tmp_path):
  for sep, sub in ((',', 'a'), ('\t', 'b'), (' ', 'c')):
    fx.write_custom(str(tmp_path / sub), num_seqs=1, num_frames=12, sep=sep)
    src = CustomFolderSource(str(tmp_path / sub))
    np.testing.assert_allclose(src.sequence(0).boxes, fx.boxes_for(12, seed=0))
  fx.write_lines(str(tmp_path / 'a' / 'seq0' / 'absence.label'), [[0]] * 11 + [[1]])
  seq = CustomFolderSource(str(tmp_path / 'a')).sequence(0)
  assert list(np.nonzero(~seq.visible)[0]) == [11]
  # Natural order: frame 2 before frame 10.
  assert [os.path.basename(p) for p in seq.frame_paths[:3]] == ['1.jpg', '2.jpg', '3.jpg']
  assert os.path.basename(seq.frame_paths[9]) == '10.jpg'


def _write_gt(path, lines):
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')


@pytest.mark.parametrize('lines, line_no, what', [
    (['1,2,3,4', '', '1,2,3,4'], 2, 'empty line'),
    (['1,2,3,4', '1,2,3'], 2, 'expected 4 numbers'),
    (['1,2,3,4', '1,2,x,4'], 2, 'not a number'),
])
def test_malformed_groundtruth_names_file_and_line(tmp_path, lines, line_no, what):
  fx.write_custom(str(tmp_path), num_seqs=1, num_frames=len(lines))
  gt = str(tmp_path / 'seq0' / 'groundtruth.txt')
  _write_gt(gt, lines)
  with pytest.raises(DatasetError, match=f'{gt}:{line_no}: {what}'):
    CustomFolderSource(str(tmp_path))


def test_wrong_line_count_and_empty_file(tmp_path):
  fx.write_custom(str(tmp_path), num_seqs=1, num_frames=3)
  gt = str(tmp_path / 'seq0' / 'groundtruth.txt')
  _write_gt(gt, ['1,2,3,4'] * 2)
  with pytest.raises(DatasetError, match=f'{gt}: 2 lines for 3 frames'):
    CustomFolderSource(str(tmp_path))
  open(gt, 'w').close()
  with pytest.raises(DatasetError, match=f'{gt}: no boxes'):
    CustomFolderSource(str(tmp_path))


def test_invalid_boxes_invisible_for_training_and_raise_when_strict(tmp_path):
  fx.write_custom(str(tmp_path), num_seqs=1, num_frames=4)
  gt = str(tmp_path / 'seq0' / 'groundtruth.txt')
  _write_gt(gt, ['1,2,3,4', 'NaN,NaN,NaN,NaN', '1,2,0,4', '1,2,-3,4'])
  seq = CustomFolderSource(str(tmp_path)).sequence(0)
  assert list(seq.visible) == [True, False, False, False]
  with pytest.raises(DatasetError, match=f'{gt}:2: invalid box'):
    CustomFolderSource(str(tmp_path), strict=True)


def test_missing_and_corrupt_frames_raise_naming_file(tmp_path):
  fx.write_got10k(str(tmp_path), names=('s',), num_frames=20)
  src = Got10kSource(str(tmp_path))
  missing = src.sequence(0).frame_paths[4]
  os.remove(missing)
  with pytest.raises(DatasetError, match=f'{missing}: missing image'):
    src.read_frame(0, 4)
  corrupt = src.sequence(0).frame_paths[5]
  with open(corrupt, 'wb') as f:
    f.write(b'not a jpeg')
  with pytest.raises(DatasetError, match=f'{corrupt}: cannot decode'):
    src.read_frame(0, 5)


def test_malformed_label_file(tmp_path):
  fx.write_got10k(str(tmp_path), names=('s',), num_frames=20)
  path = str(tmp_path / 'train' / 's' / 'absence.label')
  _write_gt(path, ['0'] * 5 + ['?'] + ['0'] * 14)
  with pytest.raises(DatasetError, match=f'{path}:6: not a number'):
    Got10kSource(str(tmp_path))
  _write_gt(path, ['0'] * 19)
  with pytest.raises(DatasetError, match=f'{path}: 19 labels for 20 frames'):
    Got10kSource(str(tmp_path))


def test_lasot_flags_split_and_embedded_test_list(tmp_path):
  names = lasot_test_sequences()
  assert len(names) == 280 and len(set(names)) == 280
  assert len({n.rsplit('-', 1)[0] for n in names}) == 70
  fx.write_lasot(str(tmp_path))  # airplane-1 is a test sequence, airplane-2 is not
  train, test = LasotSource(str(tmp_path), 'train'), LasotSource(str(tmp_path), 'test')
  assert train.names() == ['airplane-2'] and test.names() == ['airplane-1']
  seq = train.sequence(0)
  assert seq.class_name == 'airplane'
  assert list(np.nonzero(~seq.visible)[0]) == [3, 5]
  assert train.read_frame(0, 0).shape == (48, 64, 3)


def test_trackingnet_train_and_test(tmp_path):
  fx.write_trackingnet(str(tmp_path), 'TRAIN_0', num_frames=12)
  fx.write_trackingnet(str(tmp_path), 'TEST', seqs=('t',), num_frames=11)
  train = TrackingNetSource(str(tmp_path), chunks=[0])
  assert train.names() == ['a1', 'b2']
  assert train.sequence(0).frame_paths[10].endswith(os.path.join('a1', '10.jpg'))
  assert train.read_frame(0, 11).shape == (48, 64, 3)
  test = TrackingNetSource(str(tmp_path), chunks=['TEST'])
  seq = test.sequence(0)
  assert len(seq) == 11 and np.isnan(seq.boxes[1:]).all()
  assert os.path.basename(seq.frame_paths[2]) == '2.jpg'  # natural, not lexicographic, order
  with pytest.raises(DatasetError, match='TRAIN_3'):
    TrackingNetSource(str(tmp_path), chunks=[3])


def test_coco_one_sequence_per_non_crowd_object(tmp_path):
  fx.write_coco(str(tmp_path))
  src = CocoSource(str(tmp_path), 'val2017')
  assert len(src) == 2 and not src.is_video
  seq = src.sequence(1)
  assert seq.class_name == 'dog' and seq.image_size == (40, 50)
  np.testing.assert_allclose(seq.boxes, [[3, 4, 8, 9]])
  assert src.read_frame(1, 0).shape == (40, 50, 3)


def test_coco_malformed_json(tmp_path):
  fx.write_coco(str(tmp_path))
  path = str(tmp_path / 'annotations' / 'instances_val2017.json')
  with open(path, 'w') as f:
    f.write('{"images": [\n}')
  with pytest.raises(DatasetError, match=f'{path}:2: invalid JSON'):
    CocoSource(str(tmp_path), 'val2017')


def test_otb_uav_nfs_layouts(tmp_path):
  otb = tmp_path / 'otb'
  for i in range(5):
    fx.write_jpeg(str(otb / 'Jogging' / 'img' / f'{i + 1:04d}.jpg'), seed=i)
  fx.write_lines(str(otb / 'Jogging' / 'groundtruth_rect.1.txt'), fx.boxes_for(5), '\t')
  fx.write_lines(str(otb / 'Jogging' / 'groundtruth_rect.2.txt'), fx.boxes_for(5, seed=1), ' ')
  src = OtbStyleSource(str(otb))
  assert src.names() == ['Jogging.1', 'Jogging.2']
  np.testing.assert_allclose(src.sequence(1).boxes, fx.boxes_for(5, seed=1))

  uav = tmp_path / 'uav'
  for i in range(6):
    fx.write_jpeg(str(uav / 'data_seq' / 'UAV123' / 'bike1' / f'{i + 1:06d}.jpg'), seed=i)
  rows = fx.boxes_for(6).tolist()
  rows[2] = ['NaN'] * 4
  fx.write_lines(str(uav / 'anno' / 'UAV123' / 'bike1.txt'), rows)
  fx.write_lines(str(uav / 'anno' / 'UAV123' / 'bike1_1.txt'), rows[1:4])
  src = OtbStyleSource(str(uav), 'uav123', strict=True,
                       frame_ranges={'bike1_1': ('bike1', 2, 4)})
  assert list(src.sequence(0).visible) == [True, True, False, True, True, True]
  assert len(src.sequence(1)) == 3 and src.sequence(1).frame_paths[0].endswith('000002.jpg')

  nfs = tmp_path / 'nfs'
  for i in range(4):
    fx.write_jpeg(str(nfs / 'ball' / '30' / 'ball' / f'{i + 1:05d}.jpg'), seed=i)
  with open(nfs / 'ball' / '30' / 'ball.txt', 'w') as f:
    f.write('1 10 12 30 40 1 0 0 0 "ball"\n1 11 12 31 40 2 0 1 0 "ball"\n'
            '1 12 12 32 40 4 0 0 0 "ball"\n')
  seq = OtbStyleSource(str(nfs), 'nfs').sequence(0)
  np.testing.assert_allclose(seq.boxes[0], [10, 12, 20, 28])
  assert list(seq.visible) == [True, False, False, True]


def test_index_cache_is_reused_and_invalidated(tmp_path):
  root = fx.write_got10k(str(tmp_path / 'd'), names=('a', 'b'), num_frames=20)
  cache = str(tmp_path / 'cache')
  first = Got10kSource(str(tmp_path / 'd'), cache_dir=cache)
  assert len(os.listdir(cache)) == 1
  # A cached parse does not read groundtruth files again.
  os.remove(os.path.join(root, 'a', 'groundtruth.txt'))
  again = Got10kSource(str(tmp_path / 'd'), cache_dir=cache)
  np.testing.assert_array_equal(again.sequence(0).boxes, first.sequence(0).boxes)
  # Editing list.txt changes the key: the index is rebuilt (and now fails on the removed file).
  time.sleep(0.01)
  fx.write_lines(os.path.join(root, 'list.txt'), [['a'], ['b'], ['a']])
  with pytest.raises(DatasetError, match='missing groundtruth'):
    Got10kSource(str(tmp_path / 'd'), cache_dir=cache)


def test_make_sources_from_config_entries(tmp_path):
  fx.write_custom(str(tmp_path / 'c'), num_seqs=1, num_frames=5)
  fx.write_got10k(str(tmp_path / 'g'), names=('s',), num_frames=20)
  sources, ratios = make_sources([
      {'name': 'custom', 'root': str(tmp_path / 'c'), 'ratio': 1},
      {'name': 'got10k', 'root': str(tmp_path / 'g'), 'ratio': 2, 'options': {'split': 'train'}},
  ])
  assert [len(s) for s in sources] == [1, 1] and ratios == [1.0, 2.0]
  with pytest.raises(ValueError, match='unknown source'):
    make_source('nope', 'x')
  with pytest.raises(ValueError, match="lacks field 'ratio'"):
    make_sources([{'name': 'custom', 'root': 'x'}])


def test_read_boxes_fast_enough_for_large_files(tmp_path):
  path = str(tmp_path / 'gt.txt')
  fx.write_lines(path, fx.boxes_for(3000))
  start = time.perf_counter()
  boxes = annotation_files.read_boxes(path)
  assert boxes.shape == (3000, 4)
  assert time.perf_counter() - start < 0.5
