"""Writes a synthetic split to disk in the GOT-10k layout.

Example (``--size`` is WIDTHxHEIGHT, as in video resolutions):

  python -m data_pipelines.synthetic --out /tmp/synth/train --sequences 200 --frames 100 \
      --size 640x480 --seed 0 --split train
  python -m data_pipelines.synthetic --out /tmp/synth/test --sequences 20 --frames 100 \
      --size 640x480 --seed 0 --split test

The splits of one seed draw from separate random streams and never share a sequence.
"""

from __future__ import annotations

import argparse
import re
import sys

from data_pipelines.synthetic import got10k_writer
from data_pipelines.synthetic import preview
from data_pipelines.synthetic import source


def parse_size(text: str) -> tuple[int, int]:
  """``'640x480'`` (WIDTHxHEIGHT) -> ``(480, 640)`` (height, width)."""
  match = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', text)
  if not match:
    raise argparse.ArgumentTypeError(f'--size must be WIDTHxHEIGHT like 640x480, got {text!r}')
  width, height = int(match.group(1)), int(match.group(2))
  if min(width, height) < 16:
    raise argparse.ArgumentTypeError(f'--size sides must be >= 16, got {text!r}')
  return height, width


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m data_pipelines.synthetic',
      description='Render synthetic tracking sequences to a GOT-10k style folder.')
  parser.add_argument('--out', required=True, help='output folder (created if missing)')
  parser.add_argument('--sequences', type=int, required=True, help='number of sequences')
  parser.add_argument('--frames', type=int, required=True, help='frames per sequence')
  parser.add_argument('--size', type=parse_size, default=(480, 640),
                      help='frame size WIDTHxHEIGHT (default 640x480)')
  parser.add_argument('--seed', type=int, default=0, help='base seed (default 0)')
  parser.add_argument('--split', choices=source.SPLITS, default='train',
                      help='selects an independent random stream (default train)')
  parser.add_argument('--quality', type=int, default=90, help='JPEG quality 1..100 (default 90)')
  parser.add_argument('--preview', default=None,
                      help='also save a PNG grid of a few frames with boxes to this path')
  parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  if args.sequences < 1 or args.frames < 1:
    raise SystemExit('--sequences and --frames must be >= 1')
  src = source.SyntheticSource(args.sequences, args.frames, image_size=args.size, seed=args.seed,
                               split=args.split)
  names = got10k_writer.write_got10k_layout(src, args.out, quality=args.quality,
                                            progress=not args.no_progress)
  if args.preview:
    frames = sorted({0, args.frames // 3, (2 * args.frames) // 3, args.frames - 1})
    preview.save_preview(src, args.preview, list(range(min(4, args.sequences))), frames)
  print(f'wrote {len(names)} sequences x {args.frames} frames to {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
