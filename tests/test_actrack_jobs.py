"""``trackjax.main``'s jobs on ACTrack's tiny config: evaluate, track (demo) and benchmark."""

import json

import cv2
import numpy as np
import pytest

from data_pipelines.synthetic import SyntheticSource
from trackjax import main
from trackjax.config_files import load_config
from trackjax.sot import result_files as rf


def tiny_config(mode):
  config = load_config("configs/actrack_vitb256.py:tiny")
  config.mode = mode
  config.evaluate.reader_threads = 2
  return config


def test_evaluate_writes_result_files_and_a_summary(tmp_path):
  with pytest.warns(UserWarning, match="RANDOM weights"):
    summary = main.run(tiny_config("evaluate"), str(tmp_path))
  out = tmp_path / "results" / "synthetic_test" / "actrack"
  names = sorted(p.name[:-4] for p in out.glob("*.txt") if not p.name.endswith("_time.txt"))
  assert summary["tracked"] == 3 and len(names) == 3
  for name in names:
    boxes = rf.read_boxes(out / f"{name}.txt")
    assert boxes.shape == (8, 4) and np.all(np.isfinite(boxes))
  assert 0 <= summary["metrics"]["auc"] <= 1


def test_track_mode_runs_the_demo_on_an_image_folder(tmp_path):
  source = SyntheticSource(1, 4, image_size=(72, 96), seed=7, split="test")
  folder = tmp_path / "frames"
  folder.mkdir()
  for f in range(4):
    cv2.imwrite(str(folder / f"{f:04d}.png"), cv2.cvtColor(source.read_frame(0, f), cv2.COLOR_RGB2BGR))
  config = tiny_config("track")
  config.demo.source = str(folder)
  config.demo.init_box = ",".join(f"{v:.2f}" for v in source.sequence(0).boxes[0])
  config.demo.output_video = ""
  with pytest.warns(UserWarning, match="RANDOM"):
    out = main.run(config, str(tmp_path / "work"))
  assert out["frames"] == 4
  assert np.all(np.isfinite(rf.read_boxes(out["boxes"])))


def test_benchmark_mode_writes_the_speed_json(tmp_path):
  config = tiny_config("benchmark")
  config.speed.repeats = 1
  main.run(config, str(tmp_path))
  saved = json.loads((tmp_path / config.speed.output).read_text())
  assert saved["model"] == "actrack_tiny" and saved["network"]["fps"] > 0
  assert sorted(saved["batched"]) == ["1", "2"]
