"""``trackjax.main``'s MOT jobs on FineTrack's tiny config: evaluate (with the baseline beside
it), track (demo) and benchmark, dispatched through ``TASK = 'mot'``."""

import json

import numpy as np
import pytest

from trackjax import main
from trackjax.config_files import load_config


def tiny_config(mode, tmp_path):
  config = load_config("configs/finetrack_r50.py:tiny")
  config.mode = mode
  config.data.mot_synthetic.cache_dir = str(tmp_path / "cache")
  return config


def test_evaluate_writes_motchallenge_files_for_both_trackers(tmp_path):
  with pytest.warns(UserWarning, match="RANDOM"):
    summary = main.run(tiny_config("evaluate", tmp_path), str(tmp_path / "eval"))
  results = tmp_path / "eval" / "results" / "synthetic_mot_test"
  for tracker in ("finetrack", "bytetrack_iou"):
    files = sorted((results / tracker / "data").glob("*.txt"))
    assert len(files) == 1, tracker
    rows = np.loadtxt(files[0], delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and np.all(rows[:, 7:] == -1)
  assert summary["metrics"] is not None and summary["baseline_metrics"] is not None
  assert 0 <= summary["metrics"]["HOTA"] <= 1


def test_track_and_benchmark_modes(tmp_path):
  config = tiny_config("track", tmp_path)
  config.demo.output_video = ""
  with pytest.warns(UserWarning, match="RANDOM"):
    main.run(config, str(tmp_path / "demo"))
  assert (tmp_path / "demo" / config.demo.output_tracks).stat().st_size > 0
  config = tiny_config("benchmark", tmp_path)
  main.run(config, str(tmp_path / "speed"))
  speed = json.loads((tmp_path / "speed" / config.speed.output).read_text())
  rows = speed["results"]
  assert [r["detections"] for r in rows] == list(config.speed.detection_counts)
  assert all(r["embed_ms"] > 0 and r["tracker_fps"] > 0 for r in rows)
