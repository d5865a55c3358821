"""Prediction heads: the corner head with soft-argmax (box corners from two score maps) and MLPs."""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from trackjax.models.convolution import Conv
from trackjax.models.matmul_precision import dense_hooks
from trackjax.models.normalization import BatchNorm

# (convolution, norm) siblings of ``ConvBnRelu``, for ``convolution.fold_norms``.
CONV_NORM_PAIRS = (("conv", "bn"),)


def torch_default_init(fan_in: int):
  """PyTorch's default conv/linear init for weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def soft_argmax(score_map: jnp.ndarray, stride: int, image_size: int) -> jnp.ndarray:
  """Expected (x, y) of a (B, H, W) score map, normalised by ``image_size``.

  The grid is ``index * stride`` (e.g. 0, 16, ..., 304 for stride 16 and a 320 crop: no half-cell
  offset), as the official ``Corner_Predictor``; the softmax runs over all H*W cells in float32.
  """
  b, h, w = score_map.shape
  prob = jax.nn.softmax(score_map.reshape(b, h * w).astype(jnp.float32), axis=-1).reshape(b, h, w)
  xs = jnp.arange(w, dtype=jnp.float32) * stride
  ys = jnp.arange(h, dtype=jnp.float32) * stride
  exp_x = jnp.sum(prob * xs[None, None, :], axis=(1, 2))
  exp_y = jnp.sum(prob * ys[None, :, None], axis=(1, 2))
  return jnp.stack([exp_x, exp_y], axis=-1) / image_size


class ConvBnRelu(nn.Module):
  features: int
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x, train: bool):
    fan_in = 9 * x.shape[-1]
    x = Conv(self.features, (3, 3), padding=(1, 1),
             kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
             bias_init=torch_default_init(fan_in), name="conv", dtype=self.dtype,
             matmul_dtype=self.matmul_dtype)(x)
    return nn.relu(BatchNorm(name="bn", dtype=self.dtype)(x, train))


class CornerHead(nn.Module):
  """Two conv towers (top-left, bottom-right) predicting corner score maps, then soft-argmax.

  Input (B, H, W, C) search features; output (B, 4) normalised ``(x1, y1, x2, y2)``.
  """

  channels: Sequence[int] = (256, 128, 64, 32)
  stride: int = 16
  image_size: int = 320
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None  # 'bfloat16': convolutions as bf16 products (matmul_precision)

  @nn.compact
  def __call__(self, x, train: bool = False):
    corners = []
    for branch in ("tl", "br"):
      h = x
      for i, features in enumerate(self.channels):
        h = ConvBnRelu(features, name=f"conv{i + 1}_{branch}", dtype=self.dtype,
                       matmul_dtype=self.matmul_dtype)(h, train)
      score = Conv(1, (1, 1),
                   kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                   bias_init=torch_default_init(h.shape[-1]),
                   name=f"conv{len(self.channels) + 1}_{branch}", dtype=self.dtype,
                   matmul_dtype=self.matmul_dtype)(h)
      corners.append(soft_argmax(score[..., 0], self.stride, self.image_size))
    return jnp.concatenate(corners, axis=-1)


class MLP(nn.Module):
  """Linear layers with ReLU between them (e.g. a 256-256-256-1 score head)."""

  hidden_dim: int
  output_dim: int
  num_layers: int
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x):
    for i in range(self.num_layers):
      last = i == self.num_layers - 1
      fan_in = x.shape[-1]
      x = nn.Dense(self.output_dim if last else self.hidden_dim,
                   kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                   bias_init=torch_default_init(fan_in), name=f"layers_{i}", dtype=self.dtype,
                   **dense_hooks(self.matmul_dtype))(x)
      if not last:
        x = nn.relu(x)
    return x
