"""FineTrack's appearance cost: parameters and the embedder's time per frame for 16/64/128 boxes.

  PYTHONPATH=. python benchmarks/finetrack_embedding_cpu.py --runs 5
  PYTHONPATH=. python benchmarks/finetrack_embedding_cpu.py --variant quickstart --runs 10

Times ``FinetrackEmbedder.embed`` (what ``AppearanceTracker`` calls once a frame): host resize of
the frame to ``config.model.image_size``, one jitted call (FAFPN feature map + ROIAlign + part
heads for up to ``max_detections`` boxes), the rows back on the host. Random weights, float32,
a random 1920 x 1080 frame (MOT17's size), boxes of pedestrian shape at random places. Prints,
per box count, the median wall time (p10 / p90) over ``--runs`` calls after one warm-up call,
plus the parameter counts (all / backbone / FAFPN / part heads / classifiers), the host load
average and the device, as one JSON line per count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import numpy as np

from trackjax.config_files import load_config
from trackjax.families.finetrack.embedder import FinetrackEmbedder
from trackjax.families.finetrack.model import init_variables


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def parameter_counts(params) -> dict[str, int]:
  groups = {"backbone": ["backbone"], "fafpn": ["fpn"], "part_heads": ["part_heads",
                                                                      "part_projection"],
            "classifiers": ["global_classifier", "part_classifier"]}
  out = {"all": count(params)}
  for name, keys in groups.items():
    out[name] = sum(count(params[k]) for k in keys if k in params)
  out["tracking"] = out["all"] - out["classifiers"]  # what the embedder uses
  return out


def random_boxes(rng, n: int, width: int, height: int) -> np.ndarray:
  h = rng.uniform(60, 300, n)
  w = h * rng.uniform(0.35, 0.45, n)
  x = rng.uniform(0, width - w)
  y = rng.uniform(0, height - h)
  return np.stack([x, y, w, h], axis=1).astype(np.float32)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", default="", help="'' (ResNet-50), 'quickstart' or 'tiny'")
  parser.add_argument("--counts", default="16,64,128")
  parser.add_argument("--runs", type=int, default=5)
  parser.add_argument("--frame", default="1080,1920", help="height,width of the input frame")
  args = parser.parse_args()
  config = load_config("configs/finetrack_r50.py" + (f":{args.variant}" if args.variant else ""))
  variables = init_variables(config.model, jax.random.key(0))
  params = parameter_counts(variables["params"])
  height, width = (int(s) for s in args.frame.split(","))
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
  for n in (int(c) for c in args.counts.split(",")):
    embedder = FinetrackEmbedder(config.model, max_detections=max(n, 1))
    boxes = random_boxes(rng, n, width, height)
    embedder.embed(variables, frame, boxes)  # compile
    times = []
    for _ in range(args.runs):
      start = time.perf_counter()
      embedder.embed(variables, frame, boxes)
      times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({
        "model": config.model.name, "image_size": list(config.model.image_size),
        "detections": n, "median_ms": round(1e3 * statistics.median(times), 2),
        "p10_ms": round(1e3 * times[int(0.1 * (len(times) - 1))], 2),
        "p90_ms": round(1e3 * times[int(0.9 * (len(times) - 1))], 2), "runs": args.runs,
        "parameters": params, "embedding_dim": int(embedder.dim),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "device": str(jax.devices()[0])}), flush=True)


if __name__ == "__main__":
  main()
