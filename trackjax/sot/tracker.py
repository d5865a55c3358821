"""The single-object tracker protocol: explicit state, one stream or K batched streams.

A family's ``build_tracker(config, dataset=None, dtype=...)`` returns an object with these
members. One stream::

  state = tracker.init(variables, first_frame, box_xywh)
  for frame in frames:
    box_xywh, score, state = tracker.track(variables, state, frame)

K streams in one jitted network step (``trackjax.sot.streams.BatchedTracker``) use the batched
hooks instead: per-slot host state (box, frame counter, score) lives in the streams; what the
network needs from earlier frames (e.g. template features) is the family's *memory*, a pytree of
device arrays whose leading dimension is the slot. A slot must follow exactly the path of a
single-stream run, so a family writes its per-stream logic once, in these hooks, and ``track``
does what they do with K = 1.

Frames given to the trackers may be any image ``as_rgb_frame`` accepts; initial boxes are
checked and grown by ``initial_box``. Both are done by the caller of the hooks, not by the hooks.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import jax
import numpy as np

MIN_BOX_SIZE = 1.0  # pixels; smaller initial boxes are grown around their centre

Memory = Any  # pytree of device arrays, leading dimension = streams (slots)


class SotTracker(Protocol):
  """What the SOT jobs (benchmark runner, demo, speed) and batched streams ask of a tracker."""

  def init(self, variables: Mapping[str, Any], frame, box_xywh) -> Any:
    """The state of a stream started on ``frame`` with the target at ``box_xywh``."""
    ...

  def track(self, variables: Mapping[str, Any], state: Any, frame) -> tuple[np.ndarray, float, Any]:
    """One frame: ``(box_xywh (4,) float64, score, new_state)``; never NaN (a non-finite network
    output keeps the previous box with score 0)."""
    ...

  # ---------------------------------------------------------------- batched streams

  def empty_memory(self, variables: Mapping[str, Any], num_streams: int) -> Memory:
    """Memory of ``num_streams`` inactive slots (zeros; the shapes of ``initial_memory``)."""
    ...

  def initial_memory(self, variables: Mapping[str, Any], frame: np.ndarray,
                     box: np.ndarray) -> Memory:
    """Memory (leading dimension 1) of a stream started on an RGB uint8 ``frame`` at ``box``."""
    ...

  def idle_inputs(self) -> tuple[np.ndarray, ...]:
    """Network inputs of one inactive slot (e.g. an all-padding search crop and its mask)."""
    ...

  def search_inputs(self, frame: np.ndarray, box: np.ndarray) -> tuple[tuple[np.ndarray, ...], Any]:
    """``(inputs, crop_info)`` of one slot: network inputs (as ``idle_inputs``) cut from an RGB
    uint8 ``frame`` around the previous ``box``, and what ``frame_result`` needs to map back."""
    ...

  def network_step(self, variables: Mapping[str, Any], memory: Memory, *inputs) -> Any:
    """The jitted step on K slots: each input stacked over slots -> outputs (leading dim K)."""
    ...

  def frame_result(self, outputs: Any, box: np.ndarray, crop_info: Any,
                   frame_shape) -> tuple[np.ndarray | None, float]:
    """One slot's outputs (leading dimension dropped, on the host) -> ``(box_xywh, score)`` in
    the frame; ``(None, 0.0)`` when not finite."""
    ...

  def update_memory(self, variables: Mapping[str, Any], memory: Memory, slot: int, frame_id: int,
                    frame: np.ndarray, box: np.ndarray, score: float) -> Memory:
    """After slot ``slot`` tracked frame ``frame_id`` (1 = the first after init) to ``box`` with
    ``score``: its memory for the next frame (e.g. a template update); ``memory`` if unchanged."""
    ...


class InferenceForm:
  """``prepare(variables)`` (a family's inference form of its variables), cached for the last
  ``variables`` object passed: a tracker prepares its weights once and reuses them per frame."""

  def __init__(self, prepare: Callable[[Any], Any]):
    self._prepare = prepare
    self._last = None  # (variables, prepared); holding `variables` keeps the identity check sound

  def __call__(self, variables):
    if self._last is not None and self._last[0] is variables:
      return self._last[1]
    prepared = self._prepare(variables)
    if not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(variables)):
      self._last = (variables, prepared)
    return prepared


def as_rgb_frame(frame, name: str = 'frame') -> np.ndarray:
  """Any (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image -> contiguous (H, W, 3) uint8.

  Float images are taken as 0..255 values (clipped); NaN becomes 0.
  """
  image = np.asarray(frame)
  if image.ndim == 2:
    image = image[:, :, None]
  if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
    raise ValueError(f'{name}: expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, '
                     f'got shape {image.shape}')
  if image.shape[2] == 4:
    image = image[:, :, :3]
  if image.dtype != np.uint8:
    if image.dtype == bool:
      image = image.astype(np.uint8) * 255
    else:
      image = np.clip(np.nan_to_num(image.astype(np.float64)), 0, 255).round().astype(np.uint8)
  if image.shape[2] == 1:
    image = np.repeat(image, 3, axis=2)
  return np.ascontiguousarray(image)


def initial_box(box_xywh, min_size: float = MIN_BOX_SIZE, name: str = 'box') -> np.ndarray:
  """Checks an initial ``[x, y, w, h]`` box and grows sides below ``min_size`` around the centre.

  Raises:
    ValueError: naming ``name`` when the box is not 4 finite numbers.
  """
  box = np.asarray(box_xywh, np.float64).reshape(-1)
  if box.shape != (4,) or not np.all(np.isfinite(box)):
    raise ValueError(f'{name}: expected 4 finite numbers [x, y, w, h], got {box_xywh!r}')
  centre = box[:2] + 0.5 * box[2:]
  size = np.maximum(box[2:], min_size)  # negative or zero sides count as degenerate
  return np.concatenate([centre - 0.5 * size, size])
