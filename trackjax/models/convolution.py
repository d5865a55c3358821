"""2-D NHWC convolution with the parameters of ``flax.linen.Conv``, and its inference forms.

``Conv`` creates the same variables as ``nn.Conv`` (``kernel`` HWIO, optional ``bias``), so stored
and converted weights are unchanged, and computes the same function in whichever form its
variables hold:

* stored: ``kernel`` (KH, KW, I, O). 1x1 convolutions run as one product over channels (on the
  strided input); others as XLA's convolution.
* Winograd (``winograd_kernels``): 3x3, stride 1, dilation 1 convolutions from
  ``WINOGRAD_MIN_CHANNELS`` input channels hold ``winograd_kernel`` (16, I, O) = G g G^T instead, and run as Winograd's
  F(2x2, 3x3): 2.25x fewer multiplications as 16 batched products over 4x4 input tiles. Its float32
  error is below that of XLA's direct convolution (2.5e-6 against 8e-6 on unit-variance 256-channel
  data, float64 reference).
* ``matmul_dtype='bfloat16'``: products on bf16-rounded operands (``matmul_precision``).

``fold_norms`` is the other inference transform: a frozen (or evaluation-mode) batch norm after a
convolution becomes a per-channel scale of the kernel plus a ``shift`` left in the norm.

Timings on a 2-core AMD EPYC (AVX2, XLA 0.10.2, one thread, ST50 shapes): Winograd takes 0.7-0.8x
the time of XLA's convolution from 128 channels and is no faster at 64 (layer1), so narrower
convolutions keep XLA's.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import flax
import flax.linen as nn
import flax.traverse_util
import jax.numpy as jnp
import numpy as np
from jax import lax

from trackjax.models.matmul_precision import (check_matmul_dtype, mixed_conv_general_dilated,
                                              promote_keeping_bf16)

WINOGRAD_MIN_CHANNELS = 128

# Winograd F(2x2, 3x3) (Lavin & Gray 2016): output tile Y = A^T [(G g G^T) * (B^T d B)] A for a
# 4x4 input tile d at stride 2 and a 3x3 kernel g.
_WINOGRAD_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
_WINOGRAD_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _combine(coefficients, terms):
  """Rows of ``coefficients`` (entries 0, 1, -1) applied to the list ``terms``."""
  out = []
  for row in coefficients:
    acc = None
    for c, t in zip(row, terms):
      if c:
        acc = (t if c > 0 else -t) if acc is None else (acc + t if c > 0 else acc - t)
    out.append(acc)
  return out


def winograd_kernel(kernel: jnp.ndarray) -> jnp.ndarray:
  """(3, 3, I, O) HWIO kernel -> (16, I, O) transformed kernel ``G g G^T`` (row-major 4x4)."""
  if kernel.shape[:2] != (3, 3):
    raise ValueError(f"winograd_kernel: a 3x3 kernel expected, got shape {kernel.shape}")
  g = jnp.asarray(_WINOGRAD_G)
  u = jnp.einsum("ai,ijco,bj->abco", g, kernel.astype(jnp.float32), g,
                 precision=lax.Precision.HIGHEST)
  return u.reshape(16, *kernel.shape[2:])


def winograd_conv3x3(x: jnp.ndarray, u: jnp.ndarray) -> jnp.ndarray:
  """'Same' 3x3 convolution (stride 1, padding 1) of NHWC ``x`` with a ``winograd_kernel``."""
  b, h, w, c = x.shape
  th, tw = -(-h // 2), -(-w // 2)  # 2x2 output tiles
  xp = jnp.pad(x, ((0, 0), (1, 1 + 2 * th - h), (1, 1 + 2 * tw - w), (0, 0)))
  d = [[xp[:, i:i + 2 * th - 1:2, j:j + 2 * tw - 1:2] for j in range(4)] for i in range(4)]
  columns = [_combine(_WINOGRAD_BT, [d[i][j] for i in range(4)]) for j in range(4)]  # [j][a]
  v = [_combine(_WINOGRAD_BT, [columns[j][a] for j in range(4)]) for a in range(4)]  # [a][b]
  v = jnp.stack([v[a][k] for a in range(4) for k in range(4)]).reshape(16, b * th * tw, c)
  m = lax.dot_general(v, u.astype(v.dtype), (((2,), (1,)), ((0,), (0,))))  # (16, tiles, O)
  m = m.reshape(4, 4, b, th, tw, -1)
  rows = [_combine(_WINOGRAD_AT, [m[a, k] for a in range(4)]) for k in range(4)]  # [k][p]
  y = [[_combine(_WINOGRAD_AT, [rows[k][p] for k in range(4)])[q] for q in range(2)]
       for p in range(2)]
  y = jnp.stack([jnp.stack(y[p], axis=3) for p in range(2)], axis=2)  # (B, th, 2, tw, 2, O)
  return y.reshape(b, 2 * th, 2 * tw, -1)[:, :h, :w]


class Conv(nn.Module):
  """``nn.Conv`` for 2-D NHWC inputs with explicit symmetric padding (see module docstring)."""

  features: int
  kernel_size: tuple[int, int] = (1, 1)
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)  # per spatial axis, both sides
  dilation: tuple[int, int] = (1, 1)
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x):
    bf16 = check_matmul_dtype(self.matmul_dtype) is not None
    if self.has_variable("params", "winograd_kernel"):
      if (tuple(self.kernel_size), tuple(self.strides), tuple(self.dilation),
          tuple(self.padding)) != ((3, 3), (1, 1), (1, 1), (1, 1)) or bf16:
        where = "/".join(self.scope.path) or self.name or type(self).__name__
        raise ValueError(f"{where}: a winograd_kernel needs a float32 3x3 "
                         "convolution with stride 1, dilation 1 and padding 1; leave this "
                         "layer out of winograd_kernels")
      u = self.param("winograd_kernel", nn.initializers.zeros,
                     (16, x.shape[-1], self.features), jnp.float32)
      y = winograd_conv3x3(x.astype(self.dtype), u.astype(self.dtype))
    else:
      kernel = self.param("kernel", self.kernel_init,
                          tuple(self.kernel_size) + (x.shape[-1], self.features), jnp.float32)
      if bf16:
        x, kernel = promote_keeping_bf16(x, kernel, dtype=self.dtype)
        y = mixed_conv_general_dilated(
            x, kernel, tuple(self.strides), tuple((p, p) for p in self.padding),
            rhs_dilation=tuple(self.dilation),
            dimension_numbers=lax.conv_dimension_numbers(x.shape, kernel.shape,
                                                         ("NHWC", "HWIO", "NHWC")))
      else:
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        y = _conv_float(x, kernel, tuple(self.strides), tuple(self.padding), tuple(self.dilation))
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(y.dtype)
    return y


def _conv_float(x, kernel, strides, padding, dilation):
  """float32 convolution: 1x1 as one product over channels (of the strided input), others as
  XLA's convolution."""
  if kernel.shape[:2] == (1, 1) and padding == (0, 0):
    sh, sw = strides
    return lax.dot_general(x[:, ::sh, ::sw], kernel[0, 0], (((3,), (0,)), ((), ())))
  return lax.conv_general_dilated(x, kernel, strides, tuple((p, p) for p in padding),
                                  rhs_dilation=dilation,
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


def winograd_kernels(variables, skip: str = "", min_channels: int = WINOGRAD_MIN_CHANNELS):
  """A copy of ``variables`` whose eligible 3x3 ``kernel`` leaves are ``winograd_kernel`` leaves.

  Eligible: 'params' leaves named ``kernel`` of shape (3, 3, I, O) with I >= ``min_channels`` whose
  module path ('a/b/c') does not match the regex ``skip``. Variables do not record strides, so the
  caller names its strided or dilated 3x3 convolutions in ``skip`` (``Conv`` refuses a Winograd
  kernel on them).
  """
  skip_re = re.compile(skip) if skip else None
  params = {}
  for path, x in flax.traverse_util.flatten_dict(flax.core.unfreeze(variables["params"])).items():
    module = "/".join(path[:-1])
    if (path[-1] == "kernel" and x.ndim == 4 and x.shape[:2] == (3, 3)
        and x.shape[2] >= min_channels and not (skip_re and skip_re.search(module))):
      path, x = path[:-1] + ("winograd_kernel",), winograd_kernel(x)
    params[path] = x
  return {**variables, "params": flax.traverse_util.unflatten_dict(params)}


def fold_norms(variables, pairs: Sequence[tuple[str, str]], epsilon: float = 1e-5):
  """A copy of ``variables`` with the batch norm after each convolution folded into its kernel.

  ``pairs`` names (convolution, norm) sibling modules, e.g. ``("conv1", "bn1")``; wherever both
  exist, the norm's per-channel scale ``s`` multiplies the convolution's kernel (and bias) and the
  norm keeps only ``shift``, which ``FrozenBatchNorm`` / ``BatchNorm`` then add. Frozen norms hold
  ``constants`` weight, bias, running_mean, running_var (``s = weight / sqrt(var + eps)``,
  ``shift = bias - mean * s``); evaluation-mode ``BatchNorm`` holds ``params`` scale, bias and
  ``batch_stats`` mean, var. Group norms depend on the data and stay as they are. Collections left
  empty are dropped.
  """
  flat = {col: flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
          for col, tree in variables.items()}
  params = flat.setdefault("params", {})
  constants, stats = flat.setdefault("constants", {}), flat.setdefault("batch_stats", {})
  norm_of = dict(pairs)
  for path in [p for p in params if p[-1] == "kernel" and len(p) > 1 and p[-2] in norm_of]:
    norm = path[:-2] + (norm_of[path[-2]],)
    if norm + ("running_var",) in constants:
      weight, bias, mean, var = (constants.pop(norm + (k,)) for k in
                                 ("weight", "bias", "running_mean", "running_var"))
      collection = constants
    elif norm + ("scale",) in params and norm + ("var",) in stats:
      weight, bias = params.pop(norm + ("scale",)), params.pop(norm + ("bias",))
      mean, var = stats.pop(norm + ("mean",)), stats.pop(norm + ("var",))
      collection = params
    else:
      continue
    scale = weight * jnp.reciprocal(jnp.sqrt(var + epsilon))  # as the norms compute it
    collection[norm + ("shift",)] = bias - mean * scale
    params[path] = params[path] * scale
    conv_bias = path[:-1] + ("bias",)
    if conv_bias in params:
      params[conv_bias] = params[conv_bias] * scale
  return {col: flax.traverse_util.unflatten_dict(tree) for col, tree in flat.items() if tree}
