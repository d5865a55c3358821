"""Config fields of the MOT jobs: ``evaluate`` (benchmark runner), ``demo`` (video demo) and
``speed`` (speed benchmark), read by ``trackjax.mot.benchmark_runner``, ``video_demo`` and
``speed_benchmark``.

A MOT family's config helper calls ``add_mot_jobs(config, tracker_name)`` after
``config_defaults.base_config`` (it replaces the SOT job fields) and ``make_tiny_jobs(config)``
in its ``:tiny`` variant. Image sizes here are (width, height), as in ``seqinfo.ini`` and
``write_synthetic_mot``.
"""

from __future__ import annotations

import ml_collections


def add_mot_jobs(config: ml_collections.ConfigDict, tracker_name: str) -> None:
  """Sets ``config.evaluate``, ``config.demo`` and ``config.speed`` to the MOT job fields."""
  config.evaluate = ml_collections.ConfigDict(dict(
      dataset='synthetic_mot',  # mot17 | mot20 | dancetrack | synthetic_mot
      # Folder holding <split>/<seq>/seqinfo.ini; '' for synthetic_mot: generated into the
      # workdir (synthetic_mot/) with the synthetic_* sizes below (reused when they match).
      dataset_root='',
      split='test',  # mot17 / mot20: train | test; dancetrack: train | val | test
      detections='',  # folder of <seq>.txt (det.txt format) replacing det/det.txt; '' = det.txt
      # Trained weights: a training workdir or a final-variables folder; '' falls back to
      # config.init_from, and if that is empty too, RANDOM weights with a loud warning.
      weights='',
      sequences='',  # comma-separated sequence names; '' = all of the split
      results_dir='',  # '' -> <workdir>/results/<dataset>_<split>; trackers in <name>/data/
      tracker_name=tracker_name,
      compare_baseline=True,  # also run the IoU-only ByteTrack baseline, reported side by side
      baseline_name='bytetrack_iou',
      report=True,  # score with TrackEval when the split has ground truth
      after_training=True,  # mode=train ends by evaluating the trained tracker here
      synthetic_sequences=4,  # held-out sequences (the 'test' split of write_synthetic_mot)
      synthetic_frames=60,
      synthetic_image_size=(320, 240),  # (width, height)
      synthetic_targets=(3, 6),
      synthetic_seed=0,  # the test split of a seed never shares a sequence with its train split
  ))
  config.demo = ml_collections.ConfigDict(dict(
      # A MOTChallenge sequence folder (seqinfo.ini, img1/, det/det.txt), an image folder or a
      # video file; '' = the first held-out synthetic sequence, generated into the workdir.
      source='',
      detections='',  # det.txt-format file; '' = the sequence's det/det.txt
      weights='',  # as config.evaluate.weights
      baseline=False,  # True: the IoU-only baseline (no embedder, no weights needed)
      output_video='mot_demo.mp4',  # relative to the workdir; '' = none (mp4v codec)
      output_gif='mot_demo.gif',  # '' = none
      output_tracks='mot_demo_tracks.txt',  # MOTChallenge result lines; '' = none
      gif_max_side=320,
      gif_every=2,
      max_frames=0,  # 0 = all frames
      fps=0.0,  # output fps; 0 = the sequence's (or 25)
  ))
  config.speed = ml_collections.ConfigDict(dict(
      detection_counts=(16, 64, 128),  # detections per frame
      num_frames=30,  # timed frames per run (after warm-up)
      warmup_frames=3,
      repeats=3,  # runs per measurement; the median is reported
      image_size=(960, 540),  # (width, height) of the synthetic frames
      weights='',  # '' = random weights (speed does not depend on them)
      output='mot_speed.json',  # relative to the workdir
  ))


def make_tiny_jobs(config: ml_collections.ConfigDict) -> None:
  """Small job sizes for unit tests (a ``:tiny`` variant)."""
  config.evaluate.after_training = False
  config.evaluate.synthetic_sequences = 1
  config.evaluate.synthetic_frames = 8
  config.evaluate.synthetic_image_size = (96, 64)
  config.evaluate.synthetic_targets = (2, 3)
  config.demo.max_frames = 6
  config.speed.detection_counts = (4, 8)
  config.speed.num_frames = 3
  config.speed.warmup_frames = 1
  config.speed.repeats = 2
  config.speed.image_size = (96, 64)
