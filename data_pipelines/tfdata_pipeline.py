"""tf.data backend: the same samples as the Grain backend, through ``tf.numpy_function``.

``range -> numpy_function(SampleFn) -> batch -> prefetch``. TensorFlow is imported only here,
lazily, with its GPUs hidden so it never takes accelerator memory from JAX. Since every sample
is a pure function of its index, the iterator state is just the next batch number; restoring
rebuilds the dataset from there.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.train_samples import SampleFn, global_index


def _import_tf():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:
    pass  # already initialised; GPUs were hidden by an earlier call
  return tf


class TfDataBatches:
  """An endless iterator of local batches built with tf.data."""

  def __init__(self, sample_fn: SampleFn, local_batch: int, global_batch: int,
               process_index: int, *, num_parallel_calls: int = 0):
    self._fn = sample_fn
    self._local, self._global, self._process = local_batch, global_batch, process_index
    self._parallel = int(num_parallel_calls)
    self._next_batch = 0
    self._iterator = None

  def _build(self):
    tf = _import_tf()
    spec = self._fn.output_spec()
    keys = tuple(spec)
    local, glob, proc, fn = self._local, self._global, self._process, self._fn

    def produce(i):
      sample = fn(global_index(int(i), local, glob, proc))
      return [np.asarray(sample[k], dtype=spec[k][1]) for k in keys]

    def to_dict(i):
      values = tf.numpy_function(produce, [i], [tf.as_dtype(spec[k][1]) for k in keys],
                                 stateful=False)
      return {k: tf.ensure_shape(v, spec[k][0]) for k, v in zip(keys, values)}

    ds = tf.data.Dataset.range(self._next_batch * local, np.iinfo(np.int64).max)
    if self._parallel > 0:
      ds = ds.map(to_dict, num_parallel_calls=self._parallel, deterministic=True)
    else:
      ds = ds.map(to_dict)
    ds = ds.batch(local, drop_remainder=True).prefetch(2)
    self._iterator = ds.as_numpy_iterator()

  def __next__(self):
    if self._iterator is None:
      self._build()
    batch = next(self._iterator)
    self._next_batch += 1
    return batch

  def get_state(self):
    return {'next_batch': self._next_batch}

  def set_state(self, state, consumed_batches: int | None = None):
    del consumed_batches  # the state is always the batch count
    self._next_batch = int(state['next_batch'])
    self._iterator = None

  def close(self):
    """Drops the tf.data iterator (stops its prefetch thread)."""
    self._iterator = None
