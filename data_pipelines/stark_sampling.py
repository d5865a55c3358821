"""Which frames make one STARK training sample (the reference ``TrackingSampler``).

A draw picks a dataset by ratio, a usable sequence of it uniformly, then frames:

* ``'causal'`` (STARK-S): a visible template frame, then visible search frame(s) after it
  within ``max_gap`` frames; the gap grows by 5 (and the template is redrawn) until one is found.
* ``'trident'`` / ``'trident_pro'`` (STARK-ST): the initial template and the search frame are any
  two visible frames (drawn independently, with replacement); the dynamic template comes from
  ``[s - max_gap, s)`` when the initial template precedes the search frame, else from
  ``[s, s + max_gap)``; ``'trident_pro'`` allows invisible frames there.
* classification (ST stage 2, ``train_cls``): with probability ``pos_prob`` the search frame is
  the trident one (label 1); otherwise (label 0) an invisible frame of the same video with a
  pseudo-box of W/8 x H/8 at the image centre, or, when the video has no invisible frame or the
  dataset is an image dataset, any frame of a sequence drawn afresh (dataset by ratio).

A sequence is usable when it has more than ``2 * (num_template + num_search)`` visible frames and
at least 20 frames; image datasets are always usable. Drawing uniformly among usable sequences is
what the reference's redraw-until-usable loop does. All randomness comes from the
``np.random.Generator`` passed in.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines.sources.base import SequenceSource

MODES = ('causal', 'trident', 'trident_pro')


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


def usable_sequences(source: SequenceSource, num_template: int, num_search: int) -> np.ndarray:
  """Indices of the sequences of ``source`` the sampler may draw."""
  if not source.is_video:
    return np.arange(len(source))
  need = 2 * (num_template + num_search)
  keep = []
  for i in range(len(source)):
    visible = source.sequence(i).visible
    if int(np.count_nonzero(visible)) > need and len(visible) >= 20:
      keep.append(i)
  return np.asarray(keep, dtype=np.int64)


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


class StarkSampler:
  """Draws frame indices for STARK samples from several sources with given ratios."""

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
    self.usable = [usable_sequences(s, config.num_template, config.num_search) for s in sources]
    for s, u, p in zip(sources, self.usable, self.probs):
      if p > 0 and u.size == 0:
        raise ValueError(f'dataset {s.name!r} has no usable sequence (needs > '
                         f'{2 * (config.num_template + config.num_search)} visible frames and '
                         f'>= 20 frames)')

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
