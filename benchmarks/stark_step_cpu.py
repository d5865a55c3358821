"""Times the jitted STARK ``track_step`` alone: batch 1, cached template tokens, random weights.

  PYTHONPATH=. python benchmarks/stark_step_cpu.py --config configs/stark_st50.py --runs 20
  PYTHONPATH=. python benchmarks/stark_step_cpu.py --matmul-dtype bfloat16  # bf16 products option

Prints the median wall time (and p10/p90) over ``--runs`` calls after warm-up, the median CPU
time of the process per call, the host load average and the device. The input
crop is uint8 and normalised inside the jitted step, as the tracker does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from trackjax.config_files import load_config
from trackjax.families.stark.model import Tokens, build_stark, dummy_inputs, inference_variables
from trackjax.models.image_normalization import normalize_images
from trackjax.models.matmul_precision import MATMUL_DTYPES


def time_track_step(config_spec: str, runs: int = 20, warmup: int = 3, dtype: str = "float32",
                    seed: int = 0, matmul_dtype: str | None = None) -> dict:
  """Median seconds of one jitted ``track_step`` (batch 1) with random weights.

  ``matmul_dtype`` overrides ``config.model.matmul_dtype`` ('float32' or 'bfloat16').
  """
  config = load_config(config_spec)
  if matmul_dtype is not None:
    config.model.matmul_dtype = matmul_dtype
  compute_dtype = jnp.bfloat16 if dtype == "bfloat16" else jnp.float32
  model = build_stark(config.model, dtype=compute_dtype)
  variables = jax.jit(model.init)(jax.random.PRNGKey(seed), *dummy_inputs(config.model))
  # As the tracker does: bf16 product kernels rounded once, not on every step.
  variables = inference_variables(variables, config.model.matmul_dtype)
  m = config.model
  ts, ss = m.template_size, m.search_size
  rng = np.random.default_rng(seed)
  template = jnp.asarray(rng.integers(0, 256, (m.num_templates, ts, ts, 3), np.uint8))
  template_mask = jnp.zeros((m.num_templates, ts, ts), bool)

  @jax.jit
  def encode_templates(variables, images, masks):
    tokens = model.apply(variables, normalize_images(images, compute_dtype), masks,
                         method=model.encode)
    # (T, L, C) -> (1, T*L, C): template tokens side by side, as the tracker caches them.
    return Tokens(*(x.reshape(1, -1, *x.shape[2:]) for x in (tokens.feat, tokens.mask, tokens.pos)))

  @jax.jit
  def step(variables, tokens, images, masks):
    return model.apply(variables, tokens, normalize_images(images, compute_dtype), masks,
                       method=model.track_step)

  tokens = encode_templates(variables, template, template_mask)
  search = jnp.asarray(rng.integers(0, 256, (1, ss, ss, 3), np.uint8))
  search_mask = jnp.zeros((1, ss, ss), bool)
  for _ in range(warmup):
    jax.block_until_ready(step(variables, tokens, search, search_mask))
  times, cpu_times = [], []
  for _ in range(runs):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(step(variables, tokens, search, search_mask))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  return {
      "config": config_spec, "dtype": dtype, "matmul_dtype": config.model.matmul_dtype,
      "device": str(jax.devices()[0].device_kind),
      "platform": jax.devices()[0].platform, "runs": runs,
      "median_ms": 1e3 * statistics.median(times),
      "p10_ms": 1e3 * float(np.percentile(times, 10)),
      "p90_ms": 1e3 * float(np.percentile(times, 90)),
      # CPU seconds of this process per step: robust to other processes on a shared machine.
      "cpu_ms_median": 1e3 * statistics.median(cpu_times),
      "host_load_average": os.getloadavg(),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/stark_st50.py")
  parser.add_argument("--runs", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                      help="compute dtype of the whole network")
  parser.add_argument("--matmul-dtype", default=None, choices=MATMUL_DTYPES,
                      help="config.model.matmul_dtype: 'bfloat16' = bf16 products, f32 accumulation")
  args = parser.parse_args()
  print(json.dumps(time_track_step(args.config, args.runs, args.warmup, args.dtype,
                                   matmul_dtype=args.matmul_dtype), indent=2))


if __name__ == "__main__":
  main()
