"""The shared layers FineTrack builds on: flow warp (SFNet's alignment), ROIAlign, part masks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trackjax.models import flow_alignment
from trackjax.models.part_masks import PartMaskHeads, mask_diversity
from trackjax.models.roi_align import roi_align, roi_align_single


def numpy_grid_sample(x, grid, align_corners=True):
  """Bilinear sampling with zero padding, one point at a time (torch's grid_sample)."""
  b, h, w, c = x.shape
  out = np.zeros(grid.shape[:3] + (c,))
  for n in range(b):
    for i in range(grid.shape[1]):
      for j in range(grid.shape[2]):
        gx, gy = grid[n, i, j]
        if align_corners:
          px, py = (gx + 1) / 2 * (w - 1), (gy + 1) / 2 * (h - 1)
        else:
          px, py = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
        x0, y0 = int(np.floor(px)), int(np.floor(py))
        for yy in (y0, y0 + 1):
          for xx in (x0, x0 + 1):
            if 0 <= xx < w and 0 <= yy < h:
              out[n, i, j] += (1 - abs(px - xx)) * (1 - abs(py - yy)) * x[n, yy, xx]
  return out


@pytest.mark.parametrize("align_corners", [True, False])
def test_grid_sample_matches_numpy_bilinear(align_corners):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 7, 3)).astype(np.float32)
  grid = rng.uniform(-1.3, 1.3, size=(2, 4, 6, 2)).astype(np.float32)  # some points outside
  got = flow_alignment.grid_sample(jnp.asarray(x), jnp.asarray(grid), align_corners)
  np.testing.assert_allclose(np.asarray(got), numpy_grid_sample(x, grid, align_corners),
                             atol=1e-5)


def test_zero_flow_on_the_same_grid_is_the_identity():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 9, 4)), jnp.float32)
  warped = flow_alignment.flow_warp(x, jnp.zeros((2, 6, 9, 2)))
  np.testing.assert_allclose(np.asarray(warped), np.asarray(x), atol=1e-5)


def test_flow_warp_matches_numpy_reference_and_shifts():
  rng = np.random.default_rng(2)
  coarse = rng.normal(size=(1, 4, 5, 2)).astype(np.float32)
  flow = rng.normal(size=(1, 8, 10, 2)).astype(np.float32) * 3
  got = flow_alignment.flow_warp(jnp.asarray(coarse), jnp.asarray(flow))
  xs, ys = np.linspace(-1, 1, 10), np.linspace(-1, 1, 8)
  grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1)[None] + flow / np.array([10, 8])
  np.testing.assert_allclose(np.asarray(got), numpy_grid_sample(coarse, grid), atol=1e-5)
  # SFNet divides the flow by the size: one unit moves (W - 1) / (2 W) of a pixel, so an x flow
  # of 2 W / (W - 1) samples each pixel's right neighbour (a map sampled at its own size).
  ramp = jnp.tile(jnp.arange(10, dtype=jnp.float32)[None, None, :, None], (1, 8, 1, 1))
  shifted = flow_alignment.flow_warp(ramp, jnp.zeros((1, 8, 10, 2)).at[..., 0].set(2 * 10 / 9))
  np.testing.assert_allclose(np.asarray(shifted)[0, :, :-1, 0], np.arange(1, 10)[None].repeat(8, 0),
                             atol=1e-4)


def test_grid_sample_gradients_reach_map_and_flow():
  x = jnp.ones((1, 4, 4, 1)) * jnp.arange(4.0)[None, None, :, None]
  flow = jnp.full((1, 4, 4, 2), 0.3)
  gx, gflow = jax.grad(lambda a, f: flow_alignment.flow_warp(a, f).sum(), argnums=(0, 1))(x, flow)
  assert float(jnp.abs(gx).sum()) > 0 and float(jnp.abs(gflow[..., 0]).sum()) > 0


def test_flow_alignment_fpn_shapes_and_fresh_fam_is_upsampling():
  stages = [jnp.ones((1, 16 // 2 ** i, 24 // 2 ** i, 8 * 2 ** i)) for i in range(4)]
  for fusion in ("finest", "concat"):
    fpn = flow_alignment.FlowAlignmentFPN(width=16, fusion=fusion)
    shape = jax.eval_shape(lambda: fpn.apply(fpn.init(jax.random.key(0), stages), stages)).shape
    assert shape == (1, 16, 24, 16)
  fam = flow_alignment.FlowAlignment(width=8)
  fine, coarse = jnp.ones((1, 8, 8, 4)), jax.random.normal(jax.random.key(1), (1, 4, 4, 6))
  out = jax.jit(lambda f, c: fam.apply(fam.init(jax.random.key(2), f, c), f, c))(fine, coarse)
  np.testing.assert_allclose(np.asarray(out),
                             np.asarray(flow_alignment.upsample_aligned(coarse, 8, 8)), atol=1e-5)


def numpy_roi_align(feature, box, out_h, out_w, scale, ratio):
  """torchvision's roi_align (aligned=True) for one box, loops and all."""
  h, w, c = feature.shape
  x1, y1, x2, y2 = np.asarray(box, np.float64) * scale - 0.5
  bin_h, bin_w = (y2 - y1) / out_h, (x2 - x1) / out_w
  out = np.zeros((out_h, out_w, c))
  for ph in range(out_h):
    for pw in range(out_w):
      acc = np.zeros(c)
      for iy in range(ratio):
        y = y1 + ph * bin_h + (iy + 0.5) * bin_h / ratio
        for ix in range(ratio):
          x = x1 + pw * bin_w + (ix + 0.5) * bin_w / ratio
          if y < -1 or y > h or x < -1 or x > w:
            continue
          y, x = max(y, 0.0), max(x, 0.0)
          yl, xl = int(y), int(x)
          if yl >= h - 1:
            yh = yl = h - 1
            y = float(yl)
          else:
            yh = yl + 1
          if xl >= w - 1:
            xh = xl = w - 1
            x = float(xl)
          else:
            xh = xl + 1
          ly, lx = y - yl, x - xl
          acc += ((1 - ly) * (1 - lx) * feature[yl, xl] + (1 - ly) * lx * feature[yl, xh]
                  + ly * (1 - lx) * feature[yh, xl] + ly * lx * feature[yh, xh])
      out[ph, pw] = acc / (ratio * ratio)
  return out


def test_roi_align_hand_case():
  # A map whose value is its x coordinate: a bin's mean is its centre's x (bilinear is exact).
  feature = jnp.tile(jnp.arange(8.0)[None, :, None], (6, 1, 1))
  # Box x in [2, 6) pixels at scale 1, aligned: start 1.5, two bins of width 2 -> centres 2.5, 4.5.
  align = jax.jit(roi_align_single, static_argnums=(2, 3, 4))
  out = align(feature, jnp.asarray([[2.0, 1.0, 6.0, 3.0]]), (1, 2), 1.0, 2)
  np.testing.assert_allclose(np.asarray(out)[0, 0, :, 0], [2.5, 4.5], atol=1e-6)
  # Half scale (a stride-2 map): box [4, 12) -> [2, 6) - 0.5, the same bins.
  out = align(feature, jnp.asarray([[4.0, 2.0, 12.0, 6.0]]), (1, 2), 0.5, 2)
  np.testing.assert_allclose(np.asarray(out)[0, 0, :, 0], [2.5, 4.5], atol=1e-6)
  # Entirely beyond one pixel outside the map: zeros.
  out = align(feature, jnp.asarray([[20.0, 20.0, 30.0, 30.0]]), (2, 2), 1.0, 2)
  assert float(jnp.abs(out).max()) == 0.0


def test_roi_align_matches_numpy_reference():
  rng = np.random.default_rng(3)
  features = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
  boxes = np.array([[[1.0, 2.0, 30.0, 20.0], [-6.0, -3.0, 10.0, 12.0], [20.0, 5.0, 50.0, 40.0]],
                    [[0.0, 0.0, 44.0, 36.0], [13.3, 7.1, 14.0, 7.5], [38.0, 30.0, 60.0, 50.0]]],
                   np.float32)
  got = np.asarray(roi_align(jnp.asarray(features), jnp.asarray(boxes), (3, 2), 0.25, 2))
  for b in range(2):
    for n in range(3):
      expected = numpy_roi_align(features[b], boxes[b, n], 3, 2, 0.25, 2)
      np.testing.assert_allclose(got[b, n], expected, atol=1e-5, err_msg=f"image {b} box {n}")


def test_roi_align_refuses_adaptive_sampling():
  with pytest.raises(ValueError, match="sampling_ratio"):
    roi_align_single(jnp.zeros((4, 4, 1)), jnp.zeros((1, 4)), (2, 2), 1.0, 0)


def test_mask_diversity_hand_values():
  same = jnp.ones((1, 2, 3, 3))
  assert float(mask_diversity(same)) == pytest.approx(1.0, abs=1e-5)
  disjoint = jnp.zeros((1, 2, 2, 2)).at[0, 0, 0].set(1.0).at[0, 1, 1].set(1.0)
  assert float(mask_diversity(disjoint)) == pytest.approx(0.0, abs=1e-6)
  # ROI weights: the padded (weight 0) ROI does not count.
  both = jnp.concatenate([same[:, :, :2, :2], disjoint])
  assert float(mask_diversity(both, jnp.asarray([0.0, 1.0]))) == pytest.approx(0.0, abs=1e-6)


def test_part_masks_differ_after_minimising_diversity():
  heads = PartMaskHeads(num_parts=3, attention_dim=8)
  rois = jax.random.normal(jax.random.key(0), (6, 4, 4, 8))
  params = heads.init(jax.random.key(1), rois)
  loss = lambda p: mask_diversity(heads.apply(p, rois)[0])
  initial = float(loss(params))
  optimiser = optax.adam(0.05)
  state = optimiser.init(params)
  step = jax.jit(lambda p, s: (lambda g: (optax.apply_updates(p, optimiser.update(g, s, p)[0]),
                                          optimiser.update(g, s, p)[1]))(jax.grad(loss)(p)))
  for _ in range(150):
    params, state = step(params, state)
  masks, parts = heads.apply(params, rois)
  assert parts.shape == (6, 3, 8) and masks.shape == (6, 3, 4, 4)
  final = float(loss(params))
  assert initial > 0.8  # fresh heads: near-uniform sigmoid masks, all alike
  assert final < 0.3 * initial
  flat = np.asarray(masks).reshape(6, 3, -1)
  for k in range(3):
    for l in range(k + 1, 3):
      assert np.abs(flat[:, k] - flat[:, l]).mean() > 0.1  # the masks differ from each other
