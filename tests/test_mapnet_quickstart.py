"""The MAPNet-R quickstart model tracks held-out synthetic targets better than random weights.

``tests/data/quickstart_mapnet`` holds the weights written by
``python -m trackjax.main --config configs/mapnet_r50.py:quickstart --workdir W``
(``W/stage1/final``, 2.8 MB; 1200 steps, 19.9 min on a 2-core CPU shared with other jobs).
Tracking its 16 held-out synthetic sequences (640x480) gave AUC 38.2 / precision@20 63.5 /
AO 41.4 when it was trained; random weights of the same network gave AUC 2.9 / precision 2.6.
"""

from pathlib import Path

import pytest

from trackjax.config_files import load_config
from trackjax.sot import benchmark_runner

WEIGHTS = Path(__file__).parent / "data" / "quickstart_mapnet"
TRAINED_AUC_FLOOR = 0.30  # the bar; measured 0.382
TRAINED_PRECISION_FLOOR = 0.50  # measured 0.635
RANDOM_AUC_FRACTION = 0.5  # random 0.029 = 0.08 x trained
RANDOM_PRECISION_FRACTION = 0.3  # random 0.026 = 0.04 x trained


def quickstart_evaluation(weights: str):
  config = load_config("configs/mapnet_r50.py:quickstart")
  config.evaluate.weights = weights
  config.evaluate.num_streams = 16
  return config


def test_trained_quickstart_follows_held_out_synthetic_targets(tmp_path):
  summary = benchmark_runner.evaluate(quickstart_evaluation(str(WEIGHTS)), str(tmp_path / "trained"))
  assert summary["tracked"] == 16
  metrics = summary["metrics"]
  assert metrics["auc"] > TRAINED_AUC_FLOOR and metrics["precision"] > TRAINED_PRECISION_FLOOR, (
      metrics)

  with pytest.warns(UserWarning, match="RANDOM weights"):
    untrained = benchmark_runner.evaluate(quickstart_evaluation(""), str(tmp_path / "random"))
  random = untrained["metrics"]
  assert random["auc"] < RANDOM_AUC_FRACTION * metrics["auc"], (random, metrics)
  assert random["precision"] < RANDOM_PRECISION_FRACTION * metrics["precision"], (random, metrics)
