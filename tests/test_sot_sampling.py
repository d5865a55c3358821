"""Sampler constraints over many draws (reference TrackingSampler behaviour)."""

import numpy as np
import pytest

from data_pipelines import sot_sampling as ss
from data_pipelines.sources.annotation_files import visible_from_boxes
from data_pipelines.sources.base import DatasetError
from tests.fake_sources import FakeSource, moving_boxes


def _video_source(lengths, visible=None, name='v'):
  return FakeSource(name, [moving_boxes(n, seed=i) for i, n in enumerate(lengths)], visible)


def test_usable_sequences_rule():
  vis = [np.ones(30, bool), np.ones(19, bool), np.zeros(30, bool), np.zeros(30, bool)]
  vis[2][:6] = True  # 6 visible frames: not > 2 * (2 + 1)
  vis[3][:7] = True  # 7 > 6: usable
  src = _video_source([30, 19, 30, 30], vis)
  assert list(ss.usable_sequences(src, 2, 1)) == [0, 3]
  image_src = FakeSource('img', [moving_boxes(1)] * 3, is_video=False)
  assert list(ss.usable_sequences(image_src, 2, 1)) == [0, 1, 2]


def test_usability_counts_dropped_sequences_by_reason():
  boxes = [moving_boxes(30, seed=i) for i in range(7)]
  boxes[0][:] = np.nan  # every box invalid: NaN...
  boxes[1][:, 2] = 0  # ...zero width...
  boxes[2][:, 0] = 500  # ...or wholly right of the 160-pixel-wide frame
  boxes[3] = boxes[3][:19]  # too short
  vis = [visible_from_boxes(b, (120, 160)) for b in boxes]  # as the readers set it
  vis[4][6:] = False  # 6 visible frames: not > 2 * (2 + 1)
  vis[5][:] = False  # valid boxes, all flagged absent
  src = FakeSource('v', boxes, vis)
  usability = ss.sequence_usability(src, 2, 1)
  assert list(usability.usable) == [6] and usability.num_dropped == 6
  assert {r: list(i) for r, i in usability.dropped.items()} == {
      'no valid box': [0, 1, 2], 'too short': [3], 'too few visible frames': [4, 5]}
  line = usability.summary(src)
  assert line.startswith('1 of 7 sequences usable; dropped 3 without a valid box: v0, v1, ...;')
  assert '1 under 20 frames: v3' in line and '2 with <= 6 visible frames: v4, v5' in line
  image_boxes = [moving_boxes(1, seed=i) for i in range(3)]
  image_boxes[1][0, 3] = -1
  image_src = FakeSource('img', image_boxes, [visible_from_boxes(b) for b in image_boxes],
                         is_video=False)
  usability = ss.sequence_usability(image_src, 2, 1)
  assert list(usability.usable) == [0, 2] and list(usability.dropped['no valid box']) == [1]


def test_sample_visible_ids_bounds_and_modes():
  rng = np.random.default_rng(0)
  vis = np.array([0, 1, 1, 0, 1, 0], bool)
  for _ in range(50):
    assert set(ss.sample_visible_ids(rng, vis, 3, 1, 4)) <= {1, 2}
    assert ss.sample_visible_ids(rng, vis, 1, -5, 100)[0] in (1, 2, 4)
    assert ss.sample_visible_ids(rng, vis, 1, force_invisible=True)[0] in (0, 3, 5)
    assert 0 <= ss.sample_visible_ids(rng, vis, 1, 2, 4, allow_invisible=True)[0] in (2, 3)
  assert ss.sample_visible_ids(rng, vis, 1, 3, 4) is None
  assert ss.sample_visible_ids(rng, vis, 0) == []


def test_causal_mode_search_after_template_within_gap():
  n = 600
  vis = np.random.default_rng(1).random(n) < 0.7
  src = _video_source([n], [vis])
  sampler = ss.TrackingSampler([src], [1], ss.SamplerConfig('causal', 1, 1, max_gap=200))
  rng = np.random.default_rng(0)
  gaps = []
  for _ in range(2000):
    draw = sampler.draw(rng)
    t, s = draw.templates[0].frame, draw.searches[0].frame
    assert vis[t] and vis[s] and t < s
    gaps.append(s - t)
  assert max(gaps) < 200 + 5 * 3 and np.mean(np.array(gaps) > 150) > 0.05


def test_causal_gap_grows_when_needed():
  sampler = ss.TrackingSampler([_video_source([400])], [1],
                            ss.SamplerConfig('causal', 1, 1, max_gap=200))
  vis = np.zeros(400, bool)
  vis[[0, 300]] = True  # the only search frame after 0 is 300 frames later
  rng = np.random.default_rng(3)
  for _ in range(20):
    templates, searches = sampler._causal(rng, vis)
    assert templates == [0] and searches == [300]


def test_trident_pro_dynamic_template_window():
  n = 700
  vis = np.random.default_rng(2).random(n) < 0.6
  src = _video_source([n], [vis])
  sampler = ss.TrackingSampler([src], [1], ss.SamplerConfig('trident_pro'))
  rng = np.random.default_rng(0)
  invisible_dynamic = 0
  for _ in range(3000):
    d = sampler.draw(rng)
    t1, t2 = d.templates[0].frame, d.templates[1].frame
    s = d.searches[0].frame
    assert vis[t1] and vis[s]
    if t1 < s:
      assert s - 200 <= t2 < s
    else:
      assert s <= t2 < s + 200
    invisible_dynamic += not vis[t2]
  assert invisible_dynamic > 0  # allowed in trident_pro


def test_trident_dynamic_template_visible():
  vis = np.random.default_rng(2).random(300) < 0.5
  sampler = ss.TrackingSampler([_video_source([300], [vis])], [1], ss.SamplerConfig('trident'))
  rng = np.random.default_rng(0)
  for _ in range(500):
    assert vis[sampler.draw(rng).templates[1].frame]


def test_dataset_ratios_and_image_datasets():
  a = _video_source([30, 30], name='a')
  b = FakeSource('img', [moving_boxes(1)] * 5, is_video=False)
  sampler = ss.TrackingSampler([a, b], [1, 3], ss.SamplerConfig())
  rng = np.random.default_rng(0)
  draws = [sampler.draw(rng) for _ in range(4000)]
  frac_b = np.mean([d.templates[0].dataset == 1 for d in draws])
  assert abs(frac_b - 0.75) < 0.03
  for d in draws:
    if d.templates[0].dataset == 1:
      assert [r.frame for r in d.templates + d.searches] == [0, 0, 0]


def test_classification_negatives():
  n = 100
  vis = np.ones(n, bool)
  vis[40:50] = False
  full = _video_source([n, n], [vis, np.ones(n, bool)])
  sampler = ss.TrackingSampler([full], [1], ss.SamplerConfig('trident_pro', train_cls=True))
  rng = np.random.default_rng(0)
  labels, centre_negs, other_negs = [], 0, 0
  for _ in range(4000):
    d = sampler.draw(rng)
    labels.append(d.label)
    s = d.searches[0]
    if d.label == 1:
      assert not s.center_box and full.sequence(s.sequence).visible[s.frame]
      assert s.sequence == d.templates[0].sequence
    elif s.center_box:
      centre_negs += 1
      assert s.sequence == 0 == d.templates[0].sequence and not vis[s.frame]
    else:  # a video without invisible frames: a frame drawn from a fresh sequence
      other_negs += 1
      assert d.templates[0].sequence == 1
  assert abs(np.mean(labels) - 0.5) < 0.03
  assert centre_negs > 500 and other_negs > 500


def test_config_validation_and_unusable_dataset():
  with pytest.raises(ValueError, match='mode'):
    ss.SamplerConfig('stark')
  with pytest.raises(ValueError, match='2 templates'):
    ss.SamplerConfig('trident_pro', num_template=1)
  with pytest.raises(DatasetError, match="'v' has no usable sequence .*: 0 of 1 sequences usable; "
                                         'dropped 1 under 20 frames: v0'):
    ss.TrackingSampler([_video_source([10])], [1], ss.SamplerConfig())
