"""Scene plans: everything about one synthetic sequence except its pixels.

A plan holds, for every frame, the target's full box, the boxes of distractors (look-alike objects
drawn behind the target) and occluders (drawn in front), motion-blur vectors, background pan and
illumination. Paths are smooth closed-form curves (sums of sinusoids), so the whole plan for N frames
is a handful of vectorised numpy operations and any frame can be rendered without the ones before it.

The target's visible fraction per frame (inside the image and not covered by occluders) is measured
on a fixed grid of points inside the target's shape; it gives ``visible`` and the GOT-10k style
``cover`` class.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipelines.synthetic import textures

_GRID = 24  # Samples per side of the target when measuring its visible fraction.


@dataclasses.dataclass(frozen=True)
class SceneObject:
  """One moving sprite of a scene.

  Attributes:
    boxes: (N, 4) float64 ``[x, y, w, h]`` full extent per frame.
    shape_power: superellipse exponent of the silhouette (2 = ellipse, large = rectangle).
    family: texture family of its appearance.
    blur: (N, 2) motion-blur vector in pixels per frame (zero for occluders).
  """

  boxes: np.ndarray
  shape_power: float
  family: textures.TextureFamily
  blur: np.ndarray


@dataclasses.dataclass(frozen=True)
class ScenePlan:
  """Geometry and lighting of one synthetic sequence.

  Attributes:
    image_size: (height, width).
    target: the tracked object.
    distractors: look-alike objects, drawn before (behind) the target.
    occluders: objects drawn after (in front of) the target.
    background_family: texture family of the background base layer.
    clutter_families: texture families of the background clutter shapes.
    background_margin: background is this many pixels larger than the frame on every side.
    background_offset: (N, 2) int, (x, y) of the frame's top-left corner in the background.
    brightness: (N,) global gain; tint: (N, 3) per-channel gain on top of it.
    target_gain: (N,) extra gain on the target only (shadows, light spots).
    visible_fraction: (N,) fraction of the target inside the frame and not occluded.
    in_frame_fraction: (N,) fraction of the target inside the frame.
    flags: per-sequence attribute flags.
  """

  image_size: tuple[int, int]
  target: SceneObject
  distractors: tuple[SceneObject, ...]
  occluders: tuple[SceneObject, ...]
  background_family: textures.TextureFamily
  clutter_families: tuple[textures.TextureFamily, ...]
  background_margin: int
  background_offset: np.ndarray
  brightness: np.ndarray
  tint: np.ndarray
  target_gain: np.ndarray
  visible_fraction: np.ndarray
  in_frame_fraction: np.ndarray
  flags: dict[str, bool]

  @property
  def num_frames(self) -> int:
    return int(self.target.boxes.shape[0])


def superellipse_inside(u: np.ndarray, v: np.ndarray, power: float) -> np.ndarray:
  """True where box-normalised coordinates (u, v) in [0, 1]^2 fall inside the silhouette."""
  return np.abs(2.0 * u - 1.0)**power + np.abs(2.0 * v - 1.0)**power <= 1.0


def _smooth_signal(rng: np.random.Generator, t: np.ndarray, periods: tuple[float, float],
                   terms: int = 3) -> np.ndarray:
  """Zero-mean smooth signal of unit-ish amplitude: a sum of random sinusoids."""
  out = np.zeros_like(t, dtype=np.float64)
  for _ in range(terms):
    period = np.exp(rng.uniform(np.log(periods[0]), np.log(periods[1])))
    out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
  return out / terms


def _path(rng: np.random.Generator, t: np.ndarray, speed: float, lo: np.ndarray,
          hi: np.ndarray) -> np.ndarray:
  """(N, 2) smooth path with typical speed ``speed`` px/frame, fitted into the box [lo, hi]."""
  out = np.zeros((t.shape[0], 2))
  for axis in range(2):
    for _ in range(3):
      period = np.exp(rng.uniform(np.log(15.0), np.log(150.0)))
      amplitude = speed * period / (2 * np.pi) * rng.uniform(0.3, 1.0)
      out[:, axis] += amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
  for axis in range(2):
    span = hi[axis] - lo[axis]
    p_lo, p_hi = out[:, axis].min(), out[:, axis].max()
    if p_hi - p_lo > span:  # Too wide: squeeze into the allowed range.
      out[:, axis] = lo[axis] + (out[:, axis] - p_lo) * span / max(p_hi - p_lo, 1e-9)
    else:  # Fits: place it at a random position inside.
      out[:, axis] += lo[axis] - p_lo + rng.uniform(0, span - (p_hi - p_lo))
  return out


def _boxes(centres: np.ndarray, sizes: np.ndarray, aspects: np.ndarray) -> np.ndarray:
  w = sizes * np.sqrt(aspects)
  h = sizes / np.sqrt(aspects)
  return np.stack([centres[:, 0] - w / 2, centres[:, 1] - h / 2, w, h], axis=-1)


def _ramp_window(t: np.ndarray, start: float, plateau: float, ramp: float) -> np.ndarray:
  """0 outside, smooth rise over ``ramp`` frames, 1 for ``plateau`` frames, smooth fall."""

  def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)

  rise = smoothstep((t - start) / ramp)
  fall = 1.0 - smoothstep((t - (start + ramp + plateau)) / ramp)
  return np.minimum(rise, fall)


def _velocity(centres: np.ndarray) -> np.ndarray:
  """(N, 2) per-frame displacement (backward difference; forward for frame 0)."""
  if centres.shape[0] < 2:
    return np.zeros_like(centres)
  v = np.diff(centres, axis=0)
  return np.concatenate([v[:1], v], axis=0)


def _blur(centres: np.ndarray, boxes: np.ndarray, exposure: float, short: float) -> np.ndarray:
  """(N, 2) motion-blur vectors: displacement times exposure, capped at half the object size."""
  blur = _velocity(centres) * exposure
  cap = np.minimum(0.5 * np.sqrt(boxes[:, 2] * boxes[:, 3]), 0.06 * short)
  length = np.linalg.norm(blur, axis=1)
  scale = np.where(length > cap, cap / np.maximum(length, 1e-9), 1.0)
  return blur * scale[:, None]


def _centres(boxes: np.ndarray) -> np.ndarray:
  return boxes[:, :2] + boxes[:, 2:] / 2


def _target_samples(power: float) -> np.ndarray:
  """(M, 2) box-normalised sample points inside the target's silhouette."""
  g = (np.arange(_GRID) + 0.5) / _GRID
  u, v = np.meshgrid(g, g)
  inside = superellipse_inside(u, v, power)
  return np.stack([u[inside], v[inside]], axis=-1)


def visibility(target: SceneObject, occluders: tuple[SceneObject, ...],
               image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  """(visible_fraction, in_frame_fraction), each (N,), measured on sample points of the target."""
  height, width = image_size
  uv = _target_samples(target.shape_power)
  b = target.boxes
  xs = b[:, None, 0] + uv[None, :, 0] * b[:, None, 2]
  ys = b[:, None, 1] + uv[None, :, 1] * b[:, None, 3]
  in_frame = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
  seen = in_frame.copy()
  for occ in occluders:
    o = occ.boxes
    u = (xs - o[:, None, 0]) / o[:, None, 2]
    v = (ys - o[:, None, 1]) / o[:, None, 3]
    covered = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    covered &= superellipse_inside(u, v, occ.shape_power)
    seen &= ~covered
  m = uv.shape[0]
  return seen.sum(axis=1) / m, in_frame.sum(axis=1) / m


def cover_class(visible_fraction: np.ndarray) -> np.ndarray:
  """GOT-10k style visible-ratio class: 0 = invisible, 1..7 = partly visible, 8 = fully visible.

  A fraction f in (0, 1) maps to ``ceil(7 f)`` (so 1..7); f = 1 (every sample visible) maps to 8.
  """
  f = np.asarray(visible_fraction, np.float64)
  cover = np.clip(np.ceil(f * 7.0 - 1e-9), 1, 7).astype(np.int64)
  cover[f <= 0.0] = 0
  cover[f >= 1.0] = 8
  return cover


def plan_scene(rng: np.random.Generator, num_frames: int, image_size: tuple[int, int]) -> ScenePlan:
  """Draws the plan of one sequence; deterministic given ``rng``'s state."""
  if num_frames < 1:
    raise ValueError(f'num_frames must be >= 1, got {num_frames}')
  height, width = image_size
  short = float(min(height, width))
  t = np.arange(num_frames, dtype=np.float64)
  frame_hi = np.array([width, height], np.float64)

  # Sequence-level choices. Each attribute is on for a share of sequences.
  want_occlusion = rng.random() < 0.5
  want_full_occlusion = want_occlusion and rng.random() < 0.5
  want_out_of_view = num_frames >= 30 and rng.random() < 0.25
  want_distractors = rng.random() < 0.6
  want_illumination = rng.random() < 0.3
  speed_class = rng.choice(['slow', 'normal', 'fast'], p=[0.25, 0.55, 0.2])
  exposure = rng.uniform(0.4, 1.0) if rng.random() < 0.35 else rng.uniform(0.0, 0.25)

  # Target size (2% .. 30% of the short side), aspect ratio, and their smooth changes.
  size0 = short * np.exp(rng.uniform(np.log(0.02), np.log(0.30)))
  aspect0 = np.exp(rng.uniform(np.log(0.45), np.log(2.2)))
  scale_amp = rng.uniform(0.4, 1.2) if rng.random() < 0.4 else rng.uniform(0.0, 0.2)
  sizes = size0 * np.exp(scale_amp * _smooth_signal(rng, t, (30.0, 200.0)))
  sizes = np.clip(sizes, 0.015 * short, 0.4 * short)
  aspect_amp = rng.uniform(0.3, 0.8) if rng.random() < 0.3 else rng.uniform(0.0, 0.15)
  aspects = aspect0 * np.exp(aspect_amp * _smooth_signal(rng, t, (30.0, 200.0)))
  max_half = 0.5 * sizes.max() * np.sqrt(max(aspects.max(), 1.0 / aspects.min()))

  relative_speed = {'slow': (0.01, 0.06), 'normal': (0.06, 0.2), 'fast': (0.2, 0.6)}[speed_class]
  speed = min(size0 * rng.uniform(*relative_speed) + rng.uniform(0.2, 1.5), 0.08 * short)
  lo = np.minimum(max_half, frame_hi / 2)
  base_centres = _path(rng, t, speed, lo, frame_hi - lo)

  # Out-of-view excursion: push the target across the nearest border and bring it back.
  centres = base_centres.copy()
  if want_out_of_view:
    plateau = float(rng.uniform(max(3.0, 0.05 * num_frames), 0.2 * num_frames))
    start = float(rng.uniform(0.2, 0.6) * num_frames)
    max_ramp = 0.15 * num_frames
    span = (t >= start) & (t <= start + plateau + 2 * max_ramp)  # Every frame that may be out.
    c = base_centres[span]
    boxes_span = _boxes(c, sizes[span], aspects[span])
    gaps = np.stack([c[:, 0], width - c[:, 0], c[:, 1], height - c[:, 1]], axis=-1).mean(0)
    side = int(np.argmin(gaps))
    needed = {  # Shift that puts the whole box past that border, for every frame of the span.
        0: (boxes_span[:, 0] + boxes_span[:, 2]).max(),
        1: (width - boxes_span[:, 0]).max(),
        2: (boxes_span[:, 1] + boxes_span[:, 3]).max(),
        3: (height - boxes_span[:, 1]).max(),
    }[side] + 4.0
    # Leave and come back at a plausible speed (a fraction of the target size per frame).
    exit_speed = max(0.4 * size0, 3.0) * rng.uniform(0.7, 1.5)
    ramp = float(np.clip(needed / exit_speed, 3.0, max_ramp))
    window = _ramp_window(t, start, plateau, ramp)
    direction = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}[side]
    centres = centres + window[:, None] * needed * np.asarray(direction, np.float64)

  target_family = textures.random_family(rng)
  target_boxes = _boxes(centres, sizes, aspects)
  target = SceneObject(
      boxes=target_boxes,
      shape_power=float(np.exp(rng.uniform(np.log(1.3), np.log(8.0)))),
      family=target_family,
      blur=_blur(centres, target_boxes, exposure, short),
  )

  # Distractors: same texture family, similar size, orbiting near the target's base path.
  distractors = []
  if want_distractors:
    for _ in range(int(rng.integers(1, 4))):
      radius = size0 * (1.2 + 2.0 * (0.5 + 0.5 * _smooth_signal(rng, t, (30.0, 200.0))))
      theta = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * rng.uniform(0.01, 0.05) * t
      c = base_centres + radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
      d_sizes = sizes * np.exp(rng.uniform(-0.25, 0.25))
      d_aspects = aspects * np.exp(rng.uniform(-0.2, 0.2))
      d_boxes = _boxes(c, d_sizes, d_aspects)
      distractors.append(SceneObject(
          boxes=d_boxes,
          shape_power=target.shape_power * float(np.exp(rng.uniform(-0.3, 0.3))),
          family=textures.similar_family(target_family, rng),
          blur=_blur(c, d_boxes, exposure, short),
      ))

  # Occluders: shapes that cross the target at a chosen frame; bigger than it for full occlusion.
  occluders = []
  if want_occlusion:
    kinds = ['full'] if want_full_occlusion else []
    kinds += ['partial'] * int(rng.integers(0 if want_full_occlusion else 1, 3))
    target_v = _velocity(centres)
    for kind in kinds:
      for _ in range(10):  # Retry until frame 0 stays fully visible.
        t0 = int(rng.integers(min(5, num_frames - 1), num_frames))
        tb = target.boxes[t0]
        if kind == 'full':
          ow, oh = tb[2] * rng.uniform(1.4, 2.4), tb[3] * rng.uniform(1.4, 2.4)
          power = float(rng.uniform(4.0, 10.0))
          rel_speed = max(tb[2], tb[3]) * rng.uniform(0.02, 0.08)
        elif rng.random() < 0.5:  # A bar: long in one direction, narrower than the target.
          long_side = max(tb[2], tb[3]) * rng.uniform(1.5, 4.0)
          narrow = min(tb[2], tb[3]) * rng.uniform(0.25, 0.7)
          ow, oh = (narrow, long_side) if rng.random() < 0.5 else (long_side, narrow)
          power = float(rng.uniform(6.0, 12.0))
          rel_speed = max(tb[2], tb[3]) * rng.uniform(0.03, 0.15)
        else:  # A blob smaller than the target.
          ow, oh = tb[2] * rng.uniform(0.3, 0.8), tb[3] * rng.uniform(0.3, 0.8)
          power = float(np.exp(rng.uniform(np.log(1.5), np.log(6.0))))
          rel_speed = max(tb[2], tb[3]) * rng.uniform(0.03, 0.15)
        angle = rng.uniform(0, 2 * np.pi)
        v = target_v[t0] + rel_speed * np.array([np.cos(angle), np.sin(angle)])
        offset = (rng.uniform(-0.15, 0.15, 2) if kind == 'full' else rng.uniform(-0.4, 0.4, 2))
        c0 = _centres(tb[None])[0] + offset * tb[2:]
        c = c0[None] + (t - t0)[:, None] * v[None]
        occ = SceneObject(
            boxes=np.stack([c[:, 0] - ow / 2, c[:, 1] - oh / 2, np.full_like(t, ow),
                            np.full_like(t, oh)], axis=-1),
            shape_power=power,
            family=textures.random_family(rng),
            blur=np.zeros_like(c),
        )
        if visibility(target, tuple(occluders) + (occ,), image_size)[0][0] >= 1.0:
          occluders.append(occ)
          break

  visible_fraction, in_frame_fraction = visibility(target, tuple(occluders), image_size)

  # Background: a slow pan inside a larger texture.
  margin = int(np.ceil(0.06 * max(height, width)))
  pan_speed = rng.uniform(0.0, 0.6) if rng.random() < 0.5 else 0.0
  pan = _path(rng, t, pan_speed, np.zeros(2), np.full(2, 2.0 * margin)) if pan_speed > 0 else (
      np.full((num_frames, 2), float(margin)))
  background_offset = np.clip(np.round(pan), 0, 2 * margin).astype(np.int64)

  # Illumination: global gain and tint; strong and faster for illumination-change sequences.
  amp = rng.uniform(0.25, 0.5) if want_illumination else rng.uniform(0.0, 0.06)
  periods = (20.0, 120.0) if want_illumination else (100.0, 400.0)
  brightness = 1.0 + amp * _smooth_signal(rng, t, periods)
  tint = 1.0 + (amp * 0.4) * np.stack([_smooth_signal(rng, t, periods) for _ in range(3)], -1)
  target_gain = 1.0 + (amp * 0.6) * _smooth_signal(rng, t, periods)

  speeds = np.linalg.norm(_velocity(centres), axis=1)
  blur_len = np.linalg.norm(target.blur, axis=1)
  areas = target.boxes[:, 2] * target.boxes[:, 3]
  ar = target.boxes[:, 2] / target.boxes[:, 3]
  flags = {
      'OCC': bool(((visible_fraction < in_frame_fraction - 0.05)).any()),
      'FOC': bool(((visible_fraction <= 0) & (in_frame_fraction > 0)).any()),
      'OV': bool((in_frame_fraction <= 0).any()),
      'MB': bool((blur_len >= 4.0).any()),
      'IV': bool(want_illumination),
      'SV': bool(np.sqrt(areas.max() / areas[0]) > 1.5 or np.sqrt(areas[0] / areas.min()) > 1.5),
      'ARC': bool(max(ar.max() / ar[0], ar[0] / ar.min()) > 1.5),
      'FM': bool((speeds > 20.0).any()),
      'SOB': bool(distractors),
      'BC': False,  # Set below from the clutter families.
  }
  clutter = [textures.random_family(rng) for _ in range(int(rng.integers(2, 4)))]
  if rng.random() < 0.4:  # Background clutter that resembles the target.
    clutter.append(textures.similar_family(target_family, rng))
    flags['BC'] = True

  return ScenePlan(
      image_size=(int(height), int(width)),
      target=target,
      distractors=tuple(distractors),
      occluders=tuple(occluders),
      background_family=textures.random_family(rng),
      clutter_families=tuple(clutter),
      background_margin=margin,
      background_offset=background_offset,
      brightness=brightness,
      tint=tint,
      target_gain=target_gain,
      visible_fraction=visible_fraction,
      in_frame_fraction=in_frame_fraction,
      flags=flags,
  )
