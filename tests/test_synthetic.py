"""Tests of the embedded synthetic tracking dataset."""

import dataclasses
import os
import pickle

import cv2
import numpy as np
import pytest

from data_pipelines.sources import base
from data_pipelines.synthetic import SyntheticSource
from data_pipelines.synthetic import __main__ as cli
from data_pipelines.synthetic import render
from data_pipelines.synthetic import scene
from data_pipelines.synthetic import write_got10k_layout

SIZE = (96, 128)  # (height, width): small frames keep the tests fast.


@pytest.fixture(scope='module')
def survey():
  """A source with enough sequences that every attribute occurs, and its annotations."""
  src = SyntheticSource(48, 60, image_size=SIZE, seed=3)
  return src, [src.sequence(i) for i in range(len(src))]


def _first(seqs, flag):
  for i, seq in enumerate(seqs):
    if seq.attributes[flag]:
      return i
  raise AssertionError(f'no sequence with {flag} among {len(seqs)}')


def _iou(a, b):
  x0, y0 = max(a[0], b[0]), max(a[1], b[1])
  x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
  inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
  return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_same_seed_gives_identical_sequences_and_other_seeds_differ():
  a = SyntheticSource(3, 10, image_size=SIZE, seed=7)
  b = SyntheticSource(3, 10, image_size=SIZE, seed=7)
  c = SyntheticSource(3, 10, image_size=SIZE, seed=8)
  test_split = SyntheticSource(3, 10, image_size=SIZE, seed=7, split='test')
  for i in range(3):
    np.testing.assert_array_equal(a.sequence(i).boxes, b.sequence(i).boxes)
    for f in (0, 9):
      np.testing.assert_array_equal(a.read_frame(i, f), b.read_frame(i, f))
    assert not np.allclose(a.sequence(i).boxes, c.sequence(i).boxes)
    assert not np.allclose(a.sequence(i).boxes, test_split.sequence(i).boxes)
    assert not np.array_equal(a.read_frame(i, 0), c.read_frame(i, 0))


def test_sequence_does_not_depend_on_source_length():
  short = SyntheticSource(2, 12, image_size=SIZE, seed=1)
  long = SyntheticSource(9, 12, image_size=SIZE, seed=1)
  np.testing.assert_array_equal(short.sequence(1).boxes, long.sequence(1).boxes)
  np.testing.assert_array_equal(short.read_frame(1, 5), long.read_frame(1, 5))


def test_random_access_equals_sequential_render():
  sequential = SyntheticSource(2, 15, image_size=SIZE, seed=5, cache_size=1)
  frames = [sequential.read_frame(1, f) for f in range(15)]
  fresh = SyntheticSource(2, 15, image_size=SIZE, seed=5, cache_size=1)
  for f in (14, 3, 0, 9):
    fresh.read_frame(0, f)  # Evicts sequence 1 from the cache in between.
    np.testing.assert_array_equal(fresh.read_frame(1, f), frames[f])


def test_shapes_dtypes_and_annotation_fields(survey):
  src, seqs = survey
  assert len(src) == 48 and src.is_video
  for seq in seqs[:6]:
    assert isinstance(seq, base.Sequence)
    assert len(seq) == 60 and tuple(seq.frame_paths) == ()
    assert seq.boxes.shape == (60, 4) and seq.boxes.dtype == np.float64
    assert seq.visible.shape == (60,) and seq.visible.dtype == bool
    assert seq.cover.shape == (60,) and seq.cover.min() >= 0 and seq.cover.max() <= 8
    assert np.isfinite(seq.boxes[seq.visible]).all()
    assert (seq.boxes[:, 2:] > 0).all()
    assert seq.image_size == SIZE and seq.class_name
    for key in ('occlusion', 'out_of_view', 'motion_blur', 'illumination'):
      assert np.asarray(seq.attributes[key]).shape == (60,)
    for key in ('OCC', 'OV', 'MB', 'IV', 'SOB'):
      assert isinstance(seq.attributes[key], bool)
  names = [s.name for s in seqs]
  assert len(set(names)) == len(names)
  image = src.read_frame(0, 0)
  assert image.shape == (*SIZE, 3) and image.dtype == np.uint8
  assert image.std() > 5  # Textured, not a flat colour.


def test_reduce_gives_smaller_frames_of_the_same_picture():
  src = SyntheticSource(1, 5, image_size=(120, 160), seed=0)
  full = src.read_frame(0, 2)
  half = src.read_frame(0, 2, reduce=2)
  assert half.shape == (60, 80, 3) and half.dtype == np.uint8
  assert src.read_frame(0, 2, reduce=4).shape == (30, 40, 3)
  shrunk = cv2.resize(full, (80, 60), interpolation=cv2.INTER_AREA)
  assert np.abs(shrunk.astype(int) - half).mean() < 2
  with pytest.raises(ValueError, match='reduce'):
    src.read_frame(0, 2, reduce=3)


@pytest.mark.parametrize('num_frames, size', [(1, (16, 16)), (2, (16, 40)), (31, (40, 16))])
def test_degenerate_sizes_render(num_frames, size):
  src = SyntheticSource(4, num_frames, image_size=size, seed=9)
  for i in range(4):
    seq = src.sequence(i)
    assert len(seq) == num_frames and seq.visible[0]
    assert src.read_frame(i, num_frames - 1).shape == (*size, 3)
    assert src.read_frame(i, 0, reduce=8).shape == (size[0] // 8, size[1] // 8, 3)


def test_bad_arguments_raise_clear_errors():
  src = SyntheticSource(2, 5, image_size=SIZE)
  with pytest.raises(IndexError, match='sequence 2'):
    src.sequence(2)
  with pytest.raises(IndexError, match='frame 5'):
    src.read_frame(0, 5)
  with pytest.raises(ValueError, match='split'):
    SyntheticSource(1, 5, split='holdout')
  with pytest.raises(ValueError, match='image_size'):
    SyntheticSource(1, 5, image_size=(8, 8))


def test_first_frame_is_fully_visible_and_sizes_span_the_range(survey):
  _, seqs = survey
  short = min(SIZE)
  sizes = []
  for seq in seqs:
    x, y, w, h = seq.boxes[0]
    assert seq.visible[0] and seq.cover[0] == 8, seq.name
    assert x >= -1e-6 and y >= -1e-6 and x + w <= SIZE[1] + 1e-6 and y + h <= SIZE[0] + 1e-6
    sizes.append(np.sqrt(w * h) / short)
  assert 0.01 <= min(sizes) < 0.06 and 0.15 < max(sizes) <= 0.45


def test_every_attribute_occurs(survey):
  _, seqs = survey
  for flag in ('OCC', 'FOC', 'OV', 'MB', 'IV', 'SV', 'SOB', 'BC'):
    share = np.mean([s.attributes[flag] for s in seqs])
    assert 0.0 < share < 1.0, flag


def test_out_of_view_frames_are_invisible_and_outside(survey):
  src, seqs = survey
  i = _first(seqs, 'OV')
  seq = seqs[i]
  out = np.flatnonzero(seq.attributes['out_of_view'])
  assert out.size >= 3
  assert not seq.visible[out].any() and (seq.cover[out] == 0).all()
  x, y, w, h = seq.boxes[out].T
  height, width = SIZE
  outside = (x + w <= 0) | (y + h <= 0) | (x >= width) | (y >= height)
  assert outside.all()
  assert seq.visible[out.max() + 1:].any()  # It comes back.
  rendered = src.render(i, int(out[len(out) // 2]), with_masks=True)
  assert rendered.target_alpha.sum() == 0


def test_occlusion_lowers_cover_and_matches_rendered_masks(survey):
  src, seqs = survey
  i = _first(seqs, 'FOC')
  seq = seqs[i]
  occluded = seq.attributes['occlusion'] & ~seq.attributes['partly_out_of_view']
  assert occluded.any() and (seq.cover[occluded] < 8).all()
  full = seq.attributes['full_occlusion']
  assert not seq.visible[full].any() and (seq.cover[full] == 0).all()
  checked = 0
  for f in np.flatnonzero(occluded | full)[::3]:
    r = src.render(i, int(f), with_masks=True)
    area = r.target_alpha.sum()
    if area < 30:
      continue
    measured = r.visible_alpha.sum() / area
    assert abs(measured - seq.attributes['visible_fraction'][f]) < 0.15, (f, measured)
    checked += 1
  assert checked >= 2


def test_target_mask_matches_box_when_fully_visible(survey):
  src, seqs = survey
  checked = 0
  for i in range(8):
    seq = seqs[i]
    for f in (0, 20, 40):
      if seq.cover[f] != 8 or seq.attributes['partly_out_of_view'][f] or min(
          seq.boxes[f, 2:]) < 6 or seq.attributes['blur_length'][f] > 2:
        continue
      mask = src.render(i, f, with_masks=True).target_alpha > 0.5
      ys, xs = np.nonzero(mask)
      mask_box = (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
      assert _iou(mask_box, seq.boxes[f]) > 0.8, (i, f)
      checked += 1
  assert checked >= 5


def test_box_region_shows_the_target_texture(survey):
  """Pixels inside the box change when the target moves there; a shifted box does not."""
  src, seqs = survey
  i = next(i for i, s in enumerate(seqs) if min(s.boxes[0, 2:]) > 12 and not s.attributes['SOB'])
  seq = seqs[i]
  plan = src.plan(i)
  tex = src.textures(i)
  with_target = render.render_frame(plan, tex, 0).image.astype(int)
  empty_plan = dataclasses.replace(plan, target=dataclasses.replace(
      plan.target, boxes=np.full_like(plan.target.boxes, np.nan)))
  without = render.render_frame(empty_plan, tex, 0).image.astype(int)
  x, y, w, h = np.round(seq.boxes[0]).astype(int)
  inner = np.abs(with_target - without)[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4]
  assert inner.mean() > 8
  diff = np.abs(with_target - without).sum(-1)
  m = int(np.ceil(seq.attributes['blur_length'][0] / 2)) + 2
  diff[max(y - m, 0):y + h + m, max(x - m, 0):x + w + m] = 0
  assert diff.max() == 0  # Nothing outside the box changed.


def test_pickled_source_renders_the_same():
  src = SyntheticSource(2, 6, image_size=SIZE, seed=11)
  frame = src.read_frame(1, 4)
  clone = pickle.loads(pickle.dumps(src))
  np.testing.assert_array_equal(clone.read_frame(1, 4), frame)


def test_cover_class_quantisation():
  np.testing.assert_array_equal(
      scene.cover_class(np.array([0.0, 0.01, 0.5, 0.99, 1.0])), [0, 1, 4, 7, 8])


def test_writer_round_trips(tmp_path):
  src = SyntheticSource(2, 6, image_size=SIZE, seed=2, split='val')
  names = write_got10k_layout(src, str(tmp_path), quality=95, progress=False)
  assert (tmp_path / 'list.txt').read_text().split() == names
  for i, name in enumerate(names):
    seq = src.sequence(i)
    d = tmp_path / name
    jpgs = sorted(p for p in os.listdir(d) if p.endswith('.jpg'))
    assert jpgs == [f'{k:08d}.jpg' for k in range(1, 7)]
    gt = np.loadtxt(d / 'groundtruth.txt', delimiter=',', ndmin=2)
    np.testing.assert_allclose(gt, seq.boxes, atol=1e-4)
    np.testing.assert_array_equal(np.loadtxt(d / 'absence.label', dtype=int), ~seq.visible)
    np.testing.assert_array_equal(np.loadtxt(d / 'cover.label', dtype=int), seq.cover)
    assert 'object_class:' in (d / 'meta_info.ini').read_text()
    decoded = cv2.cvtColor(cv2.imread(str(d / jpgs[3])), cv2.COLOR_BGR2RGB)
    assert np.abs(decoded.astype(int) - src.read_frame(i, 3)).mean() < 8


def test_cli_writes_a_tiny_split(tmp_path, capsys):
  out = tmp_path / 'synth'
  preview = tmp_path / 'preview.png'
  rc = cli.main(['--out', str(out), '--sequences', '2', '--frames', '4', '--size', '64x48',
                 '--seed', '1', '--split', 'test', '--quality', '80', '--preview', str(preview),
                 '--no-progress'])
  assert rc == 0 and 'wrote 2 sequences' in capsys.readouterr().out
  names = (out / 'list.txt').read_text().split()
  assert names == ['synthetic_test_000001', 'synthetic_test_000002']
  image = cv2.imread(str(out / names[0] / '00000004.jpg'))
  assert image.shape == (48, 64, 3)  # --size is WIDTHxHEIGHT.
  assert cv2.imread(str(preview)) is not None


def test_cli_size_parsing():
  assert cli.parse_size('640x480') == (480, 640)
  with pytest.raises(Exception, match='WIDTHxHEIGHT'):
    cli.parse_size('640,480')
