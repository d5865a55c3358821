"""Speed benchmark on the tiny config: K = 1, 2 and the JSON it writes."""

import json

from trackjax.config_files import load_config
from trackjax.sot.speed_benchmark import run_speed_benchmark


def test_speed_benchmark_writes_fps_latency_and_batched_throughput(tmp_path):
  config = load_config("configs/stark_st50.py:tiny")
  result = run_speed_benchmark(config, str(tmp_path))
  saved = json.loads((tmp_path / config.speed.output).read_text())
  assert saved["device"]["platform"] == "cpu" and saved["model"] == "stark_st"
  for part in ("end_to_end", "network"):
    lat = saved[part]["latency_ms"]
    assert saved[part]["fps"] > 0 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert len(saved[part]["fps_runs"]) == config.speed.repeats
  assert sorted(saved["batched"]) == ["1", "2"]
  two = saved["batched"]["2"]
  assert abs(two["fps_per_stream"] * 2 - two["fps"]) < 1e-9
  assert result["network"]["fps"] == saved["network"]["fps"]
