"""Semantic-flow alignment between pyramid levels (SFNet's alignment module) and a flow-aligned FPN.

* ``grid_sample(x, grid, align_corners=True)``: bilinear sampling of NHWC maps at normalised
  coordinates ``grid`` (..., 2) = (x, y) in [-1, 1], zero outside, as ``torch.nn.functional.
  grid_sample(mode='bilinear', padding_mode='zeros')``; written in JAX (gathers), differentiable in
  the map and the coordinates.
* ``flow_warp(coarse, flow)``: SFNet's ``flow_warp``: an identity grid over the fine size (torch's
  ``linspace(-1, 1)``, i.e. ``align_corners=True`` pixel centres) shifted by ``flow / (W, H)`` and
  sampled from the coarse map. The division by the size (not by ``(size - 1) / 2``) is SFNet's: one
  flow unit moves (W - 1) / (2 W) of a fine-grid pixel, about half. Zero flow is plain bilinear
  upsampling with aligned corners.
* ``FlowAlignment``: SFNet's ``AlignedModule``: 1x1 convolutions of both maps to a common width,
  the coarse one bilinearly upsampled (aligned corners) to the fine grid, a 3x3 convolution of their
  concatenation predicts the 2-channel flow, which warps the *unprojected* coarse map onto the fine
  grid. The flow convolution starts at zero (``flow_init='zeros'``), so a fresh module is plain
  upsampling; SFNet initialises it as any convolution (``flow_init='lecun'``).
* ``FlowAlignmentFPN``: lateral 1x1 convolutions (+ norm + ReLU) of every stage to ``width``, a
  top-down pass where each finer level adds the flow-aligned coarser level (SFNet's
  ``UperNetAlignHead``: ``f = lateral_i + align(lateral_i, f)``), a 3x3 output convolution per
  level, and the output at the finest level: ``fusion='finest'`` (that level alone) or
  ``'concat'`` (every level upsampled to it, concatenated and fused by a 3x3 convolution, as
  SFNet's head).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

FUSIONS = ("finest", "concat")
NORMS = ("group_norm", "none")


def _unnormalise(coord, size: int, align_corners: bool):
  """Normalised coordinate in [-1, 1] -> pixel coordinate (pixel centres at integers)."""
  if align_corners:
    return (coord + 1.0) * 0.5 * (size - 1)
  return ((coord + 1.0) * size - 1.0) * 0.5


def _bilinear_one(x, px, py):
  """``x`` (H, W, C) sampled at pixel coordinates ``px``, ``py`` (equal shapes); 0 outside."""
  height, width = x.shape[0], x.shape[1]
  x0, y0 = jnp.floor(px), jnp.floor(py)
  out = 0.0
  for dy in (0, 1):
    for dx in (0, 1):
      xi, yi = x0 + dx, y0 + dy
      weight = (1.0 - jnp.abs(px - xi)) * (1.0 - jnp.abs(py - yi))
      inside = (xi >= 0) & (xi <= width - 1) & (yi >= 0) & (yi <= height - 1)
      xc = jnp.clip(xi, 0, width - 1).astype(jnp.int32)
      yc = jnp.clip(yi, 0, height - 1).astype(jnp.int32)
      value = x[yc, xc]  # (..., C)
      out = out + jnp.where(inside, weight, 0.0)[..., None] * value
  return out


def grid_sample(x: jnp.ndarray, grid: jnp.ndarray, align_corners: bool = True) -> jnp.ndarray:
  """Bilinear samples of ``x`` (B, H, W, C) at ``grid`` (B, Ho, Wo, 2) -> (B, Ho, Wo, C).

  ``grid[..., 0]`` is x (width), ``grid[..., 1]`` y, both normalised to [-1, 1]; points outside
  the map read zeros (torch's ``padding_mode='zeros'``).
  """
  height, width = x.shape[1], x.shape[2]
  px = _unnormalise(grid[..., 0].astype(jnp.float32), width, align_corners)
  py = _unnormalise(grid[..., 1].astype(jnp.float32), height, align_corners)
  return jax.vmap(_bilinear_one)(x, px, py).astype(x.dtype)


def identity_grid(batch: int, height: int, width: int) -> jnp.ndarray:
  """(B, H, W, 2) normalised (x, y) of the pixel centres with aligned corners (torch's
  ``linspace(-1, 1, size)``)."""
  ys = jnp.linspace(-1.0, 1.0, height)
  xs = jnp.linspace(-1.0, 1.0, width)
  grid = jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), axis=-1)
  return jnp.broadcast_to(grid, (batch, height, width, 2))


def flow_warp(coarse: jnp.ndarray, flow: jnp.ndarray, align_corners: bool = True) -> jnp.ndarray:
  """SFNet's warp: ``coarse`` (B, h, w, C) sampled on the fine grid of ``flow`` (B, H, W, 2)
  shifted by ``flow / (W, H)`` (flow channels: x, y)."""
  batch, height, width = flow.shape[0], flow.shape[1], flow.shape[2]
  norm = jnp.asarray([width, height], jnp.float32)
  grid = identity_grid(batch, height, width) + flow.astype(jnp.float32) / norm
  return grid_sample(coarse, grid, align_corners=align_corners)


def upsample_aligned(x: jnp.ndarray, height: int, width: int) -> jnp.ndarray:
  """Bilinear resize of ``x`` (B, h, w, C) to (height, width) with aligned corners (torch's
  ``interpolate(..., mode='bilinear', align_corners=True)``)."""
  return grid_sample(x, identity_grid(x.shape[0], height, width), align_corners=True)


def _norm(kind: str, channels: int, dtype, name: str):
  if kind == "group_norm":
    return nn.GroupNorm(num_groups=None, group_size=max(1, channels // min(32, channels)),
                        dtype=dtype, name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"unknown FPN norm {kind!r}: use one of {NORMS}")


class FlowAlignment(nn.Module):
  """SFNet's alignment module: the coarse map warped onto the fine map's grid by a learned flow."""

  width: int
  flow_kernel: int = 3
  flow_init: str = "zeros"  # 'zeros' (starts as upsampling) or 'lecun' (a plain convolution)
  align_corners: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, fine: jnp.ndarray, coarse: jnp.ndarray) -> jnp.ndarray:
    height, width = fine.shape[1], fine.shape[2]
    fine_proj = nn.Conv(self.width, (1, 1), use_bias=False, dtype=self.dtype,
                        name="down_fine")(fine)
    coarse_proj = nn.Conv(self.width, (1, 1), use_bias=False, dtype=self.dtype,
                          name="down_coarse")(coarse)
    coarse_up = upsample_aligned(coarse_proj, height, width)
    if self.flow_init not in ("zeros", "lecun"):
      raise ValueError(f"flow_init={self.flow_init!r}: use 'zeros' or 'lecun'")
    init = (nn.initializers.zeros if self.flow_init == "zeros"
            else nn.initializers.lecun_normal())
    flow = nn.Conv(2, (self.flow_kernel, self.flow_kernel), use_bias=False, kernel_init=init,
                   dtype=self.dtype, name="flow")(jnp.concatenate([coarse_up, fine_proj], -1))
    return flow_warp(coarse, flow, align_corners=self.align_corners)


class FlowAlignmentFPN(nn.Module):
  """Top-down FPN whose coarse-to-fine merges are flow-aligned; returns the finest level's map.

  Inputs: stage maps ordered fine to coarse (e.g. ResNet layer1..layer4). Output (B, H1, W1,
  ``width``) at the finest input's resolution.
  """

  width: int = 256
  norm: str = "group_norm"
  fusion: str = "finest"
  flow_init: str = "zeros"
  align_corners: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, stages: Sequence[jnp.ndarray]) -> jnp.ndarray:
    if self.fusion not in FUSIONS:
      raise ValueError(f"FPN fusion {self.fusion!r}: use one of {FUSIONS}")
    laterals = []
    for i, x in enumerate(stages):
      y = nn.Conv(self.width, (1, 1), use_bias=False, dtype=self.dtype, name=f"lateral{i}")(x)
      laterals.append(nn.relu(_norm(self.norm, self.width, self.dtype, f"lateral{i}_norm")(y)))
    merged = [None] * len(laterals)
    merged[-1] = laterals[-1]
    for i in range(len(laterals) - 2, -1, -1):
      aligned = FlowAlignment(self.width, flow_init=self.flow_init,
                              align_corners=self.align_corners, dtype=self.dtype,
                              name=f"align{i}")(laterals[i], merged[i + 1])
      merged[i] = laterals[i] + aligned
    outputs = []
    for i, y in enumerate(merged):
      y = nn.Conv(self.width, (3, 3), use_bias=False, dtype=self.dtype, name=f"output{i}")(y)
      outputs.append(nn.relu(_norm(self.norm, self.width, self.dtype, f"output{i}_norm")(y)))
      if self.fusion == "finest":
        break
    if self.fusion == "finest":
      return outputs[0]
    height, width = outputs[0].shape[1], outputs[0].shape[2]
    fused = jnp.concatenate(
        [outputs[0]] + [upsample_aligned(y, height, width) for y in outputs[1:]], -1)
    fused = nn.Conv(self.width, (3, 3), use_bias=False, dtype=self.dtype, name="fuse")(fused)
    return nn.relu(_norm(self.norm, self.width, self.dtype, "fuse_norm")(fused))
