"""Training throughput of the STARK recipe: samples/s and peak memory (RSS) per config.

Runs the real training loop (``train_and_evaluate``, stage 1) on constant in-memory batches, so the
figures are the step itself (no data loading), for a few steps after compilation. Each config runs
in its own process so that its peak RSS is its own.

  python -m benchmarks.train_throughput                      # tiny, quickstart, st50 at batch 16
  python -m benchmarks.train_throughput --configs tiny --steps 5 --batch 8

Prints one line per config: median and min/max samples/s over the timed steps, compile+first step
time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = {
    "tiny": "configs/stark_st50.py:tiny",
    "quickstart": "configs/stark_st50.py:quickstart",
    "st50": "configs/stark_st50.py",
}


def constant_batches(config, stage, *, split, seed, global_batch_size, process_index=0,
                     process_count=1):
  """An ``IteratorFactory`` of one random batch repeated (a Grain iterator, checkpointable)."""
  import grain  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  del stage, split, process_index
  m = config.model
  rng = np.random.default_rng(seed)
  t, ts, ss = m.num_templates, m.template_size, m.search_size
  sample = {
      "template_images": rng.integers(0, 255, (t, ts, ts, 3), dtype=np.uint8),
      "template_masks": np.zeros((t, ts, ts), bool),
      "search_images": rng.integers(0, 255, (ss, ss, 3), dtype=np.uint8),
      "search_masks": np.zeros((ss, ss), bool),
      "search_anno": np.array([0.4, 0.4, 0.2, 0.2], np.float32),
      "label": np.float32(1.0),
      "skipped": np.zeros((1,), np.int32),
  }
  local = global_batch_size // process_count
  return iter(grain.MapDataset.range(1 << 40).map(lambda _: sample).batch(local)
              .to_iter_dataset())


def run_one(name: str, steps: int, batch: int) -> dict:
  """Times ``steps`` training steps of config ``name`` in this process."""
  from trackjax import config_files  # pylint: disable=g-import-not-at-top
  from trackjax.train import loop  # pylint: disable=g-import-not-at-top
  config = config_files.load_config(CONFIGS[name])
  config.train.stages = ("stage1",)
  config.train.global_batch_size = batch
  config.train.samples_per_epoch = max(config.train.samples_per_epoch, batch * (steps + 1))
  config.train.max_steps = steps + 1
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 10**9
  config.train.val_samples = 0
  with tempfile.TemporaryDirectory() as workdir:
    t0 = time.perf_counter()
    loop.train_and_evaluate(config, workdir, make_iterator=constant_batches)
    total = time.perf_counter() - t0
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      records = [json.loads(line) for line in f if '"train/samples_per_s"' in line]
  rates = [r["train/samples_per_s"] for r in records[1:]]  # the first step includes compiling
  first = batch / records[0]["train/samples_per_s"]
  return {"config": name, "batch": batch, "steps": len(rates),
          "samples_per_s_median": statistics.median(rates), "samples_per_s_min": min(rates),
          "samples_per_s_max": max(rates), "compile_and_first_step_s": round(first, 1),
          "total_s": round(total, 1),
          "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", default="tiny,quickstart,st50")
  parser.add_argument("--steps", type=int, default=3, help="timed steps after the first")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: run this config only
  args = parser.parse_args()
  if args.one:
    print("RESULT " + json.dumps(run_one(args.one, args.steps, args.batch)), flush=True)
    return
  import jax  # pylint: disable=g-import-not-at-top
  print(f"devices: {jax.devices()}  cpus: {os.cpu_count()}", flush=True)
  for name in args.configs.split(","):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.train_throughput", "--one", name,
                           "--steps", str(args.steps), "--batch", str(args.batch)],
                          capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
      print(f"{name}: failed\n{proc.stderr[-2000:]}", flush=True)
      continue
    r = json.loads(lines[-1][len("RESULT "):])
    print(f"{name:11s} batch {r['batch']}: {r['samples_per_s_median']:.2f} samples/s median "
          f"({r['samples_per_s_min']:.2f}-{r['samples_per_s_max']:.2f} over {r['steps']} steps), "
          f"compile+first step {r['compile_and_first_step_s']} s, peak RSS "
          f"{r['peak_rss_gib']:.2f} GiB", flush=True)


if __name__ == "__main__":
  main()
