"""MAPNet-R's per-frame cost: parameters, XLA's FLOP count and the jitted ``track_step`` time.

  PYTHONPATH=. python benchmarks/mapnet_step_cpu.py --runs 20
  PYTHONPATH=. python benchmarks/mapnet_step_cpu.py --variant tiny --runs 5  # unit-test size
  PYTHONPATH=. python benchmarks/mapnet_step_cpu.py --stored-variables  # without the inference form

Batch 1, cached template tokens, random weights, float32, on ``model.inference_variables`` (folded
batch norms, split in-projections, Winograd kernels: what a tracker runs) unless
``--stored-variables``; ``max_abs_diff_vs_stored`` compares the two forms' outputs. FLOPs are
those of the compiled step (``jax.jit(step).lower(...).compile().cost_analysis()['flops']``; XLA
counts a multiply-add as two), for the search step alone and for the once-per-sequence template
encoding (the inference form's Winograd convolutions count a little less). Prints the median
wall time (p10/p90) over ``--runs`` calls after warm-up, the median CPU time of the process per
call, the host load average and the device. The crop is uint8, normalised inside the jitted step
as a tracker does.
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

from trackjax.families.mapnet.config import model_config
from trackjax.families.mapnet.model import build_mapnet, dummy_inputs, inference_variables
from trackjax.models.image_normalization import normalize_images
from trackjax.models.matmul_precision import MATMUL_DTYPES


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def compiled_flops(compiled) -> float:
  """``flops`` of a compiled program's cost analysis (a dict, or a list of one per device)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", float("nan")))


def measure(variant: str = "", runs: int = 20, warmup: int = 3, seed: int = 0,
            matmul_dtype: str | None = None, stored_variables: bool = False) -> dict:
  m = model_config(variant)
  if matmul_dtype is not None:
    m.matmul_dtype = matmul_dtype
  model = build_mapnet(m)
  stored = jax.jit(model.init)(jax.random.PRNGKey(seed), *dummy_inputs(m))
  variables = stored if stored_variables else inference_variables(stored, m)
  rng = np.random.default_rng(seed)
  ts, ss = m.template_size, m.search_size
  template = jnp.asarray(rng.integers(0, 256, (1, ts, ts, 3), np.uint8))
  template_mask = jnp.zeros((1, ts, ts), bool)
  search = jnp.asarray(rng.integers(0, 256, (1, ss, ss, 3), np.uint8))
  search_mask = jnp.zeros((1, ss, ss), bool)

  def encode_template(variables, images, masks):
    return model.apply(variables, normalize_images(images), masks, method=model.encode_template)

  def step(variables, tokens, images, masks):
    return model.apply(variables, tokens, normalize_images(images), masks, method=model.track_step)

  start = time.perf_counter()
  encode_compiled = jax.jit(encode_template).lower(variables, template, template_mask).compile()
  tokens = encode_compiled(variables, template, template_mask)
  step_compiled = jax.jit(step).lower(variables, tokens, search, search_mask).compile()
  compile_s = time.perf_counter() - start
  for _ in range(warmup):
    jax.block_until_ready(step_compiled(variables, tokens, search, search_mask))
  times, cpu_times = [], []
  for _ in range(runs):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(step_compiled(variables, tokens, search, search_mask))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  outputs = step_compiled(variables, tokens, search, search_mask)
  reference = jax.jit(step)(stored, jax.jit(encode_template)(stored, template, template_mask),
                            search, search_mask)
  max_abs_diff = max(float(jnp.max(jnp.abs(outputs[k] - reference[k]))) for k in outputs)
  params = stored["params"]
  return {
      "variant": variant or "full", "matmul_dtype": m.matmul_dtype,
      "variables": "stored" if stored_variables else "inference form",
      "max_abs_diff_vs_stored": max_abs_diff,
      "params": count(params),
      "params_by_part": {name: count(part) for name, part in params.items()},
      "constants": count(stored.get("constants", {})),
      "gflops_per_frame": compiled_flops(step_compiled) / 1e9,
      "gflops_template": compiled_flops(encode_compiled) / 1e9,
      "compile_s": compile_s,
      "device": str(jax.devices()[0].device_kind), "platform": jax.devices()[0].platform,
      "cpu_count": os.cpu_count(), "runs": runs,
      "median_ms": 1e3 * statistics.median(times),
      "p10_ms": 1e3 * float(np.percentile(times, 10)),
      "p90_ms": 1e3 * float(np.percentile(times, 90)),
      # CPU seconds of this process per step: robust to other processes on a shared machine.
      "cpu_ms_median": 1e3 * statistics.median(cpu_times),
      "host_load_average": os.getloadavg(),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--variant", default="", choices=("", "tiny"))
  parser.add_argument("--runs", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--matmul-dtype", default=None, choices=MATMUL_DTYPES,
                      help="config.model.matmul_dtype: 'bfloat16' = bf16 products, f32 "
                      "accumulation")
  parser.add_argument("--stored-variables", action="store_true",
                      help="time the stored variables instead of their inference form")
  args = parser.parse_args()
  print(json.dumps(measure(args.variant, args.runs, args.warmup, matmul_dtype=args.matmul_dtype,
                           stored_variables=args.stored_variables), indent=2))


if __name__ == "__main__":
  main()
