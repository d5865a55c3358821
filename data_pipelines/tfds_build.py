"""Writes a tracking dataset as a TFDS dataset (ArrayRecord shards by default), resumably.

    python -m data_pipelines.tfds_build --dataset got10k --root /data/got10k --split train \\
        --out /data/tfds/got10k/train [--file-format array_record|tfrecord] [--workers 8]

``--dataset`` is any reader of ``data_pipelines.sources.factory`` (got10k, lasot, trackingnet, coco,
otb, uav123, nfs, custom, synthetic); ``--option KEY=VALUE`` passes reader options (JSON values,
e.g. ``--option chunks=[0,1]`` for TrackingNet, ``--option num_sequences=50`` for synthetic).
The frames are read through that reader, so what it reads is what the dataset holds: file bytes
as on disk (rendered synthetic frames as lossless PNG), one example per frame image
(``tfds_source.features``), and the reader's annotation in ``trackjax_index.npz``. ``--out`` may
be a ``gs://`` path (shards are written locally, then copied).

Resumable: the build is planned first (sequences -> examples -> shards of about
``--frames-per-shard`` frames, cut at sequence boundaries) and the plan recorded in
``trackjax_build.json``. Each shard is written under a temporary name, moved into place, then
recorded in ``build_progress/NNNNN.json`` (its size, record offsets, skipped files); a rerun of the
same command skips the recorded shards and writes the rest. The TFDS metadata and the index come
last. Shards are written by ``--workers`` processes (spawned), with a tqdm bar over frames.

Frames that cannot be read (missing, unreadable, truncated, not an image) are stored as a 1x1
placeholder with ``frame_problem`` set; a frame read returns the same ``FrameError`` as the folder
read would (so training skips and counts it the same way). The build ends with a summary of them.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from typing import Any, Callable, Mapping

import numpy as np

from data_pipelines.sources import factory
from data_pipelines.sources import tfds_source
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import FrameError, truncation

MANIFEST = 'trackjax_build.json'
PROGRESS_DIR = 'build_progress'
READERS_WITH_SPLIT = ('got10k', 'lasot', 'coco', 'synthetic')
FILE_FORMATS = ('array_record', 'tfrecord')
RESERVED_SPLITS = {'all': 'all_sequences'}  # TFDS reads 'all' as every split: stored renamed
_PLACEHOLDER = None  # 1x1 black PNG, made on first use


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """How to open the source again (in a worker process)."""
  dataset: str
  root: str | None
  split: str
  options: Mapping[str, Any]

  def open(self):
    options = dict(self.options)
    if self.dataset in READERS_WITH_SPLIT:
      options.setdefault('split', self.split)
    return factory.make_source(self.dataset, self.root, **options)


@dataclasses.dataclass
class ShardJob:
  """One shard to write: its examples (a frame path, or (sequence, frame) of a rendered source),
  with the objects annotated in each."""
  number: int
  file_name: str
  frames: list  # str path or (sequence index, frame)
  objects: list  # per example: list of dicts (sequence, frame_index, box, visible, cover)


@dataclasses.dataclass(frozen=True)
class Shard:
  """A planned shard: examples ``[first, stop)``, holding the frames of sequences
  ``[first_sequence, stop_sequence)``."""
  number: int
  file_name: str
  first: int
  stop: int
  first_sequence: int
  stop_sequence: int

  @property
  def length(self) -> int:
    return self.stop - self.first


@dataclasses.dataclass
class Plan:
  """Sequences -> examples -> shards. A video's frames are examples of their own, in order; an
  image dataset's objects share the example of their image (``image_frames``: the (sequence,
  frame) of each example's objects)."""
  sequences: list
  frame_examples: np.ndarray  # (total frames,) the example holding each frame
  shards: list
  fingerprint: str
  image_frames: list | None = None

  def job(self, shard: Shard) -> ShardJob:
    """The examples of ``shard`` with their objects, built when the shard is written."""
    if self.image_frames is None:
      refs = [[(i, f)] for i in range(shard.first_sequence, shard.stop_sequence)
              for f in range(len(self.sequences[i]))]
    else:
      refs = self.image_frames[shard.first:shard.stop]
    frames, objects = [], []
    for example_refs in refs:
      i, f = example_refs[0]
      seq = self.sequences[i]
      frames.append(seq.frame_paths[f] if len(seq.frame_paths) else (i, f))
      objects.append([_object(self.sequences[i], f) for i, f in example_refs])
    return ShardJob(shard.number, shard.file_name, frames, objects)


def _object(seq, f: int) -> dict[str, Any]:
  return {'sequence': seq.name, 'frame_index': f, 'box': np.asarray(seq.boxes[f], np.float64),
          'visible': bool(seq.visible[f]), 'cover': -1 if seq.cover is None else int(seq.cover[f])}


def tfds_split_name(split: str) -> str:
  """The TFDS split a reader split is stored as (``RESERVED_SPLITS``)."""
  return RESERVED_SPLITS.get(split, split)


def plan_build(source, dataset_name: str, split: str, file_format: str,
               frames_per_shard: int) -> Plan:
  """Plans the examples and shards of ``source`` (shards close at the first sequence end past
  ``frames_per_shard`` examples). Only image datasets keep a table of frame files (to store an
  image shared by several objects once); a video's frame paths are never listed at once."""
  sequences = [source.sequence(i) for i in range(len(source))]
  digest = hashlib.sha1(json.dumps([dataset_name, split, file_format, frames_per_shard]).encode())
  frame_examples, image_frames, example_of_file = [], None, {}
  if not source.is_video:
    image_frames = []
  examples, bounds = 0, [(0, 0)]
  for i, seq in enumerate(sequences):
    ends = [seq.frame_paths[0], seq.frame_paths[-1]] if len(seq.frame_paths) else []
    digest.update(json.dumps([seq.name, len(seq), *ends]).encode())
    for f in range(len(seq)):
      if image_frames is None:
        frame_examples.append(examples)
        examples += 1
        continue
      key = seq.frame_paths[f] if len(seq.frame_paths) else (i, f)
      if key not in example_of_file:
        example_of_file[key] = len(image_frames)
        image_frames.append([])
      frame_examples.append(example_of_file[key])
      image_frames[example_of_file[key]].append((i, f))
    examples = examples if image_frames is None else len(image_frames)
    if examples - bounds[-1][0] >= frames_per_shard:
      bounds.append((examples, i + 1))
  if bounds[-1][0] != examples or len(bounds) == 1:
    bounds.append((examples, len(sequences)))
  count = len(bounds) - 1
  shards = [Shard(n, f'{dataset_name}-{tfds_split_name(split)}.{file_format}-{n:05d}-of-'
                     f'{count:05d}', lo, hi, s_lo, s_hi)
            for n, ((lo, s_lo), (hi, s_hi)) in enumerate(zip(bounds[:-1], bounds[1:]))]
  return Plan(sequences, np.asarray(frame_examples, np.int64), shards, digest.hexdigest(),
              image_frames)


# ------------------------------------------------------------------------------------------------
# Writing one shard (in a worker process or in this one).
# ------------------------------------------------------------------------------------------------


def _placeholder() -> bytes:
  global _PLACEHOLDER
  if _PLACEHOLDER is None:
    _PLACEHOLDER = tfds_source.encode_png(np.zeros((1, 1, 3), np.uint8))
  return _PLACEHOLDER


def read_frame_file(path: str) -> tuple[bytes, tuple[int, int], str]:
  """(bytes to store, (height, width), problem) of a frame file; problem '' when it is fine,
  else ``'<reason>: <detail>'`` as ``frame_files.read_image`` would raise it."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with open(path, 'rb') as f:
      data = f.read()
    problem = truncation(data)
    if problem is not None:
      raise FrameError(path, 'truncated', problem)
    if not data:
      raise FrameError(path, 'undecodable', 'empty image file')
    try:
      with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    except Exception as e:  # pylint: disable=broad-except  (PIL raises many kinds)
      raise FrameError(path, 'undecodable', 'cannot decode image') from e
  except FileNotFoundError:
    return _placeholder(), (0, 0), 'missing: missing image'
  except FrameError as e:
    return _placeholder(), (0, 0), f'{e.reason}: {e.detail}'
  except OSError as e:
    return _placeholder(), (0, 0), f'unreadable: cannot read image ({e.strerror})'
  return data, (int(height), int(width)), ''


_WORKER_SOURCE = {}  # this process's open source of a rendered dataset, by its spec


def _rendered(spec: SourceSpec, sequence: int, frame: int) -> tuple[bytes, tuple[int, int], str]:
  key = repr(spec)
  if key not in _WORKER_SOURCE:
    _WORKER_SOURCE.clear()
    _WORKER_SOURCE[key] = spec.open()
  image = _WORKER_SOURCE[key].read_frame(sequence, frame)
  return tfds_source.encode_png(image), image.shape[:2], ''


def _records(job: ShardJob, spec: SourceSpec):
  """(serialized examples, skipped [(path, problem)]) of ``job``."""
  features = tfds_source.features()
  records, skipped = [], []
  for key, objects in zip(job.frames, job.objects):
    if isinstance(key, str):
      data, size, problem = read_frame_file(key)
    else:
      data, size, problem = _rendered(spec, *key)
    if problem:
      skipped.append((key if isinstance(key, str) else f'{objects[0]["sequence"]}#{key[1]}',
                      problem))
    records.append(features.serialize_example({
        'image': data, 'image_size': np.asarray(size, np.int32), 'frame_problem': problem,
        'objects': {k: [o[k] for o in objects] for k in objects[0]}}))
  return records, skipped


def _write_records(path: str, records: list[bytes], file_format: str) -> list[int]:
  """Writes ``records`` to the local file ``path``; returns each record's byte offset."""
  if file_format == 'array_record':
    from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
    writer = array_record_module.ArrayRecordWriter(path, 'group_size:1')
    for r in records:
      writer.write(r)
    writer.close()
    return []
  from data_pipelines.tfdata_pipeline import _import_tf  # pylint: disable=g-import-not-at-top
  tf = _import_tf()
  offsets, position = [], 0
  with tf.io.TFRecordWriter(path) as writer:
    for r in records:
      writer.write(r)
      offsets.append(position)
      position += 16 + len(r)  # length (8), its CRC (4), data, its CRC (4)
  return offsets


def write_shard(job: ShardJob, spec: SourceSpec, out: str, file_format: str,
                fail_after: int | None = None) -> dict[str, Any]:
  """Writes shard ``job`` into ``out`` and records it in ``out/build_progress``; returns the
  record. ``fail_after`` (tests) raises after that many examples were read, before anything of
  the shard is in place, as a killed build would stop."""
  records, skipped = _records(job, spec)
  if fail_after is not None and len(records) >= fail_after:
    raise KeyboardInterrupt(f'injected failure in shard {job.number}')
  remote = out.startswith('gs://')
  progress = tfds_source.epath(out) / PROGRESS_DIR
  local_dir = tempfile.mkdtemp() if remote else str(progress)
  tmp = os.path.join(local_dir, f'{job.file_name}.tmp-{os.getpid()}')
  offsets = _write_records(tmp, records, file_format)
  size = os.path.getsize(tmp)
  final = tfds_source.epath(out) / job.file_name
  if remote:
    tfds_source.epath(tmp).copy(final, overwrite=True)
    shutil.rmtree(local_dir, ignore_errors=True)
  else:
    os.replace(tmp, os.fspath(final))
  done = {'number': job.number, 'file': job.file_name, 'length': len(records), 'bytes': size,
          'offsets': offsets, 'skipped': skipped}
  record_tmp = progress / f'{job.number:05d}.json.tmp'
  record_tmp.write_text(json.dumps(done))
  record_tmp.replace(progress / f'{job.number:05d}.json')
  return done


# ------------------------------------------------------------------------------------------------
# The build.
# ------------------------------------------------------------------------------------------------


def _done_shards(out: str, shards: list[Shard]) -> dict[int, dict[str, Any]]:
  """Recorded shards whose file is in place with the recorded size."""
  done = {}
  progress = tfds_source.epath(out) / PROGRESS_DIR
  for job in shards:
    record_path = progress / f'{job.number:05d}.json'
    if not record_path.exists():
      continue
    try:
      record = json.loads(record_path.read_text())
    except ValueError:
      continue  # a half-written record: the shard is written again
    shard = tfds_source.epath(out) / job.file_name
    if shard.exists() and shard.stat().length == record['bytes']:
      done[job.number] = record
  return done


def _check_manifest(out: str, manifest: dict[str, Any]) -> None:
  path = tfds_source.epath(out) / MANIFEST
  if path.exists():
    old = json.loads(path.read_text())
    if old.get('fingerprint') != manifest['fingerprint']:
      raise DatasetError(
          f'{path}: {out} holds another build ({old.get("dataset")} {old.get("root")} split '
          f'{old.get("split")}, {old.get("num_shards")} shards): choose another --out, or '
          'delete it to start over')
    return
  path.write_text(json.dumps(manifest, indent=1))


def build(dataset: str, root: str | None, out: str, *, split: str = 'train',
          options: Mapping[str, Any] | None = None, file_format: str = 'array_record',
          workers: int = 1, frames_per_shard: int = 1000, name: str | None = None,
          progress: bool = True, after_shard: Callable[[int], None] | None = None,
          fail_in_shard: tuple[int, int] | None = None) -> dict[str, Any]:
  """Builds (or completes) the TFDS dataset of ``dataset`` at ``root`` in ``out``.

  ``after_shard(shards_done)`` is called after each shard is in place and ``fail_in_shard =
  (shard, examples)`` fails inside that shard (tests: an interrupted build). Returns the build
  summary (also in ``out/trackjax_build.json``).

  Raises:
    DatasetError: the reader's errors, or ``out`` holding another build.
  """
  if file_format not in FILE_FORMATS:
    raise ValueError(f'file format must be one of {FILE_FORMATS}, got {file_format!r}')
  if frames_per_shard < 1:
    raise ValueError(f'frames_per_shard must be positive, got {frames_per_shard}')
  spec = SourceSpec(dataset, root, split, dict(options or {}))
  source = spec.open()
  dataset_name = name or f'trackjax_{dataset}'
  plan = plan_build(source, dataset_name, split, file_format, frames_per_shard)
  out = str(out).rstrip('/')
  (tfds_source.epath(out) / PROGRESS_DIR).mkdir(parents=True, exist_ok=True)
  manifest = {'fingerprint': plan.fingerprint, 'dataset': dataset, 'root': root, 'split': split,
              'options': spec.options, 'file_format': file_format, 'name': dataset_name,
              'num_shards': len(plan.shards)}
  _check_manifest(out, manifest)
  done = _done_shards(out, plan.shards)
  todo = [shard for shard in plan.shards if shard.number not in done]
  bar = _progress_bar(sum(s.length for s in plan.shards),
                      sum(s.length for s in plan.shards if s.number in done), progress,
                      f'{dataset_name}/{split}')
  try:
    for record in _write_all(plan, todo, spec, out, file_format, workers, fail_in_shard):
      done[record['number']] = record
      bar.update(record['length'])
      if after_shard is not None:
        after_shard(len(done))
  finally:
    bar.close()
  summary = _finish(out, source, spec, plan, done, file_format, dataset_name, manifest,
                    resumed=len(plan.shards) - len(todo))
  return summary


def _progress_bar(total: int, initial: int, enabled: bool, description: str):
  import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm.tqdm(total=total, initial=initial, unit='frame', desc=description,
                   disable=not enabled, file=sys.stderr)


def _write_all(plan, shards, spec, out, file_format, workers, fail_in_shard):
  """Yields each shard's record as it is in place, written in this process or by ``workers``
  spawned ones (at most two shards each in flight, so a shard's examples are built only shortly
  before it is written)."""
  def fail_after(shard):
    return fail_in_shard[1] if fail_in_shard and fail_in_shard[0] == shard.number else None
  if workers <= 1 or len(shards) <= 1:
    for shard in shards:
      yield write_shard(plan.job(shard), spec, out, file_format, fail_after(shard))
    return
  context = multiprocessing.get_context('spawn')  # TensorFlow may already run in this process
  pending = list(reversed(shards))
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
    running = set()
    try:
      while pending or running:
        while pending and len(running) < 2 * workers:
          shard = pending.pop()
          running.add(pool.submit(write_shard, plan.job(shard), spec, out, file_format,
                                  fail_after(shard)))
        finished, running = concurrent.futures.wait(
            running, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in finished:
          yield future.result()
    except BaseException:
      for future in running:
        future.cancel()
      raise


def _finish(out, source, spec, plan, done, file_format, dataset_name, manifest, resumed):
  """The TFDS metadata, then the index (last: its presence marks a finished build)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  records = [done[shard.number] for shard in plan.shards]
  split_info = tfds.core.SplitInfo(name=tfds_split_name(spec.split),
                                   shard_lengths=[r['length'] for r in records],
                                   num_bytes=sum(r['bytes'] for r in records))
  tfds.folder_dataset.write_metadata(
      data_dir=out, features=tfds_source.features(), split_infos=[split_info], check_data=False,
      description=f'{spec.dataset} ({spec.root or "rendered"}), split {spec.split}, written by '
                  'trackjax data_pipelines.tfds_build: one example per frame image')
  skipped = [tuple(s) for r in records for s in r['skipped']]
  reasons = collections.Counter(problem.partition(':')[0] for _, problem in skipped)
  summary = dict(manifest, examples=int(sum(r['length'] for r in records)),
                 frames=int(plan.frame_examples.shape[0]), sequences=len(plan.sequences),
                 bytes=int(sum(r['bytes'] for r in records)), shards_resumed=resumed,
                 skipped=len(skipped), skipped_by_reason=dict(reasons),
                 skipped_files=[f'{path} ({problem})' for path, problem in skipped[:50]])
  meta = {'source_kind': spec.dataset, 'source_name': source.name, 'split': spec.split,
          'tfds_split': tfds_split_name(spec.split),
          'is_video': bool(source.is_video), 'file_format': file_format, 'root': spec.root,
          'options': spec.options, 'shard_files': [r['file'] for r in records],
          'shard_lengths': [r['length'] for r in records],
          'shard_bytes': [r['bytes'] for r in records], 'skipped': len(skipped)}
  arrays = tfds_source.index_arrays(plan.sequences, plan.frame_examples, meta)
  if file_format == 'tfrecord':
    arrays['record_offsets'] = np.concatenate(
        [np.asarray(r['offsets'], np.int64) for r in records]).astype(np.int64)
  tfds_source.write_index(out, arrays)
  (tfds_source.epath(out) / MANIFEST).write_text(json.dumps(summary, indent=1))
  (tfds_source.epath(out) / PROGRESS_DIR).rmtree(missing_ok=True)
  return summary


def summary_text(summary: Mapping[str, Any]) -> str:
  """What the command prints at the end."""
  lines = [f'{summary["name"]}/{summary["split"]}: {summary["sequences"]} sequences, '
           f'{summary["frames"]} frames in {summary["examples"]} examples, {summary["num_shards"]} '
           f'{summary["file_format"]} shards ({summary["shards_resumed"]} from an earlier run), '
           f'{summary["bytes"] / 2**20:.1f} MiB']
  if summary['skipped']:
    reasons = ', '.join(f'{r} {k}' for r, k in sorted(summary['skipped_by_reason'].items()))
    lines.append(f'skipped {summary["skipped"]} bad files ({reasons}); stored as placeholders, '
                 'counted as skipped draws in training:')
    lines += [f'  {f}' for f in summary['skipped_files'][:20]]
    if summary['skipped'] > 20:
      lines.append(f'  ... ({summary["skipped"] - 20} more in trackjax_build.json, the first 50)')
  else:
    lines.append('no bad files')
  return '\n'.join(lines)


def _parse_option(text: str) -> tuple[str, Any]:
  key, sep, value = text.partition('=')
  if not sep or not key:
    raise argparse.ArgumentTypeError(f'--option takes KEY=VALUE, got {text!r}')
  try:
    return key, json.loads(value)
  except ValueError:
    return key, value


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m data_pipelines.tfds_build',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--dataset', required=True,
                      choices=[n for n in factory.SOURCE_NAMES if n != 'tfds'])
  parser.add_argument('--root', default=None, help='the dataset folder (not for synthetic)')
  parser.add_argument('--split', default='train',
                      help='reader split (got10k, lasot, coco, synthetic) and TFDS split name')
  parser.add_argument('--out', required=True, help='output directory (local or gs://)')
  parser.add_argument('--file-format', default='array_record', choices=FILE_FORMATS)
  parser.add_argument('--workers', type=int, default=max(1, (os.cpu_count() or 2) - 1))
  parser.add_argument('--frames-per-shard', type=int, default=1000)
  parser.add_argument('--name', default=None, help='TFDS dataset name (trackjax_<dataset>)')
  parser.add_argument('--option', action='append', type=_parse_option, default=[],
                      help='reader option KEY=VALUE (JSON value), repeatable')
  args = parser.parse_args(argv)
  summary = build(args.dataset, args.root, args.out, split=args.split,
                  options=dict(args.option), file_format=args.file_format,
                  workers=args.workers, frames_per_shard=args.frames_per_shard, name=args.name)
  print(summary_text(summary))
  return 0


if __name__ == '__main__':
  sys.exit(main())
