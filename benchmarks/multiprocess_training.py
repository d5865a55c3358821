"""Wall time of one training run as 1 process with 8 devices against 2 processes with 4 each.

Both run the same command, ``python -m trackjax.main`` on a recipe with the embedded synthetic
data (default: the ``:tiny`` recipe of ``tests/test_multiprocess_training.py``, 12 steps at global
batch 8), started by ``python -m trackjax.launch_local`` with simulated CPU devices; every run is
a fresh process and workdir, compilation included (no persistent cache). Runs alternate between
the two shapes so that machine load hits both alike.

  python -m benchmarks.multiprocess_training --repeats 3

Prints each run's wall time and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

RECIPE = ["--config", "configs/stark_st50.py:tiny", "--config.train.global_batch_size=8",
          "--config.train.stages=('stage1',)", "--config.train.stage1.epochs=6",
          "--config.evaluate.after_training=False", "--config.train.val_every_epochs=0"]


def timed_run(processes: int, devices: int, extra: list[str]) -> float:
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, "-m", "trackjax.launch_local", f"--processes={processes}",
               f"--devices-per-process={devices // processes}", "--", sys.executable, "-m",
               "trackjax.main", *RECIPE, *extra, f"--workdir={workdir}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=os.getcwd()))
    return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--devices", type=int, default=8, help="devices in all")
  parser.add_argument("extra", nargs="*", help="more --config.FIELD=VALUE overrides")
  args = parser.parse_args()
  times = {1: [], 2: []}
  for repeat in range(args.repeats):
    for processes in (1, 2):
      seconds = timed_run(processes, args.devices, args.extra)
      times[processes].append(seconds)
      print(f"run {repeat}: {processes} process(es) x {args.devices // processes} devices: "
            f"{seconds:.1f} s", flush=True)
  for processes, values in times.items():
    print(f"{processes} process(es): median {statistics.median(values):.1f} s "
          f"(min {min(values):.1f}, max {max(values):.1f}, {len(values)} runs)")
  print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  main()
