"""STARK processing: targets, reference crops, augmentation, rejection, reduced decoding,
determinism, skips."""

import dataclasses

import numpy as np
import pytest

from data_pipelines import sot_processing as sp
from data_pipelines import sot_sampling as ss
from data_pipelines.sources.annotation_files import ANNOTATION_FILE
from data_pipelines.sources.base import DatasetError
from tests.fake_sources import FakeSource, moving_boxes
from tests.test_crops_reference import reference_frame, reference_sample_target

SMALL = sp.ProcessingConfig(template_size=64, search_size=160)


def _processor(sources, cfg=SMALL, sampler_cfg=ss.SamplerConfig(), ratios=None):
  sampler = ss.TrackingSampler(sources, ratios or [1] * len(sources), sampler_cfg)
  return sp.TrackingProcessor(sampler, cfg)


def _bright_bbox(image):
  ys, xs = np.nonzero(image[..., 0] > 145)
  return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def test_sample_fields_shapes_and_dtypes():
  proc = _processor([FakeSource('v', [moving_boxes(40, seed=i) for i in range(3)])])
  s = proc.sample(np.random.default_rng(0))
  assert s['template_images'].shape == (2, 64, 64, 3) and s['template_images'].dtype == np.uint8
  assert s['template_masks'].shape == (2, 64, 64) and s['template_masks'].dtype == bool
  assert s['template_anno'].shape == (2, 4) and s['template_anno'].dtype == np.float32
  assert s['search_images'].shape == (160, 160, 3) and s['search_masks'].shape == (160, 160)
  assert s['search_anno'].shape == (4,) and s['label'].shape == () and s['label'] == 1
  assert s['skipped'].dtype == np.int32 and s['skipped'].shape == (1,)


@pytest.mark.parametrize('reduced', [False, True])
def test_targets_match_the_object_in_every_crop(reduced):
  """The object drawn at the box lands where the normalised target says, through both flips,
  jitter and reduced decoding."""
  boxes = [moving_boxes(40, seed=i, image_size=(480, 640)) * [1, 1, 4, 4] for i in range(3)]
  src = FakeSource('v', boxes, image_size=(480, 640))
  cfg = dataclasses.replace(SMALL, brightness_jitter=0.0, grayscale_prob=0.0,
                            search_scale_jitter=0.1, search_center_jitter=0.5,
                            reduced_decode=reduced)
  proc = _processor([src], cfg)
  rng = np.random.default_rng(0)
  checked = 0
  for _ in range(30):
    s = proc.sample(rng)
    crops = [(s['template_images'][i], s['template_masks'][i], s['template_anno'][i], 64)
             for i in range(2)]
    crops.append((s['search_images'], s['search_masks'], s['search_anno'], 160))
    for image, mask, anno, size in crops:
      want = np.concatenate([anno[:2], anno[:2] + anno[2:]]) * size
      inside = (want[[0, 1]] >= 1).all() and (want[[2, 3]] <= size - 1).all()
      lo, hi = np.floor(want[:2]).astype(int), np.ceil(want[2:]).astype(int) + 1
      if inside and not mask[max(lo[1] - 1, 0):hi[1], max(lo[0] - 1, 0):hi[0]].any():
        checked += 1  # a clipped object cannot be checked on pixels
        tol = 2.0 if not reduced else 4.0
        np.testing.assert_allclose(_bright_bbox(image), want, atol=tol)
  assert checked > 30
  if reduced:
    assert any(r > 1 for _, _, r in src.reads)
  else:
    assert all(r == 1 for _, _, r in src.reads)


def test_reduced_decode_never_upsamples():
  # ratio = frame pixels per output pixel of the smallest window taken from a frame.
  assert [sp._reduce_for(r, True) for r in (0.5, 1.99, 2.0, 3.9, 4.0, 7.99, 8.0, 30.0)] == [
      1, 1, 2, 2, 4, 4, 8, 8]
  assert sp._reduce_for(30.0, False) == 1


def test_same_rng_same_sample():
  src = FakeSource('v', [moving_boxes(40, seed=i) for i in range(3)])
  a = _processor([src]).sample(np.random.default_rng([7, 3]))
  b = _processor([src]).sample(np.random.default_rng([7, 3]))
  c = _processor([src]).sample(np.random.default_rng([7, 4]))
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a['search_images'], c['search_images'])


def test_jitter_statistics():
  rng = np.random.default_rng(0)
  box = np.array([100.0, 100.0, 40.0, 20.0])
  j = np.stack([sp.jitter_box(rng, box, 0.5, 4.5) for _ in range(20000)])
  np.testing.assert_allclose(np.std(np.log(j[:, 2] / 40)), 0.5, atol=0.02)
  centre = j[:, :2] + j[:, 2:] / 2
  offset = (centre[:, 0] - 120) / np.sqrt(j[:, 2] * j[:, 3])
  assert np.abs(offset).max() <= 4.5 / 2 + 1e-9 and np.abs(offset).max() > 2.1
  np.testing.assert_allclose(sp.jitter_box(rng, box, 0.0, 0.0), box)


def test_mask_rejection_rule():
  mask = np.zeros((64, 64), bool)
  assert not sp.mask_rejected(mask, 16)
  mask[:] = True
  assert sp.mask_rejected(mask, 16)
  mask[::16, ::16] = True
  mask[1, 1] = False  # not all padding, but every pixel read at stride 16 is
  assert sp.mask_rejected(mask, 16)
  mask[:] = True
  mask[16, 32] = False
  assert not sp.mask_rejected(mask, 16)


def test_classification_negatives_have_label_zero_and_centre_box():
  n = 60
  vis = np.ones(n, bool)
  vis[20:40] = False
  src = FakeSource('v', [moving_boxes(n)], [vis])
  proc = _processor([src], sampler_cfg=ss.SamplerConfig('trident_pro', train_cls=True))
  rng = np.random.default_rng(0)
  labels = [float(proc.sample(rng)['label']) for _ in range(200)]
  assert 0.35 < np.mean(labels) < 0.65


def test_bad_frames_are_skipped_and_counted():
  good = FakeSource('good', [moving_boxes(40, seed=i) for i in range(2)])
  bad = FakeSource('bad', [moving_boxes(40, seed=i) for i in range(2)], all_bad=True)
  proc = _processor([good, bad])
  rng = np.random.default_rng(0)
  skipped = sum(proc.sample(rng)['skipped'] for _ in range(50))
  assert skipped[0] == 0 and skipped[1] > 20
  only_bad = _processor([bad])
  with pytest.raises(DatasetError, match='no valid sample after 100 draws'):
    only_bad.sample(rng)


def test_reduced_decode_is_off_by_default():
  assert sp.ProcessingConfig().reduced_decode is False  # reduced JPEGs are not the reference's


def test_absurd_box_is_a_counted_skip_naming_its_line():
  boxes = moving_boxes(40, seed=1)
  boxes[:, 2:] = 1e11  # every frame's box is absurd (a user's annotation file had one)
  bad = FakeSource('bad', [boxes])
  good = FakeSource('good', [moving_boxes(40, seed=i) for i in range(2)])
  rng = np.random.default_rng(0)
  skipped = sum(_processor([good, bad]).sample(rng)['skipped'] for _ in range(20))
  assert skipped[0] == 0 and skipped[1] > 5
  with pytest.raises(DatasetError, match=r"bad sequence 'bad0', annotation line \d+: absurd box "
                     r'\[.*100000000000.0\]: .* pixels for a 160x120 frame'):
    _processor([bad]).sample(rng)
  bad._seqs[0] = dataclasses.replace(  # a reader that recorded its annotation file
      bad._seqs[0], attributes={ANNOTATION_FILE: '/data/bad0/groundtruth.txt'})
  with pytest.raises(DatasetError, match=r'/data/bad0/groundtruth.txt:\d+: absurd box'):
    _processor([bad]).sample(rng)


def test_sane_box_jittered_too_large_is_redrawn_not_counted():
  src = FakeSource('v', [moving_boxes(40, seed=i) for i in range(3)])
  cfg = dataclasses.replace(SMALL, search_scale_jitter=6.0)  # some windows > 16 frame sides
  proc = _processor([src], cfg)
  rng = np.random.default_rng(0)
  too_large = 0
  for _ in range(30):
    draw = proc.sampler.draw(rng)
    try:
      proc.process(rng, draw)
    except sp.InvalidDraw as e:
      too_large += 'crop window' in str(e)
  assert too_large > 0
  assert sum(proc.sample(rng)['skipped'] for _ in range(10)) == 0


@pytest.mark.parametrize('flip', [False, True])
def test_joint_gray_and_flip_crops_are_the_reference_crops(flip):
  """No jitter, brightness or crop flip: every crop is the reference crop of the frame after the
  joint grayscale and flip (``np.fliplr``, box x -> W - 1 - x - w)."""
  src = FakeSource('v', [moving_boxes(40, seed=i) for i in range(2)])
  cfg = dataclasses.replace(SMALL, search_scale_jitter=0.0, search_center_jitter=0.0,
                            brightness_jitter=0.0, crop_flip_prob=0.0, grayscale_prob=1.0,
                            joint_flip_prob=float(flip))
  proc = _processor([src], cfg)
  rng = np.random.default_rng(1)
  draw = proc.sampler.draw(rng)
  out = proc.process(rng, draw)
  crops = [(r, out['template_images'][i], out['template_masks'][i], 2.0, 64)
           for i, r in enumerate(draw.templates)]
  crops.append((draw.searches[0], out['search_images'], out['search_masks'], 5.0, 160))
  for ref, image, mask, factor, size in crops:
    frame = reference_frame(src.read_frame(ref.sequence, ref.frame), flip, grayscale=True)
    box = src.sequence(ref.sequence).boxes[ref.frame].copy()
    if flip:
      box[0] = frame.shape[1] - 1 - box[0] - box[2]
    want, want_mask, _ = reference_sample_target(frame, box, factor, size)
    np.testing.assert_array_equal(image, want)
    np.testing.assert_array_equal(mask, want_mask)


def test_brightness_is_carried_as_the_reference_multiplier():
  src = FakeSource('v', [moving_boxes(40, seed=i) for i in range(3)])
  jittered = _processor([src]).sample(np.random.default_rng(5))
  plain = _processor([src], dataclasses.replace(SMALL, brightness_jitter=0.0)).sample(
      np.random.default_rng(5))
  assert jittered['template_pixel_scale'].shape == (2,)
  assert jittered['search_pixel_scale'].shape == ()
  for name in ('template', 'search'):
    scale = jittered[f'{name}_pixel_scale']
    assert scale.dtype == np.float32 and np.all((scale >= 0.8 / 255) & (scale <= 1.2 / 255))
    assert np.all(plain[f'{name}_pixel_scale'] == np.float32(1 / 255))
    # The crop bytes do not depend on the brightness factor (it is applied on the device).
    np.testing.assert_array_equal(jittered[f'{name}_images'], plain[f'{name}_images'])


def test_device_normalisation_applies_brightness_as_the_reference():
  from trackjax.models.image_normalization import normalize_images
  images = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)
  scale = np.array([[0.8, 1.0, 1.2], [1.1, 0.9, 1.0]]) / 255.0
  got = np.asarray(normalize_images(images, pixel_scale=scale.astype(np.float32)))
  # ToTensorAndJitter: x.float() * (b / 255), clamped to [0, 1]; then Normalize.
  x = np.clip(images.astype(np.float32) * scale.astype(np.float32)[..., None, None, None], 0, 1)
  mean = np.array([0.485, 0.456, 0.406], np.float32)
  std = np.array([0.229, 0.224, 0.225], np.float32)
  # Equal up to XLA's fused multiply-adds (a few float32 ulps).
  np.testing.assert_allclose(got, (x - mean) / std, rtol=0, atol=1e-6)
  # The old uint8 shortcut (rounding x * b to a grey level first) is further off than that.
  rounded = np.clip(np.rint(images * scale[..., None, None, None] * 255), 0, 255) / np.float32(255)
  assert np.abs((rounded.astype(np.float32) - mean) / std - got).max() > 1e-3
