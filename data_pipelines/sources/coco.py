"""COCO 2017 instances: each non-crowd object annotation is a one-frame sequence.

Layout: ``<root>/annotations/instances_<split>.json`` and images in ``<root>/images/<split>/``
or ``<root>/<split>/``. The parse is kept as flat arrays (860k objects for train2017) and cached.
An object is visible when its box is valid: finite, of positive size and not wholly outside its
image (``height``/``width`` of the image entry).
"""

from __future__ import annotations

import json
import os

import numpy as np

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError, Sequence
from data_pipelines.sources.frame_files import read_image
from data_pipelines.sources.indexed import cached_sequences


def _parse_instances(path: str) -> dict:
  try:
    with open(path, 'r', encoding='utf-8-sig') as f:  # a byte-order mark is fine
      data = json.load(f)
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  except json.JSONDecodeError as e:
    raise DatasetError(f'{path}:{e.lineno}: invalid JSON ({e.msg})') from e
  try:
    images = {im['id']: im for im in data['images']}
    categories = {c['id']: c['name'] for c in data['categories']}
    anns = [a for a in data['annotations'] if not a.get('iscrowd', 0)]
    image_ids = np.array([a['image_id'] for a in anns], np.int64)
    file_names = {i: images[i]['file_name'] for i in set(image_ids.tolist())}
    sizes = {i: (images[i]['height'], images[i]['width']) for i in file_names}
    object_sizes = np.array([sizes[i] for i in image_ids.tolist()], np.int32).reshape(-1, 2)
    out = {
        'ann_ids': np.array([a['id'] for a in anns], np.int64),
        'image_ids': image_ids,
        'boxes': np.array([a['bbox'] for a in anns], np.float64).reshape(-1, 4),
        'category_ids': np.array([a['category_id'] for a in anns], np.int64),
        'file_names': file_names,
        'sizes': sizes,
        'object_image_sizes': object_sizes,  # (N, 2) height, width of each object's image
        'categories': categories,
    }
  except (KeyError, TypeError, ValueError) as e:
    raise DatasetError(f'{path}: malformed COCO instances file ({type(e).__name__}: {e})') from e
  return out


class CocoSource:
  """COCO objects as single-image sequences (``is_video`` False)."""

  is_video = False

  def __init__(self, root: str, split: str = 'train2017', *, cache_dir: str | None = None,
               name: str = 'coco'):
    self.name = name
    self._ann_path = ann_path = os.path.join(root, 'annotations', f'instances_{split}.json')
    if not os.path.isfile(ann_path):
      raise DatasetError(f'{ann_path}: missing COCO annotation file')
    self._image_dir = next((d for d in (os.path.join(root, 'images', split),
                                        os.path.join(root, split)) if os.path.isdir(d)),
                           os.path.join(root, 'images', split))
    self._data = cached_sequences('coco', (split,), [ann_path],
                                  lambda: _parse_instances(ann_path), cache_dir)
    if len(self._data['ann_ids']) == 0:
      raise DatasetError(f'{ann_path}: no non-crowd annotations')
    self._visible = None

  def __len__(self) -> int:
    return int(self._data['ann_ids'].shape[0])

  def sequence(self, index: int) -> Sequence:
    d = self._data
    image_id = int(d['image_ids'][index])
    boxes = d['boxes'][index:index + 1].copy()
    return Sequence(
        name=f'{image_id}_{int(d["ann_ids"][index])}',
        frame_paths=[os.path.join(self._image_dir, d['file_names'][image_id])],
        boxes=boxes, visible=files.visible_from_boxes(boxes, d['sizes'][image_id]),
        attributes={files.ANNOTATION_FILE: self._ann_path},
        class_name=d['categories'].get(int(d['category_ids'][index])),
        image_size=tuple(d['sizes'][image_id]))

  def visible_objects(self) -> np.ndarray:
    """(N,) bool: ``sequence(i).visible[0]`` of every object, without building N sequences."""
    if self._visible is None:
      d = self._data
      self._visible = files.visible_from_boxes(d['boxes'], d['object_image_sizes'])
    return self._visible

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    if frame != 0:
      raise IndexError(f'{self.name}: COCO sequences have one frame, asked for {frame}')
    d = self._data
    path = os.path.join(self._image_dir, d['file_names'][int(d['image_ids'][index])])
    return read_image(path, reduce)
