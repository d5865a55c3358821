"""Tiny datasets written to a temporary directory, in each supported layout."""

import json
import os

import cv2
import numpy as np


def write_jpeg(path, height=48, width=64, seed=0):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
  image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
  assert cv2.imwrite(path, image)
  return image


def boxes_for(n, height=48, width=64, seed=0):
  rng = np.random.default_rng(seed)
  xy = rng.uniform(5, 20, size=(n, 2))
  wh = rng.uniform(8, 20, size=(n, 2))
  return np.concatenate([xy, wh], axis=1).round(2)


def write_lines(path, rows, sep=','):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    for r in rows:
      f.write(sep.join(str(v) for v in r) + '\n')


def write_got10k(root, split='train', names=('GOT-10k_Train_000001', 'GOT-10k_Train_000002'),
                 num_frames=25, height=48, width=64, absent=None):
  split_dir = os.path.join(root, split)
  for k, name in enumerate(names):
    seq_dir = os.path.join(split_dir, name)
    for i in range(num_frames):
      write_jpeg(os.path.join(seq_dir, f'{i + 1:08d}.jpg'), height, width, seed=k * 1000 + i)
    boxes = boxes_for(num_frames, height, width, seed=k)
    write_lines(os.path.join(seq_dir, 'groundtruth.txt'), boxes[:1] if split == 'test' else boxes)
    if split != 'test':
      flags = np.zeros(num_frames, int) if absent is None else np.asarray(absent[k])
      write_lines(os.path.join(seq_dir, 'absence.label'), flags[:, None])
      write_lines(os.path.join(seq_dir, 'cover.label'), np.where(flags, 0, 8)[:, None])
  write_lines(os.path.join(split_dir, 'list.txt'), [[n] for n in names])
  return split_dir


def write_custom(root, num_seqs=2, num_frames=25, height=48, width=64, sep=','):
  for k in range(num_seqs):
    seq_dir = os.path.join(root, f'seq{k}')
    for i in range(num_frames):
      write_jpeg(os.path.join(seq_dir, f'{i + 1}.jpg'), height, width, seed=k * 1000 + i)
    write_lines(os.path.join(seq_dir, 'groundtruth.txt'), boxes_for(num_frames, seed=k), sep)
  return root


def write_lasot(root, seqs=('airplane-1', 'airplane-2'), num_frames=22):
  for k, name in enumerate(seqs):
    seq_dir = os.path.join(root, name.rsplit('-', 1)[0], name)
    for i in range(num_frames):
      write_jpeg(os.path.join(seq_dir, 'img', f'{i + 1:08d}.jpg'), seed=i)
    write_lines(os.path.join(seq_dir, 'groundtruth.txt'), boxes_for(num_frames, seed=k))
    occ = np.zeros(num_frames, int)
    occ[3] = 1
    oov = np.zeros(num_frames, int)
    oov[5] = 1
    write_lines(os.path.join(seq_dir, 'full_occlusion.txt'), [occ])
    write_lines(os.path.join(seq_dir, 'out_of_view.txt'), [oov])
  return root


def write_trackingnet(root, chunk='TRAIN_0', seqs=('a1', 'b2'), num_frames=12):
  for k, name in enumerate(seqs):
    for i in range(num_frames):
      write_jpeg(os.path.join(root, chunk, 'frames', name, f'{i}.jpg'), seed=i)
    boxes = boxes_for(num_frames, seed=k)
    write_lines(os.path.join(root, chunk, 'anno', f'{name}.txt'),
                boxes[:1] if chunk == 'TEST' else boxes)
  return root


def write_coco(root, split='val2017'):
  images = []
  for i, (h, w) in enumerate([(48, 64), (40, 50)]):
    name = f'{i:012d}.jpg'
    write_jpeg(os.path.join(root, 'images', split, name), h, w, seed=i)
    images.append({'id': i + 1, 'file_name': name, 'height': h, 'width': w})
  anns = [
      {'id': 10, 'image_id': 1, 'bbox': [1, 2, 10, 12], 'category_id': 3, 'iscrowd': 0},
      {'id': 11, 'image_id': 1, 'bbox': [5, 5, 20, 20], 'category_id': 3, 'iscrowd': 1},
      {'id': 12, 'image_id': 2, 'bbox': [3, 4, 8, 9], 'category_id': 5, 'iscrowd': 0},
  ]
  os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
  with open(os.path.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
    json.dump({'images': images, 'annotations': anns,
               'categories': [{'id': 3, 'name': 'car'}, {'id': 5, 'name': 'dog'}]}, f)
  return root


def write_windows_lines(path, rows, sep=','):
  """``write_lines`` as a Windows editor saves it: UTF-8 byte-order mark and CRLF line ends."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  text = ''.join(sep.join(str(v) for v in r) + '\r\n' for r in rows)
  with open(path, 'wb') as f:
    f.write(b'\xef\xbb\xbf' + text.encode('utf-8'))


def truncate_file(path, fraction=0.5):
  """Keeps the first ``fraction`` of a file's bytes, as an interrupted copy or download does."""
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:int(len(data) * fraction)])
