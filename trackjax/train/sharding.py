"""Device mesh, shardings and global batches for data-parallel training.

One mesh axis, ``'data'``, spans every device of every process. Parameters and optimizer state are
replicated; batches are split along their leading dimension. Each process feeds its local share of
the global batch and ``jax.make_array_from_process_local_data`` assembles the global array, so the
same code runs on one CPU, a multi-GPU host, a GPU cluster or a TPU pod.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"

def launched_as_several_processes() -> bool:
  """True under a multi-process launcher (SLURM, Open MPI, multi-host TPU, explicit coordinator)."""
  if os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return True
  for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
    if int(os.environ.get(var, "1")) > 1:
      return True
  return "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")


def maybe_initialize_distributed() -> None:
  """``jax.distributed.initialize()`` when launched as several processes (before any device use)."""
  if not launched_as_several_processes() or jax.distributed.is_initialized():
    return
  kwargs = {}  # JAX reads JAX_COORDINATOR_ADDRESS itself; the count and id are passed here
  if os.environ.get("JAX_NUM_PROCESSES"):
    kwargs["num_processes"] = int(os.environ["JAX_NUM_PROCESSES"])
  if os.environ.get("JAX_PROCESS_ID"):
    kwargs["process_id"] = int(os.environ["JAX_PROCESS_ID"])
  jax.distributed.initialize(**kwargs)


def make_data_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all (or the given) devices, axis ``'data'``.

  The axis type is Auto on purpose: the model reshapes batch-sharded arrays (templates folded into
  the batch) and the compiler's sharding propagation handles that without annotations.
  """
  devices = list(jax.devices() if devices is None else devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def resolve_batch_sizes(train_config, num_devices: int, num_processes: int) -> tuple[int, int]:
  """(global, per-process) batch sizes; ``per_device_batch_size`` (optional) must agree."""
  global_batch = int(train_config.global_batch_size)
  per_device = train_config.get("per_device_batch_size") or 0
  if per_device and per_device * num_devices != global_batch:
    raise ValueError(
        f"train.per_device_batch_size={per_device} x {num_devices} devices != "
        f"train.global_batch_size={global_batch}; set one of them so that they agree")
  if global_batch % num_devices:
    raise ValueError(f"train.global_batch_size={global_batch} is not divisible by the "
                     f"{num_devices} devices")
  return global_batch, global_batch // num_processes


def global_batch(local_batch: Mapping[str, np.ndarray], sharding: NamedSharding,
                 global_batch_size: int) -> dict[str, jax.Array]:
  """Assembles per-process numpy batches into global arrays split over the data axis."""
  out = {}
  for key, value in local_batch.items():
    value = np.asarray(value)
    shape = (global_batch_size,) + value.shape[1:]
    out[key] = jax.make_array_from_process_local_data(sharding, value, shape)
  return out


def abstract_with_sharding(tree: Any, sharding: NamedSharding) -> Any:
  """ShapeDtypeStructs of ``tree`` carrying ``sharding`` (restore targets)."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def to_host(tree: Any) -> Any:
  """Replicated arrays -> numpy, also when they span several processes (reads the local copy)."""
  return jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_data(0)), tree)
