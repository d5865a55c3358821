"""Batch normalisation layers with PyTorch's exact semantics.

``FrozenBatchNorm`` is the backbone norm of DETR and the trackers built on it: scale, shift and
statistics are constants held in the ``constants`` collection, never trained and never updated. ``BatchNorm`` is a trainable batch norm
that matches ``torch.nn.BatchNorm2d``: it normalises with the biased batch variance and updates the
running variance with the unbiased one (momentum 0.1 on the new value).

In the inference form made by ``convolution.fold_norms`` both hold only ``shift``: their scale has
been multiplied into the previous convolution's kernel, so they add ``shift`` (evaluation only).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

CONSTANTS = "constants"


class FrozenBatchNorm(nn.Module):
  """``y = x * w / sqrt(var + eps) + (b - mean * w / sqrt(var + eps))`` over the last axis."""

  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    if self.has_variable(CONSTANTS, "shift"):  # folded (module docstring)
      shift = self.variable(CONSTANTS, "shift", jnp.zeros, (c,), jnp.float32).value
      return x + shift.astype(x.dtype)
    weight = self.variable(CONSTANTS, "weight", jnp.ones, (c,), jnp.float32).value
    bias = self.variable(CONSTANTS, "bias", jnp.zeros, (c,), jnp.float32).value
    mean = self.variable(CONSTANTS, "running_mean", jnp.zeros, (c,), jnp.float32).value
    var = self.variable(CONSTANTS, "running_var", jnp.ones, (c,), jnp.float32).value
    scale = weight * jnp.reciprocal(jnp.sqrt(var + self.epsilon))
    shift = bias - mean * scale
    return x * scale.astype(self.dtype) + shift.astype(self.dtype)


class BatchNorm(nn.Module):
  """Trainable batch norm over all axes but the last, as ``torch.nn.BatchNorm2d``.

  In training the batch statistics are taken over the whole (global) batch, so a data-parallel run
  gives the same result on any number of devices.
  """

  momentum: float = 0.1
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    c = x.shape[-1]
    if self.has_variable("params", "shift"):  # folded (module docstring)
      if train:
        where = "/".join(self.scope.path) or self.name or type(self).__name__
        raise ValueError(f"{where}: a batch norm folded into its convolution "
                         "(inference variables) cannot train; pass the stored variables")
      return x + self.param("shift", nn.initializers.zeros, (c,), jnp.float32).astype(x.dtype)
    scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
    running_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), jnp.float32)
    running_var = self.variable("batch_stats", "var", jnp.ones, (c,), jnp.float32)
    if train:
      axes = tuple(range(x.ndim - 1))
      x32 = x.astype(jnp.float32)
      mean = jnp.mean(x32, axis=axes)
      var = jnp.mean(jnp.square(x32 - mean), axis=axes)
      n = x.size // c
      if not self.is_initializing():
        unbiased = var * (n / max(n - 1, 1))
        running_mean.value = (1 - self.momentum) * running_mean.value + self.momentum * mean
        running_var.value = (1 - self.momentum) * running_var.value + self.momentum * unbiased
    else:
      mean, var = running_mean.value, running_var.value
    inv = scale * jnp.reciprocal(jnp.sqrt(var + self.epsilon))
    return (x - mean.astype(self.dtype)) * inv.astype(self.dtype) + bias.astype(self.dtype)
