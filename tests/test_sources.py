"""Every reader on fixtures written to tmp_path, malformed inputs included."""

import os
import time

import numpy as np
import pytest

from data_pipelines.sources import annotation_files, frame_files
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


def test_got10k_image_size_from_meta_info_or_first_frame(tmp_path):
  fx.write_got10k(str(tmp_path), 'val', names=('a', 'b'), num_frames=4, height=48, width=64)
  meta = tmp_path / 'val' / 'a' / 'meta_info.ini'
  meta.write_text('[METAINFO]\nurl: x\nresolution: (100, 80)\nobject_class: cat\n')
  src = Got10kSource(str(tmp_path), 'val')
  assert src.sequence(0).image_size == (80, 100)  # (H, W) from 'resolution: (W, H)'.
  assert src.sequence(1).image_size == (48, 64)  # No meta_info.ini: the first frame's header.
  meta.write_text('[METAINFO]\nresolution: (100,)\n')
  with pytest.raises(DatasetError, match=f'{meta}:2: resolution must be'):
    Got10kSource(str(tmp_path), 'val')


def test_got10k_cut_by_image_is_a_frame_attribute(tmp_path):
  fx.write_got10k(str(tmp_path), 'val', names=('a',), num_frames=4)
  fx.write_lines(str(tmp_path / 'val' / 'a' / 'cut_by_image.label'), [[0], [1], [1], [0]])
  seq = Got10kSource(str(tmp_path), 'val').sequence(0)
  assert list(seq.attributes['cut_by_image']) == [False, True, True, False]


def test_got10k_index_cache_keeps_image_size(tmp_path):
  fx.write_got10k(str(tmp_path / 'd'), 'val', names=('a',), num_frames=4)
  seq_dir = tmp_path / 'd' / 'val' / 'a'
  (seq_dir / 'meta_info.ini').write_text('[METAINFO]\nresolution: (100, 80)\n')
  cache = str(tmp_path / 'cache')
  first = Got10kSource(str(tmp_path / 'd'), 'val', cache_dir=cache)
  assert first.sequence(0).image_size == (80, 100)
  (seq_dir / 'meta_info.ini').unlink()  # The pickled index holds the size: nothing is re-read.
  cached = Got10kSource(str(tmp_path / 'd'), 'val', cache_dir=cache).sequence(0)
  assert cached.image_size == (80, 100)
  assert Got10kSource(str(tmp_path / 'd'), 'val').sequence(0).image_size == (48, 64)


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
    assert src.sequence(0).image_size == (48, 64)  # the first frame's header: scores clip to it
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


def test_truncated_frames_raise_naming_file_without_decoder_chatter(tmp_path, capfd):
  import cv2
  fx.write_got10k(str(tmp_path), names=('s',), num_frames=20, height=96, width=128)
  src = Got10kSource(str(tmp_path))
  paths = src.sequence(0).frame_paths
  complete = src.read_frame(0, 1)
  fx.truncate_file(paths[0], 0.6)
  with pytest.raises(frame_files.FrameError, match=f'{paths[0]}: truncated JPEG') as error:
    src.read_frame(0, 0)
  assert error.value.reason == 'truncated' and isinstance(error.value, DatasetError)
  with open(paths[1], 'ab') as f:  # padding after the end-of-image marker is fine
    f.write(b'\0' * 64)
  np.testing.assert_array_equal(src.read_frame(0, 1), complete)
  # A thumbnail (an APPn segment holding a JPEG) puts an end marker before the main image data.
  with open(paths[2], 'rb') as f:
    data = f.read()
  thumb = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))[1].tobytes()
  with open(paths[2], 'wb') as f:
    f.write(data[:2] + b'\xff\xef' + (len(thumb) + 2).to_bytes(2, 'big') + thumb + data[2:])
  expected = src.read_frame(0, 2)
  np.testing.assert_array_equal(expected, cv2.imread(paths[2])[..., ::-1])
  fx.truncate_file(paths[2], 0.8)
  with pytest.raises(frame_files.FrameError, match='truncated JPEG'):
    src.read_frame(0, 2)
  png = str(tmp_path / 'frame.png')
  cv2.imwrite(png, cv2.imread(paths[3]))
  fx.truncate_file(png, 0.7)
  with pytest.raises(frame_files.FrameError, match=f'{png}: truncated PNG'):
    frame_files.read_image(png)
  err = capfd.readouterr().err
  assert 'Premature end' not in err and 'libpng' not in err, err


def test_windows_text_files_with_byte_order_mark_and_crlf(tmp_path):
  fx.write_custom(str(tmp_path / 'c'), num_seqs=1, num_frames=6)
  seq_dir = tmp_path / 'c' / 'seq0'
  fx.write_windows_lines(str(seq_dir / 'groundtruth.txt'), fx.boxes_for(6, seed=0))
  fx.write_windows_lines(str(seq_dir / 'absence.label'), [[0]] * 5 + [[1]])
  seq = CustomFolderSource(str(tmp_path / 'c')).sequence(0)
  np.testing.assert_allclose(seq.boxes, fx.boxes_for(6, seed=0))
  assert list(seq.visible) == [True] * 5 + [False]
  assert annotation_files.annotation_file(seq) == str(seq_dir / 'groundtruth.txt')
  names = str(tmp_path / 'names.txt')
  fx.write_windows_lines(names, [['a'], ['b']])
  assert annotation_files.read_name_list(names) == ['a', 'b']
  with open(names, 'wb') as f:  # Notepad's "Unicode": UTF-16 with its byte-order mark
    f.write('a\r\nb\r\n'.encode('utf-16'))
  assert annotation_files.read_name_list(names) == ['a', 'b']
  with open(names, 'wb') as f:
    f.write(b'a\nb\xff\n')
  with pytest.raises(DatasetError, match=f'{names}: not a text file .*UTF-8 at byte 3'):
    annotation_files.read_name_list(names)


def test_no_sequences_errors_name_the_folder_and_the_layout(tmp_path):
  empty = tmp_path / 'empty'
  (empty / '.hidden').mkdir(parents=True)  # hidden folders are not sequences
  with pytest.raises(DatasetError, match=f'{empty}: no custom sequences found .*images.*'
                                         'groundtruth.txt'):
    make_source('custom', str(empty))
  fx.write_custom(str(tmp_path / 'one'), num_seqs=1, num_frames=3)
  fx.write_jpeg(str(tmp_path / 'one' / 'seq0' / 'img' / '1.jpg'))  # frames in img/: no sequence
  with pytest.raises(DatasetError, match=f'{tmp_path / "one" / "seq0"}: no custom sequences .*'
                                         'itself holds groundtruth.txt: give its parent'):
    CustomFolderSource(str(tmp_path / 'one' / 'seq0'))
  (tmp_path / 'bare').mkdir()
  for name in ('got10k', 'lasot', 'otb'):
    with pytest.raises(DatasetError,
                       match=f'{tmp_path / "bare"}: no {name}.* sequences found \\(.+\\)'):
      make_source(name, str(tmp_path / 'bare'))
  (tmp_path / 'tn' / 'TRAIN_0' / 'anno').mkdir(parents=True)
  with pytest.raises(DatasetError, match=f'{tmp_path / "tn"}: no trackingnet sequences .*anno'):
    make_source('trackingnet', str(tmp_path / 'tn'), chunks=[0])


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
  assert list(np.nonzero(seq.attributes['full_occlusion'])[0]) == [3]
  assert list(np.nonzero(seq.attributes['out_of_view'])[0]) == [5]
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


def test_coco_box_outside_its_image_is_invisible(tmp_path):
  import json
  fx.write_coco(str(tmp_path))
  path = str(tmp_path / 'annotations' / 'instances_val2017.json')
  with open(path) as f:
    data = json.load(f)
  data['annotations'] += [{'id': 13, 'image_id': 2, 'bbox': [50, 4, 8, 9], 'category_id': 5},
                          {'id': 14, 'image_id': 2, 'bbox': [-9, 4, 8, 9], 'category_id': 5}]
  with open(path, 'w', encoding='utf-8-sig') as f:  # a byte-order mark is fine
    json.dump(data, f)
  src = CocoSource(str(tmp_path), 'val2017')
  visible = [bool(src.sequence(i).visible[0]) for i in range(len(src))]
  assert visible == [True, True, False, False]  # image 2 is 50 wide
  np.testing.assert_array_equal(src.visible_objects(), visible)
  assert annotation_files.annotation_file(src.sequence(2)) == path


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
            '1 12 12 32 40 3 1 0 0 "ball"\n')
  # Lines in order, one per frame; the 4th frame has no line and is cut (got10k toolkit's NfS).
  seq = OtbStyleSource(str(nfs), 'nfs').sequence(0)
  assert len(seq) == 3 and len(seq.frame_paths) == 3
  np.testing.assert_allclose(seq.boxes, [[10, 12, 20, 28], [11, 12, 20, 28], [12, 12, 20, 28]])
  assert seq.visible.all()  # Occluded / lost frames are scored like every other frame ...
  assert list(seq.attributes['occluded']) == [False, True, False]  # ... and kept as conditions.
  assert list(seq.attributes['lost']) == [False, False, True]


def test_nfs_240fps_annotations_in_the_30fps_folder_take_every_8th_line(tmp_path):
  nfs = tmp_path / 'nfs'
  for i in range(3):
    fx.write_jpeg(str(nfs / 'car' / '30' / 'car' / f'{i + 1:05d}.jpg'), seed=i)
  with open(nfs / 'car' / '30' / 'car.txt', 'w') as f:
    f.writelines(f'1 {i} 5 {i + 10} 15 {i + 1} 0 0 0 "car"\n' for i in range(24))
  seq = OtbStyleSource(str(nfs), 'nfs').sequence(0)
  np.testing.assert_allclose(seq.boxes[:, 0], [0, 8, 16])
  with open(nfs / 'car' / '30' / 'car.txt', 'w') as f:
    f.writelines(f'1 {i} 5 {i + 10} 15 {i + 1} 0 0 0 "car"\n' for i in range(5))
  with pytest.raises(DatasetError, match='5 annotation lines for 3 frames'):
    OtbStyleSource(str(nfs), 'nfs')


def test_otb_and_uav123_official_frame_ranges(tmp_path):
  otb = tmp_path / 'otb'
  for i in range(310):  # David: the toolkits score frames 300..770 of its folder.
    fx.write_jpeg(str(otb / 'David' / 'img' / f'{i + 1:04d}.jpg'), 8, 8, seed=i)
  fx.write_lines(str(otb / 'David' / 'groundtruth_rect.txt'), fx.boxes_for(11))
  for i in range(8):  # Tiger1 is annotated from frame 1 but scored from frame 6 (pytracking).
    fx.write_jpeg(str(otb / 'Tiger1' / 'img' / f'{i + 1:04d}.jpg'), 8, 8, seed=i)
  fx.write_lines(str(otb / 'Tiger1' / 'groundtruth_rect.txt'), fx.boxes_for(8))
  import data_pipelines.sources.otb_style as otb_style
  ranges = {'David': ('David', 300, 310), 'Tiger1': ('Tiger1', 6, 8)}
  src = OtbStyleSource(str(otb), frame_ranges=ranges)
  david, tiger = src.sequence(0), src.sequence(1)
  assert len(david) == 11 and david.frame_paths[0].endswith('0300.jpg')
  assert len(tiger) == 3 and tiger.frame_paths[0].endswith('0006.jpg')
  np.testing.assert_allclose(tiger.boxes, fx.boxes_for(8)[5:])
  assert otb_style.official_frame_ranges('otb')['David'] == ('David', 300, 770)
  with pytest.raises(DatasetError, match='310 images and 11 boxes for David: neither'):
    OtbStyleSource(str(otb))  # The built-in ranges apply by default.
  fx.write_lines(str(otb / 'David' / 'groundtruth_rect.txt'), fx.boxes_for(310))
  assert len(OtbStyleSource(str(otb)).sequence(0)) == 310  # A folder cut to its annotations.
  uav = otb_style.official_frame_ranges('uav123')
  assert len(uav) == 51 and uav['bird1_2'] == ('bird1', 775, 1477)
  assert uav['uav1_3'] == ('uav1', 2473, 3469)


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
