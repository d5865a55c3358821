"""Runs the tiny STARK-ST recipe on fake data in its own process, as the training tests do:

  python tests/tiny_training_run.py WORKDIR MAX_STEPS [--stages stage1,stage2] [--devices N]
      [--sleep S] [--nan-at BATCH] [--init-backbone-from DIR] [--replay BATCHES]

``--devices`` simulates N CPU devices. XLA flags are set here, before JAX starts: the simulated
device count and a low backend optimisation level (compiling is most of a tiny run's time).
``TRACKJAX_TEST_JAX_CACHE`` names a persistent compilation cache shared between runs.
"""

import argparse
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("max_steps", type=int)
  parser.add_argument("--devices", type=int, default=1)
  parser.add_argument("--sleep", type=float, default=0.0)
  parser.add_argument("--nan-at", type=int, default=-1)
  parser.add_argument("--stages", default="stage1")
  parser.add_argument("--save-init", default="", help="also write the fresh variables here")
  parser.add_argument("--init-backbone-from", default="",
                      help="config.init_backbone_from (a converted torchvision ResNet)")
  parser.add_argument("--replay", type=int, default=0,
                      help="config.train.<stage>.replay_batches of every stage")
  parser.add_argument("--evaluate", action="store_true",
                      help="end with the tracker evaluation on held-out synthetic sequences")
  args = parser.parse_args()
  os.environ["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={args.devices} "
                             "--xla_backend_optimization_level=0 "
                             "--xla_llvm_disable_expensive_passes=true")
  sys.path[:0] = [str(REPO), str(REPO / "tests")]
  import jax  # pylint: disable=g-import-not-at-top
  if os.environ.get("TRACKJAX_TEST_JAX_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["TRACKJAX_TEST_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  assert jax.device_count() == args.devices, jax.devices()
  from fake_train_data import FakeStarkData, tiny_config  # pylint: disable=g-import-not-at-top
  from trackjax.families import get_family  # pylint: disable=g-import-not-at-top
  from trackjax.train import loop  # pylint: disable=g-import-not-at-top
  config = tiny_config(max_steps=args.max_steps, stages=tuple(args.stages.split(",")))
  config.evaluate.after_training = args.evaluate
  config.init_backbone_from = args.init_backbone_from
  for stage in config.train.stages:
    config.train[stage].replay_batches = args.replay
  if args.save_init:
    from trackjax import weights  # pylint: disable=g-import-not-at-top
    task = get_family(config.family).train_task(config)
    init = jax.jit(task.init_variables)(loop.initial_rng(config))  # jitted as in the loop
    weights.save_variables(args.save_init, init, {})
  loop.train_and_evaluate(
      config, args.workdir, make_iterator=FakeStarkData(nan_at_batch=args.nan_at,
                                                        sleep_s=args.sleep))


if __name__ == "__main__":
  main()
