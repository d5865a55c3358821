"""Which frames make one single-object training sample (pytracking's ``TrackingSampler``).

pytracking's sampler in the form the transformer trackers' code has it (``lib/train/data/
sampler.py``: the ``causal`` mode and the two-template ``trident`` modes), for every family that
trains on template/search crops.

A draw picks a dataset by ratio, a usable sequence of it uniformly, then frames:

* ``'causal'`` (one template): a visible template frame, then visible search frame(s) after it
  within ``max_gap`` frames; the gap grows by 5 (and the template is redrawn) until one is found.
* ``'trident'`` / ``'trident_pro'`` (an initial and a dynamic template): the initial template
  and the search frame are any two visible frames (drawn independently, with replacement); the
  dynamic template comes from ``[s - max_gap, s)`` when the initial template precedes the search
  frame, else from ``[s, s + max_gap)``; ``'trident_pro'`` allows invisible frames there.
* classification (a score-head stage, ``train_cls``): with probability ``pos_prob`` the search
  frame is the trident one (label 1); otherwise (label 0) an invisible frame of the same video with
  a pseudo-box of W/8 x H/8 at the image centre, or, when the video has no invisible frame or the
  dataset is an image dataset, any frame of a sequence drawn afresh (dataset by ratio).

A sequence is usable when it has more than ``2 * (num_template + num_search)`` visible frames and
at least 20 frames; an image dataset's object is usable when its one box is valid. Drawing
uniformly among usable sequences is what the reference's redraw-until-usable loop does (the
reference also draws image objects without a valid box, and processing then rejects every sample
built on one). ``Usability`` keeps, per source, which sequences were dropped and why, for the
report at start-up. All randomness comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines.sources.annotation_files import annotation_file, visible_from_boxes
from data_pipelines.sources.base import DatasetError, SequenceSource

MODES = ('causal', 'trident', 'trident_pro')
MIN_FRAMES = 20  # the reference's shortest usable video
# Why the sampler drops a sequence, in the order the rules are checked.
DROP_REASONS = ('no valid box', 'too short', 'too few visible frames')


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
  mode: str = 'trident_pro'
  num_template: int = 2
  num_search: int = 1
  max_gap: int = 200
  train_cls: bool = False
  pos_prob: float = 0.5

  def __post_init__(self):
    if self.mode not in MODES:
      raise ValueError(f'sampler mode must be one of {MODES}, got {self.mode!r}')
    if self.mode != 'causal' and (self.num_template != 2 or self.num_search != 1):
      raise ValueError(f"mode {self.mode!r} draws 2 templates and 1 search frame, got "
                       f'num_template={self.num_template}, num_search={self.num_search}')
    if self.train_cls and self.mode == 'causal':
      raise ValueError("train_cls needs a 'trident' mode, as the reference")


@dataclasses.dataclass(frozen=True)
class FrameRef:
  """One frame to crop: (dataset, sequence, frame) and whether its box is the centre pseudo-box."""
  dataset: int
  sequence: int
  frame: int
  center_box: bool = False


@dataclasses.dataclass(frozen=True)
class Draw:
  templates: tuple[FrameRef, ...]
  searches: tuple[FrameRef, ...]
  label: float = 1.0


@dataclasses.dataclass(frozen=True)
class Usability:
  """Which sequences of one source the sampler draws, and why it drops the others.

  Attributes:
    usable: indices of the sequences drawn.
    dropped: ``{reason: indices}`` for each of ``DROP_REASONS`` (``'no valid box'``: every box
      NaN, of non-positive size or wholly outside a known frame size; ``'too short'``: under
      ``MIN_FRAMES`` frames; ``'too few visible frames'``: at most ``min_visible``).
    min_visible: the visible-frame count a video must exceed.
  """

  usable: np.ndarray
  dropped: dict[str, np.ndarray]
  min_visible: int

  @property
  def num_dropped(self) -> int:
    return sum(int(v.size) for v in self.dropped.values())

  def summary(self, source: SequenceSource, examples: int = 2) -> str:
    """One line: usable / total, then each drop reason with its count and a few examples
    (sequence name and annotation file)."""
    total = int(self.usable.size) + self.num_dropped
    line = f'{self.usable.size} of {total} sequences usable'
    labels = {'no valid box': 'without a valid box', 'too short': f'under {MIN_FRAMES} frames',
              'too few visible frames': f'with <= {self.min_visible} visible frames'}
    parts = []
    for reason in DROP_REASONS:
      indices = self.dropped[reason]
      if not indices.size:
        continue
      named = []
      for i in indices[:examples]:
        seq = source.sequence(int(i))
        where = annotation_file(seq)
        named.append(f'{seq.name} ({where})' if where else seq.name)
      more = ', ...' if indices.size > examples else ''
      parts.append(f'{indices.size} {labels[reason]}: {", ".join(named)}{more}')
    return line + (f'; dropped {"; ".join(parts)}' if parts else '')


def sequence_usability(source: SequenceSource, num_template: int, num_search: int) -> Usability:
  """Sorts the sequences of ``source`` into usable and dropped (``Usability``)."""
  need = 2 * (num_template + num_search)
  dropped = {r: [] for r in DROP_REASONS}
  if not source.is_video and hasattr(source, 'visible_objects'):
    visible = np.asarray(source.visible_objects(), bool)  # no Sequence per object
    return Usability(np.flatnonzero(visible).astype(np.int64),
                     {r: (np.flatnonzero(~visible).astype(np.int64) if r == 'no valid box'
                          else np.zeros(0, np.int64)) for r in DROP_REASONS}, need)
  keep = []
  for i in range(len(source)):
    seq = source.sequence(i)
    visible = int(np.count_nonzero(seq.visible))
    if not visible and not visible_from_boxes(np.asarray(seq.boxes, np.float64),
                                              seq.image_size).any():
      dropped['no valid box'].append(i)
    elif not source.is_video or (len(seq.visible) >= MIN_FRAMES and visible > need):
      keep.append(i)
    elif len(seq.visible) < MIN_FRAMES:
      dropped['too short'].append(i)
    else:
      dropped['too few visible frames'].append(i)
  return Usability(np.asarray(keep, np.int64),
                   {r: np.asarray(v, np.int64) for r, v in dropped.items()}, need)


def usable_sequences(source: SequenceSource, num_template: int, num_search: int) -> np.ndarray:
  """Indices of the sequences of ``source`` the sampler may draw."""
  return sequence_usability(source, num_template, num_search).usable


def sample_visible_ids(rng: np.random.Generator, visible: np.ndarray, num_ids: int = 1,
                       min_id: int | None = None, max_id: int | None = None,
                       allow_invisible: bool = False, force_invisible: bool = False):
  """``num_ids`` frames (with replacement) from ``[min_id, max_id)``, or None when none fit."""
  if num_ids == 0:
    return []
  n = len(visible)
  lo = 0 if min_id is None or min_id < 0 else min_id
  hi = n if max_id is None or max_id > n else max_id
  if hi <= lo:
    return None
  window = np.asarray(visible[lo:hi], dtype=bool)
  if force_invisible:
    candidates = np.nonzero(~window)[0]
  elif allow_invisible:
    candidates = np.arange(hi - lo)
  else:
    candidates = np.nonzero(window)[0]
  if candidates.size == 0:
    return None
  return [int(lo + c) for c in rng.choice(candidates, size=num_ids)]


class TrackingSampler:
  """Draws frame indices for template/search samples from several sources with given ratios."""

  def __init__(self, sources: list[SequenceSource], ratios: list[float],
               config: SamplerConfig):
    if len(sources) != len(ratios) or not sources:
      raise ValueError('need one ratio per source and at least one source')
    ratios = np.asarray(ratios, dtype=np.float64)
    if np.any(ratios < 0) or ratios.sum() <= 0:
      raise ValueError(f'dataset ratios must be non-negative with a positive sum, got {ratios}')
    self.sources = sources
    self.config = config
    self.probs = ratios / ratios.sum()
    self.usability = [sequence_usability(s, config.num_template, config.num_search)
                      for s in sources]
    self.usable = [u.usable for u in self.usability]
    for s, u, p in zip(sources, self.usability, self.probs):
      if p > 0 and u.usable.size == 0:
        raise DatasetError(f'dataset {s.name!r} has no usable sequence (a video needs a valid '
                           f'box, > {u.min_visible} visible frames and >= {MIN_FRAMES} frames): '
                           f'{u.summary(s)}')

  def _sequence(self, rng: np.random.Generator) -> tuple[int, int]:
    d = int(rng.choice(len(self.sources), p=self.probs))
    return d, int(rng.choice(self.usable[d]))

  def _causal(self, rng, visible):
    c = self.config
    gap_increase = 0
    while True:
      base = sample_visible_ids(rng, visible, 1, c.num_template - 1, len(visible) - c.num_search)
      prev = sample_visible_ids(rng, visible, c.num_template - 1,
                                base[0] - c.max_gap - gap_increase, base[0])
      if prev is None:
        gap_increase += 5
        continue
      templates = base + prev
      searches = sample_visible_ids(rng, visible, c.num_search, templates[0] + 1,
                                    templates[0] + c.max_gap + gap_increase)
      gap_increase += 5
      if searches is not None:
        return templates, searches

  def _trident(self, rng, visible):
    c = self.config
    while True:
      t1 = sample_visible_ids(rng, visible, 1)
      s = sample_visible_ids(rng, visible, 1)
      if t1[0] >= s[0]:
        lo, hi = s[0], s[0] + c.max_gap
      else:
        lo, hi = s[0] - c.max_gap, s[0]
      extra = sample_visible_ids(rng, visible, 1, lo, hi,
                                 allow_invisible=(c.mode == 'trident_pro'))
      if extra is not None:
        return t1 + extra, s

  def _frame_ids(self, rng, d, visible):
    if not self.sources[d].is_video:
      return [0] * self.config.num_template, [0] * self.config.num_search
    if self.config.mode == 'causal':
      return self._causal(rng, visible)
    return self._trident(rng, visible)

  def _one_search(self, rng) -> FrameRef:
    d, q = self._sequence(rng)
    if not self.sources[d].is_video:
      return FrameRef(d, q, 0)
    visible = self.sources[d].sequence(q).visible
    return FrameRef(d, q, sample_visible_ids(rng, visible, 1, allow_invisible=True)[0])

  def draw(self, rng: np.random.Generator) -> Draw:
    """The frames of one sample (a draw may still be rejected by processing: draw again)."""
    d, q = self._sequence(rng)
    visible = self.sources[d].sequence(q).visible
    t_ids, s_ids = self._frame_ids(rng, d, visible)
    templates = tuple(FrameRef(d, q, f) for f in t_ids)
    if not self.config.train_cls:
      return Draw(templates, tuple(FrameRef(d, q, f) for f in s_ids), 1.0)
    if rng.random() < self.config.pos_prob:
      return Draw(templates, tuple(FrameRef(d, q, f) for f in s_ids), 1.0)
    if self.sources[d].is_video:
      neg = sample_visible_ids(rng, visible, 1, force_invisible=True)
      if neg is not None:
        return Draw(templates, (FrameRef(d, q, neg[0], center_box=True),), 0.0)
    return Draw(templates, (self._one_search(rng),), 0.0)
