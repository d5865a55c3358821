"""Shuffle-Group Sampling: P x K batch structure, balance over a round, determinism, resume."""

import collections
import pickle

import numpy as np
import pytest

from data_pipelines.synthetic.mot import write_synthetic_mot
from trackjax.families.finetrack import sampling


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("synmot")
  write_synthetic_mot(root, train_sequences=3, test_sequences=1, frames=24, image_size=(96, 64),
                      targets=(2, 4), seed=3)
  return str(root)


def make_fn(root, seed=0, batch=6, frames_per_group=3, span=8, **kw):
  args = dict(image_size=(32, 48), max_rois=6, min_visibility=0.0, flip_prob=0.5,
              box_jitter=0.05)
  args.update(kw)
  return sampling.MotGroupSampleFn([dict(dataset="synthetic_mot", root=root, split="train")],
                                   seed=seed, global_batch_size=batch,
                                   frames_per_group=frames_per_group, group_span=span, **args)


def test_plan_is_p_groups_of_k_frames_and_covers_every_group_once_per_round():
  plan = sampling.ShuffleGroupPlan(num_groups=12, global_batch_size=8, frames_per_group=2, seed=5)
  assert (plan.groups_per_batch, plan.batches_per_round) == (4, 3)
  seen = collections.Counter()
  for batch in range(3):  # one round
    located = [plan.locate(batch * 8 + slot) for slot in range(8)]
    groups = [g for _, g, _ in located]
    assert groups[0::2] == groups[1::2]  # K = 2 consecutive slots share their group
    assert [s for _, _, s in located] == [0, 1] * 4
    assert len(set(groups)) == 4  # P = 4 different groups in the batch
    seen.update(set(groups))
  assert sorted(seen) == list(range(12)) and set(seen.values()) == {1}
  # The next round is another permutation.
  assert [plan.locate(24 + 2 * s)[1] for s in range(12)] != [plan.locate(2 * s)[1]
                                                             for s in range(12)]


def test_batches_hold_groups_of_one_sequence_and_balanced_identities(mot_root):
  fn = make_fn(mot_root)
  for batch in range(4):
    samples = [fn(batch * 6 + s) for s in range(6)]
    located = [fn.frame_of(batch * 6 + s) for s in range(6)]
    for g in range(2):  # P = 2 groups of K = 3 frames
      members = located[3 * g:3 * g + 3]
      assert len({m[0] for m in members}) == 1 and len({m[1] for m in members}) == 1
      assert len({m[2] for m in members}) == 3  # three distinct frames of the window
      assert max(m[2] for m in members) - min(m[2] for m in members) < 8
      group_labels = collections.Counter()
      for s in samples[3 * g:3 * g + 3]:
        group_labels.update(s["labels"][s["valid"] > 0].tolist())
        assert int(s["group"]) == members[0][0]
      assert max(group_labels.values()) <= 3  # an identity at most once per frame
      # Positives: most identities of a group are seen in more than one of its frames.
      assert sum(c >= 2 for c in group_labels.values()) >= len(group_labels) / 2
    labels_of = [set(s["labels"][s["valid"] > 0].tolist()) for s in samples]
    # Identities never cross groups of different sequences (labels are per sequence).
    if located[0][1] != located[3][1]:
      assert not (labels_of[0] | labels_of[1] | labels_of[2]) & (
          labels_of[3] | labels_of[4] | labels_of[5])


def test_samples_are_pure_functions_of_seed_and_index(mot_root):
  fn = make_fn(mot_root)
  copy = pickle.loads(pickle.dumps(fn))
  for index in (0, 5, 17, 40):
    a, b = fn(index), copy(index)
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  other = make_fn(mot_root, seed=1)
  assert any(fn.frame_of(i) != other.frame_of(i) for i in range(12))


def test_sample_layout_boxes_and_flip(mot_root):
  fn = make_fn(mot_root, flip_prob=0.0, box_jitter=0.0)
  sample = fn(0)
  assert sample["images"].shape == (32, 48, 3) and sample["images"].dtype == np.uint8
  count = int(sample["valid"].sum())
  assert count >= 1 and sample["labels"].dtype == np.int32
  boxes = sample["boxes"][:count]
  assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
  assert not sample["boxes"][count:].any()
  # The boxes are the ground truth of that frame, scaled from 96 x 64 to 48 x 32.
  seqs, _ = sampling.read_training_sequences(fn.entries, 0.0)
  _, s, frame = fn.frame_of(0)
  gt = seqs[s].boxes_xywh[seqs[s].frames == frame]
  np.testing.assert_allclose(boxes[:, :2], gt[:count, :2] / 2, atol=1e-4)
  flipped = make_fn(mot_root, flip_prob=1.0, box_jitter=0.0)(0)
  np.testing.assert_array_equal(flipped["images"], sample["images"][:, ::-1])
  np.testing.assert_allclose(flipped["boxes"][:count, 0], 48 - boxes[:, 2], atol=1e-4)


def test_identity_count_is_checked_against_the_classifier(mot_root):
  with pytest.raises(ValueError, match="num_identities"):
    make_fn(mot_root, num_identities=2)(0)


def test_mot17_keeps_one_copy_of_each_scene():
  names = ["MOT17-02-DPM", "MOT17-02-FRCNN", "MOT17-02-SDP", "MOT17-04-DPM", "custom"]
  seqs = [type("S", (), {"name": n})() for n in names]
  assert [s.name for s in sampling.one_per_scene(seqs)] == ["MOT17-02-DPM", "MOT17-04-DPM",
                                                             "custom"]
