"""Procedural textures for the synthetic dataset.

A texture is a scalar field in [0, 1] (value noise, stripes, blobs, checks or rings) mapped through a
colour palette. A ``TextureFamily`` fixes the look (kind, palette, feature scale, orientation); drawing
two textures from one family with different random streams gives two objects that look alike, which is
how the dataset makes distractors. Fields are computed at reduced resolution and upsampled with
OpenCV, so a full background costs a few milliseconds.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

TEXTURE_KINDS = ('noise', 'stripes', 'blobs', 'checks', 'rings')


@dataclasses.dataclass(frozen=True)
class TextureFamily:
  """Parameters shared by textures that look alike.

  Attributes:
    kind: one of ``TEXTURE_KINDS``.
    palette: (K, 3) float32 RGB colours in 0..255 that the field in [0, 1] is mapped through.
    scale: feature size as a fraction of the texture's longer side.
    angle: orientation in radians (stripes, checks).
    contrast: amplitude of the fine value-noise grain added to the field.
  """

  kind: str
  palette: np.ndarray
  scale: float
  angle: float
  contrast: float


def random_palette(rng: np.random.Generator, num_colours: int) -> np.ndarray:
  """``num_colours`` saturated-ish RGB colours around a random hue."""
  base_hue = rng.uniform(0.0, 180.0)
  hues = (base_hue + rng.uniform(-40.0, 40.0, num_colours)) % 180.0
  hues[rng.random(num_colours) < 0.4] = rng.uniform(0.0, 180.0)  # Some contrasting colours.
  sats = rng.uniform(60.0, 255.0, num_colours)
  vals = rng.uniform(40.0, 255.0, num_colours)
  hsv = np.stack([hues, sats, vals], axis=-1).astype(np.uint8)[None]
  return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def random_family(rng: np.random.Generator) -> TextureFamily:
  """A texture family drawn at random."""
  return TextureFamily(
      kind=str(rng.choice(TEXTURE_KINDS)),
      palette=random_palette(rng, int(rng.integers(2, 5))),
      scale=float(np.exp(rng.uniform(np.log(0.08), np.log(0.5)))),
      angle=float(rng.uniform(0.0, np.pi)),
      contrast=float(rng.uniform(0.05, 0.25)),
  )


def similar_family(family: TextureFamily, rng: np.random.Generator) -> TextureFamily:
  """A family close to ``family``: same kind, slightly jittered colours, scale and angle."""
  palette = np.clip(family.palette + rng.normal(0.0, 12.0, family.palette.shape), 0, 255)
  return TextureFamily(
      kind=family.kind,
      palette=palette.astype(np.float32),
      scale=family.scale * float(np.exp(rng.uniform(-0.2, 0.2))),
      angle=family.angle + float(rng.uniform(-0.25, 0.25)),
      contrast=family.contrast,
  )


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float,
                 octaves: int = 3) -> np.ndarray:
  """Fractal value noise in roughly [0, 1], with about ``cells`` features across the longer side."""
  h, w = shape
  out = np.zeros(shape, np.float32)
  amplitude, total = 1.0, 0.0
  for octave in range(octaves):
    n = max(2.0, cells * 2**octave)
    gh = max(2, int(round(n * h / max(h, w))) + 1)
    gw = max(2, int(round(n * w / max(h, w))) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    out += amplitude * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    total += amplitude
    amplitude *= 0.5
  return out / total


def _field(family: TextureFamily, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  """Scalar field in [0, 1] of the family's kind at ``shape``."""
  h, w = shape
  side = float(max(h, w))
  period = max(2.0, family.scale * side)
  if family.kind == 'noise':
    f = _value_noise(rng, shape, side / period, octaves=4)
  elif family.kind in ('stripes', 'checks', 'rings'):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = _value_noise(rng, shape, 3.0, octaves=2) * period * 0.6
    if family.kind == 'rings':
      cy, cx = rng.uniform(0, h), rng.uniform(0, w)
      r = np.sqrt((ys - cy)**2 + (xs - cx)**2) + warp
      f = 0.5 + 0.5 * np.sin(2 * np.pi * r / period)
    else:
      c, s = np.cos(family.angle), np.sin(family.angle)
      u = xs * c + ys * s + warp + rng.uniform(0, period)
      if family.kind == 'stripes':
        f = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
      else:
        v = -xs * s + ys * c + rng.uniform(0, period)
        f = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
        f = cv2.GaussianBlur(f, (0, 0), max(0.5, period * 0.05))
  elif family.kind == 'blobs':
    f = _value_noise(rng, shape, 2.0, octaves=2) * 0.5
    count = int(np.clip((side / period)**2 * 1.5, 3, 400))
    centres = rng.uniform(0, 1, (count, 2)) * (w, h)
    radii = rng.uniform(0.2, 0.6, count) * period
    values = rng.uniform(0, 1, count)
    for (cx, cy), r, v in zip(centres, radii, values):
      cv2.circle(f, (int(cx), int(cy)), max(1, int(r)), float(v), -1, lineType=cv2.LINE_AA)
  else:
    raise ValueError(f'unknown texture kind {family.kind!r}; expected one of {TEXTURE_KINDS}')
  f = f.astype(np.float32)
  lo, hi = float(f.min()), float(f.max())
  f = (f - lo) / max(hi - lo, 1e-6)
  if family.contrast > 0:
    f += family.contrast * (_value_noise(rng, shape, side / 3.0, octaves=1) - 0.5)
  return np.clip(f, 0.0, 1.0)


def palette_lut(palette: np.ndarray) -> np.ndarray:
  """(256, 3) uint8 lookup table interpolating the palette colours along [0, 1]."""
  k = palette.shape[0]
  positions = np.linspace(0.0, 1.0, k)
  t = np.linspace(0.0, 1.0, 256)
  lut = np.stack([np.interp(t, positions, palette[:, c]) for c in range(3)], axis=-1)
  return np.clip(lut, 0, 255).astype(np.uint8)


def render_indices(family: TextureFamily, rng: np.random.Generator, shape: tuple[int, int],
                   detail: int = 1) -> np.ndarray:
  """The family's field as (H, W) uint8 palette positions 0..255 (see ``render_texture``)."""
  h, w = shape
  if h <= 0 or w <= 0:
    raise ValueError(f'texture shape must be positive, got {shape}')
  small = (max(2, -(-h // detail)), max(2, -(-w // detail)))
  indices = (_field(family, rng, small) * 255.0).astype(np.uint8)
  if small != (h, w):
    indices = cv2.resize(indices, (w, h), interpolation=cv2.INTER_LINEAR)
  return indices


def colourise(indices: np.ndarray, lut: np.ndarray) -> np.ndarray:
  """(H, W) uint8 indices through a (256, 3) uint8 table to (H, W, 3) RGB."""
  return cv2.LUT(cv2.merge([indices, indices, indices]), lut.reshape(1, 256, 3))


def render_texture(family: TextureFamily, rng: np.random.Generator, shape: tuple[int, int],
                   detail: int = 1) -> np.ndarray:
  """A (H, W, 3) uint8 RGB texture of ``family``.

  Args:
    family: the look.
    rng: randomness of this instance.
    shape: (height, width) of the output.
    detail: the field is computed at ``1 / detail`` resolution and upsampled (speed for large
      backgrounds).
  """
  return colourise(render_indices(family, rng, shape, detail), palette_lut(family.palette))


def render_layered(families: list[TextureFamily], labels: np.ndarray, rng: np.random.Generator,
                   detail: int = 1) -> np.ndarray:
  """RGB image where pixels with ``labels == k`` show a texture of ``families[k]``.

  All layers share one 256-entry colour table (256 // len(families) shades each), so the
  composite is built on single-channel indices and coloured once.
  """
  n = len(families)
  if not 1 <= n <= 16:
    raise ValueError(f'need 1..16 families, got {n}')
  shades = 256 // n
  lut = np.zeros((256, 3), np.uint8)
  out = None
  for k, family in enumerate(families):
    lut[k * shades:(k + 1) * shades] = palette_lut(family.palette)[
        np.linspace(0, 255, shades).astype(int)]
    if out is not None and not (labels == k).any():
      continue
    remap = (k * shades + np.arange(256) * (shades - 1) // 255).astype(np.uint8)
    layer = cv2.LUT(render_indices(family, rng, labels.shape, detail), remap)
    if out is None:
      out = layer
    else:
      np.copyto(out, layer, where=labels == k)
  return colourise(out, lut)
