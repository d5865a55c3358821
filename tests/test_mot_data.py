"""MOTChallenge readers on hand-written folders, malformed files included; the synthetic MOT
set."""

import hashlib
import logging
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import FrameError
from data_pipelines.sources.mot_challenge import (MotBoxes, load_frame, read_mot_file,
                                                  read_mot_sequences, training_boxes)
from data_pipelines.synthetic.mot import write_synthetic_mot

SEQINFO = ('[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={n}\nimWidth=64\n'
           'imHeight=48\nimExt=.jpg\n')
GT = ('1,1,10,12,20,30,1,1,1.0\n'
      '1,2,30,5,10,20,0,7,0.5\n'      # static person, not considered
      '2,1,11,12,20,30,1,1,0.25\n'
      '3,2,31,6,10,20,1,1,0.9\n')
DET = ('1,-1,10.5,12,20,30,0.9,-1,-1,-1\n'
       '2,-1,11,12,20,30,0.4,-1,-1,-1\n'
       '3,-1,31,6,10,20,0.8\n')


def write_sequence(root: pathlib.Path, name: str, *, n=3, gt=GT, det=DET, frames=None):
  seq = root / 'train' / name
  (seq / 'img1').mkdir(parents=True)
  (seq / 'seqinfo.ini').write_text(SEQINFO.format(name=name, n=n))
  for k in (range(1, n + 1) if frames is None else frames):
    cv2.imwrite(str(seq / 'img1' / f'{k:06d}.jpg'), np.full((48, 64, 3), 40 * k, np.uint8))
  if gt is not None:
    (seq / 'gt').mkdir()
    (seq / 'gt' / 'gt.txt').write_text(gt)
  if det is not None:
    (seq / 'det').mkdir()
    (seq / 'det' / 'det.txt').write_text(det)
  return seq


def test_reads_seqinfo_frames_gt_and_detections(tmp_path):
  write_sequence(tmp_path, 'MOT17-02-FRCNN')
  write_sequence(tmp_path, 'MOT17-04-FRCNN', gt=None)
  seqs = read_mot_sequences(str(tmp_path), 'train', dataset='mot17')
  assert [s.name for s in seqs] == ['MOT17-02-FRCNN', 'MOT17-04-FRCNN']
  seq = seqs[0]
  assert len(seq) == 3 and seq.image_size == (64, 48) and seq.frame_rate == 25.0
  assert seq.frame_paths[2].endswith('MOT17-02-FRCNN/img1/000003.jpg') and not seq.missing_frames
  np.testing.assert_array_equal(seq.gt.frames, [1, 1, 2, 3])
  np.testing.assert_array_equal(seq.gt.ids, [1, 2, 1, 2])
  np.testing.assert_array_equal(seq.gt.classes, [1, 7, 1, 1])
  np.testing.assert_allclose(seq.gt.scores, [1, 0, 1, 1])
  np.testing.assert_allclose(seq.gt.visibility, [1, 0.5, 0.25, 0.9])
  np.testing.assert_allclose(seq.detections.boxes_xywh[0], [10.5, 12, 20, 30])
  np.testing.assert_array_equal(seq.detections.ids, [-1, -1, -1])
  np.testing.assert_allclose(seq.detections.scores, [0.9, 0.4, 0.8])
  frame2 = seq.detections.at_frame(2)
  assert len(frame2) == 1 and frame2.scores[0] == pytest.approx(0.4)
  assert len(seq.gt.at_frame(5)) == 0
  assert seqs[1].gt is None and len(seqs[1].detections) == 3
  image = load_frame(seq.frame_paths[1])
  assert image.shape == (48, 64, 3) and image.dtype == np.uint8
  assert abs(int(image[0, 0, 0]) - 80) < 3
  only = read_mot_sequences(str(tmp_path), dataset='mot17', sequences=['MOT17-04-FRCNN'])
  assert [s.name for s in only] == ['MOT17-04-FRCNN']


def test_training_boxes_follow_the_motchallenge_rules(tmp_path):
  write_sequence(tmp_path, 'a')
  gt = read_mot_sequences(str(tmp_path), dataset='mot20')[0].gt
  np.testing.assert_array_equal(training_boxes(gt).frames, [1, 2, 3])  # the class-7 row goes
  np.testing.assert_array_equal(training_boxes(gt, min_visibility=0.3).frames, [1, 3])


def test_detections_folder_overrides_det_txt(tmp_path):
  write_sequence(tmp_path, 'dance0001')
  folder = tmp_path / 'yolox'
  folder.mkdir()
  (folder / 'dance0001.txt').write_text('2,-1,1,2,3,4,0.7,-1,-1,-1\n')
  seq = read_mot_sequences(str(tmp_path), dataset='dancetrack', detections=str(folder))[0]
  np.testing.assert_array_equal(seq.detections.frames, [2])
  with pytest.raises(DatasetError, match='missing detections file'):
    read_mot_sequences(str(tmp_path), dataset='dancetrack', detections=str(tmp_path))


def test_malformed_rows_are_counted_skipped_and_named(tmp_path, caplog):
  bad_gt = (GT + '2,3,1,1,5\n' + '2,x,1,1,5,5,1,1,1\n' + '9,1,1,1,5,5,1,1,1\n'
            + '2,4,1,1,0,5,1,1,1\n')
  seq_dir = write_sequence(tmp_path, 'a', gt=bad_gt)
  gt_path = seq_dir / 'gt' / 'gt.txt'
  with caplog.at_level(logging.WARNING):
    seq = read_mot_sequences(str(tmp_path), dataset='mot17')[0]
  assert len(seq.gt) == 4
  message = '\n'.join(r.getMessage() for r in caplog.records)
  assert f'{gt_path}: skipped 4 malformed rows of 8' in message
  assert f'{gt_path}:5: expected at least 9' in message and f'{gt_path}:6: not a number' in message
  assert f'{gt_path}:7: frame 9 outside 1..3' in message
  with pytest.raises(DatasetError, match=rf'{gt_path}:5: expected at least 9'):
    read_mot_file(str(gt_path), is_gt=True, num_frames=3, strict=True)


def test_missing_frames_are_listed_and_raise_on_load(tmp_path, caplog):
  write_sequence(tmp_path, 'a', frames=[1, 3])
  with caplog.at_level(logging.WARNING):
    seq = read_mot_sequences(str(tmp_path))[0]
  assert seq.missing_frames == (2,) and '1 of 3 frame images missing' in caplog.text
  with pytest.raises(FrameError, match='000002.jpg: missing image'):
    load_frame(seq.frame_paths[1])


def test_bad_seqinfo_names_file_and_line(tmp_path):
  seq = write_sequence(tmp_path, 'a')
  (seq / 'seqinfo.ini').write_text(SEQINFO.format(name='a', n='zero'))
  with pytest.raises(DatasetError, match=r'seqinfo.ini:5: seqLength must be a positive integer'):
    read_mot_sequences(str(tmp_path))
  (seq / 'seqinfo.ini').write_text('[Sequence]\nname=a\n')
  with pytest.raises(DatasetError, match="seqinfo.ini: missing key 'seqLength'"):
    read_mot_sequences(str(tmp_path))
  with pytest.raises(DatasetError, match='unknown split'):
    read_mot_sequences(str(tmp_path), 'val', dataset='mot17')
  with pytest.raises(DatasetError, match='no sequence b'):
    read_mot_sequences(str(tmp_path), sequences=['b'])


def _digest(folder: pathlib.Path) -> str:
  sha = hashlib.sha256()
  for path in sorted(folder.rglob('*')):
    if path.is_file():
      sha.update(str(path.relative_to(folder)).encode() + path.read_bytes())
  return sha.hexdigest()


def test_synthetic_mot_is_deterministic_in_layout_and_realistic(tmp_path):
  kwargs = dict(train_sequences=2, test_sequences=1, frames=30, image_size=(160, 120), seed=3)
  first = write_synthetic_mot(tmp_path / 'a', **kwargs)
  second = write_synthetic_mot(tmp_path / 'b', **kwargs)
  assert _digest(first) == _digest(second)
  assert _digest(first) != _digest(write_synthetic_mot(tmp_path / 'c', **{**kwargs, 'seed': 4}))
  train = read_mot_sequences(str(first), 'train', dataset='synthetic_mot')
  test = read_mot_sequences(str(first), 'test', dataset='synthetic_mot')
  assert len(train) == 2 and len(test) == 1 and test[0].gt is not None
  assert {s.name for s in train}.isdisjoint(s.name for s in test)
  for seq in train + test:
    assert len(seq) == 30 and seq.image_size == (160, 120) and not seq.missing_frames
    assert load_frame(seq.frame_paths[0]).shape == (120, 160, 3)
    ids = np.unique(seq.gt.ids)
    assert 3 <= len(ids) <= 6 and len(training_boxes(seq.gt)) == len(seq.gt)
    for frame in range(1, 31):  # one box per identity and frame
      rows = seq.gt.at_frame(frame)
      assert len(np.unique(rows.ids)) == len(rows)
    assert (seq.gt.visibility >= 0).all() and (seq.gt.visibility <= 1).all()
    dets = seq.detections
    assert (dets.scores > 0).all() and (dets.scores < 1).all() and len(dets) > 0.5 * len(seq.gt)
  visibility = np.concatenate([s.gt.visibility for s in train + test])
  assert visibility.min() < 0.6  # targets occlude each other
  assert (visibility > 0.95).mean() > 0.5


def test_synthetic_mot_command(tmp_path):
  out = tmp_path / 'set'
  proc = subprocess.run([sys.executable, '-m', 'data_pipelines.synthetic.mot', '--out', str(out),
                         '--train-sequences', '1', '--test-sequences', '1', '--frames', '5',
                         '--width', '96', '--height', '64', '--targets', '2-3'],
                        capture_output=True, text=True, timeout=120, check=True)
  assert 'wrote 1 train + 1 test sequences x 5 frames' in proc.stdout
  seq = read_mot_sequences(str(out), 'test', dataset='synthetic_mot')[0]
  assert len(seq) == 5 and seq.image_size == (96, 64) and 2 <= len(np.unique(seq.gt.ids)) <= 3


def test_empty_boxes():
  empty = MotBoxes.empty()
  assert len(empty) == 0 and empty.boxes_xywh.shape == (0, 4) and len(empty.at_frame(1)) == 0
