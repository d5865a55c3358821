"""ACTrack's training saving, measured: the frozen-ViT step against full fine-tuning.

For the same network (``configs/actrack_vitb256.py``: ViT-B/16, template 128, search 256, the
additive net and the sequence decoder) and the same batch, two training steps are compiled the
way ``trackjax.train.loop`` builds its step (loss, ``value_and_grad``, the stage's AdamW with its
frozen groups, ``apply_updates``, the state donated):

* ``additive`` (ACTrack): the ViT frozen (stop-gradient in the loss, ``set_to_zero`` without
  optimizer state), the additive net and the decoder trained;
* ``full``: the same network with everything trainable (fine-tuning the backbone).

Reported per step: XLA's compiled memory analysis (``jitted.lower(...).compile()
.memory_analysis()``: temporaries, arguments, outputs, and their sum less the donated aliases as
the peak estimate), the device's peak memory where it reports one (GPU), the compiled FLOPs, the
step time (median of ``--repeats`` runs of ``--steps`` steps after a warm-up step), the
parameters and the optimizer-state sizes, and the ratios full / additive.

  python benchmarks/actrack_saving.py --batch 8 --repeats 3 --steps 2 --out actrack_saving.json
  python benchmarks/actrack_saving.py --depth 2   # a quick look with 2 ViT blocks
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np
import optax

from trackjax.config_files import load_config
from trackjax.families.actrack import training
from trackjax.train import optimizer as optimizer_lib

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                      "actrack_vitb256.py")


def fake_batch(model, batch: int, seed: int = 0):
  rng = np.random.default_rng(seed)
  ts, ss = model.template_size, model.search_size
  box = np.tile(np.array([[0.4, 0.38, 0.22, 0.26]], np.float32), (batch, 1))
  return {
      "template_images": rng.integers(0, 255, (batch, 1, ts, ts, 3), dtype=np.uint8),
      "template_pixel_scale": np.full((batch, 1), 1 / 255, np.float32),
      "search_images": rng.integers(0, 255, (batch, ss, ss, 3), dtype=np.uint8),
      "search_pixel_scale": np.full((batch,), 1 / 255, np.float32),
      "search_anno": box + rng.uniform(-0.05, 0.05, box.shape).astype(np.float32),
  }


def count(tree) -> int:
  return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree))


def build_step(config, kind: str):
  """(jitted step, fresh-state function, trained and frozen parameter counts) for ``kind``."""
  config = load_config(CONFIG) if config is None else config
  config.train.additive.kind = kind
  task = training.train_task(config)
  stage = config.train.additive
  stage_task = task.stage("additive")
  abstract = jax.eval_shape(task.init_variables, jax.random.PRNGKey(0))
  labels = optimizer_lib.parameter_labels(abstract["params"], stage.trainable, stage_task.frozen)
  tx = optimizer_lib.build_optimizer(stage, labels, 100)

  def init_state(rng):
    params = task.init_variables(rng)["params"]
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}

  def train_step(state, batch):
    rng = jax.random.fold_in(jax.random.PRNGKey(1), state["step"])
    loss_fn = lambda p: stage_task.loss({"params": p}, batch, rng, True)
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    return {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
            "opt_state": opt_state}, loss

  frozen = sum(int(np.size(x)) for x, l in zip(jax.tree_util.tree_leaves(abstract["params"]),
                                               jax.tree_util.tree_leaves(labels))
               if l == optimizer_lib.FROZEN)
  return (jax.jit(train_step, donate_argnums=0), jax.jit(init_state),
          count(abstract["params"]) - frozen, frozen)


def prepare(config, kind: str, batch_size: int) -> dict:
  """Compiles ``kind``'s step; returns its compiled figures and what timing needs."""
  step, init_state, trained, frozen = build_step(config, kind)
  batch = {k: jnp.asarray(v) for k, v in fake_batch(config.model, batch_size).items()}
  state = init_state(jax.random.PRNGKey(0))
  t0 = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  memory = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  out = {"kind": kind, "trained_params": trained, "frozen_params": frozen,
         "opt_state_values": count(state["opt_state"]), "compile_s": compile_s,
         "flops": float((cost or {}).get("flops", float("nan")))}
  if memory is not None:
    for name in ("temp", "argument", "output", "alias", "generated_code"):
      out[f"{name}_bytes"] = int(getattr(memory, f"{name}_size_in_bytes", 0))
    out["peak_estimate_bytes"] = (out["temp_bytes"] + out["argument_bytes"] + out["output_bytes"]
                                  - out["alias_bytes"])
  state, loss = compiled(state, batch)  # warm-up
  jax.block_until_ready(loss)
  out["step_s_runs"] = []
  return {"figures": out, "compiled": compiled, "state": state, "batch": batch}


def time_steps(run: dict, steps: int) -> None:
  """One timed run of ``steps`` steps (appended to the figures' ``step_s_runs``)."""
  state, batch, compiled = run["state"], run["batch"], run["compiled"]
  t0 = time.perf_counter()
  for _ in range(steps):
    state, loss = compiled(state, batch)
  jax.block_until_ready(loss)
  run["state"] = state
  run["figures"]["step_s_runs"].append((time.perf_counter() - t0) / steps)
  run["figures"]["loss_finite"] = bool(np.isfinite(float(loss)))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--steps", type=int, default=2, help="timed steps per run")
  parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported")
  parser.add_argument("--depth", type=int, default=0, help="ViT blocks (0: the config's 12)")
  parser.add_argument("--kinds", default="additive,full")
  parser.add_argument("--out", default="")
  args = parser.parse_args(argv)
  runs = {}
  for kind in args.kinds.split(","):
    config = load_config(CONFIG)
    if args.depth:
      config.model.vit_depth = args.depth
      config.model.additive_blocks = tuple(b for b in config.model.additive_blocks
                                           if b < args.depth) or (0,)
      config.model.additive_widths = config.model.additive_widths[
          :len(config.model.additive_blocks)]
    runs[kind] = prepare(config, kind, args.batch)
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:  # process-wide: meaningful per kind with --kinds KIND
      runs[kind]["figures"]["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
  # Timed runs alternate between the kinds, so that a shared machine's load hits both alike.
  for _ in range(args.repeats):
    for run in runs.values():
      time_steps(run, args.steps)
  results = {}
  for kind, run in runs.items():
    r = results[kind] = run["figures"]
    r["step_s"] = statistics.median(r["step_s_runs"])
    print(f"{kind:9s} trained {r['trained_params']:,} frozen {r['frozen_params']:,} "
          f"opt-state {r['opt_state_values']:,}; peak estimate "
          f"{r.get('peak_estimate_bytes', 0) / 2**20:.0f} MiB (temp "
          f"{r.get('temp_bytes', 0) / 2**20:.0f}); {r['flops'] / 1e9:.1f} GFLOP; step "
          f"{r['step_s']:.3f} s (runs {', '.join(f'{t:.3f}' for t in r['step_s_runs'])})",
          flush=True)
  summary = {"device": str(jax.devices()[0].device_kind), "platform": jax.default_backend(),
             "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
             "batch": args.batch, "depth": args.depth or 12, "results": results}
  if {"additive", "full"} <= set(results):
    a, f = results["additive"], results["full"]
    ratios = {"step_time": f["step_s"] / a["step_s"], "flops": f["flops"] / a["flops"]}
    for key in ("peak_estimate_bytes", "temp_bytes", "device_peak_bytes"):
      if key in a and key in f:
        ratios[key] = f[key] / a[key]
    summary["full_over_additive"] = ratios
    print("full fine-tuning / ACTrack: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
  if args.out:
    with open(args.out, "w") as fh:
      json.dump(summary, fh, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
