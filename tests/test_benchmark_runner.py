"""Benchmark runner: official layouts, server zips, resume after interruption, report."""

import json
import warnings
import zipfile

import numpy as np
import pytest

import dataset_fixtures as fx
from trackjax.config_files import load_config
from trackjax.sot import benchmark_runner
from trackjax.sot import result_files as rf
from trackjax.sot.tracker_variables import random_variables
from trackjax.weights import save_variables


def tiny_config(**evaluate):
  config = load_config("configs/stark_st50.py:tiny")
  config.evaluate.reader_threads = 2
  for key, value in evaluate.items():
    config.evaluate[key] = value
  return config


def test_synthetic_run_writes_results_report_and_resumes(tmp_path):
  config = tiny_config()
  with pytest.warns(UserWarning, match="RANDOM weights"):
    summary = benchmark_runner.evaluate(config, str(tmp_path))
  out = tmp_path / "results" / "synthetic_test" / "stark"
  names = sorted(p.name[:-4] for p in out.glob("*.txt") if not p.name.endswith("_time.txt"))
  assert summary["tracked"] == 3 and len(names) == 3
  for name in names:
    boxes = rf.read_boxes(out / f"{name}.txt")
    assert boxes.shape == (8, 4) and np.all(np.isfinite(boxes))
    assert rf.read_times(out / f"{name}_time.txt").shape == (8,)
  metrics = json.loads((out.parent / "stark_report.json").read_text())
  assert "stark" in json.dumps(metrics) and 0 <= summary["metrics"]["auc"] <= 1

  # Interrupted run: one file complete, one truncated, one missing.
  complete, truncated, missing = names
  before = (out / f"{complete}.txt").stat().st_mtime_ns
  lines = (out / f"{truncated}.txt").read_text().splitlines()
  (out / f"{truncated}.txt").write_text("\n".join(lines[:4]) + "\n")
  (out / f"{missing}.txt").unlink()
  with pytest.warns(UserWarning, match="RANDOM weights"):
    summary = benchmark_runner.evaluate(config, str(tmp_path))
  assert summary["resumed"] == 1 and summary["tracked"] == 2
  assert (out / f"{complete}.txt").stat().st_mtime_ns == before
  for name in (truncated, missing):
    assert rf.read_boxes(out / f"{name}.txt").shape == (8, 4)
  # Nothing left to do: the weights are not even loaded.
  summary = benchmark_runner.evaluate(config, str(tmp_path))
  assert summary["tracked"] == 0


def test_batched_run_matches_one_stream_and_converted_weights_load(tmp_path):
  # The same random variables, once saved as converted weights and read back (no warning).
  config = tiny_config()
  save_variables(str(tmp_path / "weights"), random_variables(config, config.seed), {})
  one = tiny_config(num_streams=1, results_dir=str(tmp_path / "one"), report=False,
                    weights=str(tmp_path / "weights"))
  many = tiny_config(num_streams=3, results_dir=str(tmp_path / "many"), report=False)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    benchmark_runner.evaluate(one, str(tmp_path))
  with pytest.warns(UserWarning):
    benchmark_runner.evaluate(many, str(tmp_path))
  a, b = rf.read_results(tmp_path / "one"), rf.read_results(tmp_path / "many")
  assert sorted(a.boxes) == sorted(b.boxes) and len(a.boxes) == 3
  for seq in a.boxes:
    np.testing.assert_allclose(a.boxes[seq][0], b.boxes[seq][0], atol=2e-3)


def test_got10k_val_and_test_layouts_and_zip(tmp_path):
  root = tmp_path / "GOT-10k"
  fx.write_got10k(root, "val", names=("GOT-10k_Val_000001", "GOT-10k_Val_000002"), num_frames=5)
  fx.write_got10k(root, "test", names=("GOT-10k_Test_000001",), num_frames=4)
  for split, names in (("val", ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]),
                       ("test", ["GOT-10k_Test_000001"])):
    config = tiny_config(dataset="got10k", dataset_root=str(root), split=split)
    with pytest.warns(UserWarning):
      summary = benchmark_runner.evaluate(config, str(tmp_path / "work"))
    out = tmp_path / "work" / "results" / f"got10k_{split}" / "stark"
    for name in names:
      boxes = rf.read_boxes(out / name / f"{name}_001.txt")
      assert boxes.shape[0] == (5 if split == "val" else 4)
      assert rf.read_times(out / name / f"{name}_time.txt").shape == (boxes.shape[0],)
    if split == "val":
      assert "metrics" in summary and "zip" not in summary
    else:
      assert "metrics" not in summary  # no ground truth after frame 0
      with zipfile.ZipFile(summary["zip"]) as z:
        assert sorted(z.namelist()) == ["GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt",
                                        "GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt"]


def _toolkit_ious(pred, gt, width, height):
  """IoUs as got10k 0.1.3 computes them: frame 0 dropped, both boxes clipped to (W, H) (x to
  [0, W], then w to [0, W - x]; same for y, h), inter / (union + eps), clipped to [0, 1]."""
  def clip(b):
    b = b[1:].copy()
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b
  p, g = clip(pred), clip(gt)
  w = np.maximum(np.minimum(p[:, 0] + p[:, 2], g[:, 0] + g[:, 2]) - np.maximum(p[:, 0], g[:, 0]), 0)
  h = np.maximum(np.minimum(p[:, 1] + p[:, 3], g[:, 1] + g[:, 3]) - np.maximum(p[:, 1], g[:, 1]), 0)
  union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - w * h
  return np.clip(w * h / (union + np.finfo(float).eps), 0.0, 1.0)


def test_got10k_val_scores_equal_the_toolkit_rules_with_boxes_leaving_the_image(tmp_path):
  root = tmp_path / "GOT-10k"
  names = ("GOT-10k_Val_000001", "GOT-10k_Val_000002")
  absent = [np.zeros(6, int), np.array([0, 0, 1, 0, 0, 0])]  # Frame 2 of B: cover 0, not scored.
  fx.write_got10k(root, "val", names=names, num_frames=6, height=48, width=64, absent=absent)
  # A takes its bound from meta_info.ini (here smaller than the frames), B from its first frame.
  (root / "val" / names[0] / "meta_info.ini").write_text(
      "[METAINFO]\nobject_class: cat\nresolution: (40, 30)\n")
  bounds = {names[0]: (40, 30), names[1]: (64, 48)}
  leaving = np.array([[-10, 3, 30, 20], [30, 20, 30, 30], [70, 50, 10, 10], [-5, -5, 12, 12],
                      [20, 10, 30, 40]], float)  # left, right/bottom, wholly outside, corner
  out = tmp_path / "results" / "stark"
  expected, unclipped = [], []
  for k, name in enumerate(names):
    gt = fx.boxes_for(6, seed=k)
    cover = np.where(absent[k], 0, 8)
    near = gt[1:] + np.array([[0.5, -0.5, 1, 0], [3, -2, 4, 1]] * 3)[:5]
    reps = [np.concatenate([gt[:1], leaving]), np.concatenate([gt[:1], near])]
    for r, boxes in enumerate(reps, start=1):
      rf.write_sequence_result(out, name, boxes, np.full(6, 0.01 * r), layout="got10k",
                               repetition=r)
      expected.append(_toolkit_ious(boxes, gt, *bounds[name])[cover[1:] > 0])
      unclipped.append(_toolkit_ious(boxes, gt, np.inf, np.inf)[cover[1:] > 0])
  ious = np.concatenate(expected)
  assert ious.size == 18 and (ious == 0).any() and (ious > 0.75).any()
  assert ((ious > 0.5) & (ious <= 0.75)).any()
  assert abs(np.mean(ious) - np.mean(np.concatenate(unclipped))) > 1e-3  # Clipping matters.
  config = tiny_config(dataset="got10k", dataset_root=str(root), split="val",
                       results_dir=str(out))
  summary = benchmark_runner.evaluate(config, str(tmp_path / "work"))  # Only scores: all done.
  assert summary["tracked"] == 0
  metrics = summary["metrics"]
  assert abs(metrics["ao"] - np.mean(ious)) < 1e-12
  assert abs(metrics["sr50"] - np.mean(ious > 0.5)) < 1e-12
  assert abs(metrics["sr75"] - np.mean(ious > 0.75)) < 1e-12
  assert metrics["fps"] == pytest.approx(np.mean(1 / np.r_[np.full(12, 0.01), np.full(12, 0.02)]))


def test_trackingnet_test_zip_and_lasot_plain_layout(tmp_path):
  fx.write_trackingnet(tmp_path / "TN", chunk="TEST", seqs=("a1", "b2"), num_frames=4)
  config = tiny_config(dataset="trackingnet", dataset_root=str(tmp_path / "TN"), split="test")
  with pytest.warns(UserWarning):
    summary = benchmark_runner.evaluate(config, str(tmp_path / "work"))
  with zipfile.ZipFile(summary["zip"]) as z:
    assert sorted(z.namelist()) == ["a1.txt", "b2.txt"]
    assert len(z.read("a1.txt").decode().splitlines()) == 4

  fx.write_lasot(tmp_path / "LaSOT", seqs=("airplane-1",), num_frames=6)
  config = tiny_config(dataset="lasot", dataset_root=str(tmp_path / "LaSOT"), split="all",
                       tracker_name="mine")
  with pytest.warns(UserWarning):
    summary = benchmark_runner.evaluate(config, str(tmp_path / "work"))
  assert rf.read_boxes(tmp_path / "work" / "results" / "lasot_all" / "mine" / "airplane-1.txt"
                       ).shape == (6, 4)
  assert "metrics" in summary


def test_bad_settings_fail_clearly(tmp_path):
  with pytest.raises(ValueError, match="config.evaluate.dataset="):
    benchmark_runner.evaluate(tiny_config(dataset="vot"), str(tmp_path))
  with pytest.raises(ValueError, match="dataset_root"):
    benchmark_runner.evaluate(tiny_config(dataset="lasot"), str(tmp_path))
  with pytest.raises(ValueError, match="unknown sequence"):
    benchmark_runner.evaluate(tiny_config(sequences="nope"), str(tmp_path))
