"""ResNet (v1.5 bottleneck, torchvision layout) with frozen batch norm, truncated at any stage.

Trackers use ResNet-50/101 up to ``layer3`` (stride 16, 1024 channels). The stage list, strides
and dilations are attributes so that every family reuses the same module: ``layer3`` at stride 8
with dilation (``dilate=(False, True, False)``), or several stages at once
(``outputs=('layer1', 'layer2', 'layer3')``). Parameter names mirror torchvision's state-dict keys
(``conv1``, ``bn1``, ``layer2_0/conv2``, ``layer2_0/downsample_conv``...).

``norm='frozen_bn'`` (the reference) suits pretrained weights. A backbone trained from scratch has no
statistics to freeze (frozen identity statistics mean no normalisation at all), so
``norm='group_norm'`` replaces each batch norm by a group norm of 8 channels per group, with the last
norm of every block initialised to zero so that each block starts as the identity.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from trackjax.models.convolution import Conv
from trackjax.models.normalization import FrozenBatchNorm

NORMS = ("frozen_bn", "group_norm")

# Bottleneck blocks per stage; only the stages a model builds are created.
RESNET_DEPTHS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}

# torchvision initialises convolutions with kaiming_normal(fan_out, relu).
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

# (convolution, norm) siblings, for ``convolution.fold_norms`` (frozen batch norms only).
CONV_NORM_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"),
                   ("downsample_conv", "downsample_bn"))


def strided_or_dilated_3x3(dilate: Sequence[bool] = (False, False, False)) -> str:
  """Regex over module paths of the 3x3 convolutions with a stride or a dilation: ``conv2`` of the
  first block of layer2-4, and every ``conv2`` of a dilated stage (``convolution.winograd_kernels``
  must skip them)."""
  stages = "".join(str(s) for s, d in zip((2, 3, 4), dilate) if d)
  pattern = r"layer[234]_0/conv2" + (rf"|layer[{stages}]_\d+/conv2" if stages else "")
  return rf"(^|/)({pattern})$"


def _conv(features, kernel, stride=1, dilation=1, name=None, dtype=jnp.float32,
          matmul_dtype=None):
  pad = dilation * (kernel - 1) // 2
  return Conv(features, (kernel, kernel), strides=(stride, stride), padding=(pad, pad),
              dilation=(dilation, dilation), use_bias=False, kernel_init=conv_init, name=name,
              dtype=dtype, matmul_dtype=matmul_dtype)


def _norm(kind: str, name: str, channels: int, dtype, zero_init: bool = False) -> nn.Module:
  if kind == "frozen_bn":
    return FrozenBatchNorm(name=name, dtype=dtype)
  if kind == "group_norm":
    return nn.GroupNorm(num_groups=None, group_size=min(8, channels), epsilon=1e-5, dtype=dtype,
                        scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones,
                        name=name)
  raise ValueError(f"unknown backbone norm {kind!r}: use one of {NORMS}")


def max_pool_3x3_s2(x):
  """``nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))`` on NHWC, separably:
  along each axis, output ``i`` is the maximum of inputs ``2i - 1, 2i, 2i + 1`` that exist. Strided
  slices and maxima only, which XLA fuses with the stem's norm and ReLU (no padded copy; its CPU
  ``reduce_window`` took 2x longer)."""
  def along(x, axis):
    n = x.shape[axis]
    even = lax.slice_in_dim(x, 0, n, 2, axis)  # 2i
    odd = lax.slice_in_dim(x, 1, n, 2, axis)  # 2i + 1
    if odd.shape[axis] < even.shape[axis]:  # odd n: the last window has no right neighbour
      odd = jnp.concatenate([odd, lax.slice_in_dim(even, -1, None, axis=axis)], axis)
    # 2i - 1; the first window has no left neighbour, so it repeats 2i.
    before = jnp.concatenate([lax.slice_in_dim(even, 0, 1, axis=axis),
                              lax.slice_in_dim(odd, 0, odd.shape[axis] - 1, axis=axis)], axis)
    return jnp.maximum(jnp.maximum(even, odd), before)
  return along(along(x, 2), 1)


class Bottleneck(nn.Module):
  """torchvision v1.5 bottleneck: the stride sits on the 3x3 convolution."""

  planes: int
  stride: int = 1
  dilation: int = 1
  downsample: bool = False
  norm: str = "frozen_bn"
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x):
    conv = lambda *args, **kwargs: _conv(*args, **kwargs, dtype=self.dtype,
                                         matmul_dtype=self.matmul_dtype)
    out = conv(self.planes, 1, name="conv1")(x)
    out = nn.relu(_norm(self.norm, "bn1", self.planes, self.dtype)(out))
    out = conv(self.planes, 3, self.stride, self.dilation, name="conv2")(out)
    out = nn.relu(_norm(self.norm, "bn2", self.planes, self.dtype)(out))
    out = conv(self.planes * 4, 1, name="conv3")(out)
    out = _norm(self.norm, "bn3", self.planes * 4, self.dtype, zero_init=True)(out)
    if self.downsample:
      x = conv(self.planes * 4, 1, self.stride, name="downsample_conv")(x)
      x = _norm(self.norm, "downsample_bn", self.planes * 4, self.dtype)(x)
    return nn.relu(out + x)


class ResNet(nn.Module):
  """ResNet trunk returning the requested stages as NHWC feature maps.

  Attributes:
    depth: 50, 101 or 152 (sets the block counts) unless ``blocks`` is given.
    blocks: explicit block count per stage (for small test models).
    width: channels of the stem; stage ``i`` has ``width * 2**i`` planes (64 in torchvision).
    dilate: for layer2, layer3, layer4: replace the stride by dilation (torchvision's
      ``replace_stride_with_dilation``).
    outputs: stage names to return; the trunk stops after the last one.
    norm: 'frozen_bn' (pretrained weights, the reference) or 'group_norm' (training from scratch).
    matmul_dtype: None or 'float32' (the reference) or 'bfloat16': convolutions as bf16 products
      accumulated in float32 where that is faster (``matmul_precision``); parameters unchanged.
  """

  depth: int = 50
  blocks: Sequence[int] | None = None
  width: int = 64
  dilate: Sequence[bool] = (False, False, False)
  outputs: Sequence[str] = ("layer3",)
  norm: str = "frozen_bn"
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x) -> dict[str, jnp.ndarray]:
    blocks = tuple(self.blocks or RESNET_DEPTHS[self.depth])
    last = max(int(name[len("layer"):]) for name in self.outputs)
    features = {}
    x = _conv(self.width, 7, 2, name="conv1", dtype=self.dtype,
              matmul_dtype=self.matmul_dtype)(x.astype(self.dtype))
    x = nn.relu(_norm(self.norm, "bn1", self.width, self.dtype)(x))
    features["stem"] = x
    x = max_pool_3x3_s2(x)
    in_channels, dilation = self.width, 1
    for stage in range(1, last + 1):
      planes = self.width * 2 ** (stage - 1)
      stride = 1 if stage == 1 else 2
      previous_dilation = dilation
      if stage > 1 and self.dilate[stage - 2]:
        dilation *= stride
        stride = 1
      for b in range(blocks[stage - 1]):
        first = b == 0
        x = Bottleneck(
            planes, stride=stride if first else 1,
            dilation=previous_dilation if first else dilation,
            downsample=first and (stride != 1 or in_channels != planes * 4),
            norm=self.norm, name=f"layer{stage}_{b}", dtype=self.dtype,
            matmul_dtype=self.matmul_dtype)(x)
        in_channels = planes * 4
      features[f"layer{stage}"] = x
    return {name: features[name] for name in self.outputs}
