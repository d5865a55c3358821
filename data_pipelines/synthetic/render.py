"""Pixels of a synthetic sequence: per-sequence textures and the per-frame compositor.

Per sequence (cached by the source): a background larger than the frame (base texture plus clutter
shapes, some in the target's texture family) and one sprite pyramid per object (premultiplied RGBA,
halved level by level so that a sprite is never shrunk by more than 2x with bilinear sampling).

Per frame: crop the background at the pan offset, then draw distractors, the target (with its own
gain and motion blur) and occluders with ``cv2.warpAffine`` into their bounding regions only, then
apply the global illumination with a lookup table. Cost is dominated by the background copy and the
lookup table, i.e. a few milliseconds for 640x480.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from data_pipelines.synthetic import scene
from data_pipelines.synthetic import textures

_MIN_SPRITE_SIDE = 8
_MAX_SPRITE_SIDE = 384


@dataclasses.dataclass(frozen=True)
class SpritePyramid:
  """Premultiplied RGBA float32 sprites, full resolution first, each level half the previous."""

  levels: tuple[np.ndarray, ...]

  def level_for(self, width: float, height: float) -> np.ndarray:
    """The smallest level still at least as large as (width, height), else the largest."""
    chosen = self.levels[0]
    for level in self.levels:
      if level.shape[1] >= width and level.shape[0] >= height:
        chosen = level
      else:
        break
    return chosen


@dataclasses.dataclass(frozen=True)
class SceneTextures:
  """Pixel material of one sequence."""

  background: np.ndarray  # (H + 2 margin, W + 2 margin, 3) uint8.
  target: SpritePyramid
  distractors: tuple[SpritePyramid, ...]
  occluders: tuple[SpritePyramid, ...]


@dataclasses.dataclass(frozen=True)
class RenderedFrame:
  """A rendered frame and, when asked for, the target's coverage maps (float32 in [0, 1]).

  Attributes:
    image: (H, W, 3) uint8 RGB.
    target_alpha: (H, W) coverage of the target as drawn, before occluders; None unless asked for.
    visible_alpha: (H, W) coverage of the target left visible after occluders; None unless asked.
  """

  image: np.ndarray
  target_alpha: np.ndarray | None = None
  visible_alpha: np.ndarray | None = None


def make_sprite(family: textures.TextureFamily, rng: np.random.Generator, shape_power: float,
                size: tuple[int, int], shaded: bool = True) -> SpritePyramid:
  """A textured superellipse sprite of ``size`` (height, width) and its pyramid."""
  h, w = size
  rgb = textures.render_texture(family, rng, (h, w)).astype(np.float32)
  v = (np.arange(h, dtype=np.float32) + 0.5) / h
  u = (np.arange(w, dtype=np.float32) + 0.5) / w
  r = (np.abs(2 * u[None, :] - 1)**shape_power + np.abs(2 * v[:, None] - 1)**shape_power)
  r = r**(1.0 / shape_power)
  alpha = np.clip((1.0 - r) * (min(h, w) / 2.0) + 0.5, 0.0, 1.0)
  if shaded:  # Soft 3-D shading and a darker rim make the sprite read as an object.
    shade = 0.75 + 0.35 * (1.0 - r**2)
    shade = np.where(r > 0.88, shade * 0.6, shade)
    rgb *= shade[..., None]
  rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1)
  levels = [np.ascontiguousarray(rgba, dtype=np.float32)]
  while min(levels[-1].shape[:2]) >= 2 * _MIN_SPRITE_SIDE:
    levels.append(cv2.pyrDown(levels[-1]))
  return SpritePyramid(tuple(levels))


def _sprite_size(boxes: np.ndarray) -> tuple[int, int]:
  w = float(np.nanmax(boxes[:, 2]))
  h = float(np.nanmax(boxes[:, 3]))
  clip = lambda s: int(np.clip(math.ceil(s), _MIN_SPRITE_SIDE, _MAX_SPRITE_SIDE))
  return clip(h), clip(w)


def make_background(plan: scene.ScenePlan, rng: np.random.Generator) -> np.ndarray:
  """Base texture with clutter shapes of the plan's clutter families, larger than the frame."""
  height, width = plan.image_size
  m = plan.background_margin
  shape = (height + 2 * m, width + 2 * m)
  short = min(height, width)
  labels = np.zeros(shape, np.uint8)
  num_shapes = int(rng.integers(15, 45))
  for _ in range(num_shapes):
    label = int(rng.integers(1, len(plan.clutter_families) + 1))
    size = short * np.exp(rng.uniform(np.log(0.02), np.log(0.35)))
    cx, cy = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
    aspect = np.exp(rng.uniform(-1.0, 1.0))
    axes = (max(1, int(size * aspect / 2)), max(1, int(size / aspect / 2)))
    kind = rng.integers(3)
    if kind == 0:
      cv2.ellipse(labels, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, label, -1)
    elif kind == 1:
      box = ((float(cx), float(cy)), (2.0 * axes[0], 2.0 * axes[1]), float(rng.uniform(0, 180)))
      cv2.fillPoly(labels, [cv2.boxPoints(box).astype(np.int32)], label)
    else:
      pts = np.stack([cx + rng.uniform(-1, 1, 5) * axes[0], cy + rng.uniform(-1, 1, 5) * axes[1]], 1)
      cv2.fillPoly(labels, [cv2.convexHull(pts.astype(np.int32))], label)
  families = [plan.background_family, *plan.clutter_families]
  return textures.render_layered(families, labels, rng, detail=2)


def make_textures(plan: scene.ScenePlan, rng: np.random.Generator) -> SceneTextures:
  """All pixel material of a sequence, deterministic given ``rng``'s state."""
  target = make_sprite(plan.target.family, rng, plan.target.shape_power,
                       _sprite_size(plan.target.boxes))
  distractors = tuple(
      make_sprite(d.family, rng, d.shape_power, _sprite_size(d.boxes)) for d in plan.distractors)
  occluders = tuple(
      make_sprite(o.family, rng, o.shape_power, _sprite_size(o.boxes), shaded=False)
      for o in plan.occluders)
  background = make_background(plan, rng)
  return SceneTextures(background, target, distractors, occluders)


def _blur_kernel(vector: np.ndarray) -> np.ndarray:
  """Normalised line kernel along ``vector`` (dx, dy) pixels."""
  length = float(np.hypot(*vector))
  k = int(math.ceil(length)) | 1
  kernel = np.zeros((k, k), np.float32)
  c = (k - 1) / 2.0
  shift = 4  # Sub-pixel line end points.
  p0 = np.round((np.array([c, c]) - vector / 2) * (1 << shift)).astype(int)
  p1 = np.round((np.array([c, c]) + vector / 2) * (1 << shift)).astype(int)
  cv2.line(kernel, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1.0, 1, cv2.LINE_AA, shift)
  total = kernel.sum()
  if total <= 0:
    kernel[int(c), int(c)] = 1.0
    total = 1.0
  return kernel / total


def paste(canvas: np.ndarray, sprite: SpritePyramid, box: np.ndarray, blur: np.ndarray | None = None,
          gain: float = 1.0) -> tuple[tuple[slice, slice], np.ndarray] | None:
  """Draws ``sprite`` stretched to ``box`` (x, y, w, h) onto ``canvas`` (uint8, in place).

  Returns the canvas region touched and the sprite's alpha there, or None when nothing is drawn.
  """
  x, y, w, h = (float(v) for v in box)
  if not (w >= 0.5 and h >= 0.5 and np.isfinite([x, y]).all()):
    return None
  blur_len = 0.0 if blur is None else float(np.hypot(*blur))
  pad = int(math.ceil(blur_len / 2)) + 2
  height, width = canvas.shape[:2]
  x0, y0 = max(math.floor(x) - pad, 0), max(math.floor(y) - pad, 0)
  x1, y1 = min(math.ceil(x + w) + pad, width), min(math.ceil(y + h) + pad, height)
  if x0 >= x1 or y0 >= y1:
    return None
  src = sprite.level_for(w, h)
  sx, sy = w / src.shape[1], h / src.shape[0]
  matrix = np.array([[sx, 0.0, x - x0 + 0.5 * sx - 0.5], [0.0, sy, y - y0 + 0.5 * sy - 0.5]],
                    np.float64)
  rgba = cv2.warpAffine(src, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  if blur_len >= 1.5:
    rgba = cv2.filter2D(rgba, -1, _blur_kernel(np.asarray(blur, np.float64)),
                        borderType=cv2.BORDER_CONSTANT)
  alpha = rgba[..., 3]
  region = (slice(y0, y1), slice(x0, x1))
  dst = canvas[region].astype(np.float32)
  dst *= 1.0 - alpha[..., None]
  dst += rgba[..., :3] * gain if gain != 1.0 else rgba[..., :3]
  dst += 0.5
  np.clip(dst, 0, 255, out=dst)
  canvas[region] = dst.astype(np.uint8)
  return region, alpha


def render_frame(plan: scene.ScenePlan, tex: SceneTextures, frame: int,
                 with_masks: bool = False) -> RenderedFrame:
  """Composites frame ``frame`` of a sequence at full resolution."""
  if not 0 <= frame < plan.num_frames:
    raise IndexError(f'frame {frame} out of range [0, {plan.num_frames})')
  height, width = plan.image_size
  ox, oy = (int(v) for v in plan.background_offset[frame])
  image = tex.background[oy:oy + height, ox:ox + width].copy()
  for obj, sprite in zip(plan.distractors, tex.distractors):
    paste(image, sprite, obj.boxes[frame], obj.blur[frame])
  drawn = paste(image, tex.target, plan.target.boxes[frame], plan.target.blur[frame],
                float(plan.target_gain[frame]))
  target_alpha = visible_alpha = None
  if with_masks:
    target_alpha = np.zeros((height, width), np.float32)
    if drawn is not None:
      target_alpha[drawn[0]] = drawn[1]
    visible_alpha = target_alpha.copy()
  for obj, sprite in zip(plan.occluders, tex.occluders):
    covered = paste(image, sprite, obj.boxes[frame])
    if with_masks and covered is not None:
      visible_alpha[covered[0]] *= 1.0 - covered[1]
  gains = plan.brightness[frame] * plan.tint[frame]
  lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gains[None, :] + 0.5, 0, 255)
  image = cv2.LUT(image, lut.astype(np.uint8).reshape(1, 256, 3))
  return RenderedFrame(image, target_alpha, visible_alpha)
