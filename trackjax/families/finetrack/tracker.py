"""FineTrack's tracker: the generic ByteTrack-style ``AppearanceTracker`` with FineTrack's embedder.

``build_tracker(config, dataset=None)`` hands ``config.tracker`` (``trackjax.mot.association``'s
fields, ``appearance_weight`` > 0, plus ``max_detections``) to ``AppearanceTracker`` with a
``FinetrackEmbedder``. Per dataset (ByteTrack's settings): ``mot20`` switches ``fuse_score`` off.
``without_appearance()`` of the result is the IoU-only ByteTrack baseline.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from trackjax.families.finetrack.embedder import FinetrackEmbedder
from trackjax.mot.tracker import AppearanceTracker

# ByteTrack's per-benchmark changes to its MOT17 defaults.
DATASET_SETTINGS = {"mot20": {"fuse_score": False}}


def tracker_settings(config: ml_collections.ConfigDict, dataset: str | None = None):
  """``config.tracker`` with the per-dataset changes of ``DATASET_SETTINGS``."""
  settings = ml_collections.ConfigDict(config.tracker.to_dict())
  for key, value in DATASET_SETTINGS.get(str(dataset or "").lower(), {}).items():
    settings[key] = value
  return settings


def build_tracker(config: ml_collections.ConfigDict, dataset: str | None = None,
                  dtype=jnp.float32) -> AppearanceTracker:
  """The family's ``MotTracker``: association from ``config.tracker``, FineTrack's embeddings."""
  settings = tracker_settings(config, dataset)
  embedder = FinetrackEmbedder(config.model, int(settings.max_detections), dtype=dtype)
  return AppearanceTracker(settings, embedder=embedder)
