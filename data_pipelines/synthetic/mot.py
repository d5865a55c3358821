"""The synthetic MOT dataset: look-alike walkers that cross and occlude, in MOTChallenge layout.

  python -m data_pipelines.synthetic.mot --out DIR [--train-sequences 4 --test-sequences 2 \
      --frames 60 --seed 0 --width 320 --height 240 --targets 3-6]

writes ``DIR/{train,test}/<seq>/{seqinfo.ini, img1/%06d.jpg, gt/gt.txt, det/det.txt}`` (the test
split also has ``gt.txt`` so that held-out sequences can be scored). Everything is a pure function
of (seed, split, sequence index): two runs write identical files.

A sequence: a static textured background; 3..6 identities (``targets``), each present for one
interval of the sequence (at least half of it), walking along a path of three waypoints (a
sharp turn in the middle, often while hidden behind another walker) mostly left-right or
right-left through the centre band, so paths cross; the box height grows with the bottom edge
(nearer is larger, aspect about 0.4). All identities share one silhouette and skin tone and
differ in part colours and one fine torso detail (``mot_render``). ``gt.txt``: frame, id, x, y,
w, h, 1 (consider), 1 (pedestrian), visibility (visible fraction of the silhouette, occluders and
the frame border included). ``det.txt``: each ground-truth box with visibility >= 0.15 is
detected with probability ``0.97 - 0.35 * (1 - visibility)``, its box jittered by about 3% of
its height, its score ``0.45 + 0.5 * visibility`` plus noise (occluded targets give the low-score
detections ByteTrack's second association uses), plus about 0.15 false positives a frame at
random places with scores 0.1..0.65.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import sys

import cv2
import numpy as np

from data_pipelines.synthetic import mot_render
from data_pipelines.synthetic import textures

SPLIT_STREAMS = {'train': 0, 'test': 1}
FRAME_RATE = 30
JPEG_QUALITY = 90
MIN_DETECTED_VISIBILITY = 0.15
FALSE_POSITIVES_PER_FRAME = 0.15


def _looks(rng: np.random.Generator, count: int) -> list[mot_render.Look]:
  """``count`` distinct looks from small palettes: many pairs differ in one detail only."""
  hues = rng.uniform(0, 180, 3)
  to_rgb = lambda h, s, v: tuple(float(c) for c in cv2.cvtColor(
      np.uint8([[[h % 180, s, v]]]), cv2.COLOR_HSV2RGB)[0, 0])
  torsos = [to_rgb(h, rng.uniform(120, 220), rng.uniform(120, 220)) for h in hues[:2]]
  legs = [to_rgb(hues[2], rng.uniform(60, 160), rng.uniform(50, 120)),
          to_rgb(hues[2] + 90, rng.uniform(60, 160), rng.uniform(60, 140))]
  details = [to_rgb(rng.uniform(0, 180), 230, 240), to_rgb(rng.uniform(0, 180), 40, 250)]
  skin = to_rgb(10 + rng.uniform(0, 10), 90 + rng.uniform(0, 40), 200)
  combos = list(itertools.product(range(2), range(2), mot_render.DETAILS, range(2)))
  picks = rng.choice(len(combos), size=count, replace=False)
  return [mot_render.Look(skin=skin, torso=torsos[combos[p][0]], legs=legs[combos[p][1]],
                          detail=combos[p][2], detail_colour=details[combos[p][3]]) for p in picks]


def plan_tracks(rng: np.random.Generator, num_frames: int, image_size: tuple[int, int],
                count: int) -> tuple[np.ndarray, np.ndarray]:
  """Boxes (count, T, 4) x, y, w, h and presence (count, T) bool of ``count`` walkers."""
  width, height = image_size
  boxes = np.zeros((count, num_frames, 4), np.float64)
  present = np.zeros((count, num_frames), bool)
  t = np.arange(num_frames, dtype=np.float64)
  for k in range(count):
    length = int(rng.integers(max(2, num_frames // 2), num_frames + 1))
    start = int(rng.integers(0, num_frames - length + 1))
    present[k, start:start + length] = True
    leftward = rng.random() < 0.5
    xs = np.sort(rng.uniform(0.05, 0.95, 3) * width)
    xs = xs[::-1] if leftward else xs
    foot = rng.uniform(0.55, 0.98, 3) * height  # bottom edge (depth)
    turn = rng.uniform(0.35, 0.65)
    s = np.clip((t - start) / max(length - 1, 1), 0.0, 1.0)
    cx = np.interp(s, [0.0, turn, 1.0], xs)
    bottom = np.interp(s, [0.0, turn, 1.0], foot)
    base = rng.uniform(0.28, 0.4) * height
    h = base * (0.55 + 0.55 * bottom / height)
    w = h * rng.uniform(0.38, 0.44)
    boxes[k] = np.stack([cx - w / 2, bottom - h, w, h], axis=-1)
  return boxes, present


def _background(rng: np.random.Generator, image_size: tuple[int, int]) -> np.ndarray:
  width, height = image_size
  family = textures.random_family(rng)
  texture = textures.render_texture(family, rng, (height, width), detail=2).astype(np.float32)
  grey = texture.mean(axis=-1, keepdims=True)
  return np.clip(0.5 * texture + 0.3 * grey + 30.0, 0, 255).astype(np.uint8)  # muted


def detections_from_gt(rng: np.random.Generator, gt_rows: np.ndarray,
                       image_size: tuple[int, int], num_frames: int) -> np.ndarray:
  """det.txt rows (frame, -1, x, y, w, h, score, -1, -1, -1) from gt rows with noise and errors."""
  width, height = image_size
  rows = []
  for frame, _, x, y, w, h, _, _, vis in gt_rows:
    if vis < MIN_DETECTED_VISIBILITY or rng.random() > 0.97 - 0.35 * (1.0 - vis):
      continue
    jitter = rng.normal(0.0, 0.03 * h, 4) * [1.0, 1.0, 0.5, 1.0]
    score = float(np.clip(0.45 + 0.5 * vis + rng.normal(0.0, 0.06), 0.05, 0.99))
    rows.append([frame, -1, x + jitter[0], y + jitter[1], max(w + jitter[2], 2.0),
                 max(h + jitter[3], 4.0), score, -1, -1, -1])
  for frame in range(1, num_frames + 1):
    for _ in range(rng.poisson(FALSE_POSITIVES_PER_FRAME)):
      h = rng.uniform(0.2, 0.45) * height
      w = h * rng.uniform(0.3, 0.6)
      rows.append([frame, -1, rng.uniform(0, width - w), rng.uniform(0, height - h), w, h,
                   rng.uniform(0.1, 0.65), -1, -1, -1])
  rows = np.asarray(rows, np.float64).reshape(-1, 10)
  return rows[np.argsort(rows[:, 0], kind='stable')]


def _format_rows(rows: np.ndarray, integer_columns: tuple[int, ...]) -> str:
  lines = []
  for row in rows:
    fields = [str(int(v)) if c in integer_columns else f'{v:.2f}' for c, v in enumerate(row)]
    lines.append(','.join(fields))
  return '\n'.join(lines) + ('\n' if lines else '')


def write_sequence(directory: pathlib.Path, name: str, rng: np.random.Generator, *,
                   num_frames: int, image_size: tuple[int, int], targets: tuple[int, int]) -> None:
  """Renders one sequence into ``directory`` in MOTChallenge layout."""
  width, height = image_size
  count = int(rng.integers(targets[0], targets[1] + 1))
  looks = _looks(rng, count)
  sprites = [mot_render.make_person_sprite(look, rng) for look in looks]
  boxes, present = plan_tracks(rng, num_frames, image_size, count)
  background = _background(rng, image_size)
  brightness = 1.0 + 0.06 * np.sin(np.arange(num_frames) / 9.0 + rng.uniform(0, 6.3))
  (directory / 'img1').mkdir(parents=True, exist_ok=True)
  (directory / 'gt').mkdir(exist_ok=True)
  (directory / 'det').mkdir(exist_ok=True)
  gt_rows = []
  for t in range(num_frames):
    image, visibility = mot_render.composite(background, sprites, boxes[:, t], present[:, t],
                                             float(brightness[t]))
    cv2.imwrite(str(directory / 'img1' / f'{t + 1:06d}.jpg'), image[..., ::-1],
                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    for k in np.nonzero(present[:, t])[0]:
      gt_rows.append([t + 1, k + 1, *boxes[k, t], 1, 1, round(float(visibility[k]), 3)])
  gt_rows = np.asarray(gt_rows, np.float64).reshape(-1, 9)
  det_rows = detections_from_gt(rng, gt_rows, image_size, num_frames)
  (directory / 'gt' / 'gt.txt').write_text(_format_rows(gt_rows, (0, 1, 6, 7)))
  (directory / 'det' / 'det.txt').write_text(_format_rows(det_rows, (0, 1, 7, 8, 9)))
  (directory / 'seqinfo.ini').write_text(
      f'[Sequence]\nname={name}\nimDir=img1\nframeRate={FRAME_RATE}\nseqLength={num_frames}\n'
      f'imWidth={width}\nimHeight={height}\nimExt=.jpg\n')


def sequence_names(split: str, count: int) -> list[str]:
  return [f'SYNMOT-{split}-{i + 1:02d}' for i in range(count)]


def write_synthetic_mot(out_dir, *, train_sequences: int = 4, test_sequences: int = 2,
                        frames: int = 60, image_size: tuple[int, int] = (320, 240),
                        targets: tuple[int, int] = (3, 6), seed: int = 0) -> pathlib.Path:
  """Writes the synthetic MOT set to ``out_dir`` and returns it as a ``Path``.

  Args:
    out_dir: output folder; gets ``train/`` and ``test/`` (both with ground truth).
    train_sequences, test_sequences: sequences per split.
    frames: frames per sequence.
    image_size: (width, height) in pixels.
    targets: (min, max) identities per sequence, inclusive (at most 48).
    seed: base seed; the splits draw from separate streams.
  """
  if frames < 2 or min(image_size) < 32 or not 1 <= targets[0] <= targets[1] <= 48:
    raise ValueError(f'need frames >= 2, sides >= 32 and 1 <= targets <= 48; got frames={frames}, '
                     f'image_size={image_size}, targets={targets}')
  out = pathlib.Path(out_dir)
  for split, count in (('train', train_sequences), ('test', test_sequences)):
    for index, name in enumerate(sequence_names(split, count)):
      rng = np.random.default_rng([seed, SPLIT_STREAMS[split], index])
      write_sequence(out / split / name, name, rng, num_frames=frames,
                     image_size=tuple(image_size), targets=tuple(targets))
  return out


def _targets(text: str) -> tuple[int, int]:
  low, _, high = text.partition('-')
  try:
    return int(low), int(high or low)
  except ValueError as e:
    raise argparse.ArgumentTypeError(f'--targets must be MIN-MAX like 3-6, got {text!r}') from e


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m data_pipelines.synthetic.mot',
      description='Render the synthetic MOT set (MOTChallenge layout).')
  parser.add_argument('--out', required=True, help='output folder (created if missing)')
  parser.add_argument('--train-sequences', type=int, default=4)
  parser.add_argument('--test-sequences', type=int, default=2)
  parser.add_argument('--frames', type=int, default=60, help='frames per sequence')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--width', type=int, default=320)
  parser.add_argument('--height', type=int, default=240)
  parser.add_argument('--targets', type=_targets, default=(3, 6), help='identities MIN-MAX')
  args = parser.parse_args(argv)
  out = write_synthetic_mot(args.out, train_sequences=args.train_sequences,
                            test_sequences=args.test_sequences, frames=args.frames,
                            image_size=(args.width, args.height), targets=args.targets,
                            seed=args.seed)
  print(f'wrote {args.train_sequences} train + {args.test_sequences} test sequences x '
        f'{args.frames} frames to {os.fspath(out)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
