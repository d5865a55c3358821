"""Opt-in bfloat16 matrix products with float32 accumulation, for fast inference on CPUs with bf16 dot
instructions (AVX512_BF16, AMX).

``matmul_dtype='float32'`` (or ``None``) leaves every module on its ordinary float32 path, bit for bit.
``matmul_dtype='bfloat16'`` rounds the two operands of the large products to bfloat16 and accumulates
in float32 (``preferred_element_type``); parameters stay float32 in the tree and are rounded inside the
product; norms, softmax, soft-argmax and additions stay float32.

Which products are rewritten was decided by timing each variant on ST50's shapes (batch 1, 320x320
search crop, 528 transformer tokens) on a 2-core AMD Zen 4:

* ``lax.dot_general`` with bf16 operands: 1.5-1.9x faster than float32 once the product has a few
  dozen rows; matrix-vector products (the decoder's single query) are memory bound and would only pay
  for the rounding, so they stay float32 below ``MIN_ROWS`` rows.
* XLA's CPU convolution with bf16 operands is no faster than float32 (0.9-1.0x), so convolutions are
  rewritten as products: a 1x1 convolution is one product over channels (1.4-1.8x), a KxK
  convolution the sum of K*K shifted products (1.2-1.7x from 128 input channels; slower below, e.g.
  layer1's 64-channel 3x3 at 0.9x; an im2col product for the 3-channel 7x7 stem is 2.4x slower).
  Narrower convolutions keep XLA's float32 convolution.
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
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


def mixed_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
  """``lax.dot_general`` on bf16-rounded operands with a float32 result.

  Same signature as ``lax.dot_general`` (Flax's ``nn.Dense(dot_general=...)`` hook). Products with
  fewer than ``MIN_ROWS`` rows run in float32 on the operands as given.
  """
  (lhs_contract, _), (lhs_batch, _) = dimension_numbers
  rows = lhs.size
  for axis in tuple(lhs_contract) + tuple(lhs_batch):
    rows //= lhs.shape[axis]
  if rows < MIN_ROWS:
    return lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                           preferred_element_type=preferred_element_type)
  out = lax.dot_general(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), dimension_numbers,
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
  """A 2-D NHWC convolution as a sum of bf16 products (Flax's ``nn.Conv`` hook).

  Same signature as ``lax.conv_general_dilated``. Anything but a plain (ungrouped, no input
  dilation, explicit padding) NHWC convolution, and KxK kernels on fewer than ``MIN_CONV_CHANNELS``
  input channels, go to ``lax.conv_general_dilated`` unchanged.
  """
  kh, kw, cin, _ = rhs.shape if rhs.ndim == 4 else (0, 0, 0, 0)
  plain = (lhs.ndim == 4 and rhs.ndim == 4 and feature_group_count == 1
           and not isinstance(padding, str) and all(d == 1 for d in (lhs_dilation or (1, 1)))
           and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC)
  if not plain or (kh * kw > 1 and cin < MIN_CONV_CHANNELS):
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, precision=precision,
                                    **kwargs)
  sh, sw = window_strides
  dh, dw = rhs_dilation or (1, 1)
  (top, bottom), (left, right) = padding
  x = jnp.pad(lhs.astype(jnp.bfloat16), ((0, 0), (top, bottom), (left, right), (0, 0)))
  ho = (x.shape[1] - dh * (kh - 1) - 1) // sh + 1
  wo = (x.shape[2] - dw * (kw - 1) - 1) // sw + 1
  w = rhs.astype(jnp.bfloat16)
  out = None
  for i in range(kh):
    for j in range(kw):
      tap = x[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
      y = lax.dot_general(tap, w[i, j], (((3,), (0,)), ((), ())),
                          preferred_element_type=jnp.float32)
      out = y if out is None else out + y
  return out.astype(jnp.result_type(lhs, rhs))


def dot_general_for(matmul_dtype: str | None) -> Callable[..., Any] | None:
  """The ``dot_general`` hook of ``nn.Dense`` for ``matmul_dtype`` (None = Flax's default)."""
  return None if check_matmul_dtype(matmul_dtype) is None else mixed_dot_general


def conv_for(matmul_dtype: str | None) -> Callable[..., Any] | None:
  """The ``conv_general_dilated`` hook of ``nn.Conv`` for ``matmul_dtype`` (None = Flax's)."""
  return None if check_matmul_dtype(matmul_dtype) is None else mixed_conv_general_dilated
