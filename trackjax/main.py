"""trackjax command line: flags and dispatch only.

  python -m trackjax.main --config configs/stark_st50.py --workdir runs/st50
  python -m trackjax.main --config configs/stark_st50.py:quickstart --workdir runs/quick
  python -m trackjax.main --config configs/stark_st50.py --config.mode=evaluate --workdir runs/eval ...

``--config.FIELD=VALUE`` overrides any field; unknown fields fail. ``config.mode`` picks the job:
``train`` (default), ``evaluate`` (benchmark runner + report), ``track`` (video demo) or
``benchmark`` (tracking speed). Every mode logs through ``trackjax.console``: progress, warnings
and errors on the console, everything (library INFO records too) in ``WORKDIR/log.txt``.
"""

from __future__ import annotations

from trackjax import console

console.quiet_native_logs()  # before anything imports jax or TensorFlow

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/stark_st50.py",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])
MODES = ("train", "evaluate", "track", "benchmark")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config, workdir = _CONFIG.value, _WORKDIR.value
  if config.mode not in MODES:
    raise app.UsageError(f"config.mode={config.mode!r}: use {', '.join(MODES)}")
  run_log = console.setup_run_logging(workdir)
  with run_log.record_failure():
    _run(config, workdir)


def _run(config, workdir: str) -> None:
  if config.mode == "train":
    from trackjax.train.stark_recipe import train_and_evaluate
    train_and_evaluate(config, workdir)
  elif config.mode == "evaluate":
    from trackjax.evaluate.benchmark_runner import evaluate
    evaluate(config, workdir)
  elif config.mode == "track":
    from trackjax.track.video_demo import run_demo
    run_demo(config, workdir)
  else:
    from trackjax.track.speed_benchmark import run_speed_benchmark
    run_speed_benchmark(config, workdir)


if __name__ == "__main__":
  app.run(main)
