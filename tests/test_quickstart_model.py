"""The model trained by the README's main command tracks held-out synthetic targets.

``tests/data/quickstart_stark_st`` holds the stage-2 weights written by
``python -m trackjax.main --config configs/stark_st50.py:quickstart --workdir W`` (W/stage2/final,
2.4 MB; 13 min on a 2-core CPU). Tracking its 16 held-out synthetic sequences gave AUC 35.7 when it
was trained; random weights of the same network stay near zero.
"""

from pathlib import Path

import pytest

from trackjax.config_files import load_config
from trackjax.sot import benchmark_runner

WEIGHTS = Path(__file__).parent / "data" / "quickstart_stark_st"


def quickstart_evaluation(weights: str):
  config = load_config("configs/stark_st50.py:quickstart")
  config.evaluate.weights = weights
  config.evaluate.num_streams = 16
  return config


def test_trained_quickstart_follows_held_out_synthetic_targets(tmp_path):
  summary = benchmark_runner.evaluate(quickstart_evaluation(str(WEIGHTS)), str(tmp_path / "trained"))
  assert summary["tracked"] == 16
  metrics = summary["metrics"]
  assert metrics["auc"] > 0.28 and metrics["precision"] > 0.40, metrics

  with pytest.warns(UserWarning, match="RANDOM weights"):
    untrained = benchmark_runner.evaluate(quickstart_evaluation(""), str(tmp_path / "random"))
  assert untrained["metrics"]["auc"] < 0.5 * metrics["auc"], (untrained["metrics"], metrics)
