"""Shuffle-Group Sampling (SGS) and FineTrack's training samples: whole frames with their ROIs.

What the paper says: SGS makes batches of groups so that positive and negative pairs are balanced
and the training data are dispersed, which reduces the oscillation of training. Its exact
procedure was not available; the reconstruction here (docs/finetrack.md):

* A **group** is a temporal window of ``group_span`` frames of one training sequence (windows tile
  each sequence; frames without a training box are left out). Its identities are the targets of
  that window.
* A **batch** of B frames is P = B / K groups of K frames (``frames_per_group``): K distinct frames
  drawn from each group's window, so every identity of a group appears up to K times in the batch
  (positive pairs across frames: pose, occlusion and box noise change) while the other identities
  of the batch (same frames, other groups) are its negatives. With frames of n targets, an anchor
  has up to K - 1 positives and about P K n - K negatives in every batch: the P x K structure of
  identity sampling for ReID (Hermans et al.), here over the whole frames ROIAlign needs.
* **Shuffled**: the groups are visited in rounds; round r is a permutation of all groups drawn from
  (seed, r), cut into batches of P groups (the last batch of a round is completed with the first
  groups of the permutation). Consecutive batches thus come from unrelated sequences and times
  instead of one video's consecutive frames.
* **Deterministic in (seed, index)**: the global sample index i gives its batch ``i // B``, its
  group slot and frame slot; the group comes from the round's permutation and the K frames of a
  group from ``default_rng([seed, 2, round, group])``; the per-sample augmentation (flip, box
  jitter) from ``default_rng([seed, i])``. So any worker, backend, process count or restart
  reproduces the sample, as the SOT ``SampleFn``s, and the loop's exact resume holds.

A sample (``MotGroupSampleFn(index)``): ``images`` (H, W, 3) uint8 (the frame resized to
``image_size``), ``boxes`` (R, 4) x1 y1 x2 y2 in those pixels, ``labels`` (R,) int32 global
identity indices, ``valid`` (R,) float32 (1 = a training box, 0 = padding), ``group`` () int32 (the
group index, for tests), ``skipped`` (1,) int32 (1 when the frame could not be read: the sample
then has no valid ROI).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import cv2
import numpy as np

from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.mot_challenge import load_frame, read_mot_sequences, training_boxes


@dataclasses.dataclass(frozen=True)
class TrainingSequence:
  """One sequence's training boxes (``training_boxes``) with global identity labels."""

  name: str
  frame_paths: tuple[str, ...]
  image_size: tuple[int, int]  # (width, height)
  frames: np.ndarray  # (M,) int32, 1-based
  boxes_xywh: np.ndarray  # (M, 4) float32
  labels: np.ndarray  # (M,) int32

  def usable_frames(self) -> np.ndarray:
    return np.unique(self.frames)


def labelled_sequences(sequences, *, min_visibility: float, first_label: int = 0,
                       dataset: str = "") -> tuple[list[TrainingSequence], int]:
  """``TrainingSequence``s of ``MotSequence``s (with ground truth) and the next free label: every
  (sequence, id) pair gets its own label, in sequence then id order."""
  out, label = [], int(first_label)
  for seq in sequences:
    if seq.gt is None:
      raise DatasetError(f"{dataset} {seq.name}: no ground truth to train on")
    rows = training_boxes(seq.gt, min_visibility=min_visibility)
    ids = np.unique(rows.ids)
    mapping = {int(i): label + k for k, i in enumerate(ids)}
    label += len(ids)
    out.append(TrainingSequence(
        name=f"{dataset}/{seq.name}" if dataset else seq.name, frame_paths=tuple(seq.frame_paths),
        image_size=tuple(int(s) for s in seq.image_size), frames=rows.frames.astype(np.int32),
        boxes_xywh=rows.boxes_xywh.astype(np.float32),
        labels=np.array([mapping[int(i)] for i in rows.ids], np.int32)))
  return out, label


def one_per_scene(sequences) -> list:
  """MOT17 ships every sequence three times (DPM, FRCNN, SDP detections, identical ground
  truth): keep the first of each ``MOT17-XX``."""
  seen, out = set(), []
  for seq in sequences:
    scene = seq.name.rsplit("-", 1)[0] if seq.name.count("-") >= 2 else seq.name
    if scene not in seen:
      seen.add(scene)
      out.append(seq)
  return out


def read_training_sequences(entries: Sequence[dict], min_visibility: float):
  """``entries``: dicts with ``dataset``, ``root``, ``split`` -> (sequences, number of labels)."""
  out, labels = [], 0
  for entry in entries:
    sequences = read_mot_sequences(entry["root"], entry.get("split", "train"),
                                   dataset=entry["dataset"])
    if entry["dataset"] == "mot17":
      sequences = one_per_scene(sequences)
    labelled, labels = labelled_sequences(sequences, min_visibility=min_visibility,
                                          first_label=labels, dataset=entry["dataset"])
    out += labelled
  return out, labels


@dataclasses.dataclass(frozen=True)
class Group:
  sequence: int
  frames: np.ndarray  # usable frames of the window


def make_groups(sequences: Sequence[TrainingSequence], group_span: int) -> list[Group]:
  """Windows of ``group_span`` frames tiling each sequence (only those with usable frames)."""
  groups = []
  for s, seq in enumerate(sequences):
    usable = seq.usable_frames()
    if not len(usable):
      continue
    for start in range(int(usable.min()), int(usable.max()) + 1, int(group_span)):
      window = usable[(usable >= start) & (usable < start + group_span)]
      if len(window):
        groups.append(Group(s, window))
  return groups


class ShuffleGroupPlan:
  """Which (group, frame) each global sample index holds (module docstring)."""

  def __init__(self, num_groups: int, global_batch_size: int, frames_per_group: int, seed: int):
    if num_groups <= 0:
      raise ValueError("shuffle-group sampling: no group (no training box in any sequence)")
    if frames_per_group <= 0 or global_batch_size % frames_per_group:
      raise ValueError(f"global batch {global_batch_size} is not a multiple of "
                       f"frames_per_group={frames_per_group}")
    self.num_groups = int(num_groups)
    self.batch = int(global_batch_size)
    self.frames_per_group = int(frames_per_group)
    self.groups_per_batch = self.batch // self.frames_per_group
    self.batches_per_round = -(-self.num_groups // self.groups_per_batch)
    self.seed = int(seed)
    self._permutations = {}

  def permutation(self, round_index: int) -> np.ndarray:
    if round_index not in self._permutations:
      if len(self._permutations) > 8:
        self._permutations.clear()
      rng = np.random.default_rng([self.seed, 1, round_index])
      self._permutations[round_index] = rng.permutation(self.num_groups)
    return self._permutations[round_index]

  def locate(self, index: int) -> tuple[int, int, int]:
    """(round, group, frame slot in the group) of global sample ``index``."""
    batch, slot = divmod(int(index), self.batch)
    group_slot, frame_slot = divmod(slot, self.frames_per_group)
    round_index, batch_in_round = divmod(batch, self.batches_per_round)
    position = (batch_in_round * self.groups_per_batch + group_slot) % self.num_groups
    return round_index, int(self.permutation(round_index)[position]), frame_slot

  def group_frames(self, round_index: int, group: int, window: np.ndarray) -> np.ndarray:
    """The K frames group ``group`` contributes in round ``round_index`` (sorted)."""
    rng = np.random.default_rng([self.seed, 2, round_index, group])
    chosen = rng.choice(window, self.frames_per_group,
                        replace=len(window) < self.frames_per_group)
    return np.sort(chosen)


def jitter_boxes(rng: np.random.Generator, boxes_xywh: np.ndarray, amount: float) -> np.ndarray:
  """Centre and size of each box moved by N(0, amount) of its size (detector-like noise)."""
  if amount <= 0 or not len(boxes_xywh):
    return boxes_xywh
  x, y, w, h = boxes_xywh.T
  noise = rng.normal(0.0, amount, (len(boxes_xywh), 4)).astype(np.float32)
  cx, cy = x + w / 2 + noise[:, 0] * w, y + h / 2 + noise[:, 1] * h
  w = w * np.exp(noise[:, 2])
  h = h * np.exp(noise[:, 3])
  return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)


class MotGroupSampleFn:
  """``fn(global_index) -> sample``; picklable, sequences read lazily in each process."""

  def __init__(self, entries: Sequence[dict], *, seed: int, global_batch_size: int,
               frames_per_group: int, group_span: int, image_size: Sequence[int],
               max_rois: int, min_visibility: float, flip_prob: float, box_jitter: float,
               num_identities: int | None = None):
    self.entries = [dict(e) for e in entries]
    self.seed = int(seed)
    self.global_batch_size = int(global_batch_size)
    self.frames_per_group = int(frames_per_group)
    self.group_span = int(group_span)
    self.image_size = (int(image_size[0]), int(image_size[1]))  # (height, width)
    self.max_rois = int(max_rois)
    self.min_visibility = float(min_visibility)
    self.flip_prob = float(flip_prob)
    self.box_jitter = float(box_jitter)
    self.num_identities = num_identities
    self._state = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_state"] = None
    return state

  @property
  def state(self):
    if self._state is None:
      sequences, labels = read_training_sequences(self.entries, self.min_visibility)
      if self.num_identities is not None and labels > self.num_identities:
        raise ValueError(f"the training data hold {labels} identities but "
                         f"config.model.num_identities={self.num_identities}; raise it")
      groups = make_groups(sequences, self.group_span)
      plan = ShuffleGroupPlan(len(groups), self.global_batch_size, self.frames_per_group,
                              self.seed)
      self._state = (sequences, labels, groups, plan)
    return self._state

  @property
  def num_labels(self) -> int:
    return self.state[1]

  def dataset_names(self) -> list[str]:
    return ["+".join(e["dataset"] for e in self.entries)]

  def describe(self) -> str:
    sequences, labels, groups, plan = self.state
    return (f"{', '.join(e['dataset'] + '@' + e['root'] for e in self.entries)}: "
            f"{len(sequences)} sequences, {labels} identities, {len(groups)} groups of "
            f"{self.group_span} frames, {plan.groups_per_batch} groups x "
            f"{self.frames_per_group} frames per batch")

  def frame_of(self, index: int) -> tuple[int, int, int]:
    """(group, sequence index, frame number) of global sample ``index``."""
    sequences, _, groups, plan = self.state
    round_index, group, slot = plan.locate(index)
    frames = plan.group_frames(round_index, group, groups[group].frames)
    return group, groups[group].sequence, int(frames[slot])

  def __call__(self, index: int) -> dict[str, np.ndarray]:
    sequences = self.state[0]
    group, s, frame = self.frame_of(index)
    seq = sequences[s]
    rng = np.random.default_rng([self.seed, int(index)])
    height, width = self.image_size
    sample = {"images": np.zeros((height, width, 3), np.uint8),
              "boxes": np.zeros((self.max_rois, 4), np.float32),
              "labels": np.zeros((self.max_rois,), np.int32),
              "valid": np.zeros((self.max_rois,), np.float32),
              "group": np.asarray(group, np.int32), "skipped": np.zeros((1,), np.int32)}
    try:
      image = load_frame(seq.frame_paths[frame - 1])
    except (DatasetError, OSError, IndexError) as e:
      logging.debug("%s frame %d: %s", seq.name, frame, e)
      sample["skipped"][0] = 1
      return sample
    rows = np.flatnonzero(seq.frames == frame)
    if len(rows) > self.max_rois:
      rows = np.sort(rng.choice(rows, self.max_rois, replace=False))
    boxes = jitter_boxes(rng, seq.boxes_xywh[rows], self.box_jitter)
    scale_x, scale_y = width / image.shape[1], height / image.shape[0]
    x1, y1 = boxes[:, 0] * scale_x, boxes[:, 1] * scale_y
    x2, y2 = x1 + boxes[:, 2] * scale_x, y1 + boxes[:, 3] * scale_y
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < self.flip_prob:
      image = image[:, ::-1]
      x1, x2 = width - x2, width - x1
    count = len(rows)
    sample["images"] = np.ascontiguousarray(image)
    sample["boxes"][:count] = np.stack([x1, y1, x2, y2], axis=1)
    sample["labels"][:count] = seq.labels[rows]
    sample["valid"][:count] = 1.0
    return sample

  def output_spec(self) -> dict:
    height, width = self.image_size
    return {"images": ((height, width, 3), np.dtype(np.uint8)),
            "boxes": ((self.max_rois, 4), np.dtype(np.float32)),
            "labels": ((self.max_rois,), np.dtype(np.int32)),
            "valid": ((self.max_rois,), np.dtype(np.float32)),
            "group": ((), np.dtype(np.int32)), "skipped": ((1,), np.dtype(np.int32))}
