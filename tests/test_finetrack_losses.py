"""FineTrack's losses on hand-computed cases."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from trackjax.families.finetrack import losses
from trackjax.models.part_masks import mask_diversity


def test_smoothed_cross_entropy_hand_values():
  # Uniform logits over 3 classes: log 3 whatever the smoothing.
  uniform = losses.smoothed_cross_entropy(jnp.zeros((1, 3)), jnp.asarray([0]), jnp.ones(1), 0.1)
  assert float(uniform) == pytest.approx(math.log(3), rel=1e-6)
  # Two classes, logits (2, 0), label 0, eps 0.1: targets (0.9, 0.1) (eps / (C - 1) off the label).
  z = math.log(math.exp(2) + 1)
  value = losses.smoothed_cross_entropy(jnp.asarray([[2.0, 0.0]]), jnp.asarray([0]), jnp.ones(1),
                                        0.1)
  assert float(value) == pytest.approx(-(0.9 * (2 - z) + 0.1 * (-z)), rel=1e-6)
  # A padded row (weight 0) changes nothing; eps 0 is the plain CE.
  padded = losses.smoothed_cross_entropy(jnp.asarray([[2.0, 0.0], [-9.0, 9.0]]),
                                         jnp.asarray([0, 0]), jnp.asarray([1.0, 0.0]), 0.1)
  assert float(padded) == pytest.approx(float(value), rel=1e-6)
  plain = losses.smoothed_cross_entropy(jnp.asarray([[2.0, 0.0]]), jnp.asarray([1]), jnp.ones(1),
                                        0.0)
  assert float(plain) == pytest.approx(z, rel=1e-6)


def test_batch_hard_triplet_hand_values():
  x = jnp.asarray([[0.0], [2.0], [1.0], [5.0]])
  labels = jnp.asarray([0, 0, 1, 1])
  # anchors: (ap, an) = (2, 1), (2, 1), (4, 1), (4, 3): hinge 1.5, 1.5, 3.5, 1.5 at margin 0.5.
  loss, count = losses.batch_hard_triplet(x, labels, jnp.ones(4), margin=0.5, normalise=False)
  assert float(loss) == pytest.approx(2.0, rel=1e-5) and int(count) == 4
  soft, _ = losses.batch_hard_triplet(x, labels, jnp.ones(4), margin=0.0, normalise=False)
  expected = np.mean(np.log1p(np.exp([1.0, 1.0, 3.0, 1.0])))
  assert float(soft) == pytest.approx(expected, rel=1e-5)
  # A padded row next to everything, and a lone identity far away (no positive: not an anchor,
  # never the nearest negative), change nothing.
  x2 = jnp.concatenate([x, jnp.asarray([[1.9], [100.0]])])
  labels2 = jnp.asarray([0, 0, 1, 1, 1, 7])
  loss2, count2 = losses.batch_hard_triplet(x2, labels2, jnp.asarray([1, 1, 1, 1, 0, 1.0]),
                                            margin=0.5, normalise=False)
  assert float(loss2) == pytest.approx(2.0, rel=1e-5) and int(count2) == 4
  # Well-separated identities: zero loss.
  far = jnp.asarray([[0.0], [0.1], [5.0], [5.1]])
  assert float(losses.batch_hard_triplet(far, labels, jnp.ones(4), 0.3, False)[0]) == 0.0


def test_triplet_on_normalised_embeddings_ignores_scale():
  x = jax.random.normal(jax.random.key(0), (6, 4))
  labels = jnp.asarray([0, 0, 1, 1, 2, 2])
  scales = jnp.asarray([1.0, 3.0, 0.5, 2.0, 7.0, 1.5])[:, None]
  a = losses.batch_hard_triplet(x, labels, jnp.ones(6), 0.3, True)[0]
  b = losses.batch_hard_triplet(x * scales, labels, jnp.ones(6), 0.3, True)[0]
  assert float(a) == pytest.approx(float(b), rel=1e-5)


def test_total_is_the_weighted_sum_of_its_terms():
  rng = np.random.default_rng(0)
  b, n, k, d, ids = 2, 3, 2, 4, 5
  outputs = {
      "global": jnp.asarray(rng.normal(size=(b, n, d)), jnp.float32),
      "parts": jnp.asarray(rng.normal(size=(b, n, k, d)), jnp.float32),
      "masks": jnp.asarray(rng.uniform(size=(b, n, k, 3, 2)), jnp.float32),
      "global_logits": jnp.asarray(rng.normal(size=(b, n, ids)), jnp.float32),
      "part_logits": jnp.asarray(rng.normal(size=(b, n, k, ids)), jnp.float32)}
  labels = jnp.asarray([[0, 1, 2], [0, 1, 4]])
  valid = jnp.asarray([[1, 1, 1], [1, 1, 0.0]])
  fields = ml_collections.ConfigDict(dict(label_smoothing=0.1, ce_weight=0.7, triplet_margin=0.3,
                                          triplet_normalise=True, triplet_weight=1.3,
                                          diversity_weight=0.4))
  total, terms = losses.finetrack_losses(outputs, labels, valid, fields)
  expected = (0.7 * (terms["ce_global"] + terms["ce_parts"])
              + 1.3 * (terms["triplet_global"] + terms["triplet_parts"])
              + 0.4 * terms["mask_diversity"])
  assert float(total) == pytest.approx(float(expected), rel=1e-5)
  flat_labels, flat_valid = labels.reshape(-1), valid.reshape(-1)
  part1 = losses.smoothed_cross_entropy(outputs["part_logits"].reshape(6, k, ids)[:, 1],
                                        flat_labels, flat_valid, 0.1)
  part0 = losses.smoothed_cross_entropy(outputs["part_logits"].reshape(6, k, ids)[:, 0],
                                        flat_labels, flat_valid, 0.1)
  assert float(terms["ce_parts"]) == pytest.approx(float(part0 + part1) / 2, rel=1e-5)
  assert float(terms["mask_diversity"]) == pytest.approx(
      float(mask_diversity(outputs["masks"].reshape(6, k, 3, 2), flat_valid)), rel=1e-5)
  assert float(terms["rois"]) == 5.0
  assert int(terms["triplet_anchors"]) == 4  # identities 0 and 1 have a positive; 2 does not
