"""trackjax command line: flags, the family lookup and dispatch only.

  python -m trackjax.main --config configs/<model>.py --workdir runs/<model>
  python -m trackjax.main --config configs/<model>.py:quickstart --workdir runs/quick
  python -m trackjax.main --config configs/<model>.py --config.mode=evaluate --workdir runs/eval ...

``--config.FIELD=VALUE`` overrides any field; unknown fields fail. ``config.family`` names the
tracker family (``trackjax.families``), ``config.mode`` the job, the same for every family:
``train`` (default; the generic loop, ``trackjax.train.loop``), ``evaluate`` (benchmark runner +
report), ``track`` (video demo) or ``benchmark`` (tracking speed), the last three from the
package of the family's task (``trackjax.sot`` for single-object trackers). Every mode logs
through ``trackjax.console``: progress, warnings and errors on the console, everything (library
INFO records too) in ``WORKDIR/log.txt``.
"""

from __future__ import annotations

from trackjax import console

console.quiet_native_logs()  # before anything imports jax or TensorFlow

# pylint: disable=g-import-not-at-top,wrong-import-position
import importlib

from absl import app
from absl import flags
from ml_collections import config_flags

from trackjax.families import available_families, get_family

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, configs/<model>.py[:variant]",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])
MODES = ("train", "evaluate", "track", "benchmark")
# mode -> (module of trackjax.<task>, function(config, workdir)) for the jobs after training.
TASK_JOBS = {"evaluate": ("benchmark_runner", "evaluate"), "track": ("video_demo", "run_demo"),
             "benchmark": ("speed_benchmark", "run_speed_benchmark")}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config, workdir = _CONFIG.value, _WORKDIR.value
  if config.mode not in MODES:
    raise app.UsageError(f"config.mode={config.mode!r}: use {', '.join(MODES)}")
  if config.get("family") not in available_families():
    raise app.UsageError(f"config.family={config.get('family')!r}: use one of "
                         f"{', '.join(available_families())} (folders of trackjax/families/)")
  run_log = console.setup_run_logging(workdir)
  with run_log.record_failure():
    run(config, workdir)


def run(config, workdir: str):
  """Runs ``config.mode`` with the family of ``config.family``."""
  if config.mode == "train":
    from trackjax.train.loop import train_and_evaluate
    return train_and_evaluate(config, workdir)
  task = get_family(config.family).TASK
  module, function = TASK_JOBS[config.mode]
  return getattr(importlib.import_module(f"trackjax.{task}.{module}"), function)(config, workdir)


if __name__ == "__main__":
  app.run(main)
