"""Runs a command as N JAX processes on this machine, restarting them all when one dies.

  python -m trackjax.launch_local --processes 2 --devices-per-process 4 --restarts 3 -- \\
      python -m trackjax.main --config configs/MODEL.py:tiny --workdir runs/two

Each process gets ``JAX_COORDINATOR_ADDRESS`` (a free localhost port), ``JAX_NUM_PROCESSES`` and
``JAX_PROCESS_ID``, which ``trackjax.train.sharding.maybe_initialize_distributed`` passes to
``jax.distributed.initialize``; ``--devices-per-process`` simulates that many CPU devices in each
(``--xla_force_host_platform_device_count``, for trying multi-host training on one machine; CPU
collectives go through gloo). When a process exits with an error or is killed, the others are
stopped too (a process waiting in a collective would otherwise wait for its peer forever) and, while
``--restarts`` allows, all are started again: the same command resumes from the last complete
checkpoint, as after a preemption. The launcher's own lines start with ``[launch]``.

On a real cluster the scheduler plays this role (docs/training.md): one process per host, the same
three variables (or SLURM's / the TPU runtime's own, which JAX reads).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

STOP_GRACE_S = 10.0


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return int(s.getsockname()[1])


def process_environment(base: dict[str, str], index: int, count: int, port: int,
                        devices_per_process: int) -> dict[str, str]:
  """The environment of process ``index`` of ``count``."""
  env = dict(base, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(count),
             JAX_PROCESS_ID=str(index))
  if devices_per_process > 0:
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    flags.append(f"--xla_force_host_platform_device_count={devices_per_process}")
    env["XLA_FLAGS"] = " ".join(flags)
    env.setdefault("JAX_PLATFORMS", "cpu")
  return env


def _say(message: str) -> None:
  print(f"[launch] {message}", file=sys.stderr, flush=True)


def _stop(processes: list[subprocess.Popen]) -> None:
  """SIGTERM to every running process, SIGKILL to those still running after the grace time."""
  for p in processes:
    if p.poll() is None:
      p.terminate()
  deadline = time.monotonic() + STOP_GRACE_S
  for p in processes:
    try:
      p.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
      p.kill()
      p.wait()


def run_once(command: list[str], count: int, devices_per_process: int, attempt: int) -> int:
  """Starts ``count`` processes; returns 0 when all succeed, else the first failure's code."""
  port = free_port()
  processes = []
  for index in range(count):
    env = process_environment(dict(os.environ), index, count, port, devices_per_process)
    processes.append(subprocess.Popen(command, env=env))
    _say(f"attempt {attempt}: process {index} pid {processes[-1].pid}")
  try:
    while True:
      codes = [p.poll() for p in processes]
      failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
      if failed:
        index, code = failed[0]
        _say(f"attempt {attempt}: process {index} exited with {code}; stopping the others")
        _stop(processes)
        return code if code > 0 else 128 - code  # killed by signal s: 128 + s, as a shell
      if all(c == 0 for c in codes):
        return 0
      time.sleep(0.2)
  except BaseException:
    _stop(processes)
    raise


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m trackjax.launch_local", description=__doc__.split("\n\n")[0],
      usage="%(prog)s [--processes N] [--devices-per-process D] [--restarts R] -- COMMAND ...")
  parser.add_argument("--processes", type=int, default=2, help="JAX processes to start")
  parser.add_argument("--devices-per-process", type=int, default=0,
                      help="simulated CPU devices per process (0: the machine's own devices)")
  parser.add_argument("--restarts", type=int, default=0,
                      help="times to restart all processes after one fails or is killed")
  parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
  args = parser.parse_args(argv)
  command = args.command[1:] if args.command[:1] == ["--"] else args.command
  if not command:
    parser.error("give the command to run after --")
  if args.processes < 1:
    parser.error(f"--processes must be >= 1, got {args.processes}")
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
  for attempt in range(args.restarts + 1):
    code = run_once(command, args.processes, args.devices_per_process, attempt)
    if code == 0:
      return 0
    if attempt < args.restarts:
      _say(f"restarting all {args.processes} processes ({args.restarts - attempt} restart(s) "
           "left)")
  _say(f"giving up after {args.restarts + 1} attempt(s)")
  return code


if __name__ == "__main__":
  sys.exit(main())
