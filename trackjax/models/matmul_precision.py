"""Opt-in bfloat16 matrix products with float32 accumulation, for fast inference on CPUs with bf16 dot
instructions (AVX512_BF16, AMX).

``matmul_dtype='float32'`` (or ``None``) leaves every module on its ordinary float32 path, bit for bit.
``matmul_dtype='bfloat16'`` rounds the two operands of the large products to bfloat16 and accumulates
in float32 (``preferred_element_type``); parameters stay float32 in the tree (``round_matmul_kernels``
makes a rounded copy for inference); norms, softmax, soft-argmax and additions stay float32.

Which products are rewritten was decided by timing each variant on ST50's shapes (batch 1, 320x320
search crop, 528 transformer tokens) on a 2-core AMD Zen 4 (XLA 0.10.2, whose CPU dots run in
YNNPACK):

* ``lax.dot_general`` with bf16 operands: 1.5-1.9x faster than float32 once the product has a few
  dozen rows. Matrix-vector products (the decoder's single query) are memory bound and would only
  pay for rounding the weights, so they stay float32 below ``MIN_ROWS`` rows.
* XLA's CPU convolution with bf16 operands is no faster than float32 (0.9-1.0x), so convolutions are
  rewritten as products: a 1x1 convolution is one product over channels (1.4-1.8x), a KxK
  convolution the sum of K*K shifted products (1.4-1.8x from 128 input channels; break-even for
  layer1's 64 channels, and an im2col product for the 3-channel 7x7 stem is 1.3x slower). Narrower
  convolutions keep XLA's float32 convolution.
* XLA's CPU ``convert`` to bf16 is slow and it slices or pads bf16 arrays through float32, so
  rounding is done with integer operations and rearrangements act on the uint16 bit patterns.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax.linen import dtypes as flax_dtypes
from jax import lax

MATMUL_DTYPES = ("float32", "bfloat16")
# Products with fewer rows (lhs elements / contracted size) stay float32.
MIN_ROWS = 32
# KxK convolutions (K > 1) with fewer input channels keep XLA's float32 convolution.
MIN_CONV_CHANNELS = 128

# Flax's NHWC / HWIO convolution layout, as ``lax.conv_dimension_numbers`` spells it.
_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def check_matmul_dtype(value: str | None, field: str = "matmul_dtype") -> str | None:
  """``None`` for the float32 path, ``'bfloat16'`` for the mixed one; anything else raises."""
  if value is None or value == "float32":
    return None
  if value == "bfloat16":
    return value
  raise ValueError(f"{field}: unknown matmul dtype {value!r}; use one of {MATMUL_DTYPES}")


def conv_uses_products(kernel_shape) -> bool:
  """Whether an HWIO convolution kernel is run as bf16 products (1x1, or >= 128 input channels)."""
  kh, kw, cin = kernel_shape[:3]
  return kh * kw == 1 or cin >= MIN_CONV_CHANNELS


def bfloat16_bits(x: jnp.ndarray) -> jnp.ndarray:
  """The bit patterns (uint16) of ``x`` rounded to the nearest bfloat16, ties to even.

  Integer operations instead of ``convert``: XLA's CPU backend converts float32 to bf16 2.6x slower,
  and it slices, pads and transposes bf16 arrays by converting them to float32 and back, so
  rearrangements are cheaper on these bits. Equal to ``x.astype(jnp.bfloat16)`` for every finite
  value and infinity; NaNs whose payload sits in the low 16 bits may come out as infinities (both
  non-finite, which is all the tracker checks).
  """
  if x.dtype == jnp.bfloat16:
    return lax.bitcast_convert_type(x, jnp.uint16)
  bits = lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
  bits = bits + (jnp.uint32(0x7FFF) + ((bits >> 16) & jnp.uint32(1)))
  return (bits >> 16).astype(jnp.uint16)


def as_bfloat16(bits: jnp.ndarray) -> jnp.ndarray:
  return lax.bitcast_convert_type(bits, jnp.bfloat16)


def split_last_axis(x: jnp.ndarray, parts: int) -> list[jnp.ndarray]:
  """``x`` cut into ``parts`` equal pieces along the last axis (bf16 pieces cut on their bits)."""
  size = x.shape[-1] // parts
  if x.dtype != jnp.bfloat16:
    return [x[..., i * size:(i + 1) * size] for i in range(parts)]
  bits = bfloat16_bits(x)
  return [as_bfloat16(bits[..., i * size:(i + 1) * size]) for i in range(parts)]


def to_bfloat16(x: jnp.ndarray) -> jnp.ndarray:
  """``x`` rounded to bfloat16 (``bfloat16_bits``); bf16 input is returned as it is."""
  return x if x.dtype == jnp.bfloat16 else as_bfloat16(bfloat16_bits(x))


def mixed_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
  """``lax.dot_general`` on bf16-rounded operands with a float32 result.

  Same signature as ``lax.dot_general`` (Flax's ``nn.Dense(dot_general=...)`` hook). Products with
  fewer than ``MIN_ROWS`` rows and a float32 ``rhs`` run in float32: rounding the weights on every
  call would cost more than the product (a pre-rounded bf16 ``rhs`` is used as it is).
  """
  (lhs_contract, _), (lhs_batch, _) = dimension_numbers
  rows = lhs.size
  for axis in tuple(lhs_contract) + tuple(lhs_batch):
    rows //= lhs.shape[axis]
  if rows < MIN_ROWS and rhs.dtype != jnp.bfloat16:
    return lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                           preferred_element_type=preferred_element_type)
  out = lax.dot_general(to_bfloat16(lhs), to_bfloat16(rhs), dimension_numbers,
                        preferred_element_type=jnp.float32)
  return out.astype(jnp.result_type(lhs, rhs))


def matmul(a, b, matmul_dtype: str | None = None):
  """``jnp.matmul(a, b)``; with ``matmul_dtype='bfloat16'`` on rounded operands (batch dims lead)."""
  if check_matmul_dtype(matmul_dtype) is None:
    return jnp.matmul(a, b)
  if a.ndim != b.ndim or a.ndim < 2:
    raise ValueError(f"matmul: operands of equal rank >= 2 expected, got {a.shape} and {b.shape}")
  batch = tuple(range(a.ndim - 2))
  return mixed_dot_general(a, b, (((a.ndim - 1,), (b.ndim - 2,)), (batch, batch)))


def linear(x, kernel, matmul_dtype: str | None = None):
  """``x @ kernel`` for a (..., K) input and a (K, N) kernel; mixed with ``'bfloat16'``."""
  if check_matmul_dtype(matmul_dtype) is None:
    return x @ kernel
  return mixed_dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


def mixed_conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                               rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                               precision=None, **kwargs):
  """A 2-D NHWC convolution as a sum of bf16 products (``convolution.Conv``'s bfloat16 path).

  Same signature as ``lax.conv_general_dilated``. Anything but a plain (ungrouped, no input
  dilation, explicit padding) NHWC convolution, and KxK kernels on fewer than ``MIN_CONV_CHANNELS``
  input channels, go to ``lax.conv_general_dilated`` unchanged.
  """
  plain = (lhs.ndim == 4 and rhs.ndim == 4 and feature_group_count == 1
           and not isinstance(padding, str) and all(d == 1 for d in (lhs_dilation or (1, 1)))
           and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC)
  if not plain or not conv_uses_products(rhs.shape):
    rhs = rhs.astype(lhs.dtype)
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, precision=precision,
                                    **kwargs)
  kh, kw = rhs.shape[:2]
  sh, sw = window_strides
  dh, dw = rhs_dilation or (1, 1)
  (top, bottom), (left, right) = padding
  # Pads and slices act on the bf16 bit patterns (see ``bfloat16_bits``).
  x = jnp.pad(bfloat16_bits(lhs), ((0, 0), (top, bottom), (left, right), (0, 0)))
  ho = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
  wo = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
  w = bfloat16_bits(rhs)
  out = None
  for i in range(kh):
    for j in range(kw):
      tap = x[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
      y = lax.dot_general(as_bfloat16(tap), as_bfloat16(w[i, j]), (((3,), (0,)), ((), ())),
                          preferred_element_type=jnp.float32)
      out = y if out is None else out + y
  return out.astype(jnp.result_type(lhs, rhs))


def promote_keeping_bf16(*args, dtype=None, inexact=True) -> list[Any]:
  """Flax's ``promote_dtype`` hook, except that bf16 arrays (pre-rounded kernels) stay bf16."""
  target = flax_dtypes.canonicalize_dtype(*args, dtype=dtype, inexact=inexact)
  return [x if x is None or getattr(x, "dtype", None) == jnp.bfloat16 else jnp.asarray(x, target)
          for x in args]


def dense_hooks(matmul_dtype: str | None) -> dict[str, Callable[..., Any]]:
  """Keyword arguments of ``nn.Dense`` for ``matmul_dtype`` (none for the float32 path)."""
  if check_matmul_dtype(matmul_dtype) is None:
    return {}
  return {"dot_general": mixed_dot_general, "promote_dtype": promote_keeping_bf16}


# Names of the 'params' leaves that ``round_matmul_kernels`` may round.
PRODUCT_KERNELS = ("kernel", "in_proj_kernel", "q_kernel", "k_kernel", "v_kernel")


def round_matmul_kernels(variables, keep_float32: str = ""):
  """A copy of ``variables`` whose product kernels are rounded to bf16 once, for inference.

  With ``matmul_dtype='bfloat16'`` every step would otherwise round (and lay out) the float32
  kernels again. Rounded: 'params' leaves named as in ``PRODUCT_KERNELS`` (``q/k/v_kernel`` are the
  split in-projections of ``transformer.split_in_projections``) of 2-D products and of the
  convolutions run as products (``conv_uses_products``), except those whose 'a/b/c' path
  matches the regex ``keep_float32``: kernels of matrix-vector products (a single query) belong
  there, since XLA's CPU backend converts a bf16 matrix back to float32 for them. The stored
  parameters are untouched; the float32 path keeps float32 kernels.
  """
  keep = re.compile(keep_float32) if keep_float32 else None

  def round_leaf(path, x):
    keys = [str(getattr(k, "key", k)) for k in path]
    if (keys[0] != "params" or keys[-1] not in PRODUCT_KERNELS
        or x.dtype != jnp.float32 or x.ndim not in (2, 4)
        or (x.ndim == 4 and not conv_uses_products(x.shape))
        or (keep is not None and keep.search("/".join(keys[1:])))):
      return x
    return to_bfloat16(x)
  return jax.tree_util.tree_map_with_path(round_leaf, variables)
