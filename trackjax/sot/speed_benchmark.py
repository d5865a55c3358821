"""Tracking speed: per-stream fps (end to end and network only), latency percentiles, and the
throughput of K batched streams, on the current JAX device.

  python -m trackjax.main --config configs/<model>.py --config.mode=benchmark --workdir runs/speed \\
      --config.speed.stream_counts=1,8
  # a family whose model has the bf16 option, on a CPU with bf16 dot instructions:
  #   add --config.model.matmul_dtype=bfloat16

What is timed (synthetic frames rendered beforehand, so no decoding), for the tracker of
``config.family``:
* ``end_to_end``: ``tracker.track`` on one stream: search crop on the host, transfer, jitted
  step, box mapping and memory updates (e.g. templates): the latency a user sees per frame.
* ``network``: the jitted ``network_step`` alone on device-resident inputs (``block_until_ready``).
* ``batched``: ``BatchedTracker.track`` with K active streams; throughput = K frames per call.
Every figure is the median over ``config.speed.repeats`` runs of ``num_frames`` frames after
``warmup_frames``; latency percentiles pool the per-frame times of all runs. JSON goes to
``<workdir>/<config.speed.output>``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from data_pipelines.synthetic import SyntheticSource
from trackjax import console
from trackjax.families import get_family
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import as_rgb_frame, initial_box
from trackjax.sot.tracker_variables import load_tracker_variables, random_variables


def device_description() -> dict[str, Any]:
  device = jax.devices()[0]
  return {'platform': device.platform, 'device_kind': device.device_kind,
          'num_devices': jax.device_count(), 'host': platform.processor() or platform.machine(),
          'host_cpus': os.cpu_count(), 'jax': jax.__version__}


def _time_calls(fn: Callable[[int], Any], count: int) -> list[float]:
  """Seconds of ``fn(i)`` for i in range(count); ``fn`` must block until its result is ready."""
  times = []
  for i in range(count):
    start = time.perf_counter()
    fn(i)
    times.append(time.perf_counter() - start)
  return times


def _summary(runs: list[list[float]], frames_per_call: int = 1) -> dict[str, Any]:
  """Median fps over runs plus latency percentiles over all calls (milliseconds)."""
  fps = [frames_per_call * len(r) / sum(r) for r in runs]
  pooled = np.concatenate([np.asarray(r) for r in runs])
  return {
      'fps': statistics.median(fps),
      'fps_runs': fps,
      'latency_ms': {'p50': 1e3 * float(np.percentile(pooled, 50)),
                     'p90': 1e3 * float(np.percentile(pooled, 90)),
                     'p99': 1e3 * float(np.percentile(pooled, 99)),
                     'mean': 1e3 * float(pooled.mean())},
  }


def synthetic_frames(num_frames: int, image_size, seed: int = 0):
  """Frames and the first box of one held-out synthetic sequence."""
  source = SyntheticSource(1, num_frames, image_size=tuple(image_size), seed=seed, split='test')
  return [source.read_frame(0, f) for f in range(num_frames)], source.sequence(0).boxes[0]


def measure_speed(config, variables=None) -> dict[str, Any]:
  """Runs the three measurements of the module docstring; returns a JSON-ready dict."""
  s = config.speed
  dtype = jnp.bfloat16 if s.compute_dtype == 'bfloat16' else jnp.float32
  if variables is None:
    variables = (load_tracker_variables(config, s.weights) if s.weights
                 else random_variables(config, config.get('seed', 0)))
  tracker = get_family(config.family).build_tracker(config, dtype=dtype)
  n, warm, repeats = int(s.num_frames), int(s.warmup_frames), max(1, int(s.repeats))
  frames, box0 = synthetic_frames(n + warm + 1, s.image_size)
  # Progress: one unit per timed run of `n` frames; a line per measurement (process 0).
  progress = console.Progress('speed', repeats * (2 + len(s.stream_counts)), unit='run',
                              enabled=console.is_main_process())
  progress.line(f'[speed] {repeats} runs of {n} frames (after {warm} warm-up) each: end to end, '
                f'network, batched K={",".join(str(int(k)) for k in s.stream_counts)}')

  # End to end, one stream.
  progress.set(0, {'measuring': 'end_to_end'})
  e2e_runs = []
  for _ in range(repeats):
    state = tracker.init(variables, frames[0], box0)
    holder = {'state': state}

    def step(i, offset=0):
      _, _, holder['state'] = tracker.track(variables, holder['state'], frames[1 + offset + i])

    for i in range(warm):
      step(i)
    e2e_runs.append(_time_calls(lambda i: step(i, warm), n))
    progress.update(1)
  progress.line(f'[speed] end to end: {_summary(e2e_runs)["fps"]:.1f} fps')

  # Network only, one stream, inputs already on the device.
  box = initial_box(box0)
  memory = tracker.initial_memory(variables, as_rgb_frame(frames[0]), box)
  inputs, _ = tracker.search_inputs(as_rgb_frame(frames[1]), box)
  inputs = [jax.device_put(np.asarray(x)[None]) for x in inputs]
  net = lambda i: jax.block_until_ready(tracker.network_step(variables, memory, *inputs))
  progress.set(progress.n, {'measuring': 'network'})
  net_runs = []
  for _ in range(repeats):
    _time_calls(net, warm)
    net_runs.append(_time_calls(net, n))
    progress.update(1)
  progress.line(f'[speed] network: {_summary(net_runs)["fps"]:.1f} fps')

  # Batched streams.
  batched_results = {}
  for k in s.stream_counts:
    k = int(k)
    batched = BatchedTracker(tracker, k)
    progress.set(progress.n, {'measuring': f'batched K={k}'})
    runs = []
    for _ in range(repeats):
      bstate = batched.empty_state(variables)
      for slot in range(k):
        bstate = batched.init_slot(variables, bstate, slot, frames[0], box0)
      holder = {'state': bstate}

      def bstep(i, offset=0):
        frame = frames[1 + offset + i]
        _, _, holder['state'] = batched.track(variables, holder['state'],
                                              {slot: frame for slot in range(k)})

      for i in range(warm):
        bstep(i)
      runs.append(_time_calls(lambda i: bstep(i, warm), n))
      progress.update(1)
    result = _summary(runs, frames_per_call=k)
    result['fps_per_stream'] = result['fps'] / k
    batched_results[str(k)] = result
    progress.line(f'[speed] batched K={k}: {result["fps"]:.1f} frames/s')
  progress.close(summary=False)

  return {
      'family': config.family, 'model': config.model.get('name', config.family),
      'variant': config.get('variant', ''),
      'search_size': config.model.get('search_size'), 'compute_dtype': s.compute_dtype,
      'matmul_dtype': config.model.get('matmul_dtype', 'float32'),
      'image_size': list(s.image_size), 'num_frames': n, 'warmup_frames': warm, 'repeats': repeats,
      'device': device_description(),
      'end_to_end': _summary(e2e_runs), 'network': _summary(net_runs), 'batched': batched_results,
  }


def run_speed_benchmark(config, workdir: str) -> dict[str, Any]:
  """``measure_speed`` and writes the JSON to ``<workdir>/<config.speed.output>``."""
  result = measure_speed(config)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, config.speed.output)
  with open(path, 'w') as f:
    json.dump(result, f, indent=2)
  e2e, net = result['end_to_end'], result['network']
  print(f"{result['model']} ({result['matmul_dtype']} products) on "
        f"{result['device']['device_kind']}: end to end "
        f"{e2e['fps']:.1f} fps (p50 {e2e['latency_ms']['p50']:.1f} ms, p90 "
        f"{e2e['latency_ms']['p90']:.1f} ms, p99 {e2e['latency_ms']['p99']:.1f} ms); network "
        f"{net['fps']:.1f} fps")
  for k, r in result['batched'].items():
    print(f'  K={k}: {r["fps"]:.1f} frames/s ({r["fps_per_stream"]:.1f} per stream)')
  print(f'written to {path}')
  return result
