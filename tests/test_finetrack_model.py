"""FineTrack's network, config variants, embedder (padding, N > max, N = 0) and tracker."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trackjax.config_files import load_config
from trackjax.families import get_family
from trackjax.families.finetrack import embedder as embedder_lib
from trackjax.families.finetrack import model as model_lib
from trackjax.families.finetrack.tracker import build_tracker, tracker_settings

CONFIG = "configs/finetrack_r50.py"


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("variant", ["", "tiny", "quickstart"])
def test_every_variant_loads_and_has_the_contract(variant):
  config = load_config(CONFIG + (":" + variant if variant else ""))
  family = get_family(config.family)
  assert config.family == "finetrack" and family.TASK == "mot"
  shapes = jax.eval_shape(lambda rng: family.init_variables(config.model, rng),
                          jax.random.key(0))
  assert "params" in shapes and count(shapes["params"]["backbone"]) > 0
  assert config.tracker.appearance_weight > 0 and config.tracker.max_detections > 0
  assert config.train.global_batch_size % config.data.sgs.frames_per_group == 0


def test_full_model_parameter_count():
  config = load_config(CONFIG)
  shapes = jax.eval_shape(lambda: model_lib.init_variables(config.model, jax.random.key(0)))
  params = shapes["params"]
  # torchvision's ResNet-50 without fc: 23.5M; the rest is FAFPN, part heads and classifiers.
  assert 23.4e6 < count(params["backbone"]) < 23.6e6
  assert count(params) > count(params["backbone"]) + 1e6


@pytest.fixture(scope="module")
def tiny():
  config = load_config(CONFIG + ":tiny")
  variables = jax.jit(lambda key: model_lib.init_variables(config.model, key))(jax.random.key(0))
  return config, variables


def test_outputs_shapes_and_normalised_embedding(tiny):
  config, variables = tiny
  net = model_lib.build_finetrack(config.model)
  images, _ = model_lib.dummy_inputs(config.model, batch=2)
  images = jax.random.normal(jax.random.key(1), images.shape)
  boxes = jnp.asarray([[[4.0, 4.0, 30.0, 50.0], [40.0, 10.0, 60.0, 60.0], [0.0, 0.0, 96.0, 64.0]]]
                      * 2)
  out = jax.jit(net.apply)(variables, images, boxes)
  k, d, ids = config.model.num_parts, config.model.embedding_dim, config.model.num_identities
  assert out["global"].shape == (2, 3, d) and out["parts"].shape == (2, 3, k, d)
  assert out["masks"].shape == (2, 3, k) + tuple(config.model.roi_size)
  assert out["global_logits"].shape == (2, 3, ids) and out["part_logits"].shape == (2, 3, k, ids)
  assert out["embedding"].shape == (2, 3, model_lib.embedding_dim(config.model))
  np.testing.assert_allclose(np.linalg.norm(np.asarray(out["embedding"]), axis=-1), 1.0,
                             rtol=1e-5)


def test_embedder_pads_splits_and_handles_no_box(tiny):
  config, variables = tiny
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
  xy = rng.uniform(0, 60, (11, 2))
  boxes = np.concatenate([xy, rng.uniform(8, 30, (11, 2))], 1).astype(np.float32)
  small = embedder_lib.FinetrackEmbedder(config.model, max_detections=4)
  rows = small.embed(variables, frame, boxes)
  assert rows.shape == (11, model_lib.embedding_dim(config.model)) and rows.dtype == np.float32
  assert small.calls == 3  # 4 + 4 + 3 boxes: one frame call, two more ROI calls
  np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
  large = embedder_lib.FinetrackEmbedder(config.model, max_detections=16)
  np.testing.assert_allclose(large.embed(variables, frame, boxes), rows, atol=1e-5)
  assert large.calls == 1
  # The padding does not leak into the rows: the first box alone gives the same row.
  np.testing.assert_allclose(large.embed(variables, frame, boxes[:1]), rows[:1], atol=1e-5)
  calls = large.calls
  empty = large.embed(variables, frame, np.zeros((0, 4), np.float32))
  assert empty.shape == (0, rows.shape[1]) and large.calls == calls


def test_embedder_scales_boxes_with_the_frame(tiny):
  config, variables = tiny
  frame = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
  box = np.asarray([[10.0, 8.0, 30.0, 40.0]], np.float32)
  emb = embedder_lib.FinetrackEmbedder(config.model, max_detections=2)
  big_frame = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)  # same picture, twice the size
  np.testing.assert_allclose(emb.embed(variables, big_frame, box * 2),
                             emb.embed(variables, frame, box), atol=0.05)


def test_tracker_is_the_appearance_tracker_with_per_dataset_settings(tiny):
  config, variables = tiny
  tracker = build_tracker(config)
  assert tracker.uses_appearance and not tracker.without_appearance().uses_appearance
  assert tracker_settings(config, "mot20").fuse_score is False
  assert tracker_settings(config, "mot17").fuse_score == config.tracker.fuse_score
  state = tracker.init(variables, frame_rate=30.0)
  frame = np.zeros((64, 96, 3), np.uint8)
  boxes = np.asarray([[10, 10, 12, 30], [50, 12, 12, 30]], np.float32)
  for _ in range(3):
    tracks, state = tracker.track(variables, state, frame, boxes, np.asarray([0.9, 0.95]))
  assert len(tracks) == 2 and len(set(tracks.ids.tolist())) == 2
