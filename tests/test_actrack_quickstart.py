"""The ACTrack quickstart model tracks held-out synthetic targets better than random weights.

``tests/data/quickstart_actrack`` holds the weights written by
``python -m trackjax.main --config configs/actrack_vitb256.py:quickstart --workdir W``
(``W/additive/final``, 2.1 MB: the small ViT of stage ``backbone``, frozen, with the additive net
and decoder of stage ``additive``; 1200 + 4000 steps, 11 min 5 s end to end on a 2-core CPU).
Tracking its 16 held-out synthetic sequences (640x480) with greedy coordinate decoding gave AUC
33.1 / precision@20 50.9 / AO 35.5 when it was trained; random weights of the same network gave
AUC 1.7 / precision 3.9.
"""

from pathlib import Path

import pytest

from trackjax.config_files import load_config
from trackjax.sot import benchmark_runner

WEIGHTS = Path(__file__).parent / "data" / "quickstart_actrack"
TRAINED_AUC_FLOOR = 0.30  # the bar; measured 0.331
TRAINED_PRECISION_FLOOR = 0.45  # measured 0.509
RANDOM_AUC_FRACTION = 0.5  # random 0.017 = 0.05 x trained
RANDOM_PRECISION_FRACTION = 0.3  # random 0.039 = 0.08 x trained


def quickstart_evaluation(weights: str):
  config = load_config("configs/actrack_vitb256.py:quickstart")
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
