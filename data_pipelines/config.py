"""Every data-pipeline setting trackjax reads, with the reference recipes' values as defaults.

``default_data_config()``: the datasets, the backend, and the settings of the template/search
sampler and processing (``sot_sampling`` / ``sot_processing``; defaults: two templates in
``trident_pro`` mode, crops 128 / 320 at factors 2 / 5). A family's train task sets the fields
its recipe fixes, e.g.:
  * one template: ``sampler.mode = 'causal'``, ``sampler.num_template = 1``;
  * a score-head stage: ``sampler.train_cls = True``;
  * a ``:tiny`` recipe: e.g. ``processing.template_size = 64``, ``processing.search_size = 160``
    and ``mix = 'synthetic:1'``.

Which datasets a run reads is said in two ways that end up in one list: ``mix`` (a
``'name:ratio,...'`` string that command-line flags can set, the names being ``MIX_NAMES`` and the
folders ``roots.<kind>``) and ``train_datasets`` (entries ``{name, root, ratio, options}``
written in Python, for reader options no flag reaches). ``resolve_datasets(config, 'train')`` turns both into
the entries the sources factory reads, in that order; ``val_mix`` / ``val_datasets`` are the same
for validation. ``train_iterator.build_train_iterator`` reads ``train_datasets`` only: a caller
resolves first and hands it a config whose ``train_datasets`` is the resolved list and whose mixes
are empty (``trackjax.train.train_data.split_data_config`` does).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
from typing import Any

import ml_collections

# One root folder per dataset kind (``--config.data.roots.<kind>=/path``).
DATASET_KINDS = ('got10k', 'lasot', 'trackingnet', 'coco', 'custom', 'otb', 'uav123', 'nfs',
                 'tfds')
# A root written ``tfds:DIR`` is a TFDS dataset built from that kind's folder
# (``python -m data_pipelines.tfds_build``; docs/tfds.md), read instead of the folder.
TFDS_PREFIX = 'tfds:'

# What each root folder holds, for error messages and docs.
ROOT_LAYOUTS = {
    'got10k': 'the GOT-10k folder holding train/ (and val/, test/)',
    'lasot': 'the LaSOT folder holding one folder per class (airplane/, basketball/, ...)',
    'trackingnet': 'the TrackingNet folder holding TRAIN_0 ... TRAIN_11',
    'coco': 'the COCO folder holding annotations/instances_train2017.json and images/train2017/',
    'custom': 'a folder of sequence folders, each with its frames and groundtruth.txt',
    'otb': 'the OTB folder of sequence folders',
    'uav123': 'the UAV123 folder holding data_seq/ and anno/',
    'nfs': 'the NfS folder of sequence folders',
    'tfds': 'a TFDS dataset written by python -m data_pipelines.tfds_build (or one per split)',
}


@dataclasses.dataclass(frozen=True)
class MixName:
  """A dataset a mix can name: the reader (``kind``) and its options."""
  kind: str
  options: dict[str, Any]
  split_file: str = ''  # shipped with data_pipelines.sources: indices into GOT-10k train/list.txt
  about: str = ''


MIX_NAMES = {
    'lasot': MixName('lasot', {'split': 'train'}, about='LaSOT training split: 1120 videos (all '
                     'but the official 280 test videos)'),
    'got10k_vottrain': MixName('got10k', {'split': 'train'}, 'got10k_vot_train_split.txt',
                               'GOT-10k train, the 7086 videos of the pytracking vottrain split '
                               '(VOT-permitted)'),
    'got10k_votval': MixName('got10k', {'split': 'train'}, 'got10k_vot_val_split.txt',
                             'GOT-10k train, the 1249 videos of the votval split (the '
                             "reference's validation set)"),
    'got10k_train_full': MixName('got10k', {'split': 'train'}, 'got10k_train_full_split.txt',
                                 'GOT-10k train, all 9335 videos (the *_got10k_only recipes)'),
    'got10k_val': MixName('got10k', {'split': 'val'}, about='GOT-10k official val split (180 '
                          'videos)'),
    'coco': MixName('coco', {'split': 'train2017'}, about='COCO 2017 train: every non-crowd '
                    'object as a one-frame sequence'),
    'trackingnet': MixName('trackingnet', {}, about='TrackingNet TRAIN_0..TRAIN_11 (or the '
                           'chunks of data.trackingnet_chunks)'),
    'custom': MixName('custom', {}, about='your own folders (data_pipelines/sources/'
                      'custom_folder.py)'),
    'otb': MixName('otb', {}, about='an OTB-layout folder'),
    'uav123': MixName('uav123', {}, about='a UAV123-layout folder'),
    'nfs': MixName('nfs', {}, about='an NfS-layout folder'),
    'synthetic': MixName('synthetic', {}, about='the embedded synthetic dataset (no files)'),
    'tfds': MixName('tfds', {}, about='a TFDS dataset written by python -m '
                    'data_pipelines.tfds_build (tfds@DIR:1)'),
}

# Sizes of the embedded synthetic dataset when the caller gives none (split 'val': val_sequences).
# cache_sequences: sequences whose rendered textures stay in memory per process (~1.5 MB each at
# 640x480); with fewer than the sequences sampled, most samples re-render their background.
SYNTHETIC_DEFAULTS = {'num_sequences': 200, 'val_sequences': 20, 'num_frames': 100,
                      'image_size': (240, 320), 'seed': 0, 'cache_sequences': 256}


def default_data_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Datasets. `mix`: 'name:ratio,...' over MIX_NAMES, e.g. 'lasot:1,got10k_vottrain:1,coco:1,
  # trackingnet:1' (the reference); each name reads roots.<its kind>, or the folder written after
  # an '@' (`custom@/my/videos:1`, so several custom folders can be mixed). `val_mix` is the same
  # for validation. A root (or '@' folder) written 'tfds:DIR' is a TFDS dataset built from such
  # a folder (python -m data_pipelines.tfds_build; `tfds@DIR:1` names one directly; docs/tfds.md).
  # `train_datasets` / `val_datasets`: entries {'name', 'root', 'ratio',
  # 'options'} added after the mix's, for options flags cannot set (an optional 'label' names the
  # entry in logs; mix entries carry their mix name there); name is one of
  # data_pipelines.sources.factory.SOURCE_NAMES and options go to the reader (e.g. GOT-10k
  # {'split': 'train', 'split_file': ...}, custom {'strict': True}).
  c.mix = ''
  c.val_mix = ''
  c.roots = ml_collections.ConfigDict({kind: '' for kind in DATASET_KINDS})
  c.trackingnet_chunks = ''  # '' = TRAIN_0..TRAIN_11 (the reference); e.g. '0,1,2,3' or '0-3'
  c.train_datasets = []
  c.val_datasets = []
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
  c.sampler.mode = 'trident_pro'  # 'causal' (one template), 'trident' or 'trident_pro' (two)
  c.sampler.num_template = 2
  c.sampler.num_search = 1
  c.sampler.max_gap = 200
  c.sampler.train_cls = False  # a score-head stage: positive/negative classification samples
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


# ------------------------------------------------------------------------------------------------
# Mix strings -> source entries.
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MixEntry:
  name: str  # one of MIX_NAMES
  ratio: float
  root: str = ''  # the folder written after '@'; '' = roots.<kind>

  @property
  def text(self) -> str:
    return f'{self.name}{"@" + self.root if self.root else ""}:{self.ratio:g}'


def parse_mix(text: str, field: str = 'data.mix') -> list[MixEntry]:
  """``'lasot:1,custom@/my/videos:2'`` -> entries; errors name ``config.<field>`` and the entry."""
  entries = []
  flag = f'--config.{field}'
  for item in (text or '').split(','):
    item = item.strip()
    if not item:
      if (text or '').strip():
        raise ValueError(f'config.{field}={text!r}: empty entry (write NAME:RATIO,NAME:RATIO)')
      continue
    head, sep, ratio_text = item.rpartition(':')
    if not sep or not head.strip():
      raise ValueError(f'config.{field}: entry {item!r} is not NAME:RATIO; write e.g. '
                       f'{flag}=lasot:1,got10k_vottrain:1')
    try:
      ratio = float(ratio_text)
    except ValueError:
      ratio = math.nan
    if not math.isfinite(ratio) or ratio <= 0:
      raise ValueError(f'config.{field}: entry {item!r} has a malformed ratio {ratio_text!r}; '
                       f'write a positive number, e.g. {flag}=custom:1,coco:0.5')
    name, at, root = head.partition('@')
    name, root = name.strip(), root.strip()
    if name not in MIX_NAMES:
      raise ValueError(f'config.{field}: unknown dataset {name!r} in {item!r}; {flag}= takes '
                       f'{", ".join(MIX_NAMES)}')
    if at and not root:
      raise ValueError(f'config.{field}: entry {item!r} has an empty folder after "@"')
    if at and name == 'synthetic':
      raise ValueError(f'config.{field}: the synthetic dataset reads no folder ({item!r})')
    entry = MixEntry(name, ratio, root)
    if any(e.name == name and e.root == root for e in entries):
      raise ValueError(f'config.{field}: {name}{"@" + root if root else ""} is named twice')
    entries.append(entry)
  return entries


def split_file(file_name: str) -> str:
  """Path of a split list shipped with ``data_pipelines.sources``."""
  return str(importlib.resources.files('data_pipelines.sources').joinpath(file_name))


def trackingnet_chunks(text: str) -> list[int] | None:
  """``''`` -> None (all 12), ``'0,1,2,3'`` or ``'0-3'`` -> [0, 1, 2, 3]."""
  if not (text or '').strip():
    return None
  chunks = []
  for part in str(text).split(','):
    first, dash, last = part.strip().partition('-')
    try:
      lo, hi = int(first), int(last if dash else first)
    except ValueError:
      lo = hi = -1
    if not 0 <= lo <= hi <= 11:
      raise ValueError(f'config.data.trackingnet_chunks={text!r}: write chunk numbers 0..11, e.g. '
                       "'0,1,2,3' or '0-3'")
    chunks.extend(range(lo, hi + 1))
  return chunks


def resolve_datasets(config, split: str = 'train', *,
                     synthetic: dict[str, Any] | None = None) -> list[dict[str, Any]]:
  """The source entries of ``split`` ('train' or 'val'): the mix's, then the Python list's.

  ``config`` is a data config (``default_data_config()``); ``synthetic`` sizes the synthetic
  dataset (``SYNTHETIC_DEFAULTS`` keys). Every error names the field and the flag to set.
  """
  if split not in ('train', 'val'):
    raise ValueError(f"split must be 'train' or 'val', got {split!r}")
  mix_field, list_field = ('mix', 'train_datasets') if split == 'train' else ('val_mix',
                                                                              'val_datasets')
  roots = config.get('roots') or {}
  synth = dict(SYNTHETIC_DEFAULTS, **(synthetic or {}))
  entries, missing = [], []
  for mix_entry in parse_mix(config.get(mix_field, ''), f'data.{mix_field}'):
    spec = MIX_NAMES[mix_entry.name]
    options = dict(spec.options)
    if spec.kind == 'synthetic':
      count = synth['num_sequences' if split == 'train' else 'val_sequences']
      options = {'num_sequences': int(count), 'num_frames': int(synth['num_frames']),
                 'image_size': tuple(synth['image_size']), 'seed': int(synth['seed']),
                 'split': split, 'cache_size': int(synth['cache_sequences'])}
      entries.append({'name': 'synthetic', 'ratio': mix_entry.ratio, 'options': options,
                      'label': 'synthetic'})
      continue
    root = mix_entry.root or str(roots.get(spec.kind, '') or '')
    if not root:
      missing.append(mix_entry)
      continue
    if spec.kind == 'tfds' or root.startswith(TFDS_PREFIX):
      entries.append(_tfds_entry(config, mix_entry, spec, root, mix_field))
      continue
    root = os.path.expanduser(root)
    if not os.path.isdir(root):
      where = (f'config.data.{mix_field} entry {mix_entry.text}' if mix_entry.root
               else f'config.data.roots.{spec.kind}')
      raise ValueError(f'{where}: {root} is not a directory (expected {ROOT_LAYOUTS[spec.kind]})')
    if spec.split_file:
      options['split_file'] = split_file(spec.split_file)
    if spec.kind == 'trackingnet':
      chunks = trackingnet_chunks(config.get('trackingnet_chunks', ''))
      if chunks is not None:
        options['chunks'] = chunks
    entries.append({'name': spec.kind, 'root': root, 'ratio': mix_entry.ratio,
                    'options': options, 'label': mix_entry.name})
  if missing:
    kinds = list(dict.fromkeys(MIX_NAMES[e.name].kind for e in missing))
    flags = ' '.join(f'--config.data.roots.{k}=/path/to/{k}' for k in kinds)
    layouts = '; '.join(f'{k}: {ROOT_LAYOUTS[k]}' for k in kinds)
    raise ValueError(
        f'config.data.{mix_field}={config.get(mix_field)!r} reads '
        f'{", ".join(e.name for e in missing)}, but config.data.roots.{" / ".join(kinds)} '
        f'{"is" if len(kinds) == 1 else "are"} not set. Set {flags} ({layouts}), or name the '
        f'folder in the entry (NAME@/path:RATIO), or choose other data with '
        f'--config.data.{mix_field}=...')
  entries.extend(plain(e) for e in (config.get(list_field) or []))
  return entries


def _tfds_entry(config, mix_entry: MixEntry, spec: MixName, root: str,
                mix_field: str) -> dict[str, Any]:
  """The source entry of a mix entry read from a TFDS dataset (``tfds@DIR``, ``roots.<kind>=
  tfds:DIR``): the mix name's split and split list apply to the sequences it holds."""
  where = (f'config.data.{mix_field} entry {mix_entry.text}' if mix_entry.root
           else f'config.data.roots.{spec.kind}')
  root = root[len(TFDS_PREFIX):] if root.startswith(TFDS_PREFIX) else root
  if not root.startswith('gs://'):
    root = os.path.expanduser(root)
    if not os.path.isdir(root):
      raise ValueError(f'{where}: {root} is not a directory (expected {ROOT_LAYOUTS["tfds"]})')
  if spec.kind == 'trackingnet' and trackingnet_chunks(config.get('trackingnet_chunks', '')):
    raise ValueError(f'{where}: config.data.trackingnet_chunks chooses TrackingNet folders; a '
                     'TFDS dataset holds the chunks it was built from (tfds_build --option '
                     'chunks=[...]): unset it')
  options = {'split': spec.options['split']} if 'split' in spec.options else {}
  if spec.split_file:
    options['split_file'] = split_file(spec.split_file)
  return {'name': 'tfds', 'root': root, 'ratio': mix_entry.ratio, 'options': options,
          'label': mix_entry.name}


def describe(entries: list[dict[str, Any]]) -> str:
  """``'lasot (/data/LaSOT) x1, coco (/data/coco) x1'``: one line for the training log."""
  parts = []
  for e in entries:
    name = e.get('label') or e['name']
    where = f' ({e["root"]})' if e.get('root') else ''
    parts.append(f'{name}{where} x{float(e["ratio"]):g}')
  return ', '.join(parts)


def plain(value):
  """ConfigDict / FrozenConfigDict -> plain Python containers (dicts, lists, tuples)."""
  if hasattr(value, 'to_dict'):
    value = value.to_dict()
  if isinstance(value, dict):
    return {k: plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return type(value)(plain(v) for v in value)
  return value
