"""``SyntheticSource``: procedurally rendered tracking sequences behind the ``SequenceSource`` API."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from data_pipelines.sources import base
from data_pipelines.synthetic import render
from data_pipelines.synthetic import scene

SPLITS = ('train', 'val', 'test')


class SyntheticSource:
  """Rendered tracking sequences; nothing is read from disk.

  Sequence ``i`` of ``(seed, split)`` is drawn from its own random stream, so it does not depend on
  ``num_sequences`` or on the other sequences, and the train, val and test splits of one seed never
  share a sequence. Frames are rendered on demand and independently of each other (random access);
  plans and textures are kept in small LRU caches.

  Sequence attributes: per-frame arrays ``'occlusion'`` (partly or fully covered by an occluder),
  ``'full_occlusion'``, ``'out_of_view'`` (entirely outside the image), ``'partly_out_of_view'``,
  ``'motion_blur'`` (blur length >= 4 px), ``'illumination'`` (brightness differs from frame 0 by
  more than 15%), float arrays ``'visible_fraction'``, ``'blur_length'``, ``'brightness'``, and
  per-sequence flags (LaSOT/OTB names) ``'OCC'``, ``'FOC'``, ``'OV'``, ``'MB'``, ``'IV'``,
  ``'SV'``, ``'ARC'``, ``'FM'``, ``'SOB'`` (similar objects), ``'BC'`` (background clutter).
  """

  is_video = True

  def __init__(self, num_sequences: int, num_frames: int, image_size: tuple[int, int] = (480, 640),
               seed: int = 0, name: str = 'synthetic', split: str = 'train',
               cache_size: int = 16):
    """Creates the source; nothing is rendered until asked for.

    Args:
      num_sequences: number of sequences.
      num_frames: frames per sequence.
      image_size: (height, width) in pixels.
      seed: base seed; combined with ``split`` and the sequence index.
      name: source name, also the prefix of sequence names.
      split: 'train', 'val' or 'test'; selects an independent random stream.
      cache_size: sequences whose textures stay in memory (plans keep 16x as many).
    """
    if num_sequences < 0:
      raise ValueError(f'num_sequences must be >= 0, got {num_sequences}')
    if num_frames < 1:
      raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    if len(image_size) != 2 or min(image_size) < 16:
      raise ValueError(f'image_size must be (height, width) with sides >= 16, got {image_size}')
    if split not in SPLITS:
      raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    self.name = name
    self.num_sequences = int(num_sequences)
    self.num_frames = int(num_frames)
    self.image_size = (int(image_size[0]), int(image_size[1]))
    self.seed = int(seed)
    self.split = split
    self.cache_size = int(cache_size)
    self._make_caches()

  def _make_caches(self):
    self.plan = functools.lru_cache(maxsize=16 * self.cache_size)(self._plan)
    self.textures = functools.lru_cache(maxsize=self.cache_size)(self._textures)

  def __getstate__(self):  # Caches hold bound methods; rebuild them after unpickling.
    state = dict(self.__dict__)
    del state['plan'], state['textures']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._make_caches()

  def __len__(self) -> int:
    return self.num_sequences

  def __repr__(self) -> str:
    return (f'SyntheticSource(num_sequences={self.num_sequences}, num_frames={self.num_frames}, '
            f'image_size={self.image_size}, seed={self.seed}, split={self.split!r})')

  def _streams(self, index: int) -> list[np.random.SeedSequence]:
    entropy = [self.seed, SPLITS.index(self.split), index]
    return np.random.SeedSequence(entropy).spawn(2)  # (plan, textures)

  def _check_index(self, index: int) -> int:
    index = int(index)
    if not 0 <= index < self.num_sequences:
      raise IndexError(f'sequence {index} out of range [0, {self.num_sequences}) in {self!r}')
    return index

  def _plan(self, index: int) -> scene.ScenePlan:
    rng = np.random.default_rng(self._streams(index)[0])
    return scene.plan_scene(rng, self.num_frames, self.image_size)

  def _textures(self, index: int) -> render.SceneTextures:
    rng = np.random.default_rng(self._streams(index)[1])
    return render.make_textures(self.plan(index), rng)

  def sequence_name(self, index: int) -> str:
    return f'{self.name}_{self.split}_{index + 1:06d}'

  def sequence(self, index: int) -> base.Sequence:
    """Annotation of sequence ``index``: full-extent boxes, visibility, cover, attributes."""
    index = self._check_index(index)
    plan = self.plan(index)
    visible_fraction = plan.visible_fraction
    in_frame = plan.in_frame_fraction
    blur_length = np.linalg.norm(plan.target.blur, axis=1)
    attributes = {
        'occlusion': visible_fraction < in_frame - 1e-9,
        'full_occlusion': (visible_fraction <= 0) & (in_frame > 0),
        'out_of_view': in_frame <= 0,
        'partly_out_of_view': (in_frame > 0) & (in_frame < 1),
        'motion_blur': blur_length >= 4.0,
        'illumination': np.abs(plan.brightness / plan.brightness[0] - 1.0) > 0.15,
        'visible_fraction': visible_fraction.copy(),
        'blur_length': blur_length,
        'brightness': plan.brightness.copy(),
    }
    attributes.update(plan.flags)
    return base.Sequence(
        name=self.sequence_name(index),
        frame_paths=(),
        boxes=plan.target.boxes.astype(np.float64, copy=True),
        visible=visible_fraction > 0,
        cover=scene.cover_class(visible_fraction),
        attributes=attributes,
        class_name=object_class(plan),
        image_size=self.image_size,
    )

  def render(self, index: int, frame: int, reduce: int = 1,
             with_masks: bool = False) -> render.RenderedFrame:
    """Frame ``frame`` of sequence ``index``, optionally with the target's coverage maps."""
    index = self._check_index(index)
    if reduce not in (1, 2, 4, 8):
      raise ValueError(f'reduce must be 1, 2, 4 or 8, got {reduce}')
    out = render.render_frame(self.plan(index), self.textures(index), int(frame), with_masks)
    if reduce == 1:
      return out
    height, width = self.image_size
    size = (width // reduce, height // reduce)
    shrink = lambda a: None if a is None else cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    return render.RenderedFrame(shrink(out.image), shrink(out.target_alpha),
                                shrink(out.visible_alpha))

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    """Frame as uint8 RGB (H // reduce, W // reduce, 3)."""
    return self.render(index, frame, reduce).image


def object_class(plan: scene.ScenePlan) -> str:
  """A readable class name from the target's look, e.g. ``'striped ellipse'``."""
  adjective = {'noise': 'mottled', 'stripes': 'striped', 'blobs': 'spotted', 'checks': 'checked',
               'rings': 'ringed'}[plan.target.family.kind]
  p = plan.target.shape_power
  noun = 'diamond' if p < 1.7 else 'ellipse' if p < 3.0 else 'rounded box' if p < 6.0 else 'box'
  return f'{adjective} {noun}'
