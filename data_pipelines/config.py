"""Every data-pipeline setting trackjax reads, with the STARK reference values as defaults.

``default_data_config()`` is the STARK-ST recipe (stage 1). Variants change a few fields:
  * STARK-S50: ``sampler.mode = 'causal'``, ``sampler.num_template = 1``;
  * STARK-ST stage 2: ``sampler.train_cls = True``;
  * a ``:tiny`` recipe: e.g. ``processing.template_size = 64``, ``processing.search_size = 160``
    and ``train_datasets = [{'name': 'synthetic', 'ratio': 1, 'options': {...}}]``.
"""

from __future__ import annotations

import ml_collections


def default_data_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Datasets: a list of {'name', 'root', 'ratio', 'options'}; name is one of
  # data_pipelines.sources.factory.SOURCE_NAMES ('got10k', 'lasot', 'trackingnet', 'coco', 'otb',
  # 'uav123', 'nfs', 'custom', 'synthetic'); options go to the reader (e.g. GOT-10k
  # {'split': 'train', 'split_file': '.../vottrain.txt'}, TrackingNet {'chunks': [0, 1, 2, 3]},
  # synthetic {'num_sequences', 'num_frames', 'image_size', 'seed'}). The reference mixes
  # LaSOT, GOT-10k vottrain, COCO 2017 and TrackingNet at 1:1:1:1.
  c.train_datasets = []
  c.cache_dir = '~/.cache/trackjax/annotations'  # annotation index cache; None disables it
  c.samples_per_epoch = 60000  # the reference's epoch, for epoch-based schedules (trainer)

  c.backend = 'grain'  # 'grain' (default) or 'tfdata'; both yield identical batches
  c.num_workers = 0  # sample-producing processes (grain mp_prefetch) or tf.data parallel calls; 0 = in process
  c.worker_buffer_size = 2  # batches each grain worker prepares ahead
  c.read_threads = 1  # grain in-process threads (to_iter_dataset read options)

  c.max_skip_rate = 0.05  # raise when more than this fraction of draws hit bad data
  c.skip_check_min_draws = 500  # ...once at least this many draws were made
  c.max_attempts = 100  # draws tried for one sample before giving up

  c.sampler = ml_collections.ConfigDict()
  c.sampler.mode = 'trident_pro'  # 'causal' (STARK-S), 'trident' or 'trident_pro' (STARK-ST)
  c.sampler.num_template = 2
  c.sampler.num_search = 1
  c.sampler.max_gap = 200
  c.sampler.train_cls = False  # ST stage 2: positive/negative classification samples
  c.sampler.pos_prob = 0.5

  c.processing = ml_collections.ConfigDict()
  c.processing.template_size = 128
  c.processing.search_size = 320
  c.processing.template_factor = 2.0
  c.processing.search_factor = 5.0
  c.processing.template_scale_jitter = 0.0
  c.processing.template_center_jitter = 0.0
  c.processing.search_scale_jitter = 0.5
  c.processing.search_center_jitter = 4.5
  c.processing.grayscale_prob = 0.05
  c.processing.joint_flip_prob = 0.5
  c.processing.crop_flip_prob = 0.5
  c.processing.brightness_jitter = 0.2
  c.processing.backbone_stride = 16
  # Decode JPEGs at 1/2, 1/4, 1/8 when crops allow it: faster, but the crops are then no longer
  # byte-identical to the reference's (full-size decode, pad, resize). Off by default.
  c.processing.reduced_decode = False
  return c
