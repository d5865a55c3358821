"""Training data from the command line: mix strings, dataset roots, the shipped GOT-10k split
lists, the full recipes' refusal to start without their datasets, validation checks before the
first step. Configs are built through the same config_flags parsing as ``python -m trackjax.main``.
"""

import os
import pathlib

import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from data_pipelines import config as data_config_lib
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.factory import make_sources
from dataset_fixtures import write_coco, write_custom, write_got10k, write_lasot, write_trackingnet
from trackjax.families.stark import training as stark_train
from trackjax.train import loop
from trackjax.train import train_data

REPO = pathlib.Path(__file__).resolve().parents[1]
ST50, S50 = str(REPO / "configs" / "stark_st50.py"), str(REPO / "configs" / "stark_s50.py")
REFERENCE_ROOT_FLAGS = [f"--config.data.roots.{k}=" for k in ("lasot", "got10k", "coco",
                                                                "trackingnet")]


def parse_flags(config_file, *overrides):
  """The config that ``python -m trackjax.main --config CONFIG_FILE OVERRIDES...`` builds."""
  argv = ["trackjax.main", f"--config={config_file}", *overrides]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True,
                                  sys_argv=argv)
  values(argv)
  return values.config


def _dirs(tmp_path, *names):
  out = []
  for name in names:
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    out.append(str(tmp_path / name))
  return out


# ------------------------------------------------------------------------------ mix strings


def test_parse_mix_entries():
  entries = data_config_lib.parse_mix(" lasot:1, got10k_vottrain:2,custom@/my/videos:0.5")
  assert [(e.name, e.ratio, e.root) for e in entries] == [
      ("lasot", 1.0, ""), ("got10k_vottrain", 2.0, ""), ("custom", 0.5, "/my/videos")]
  assert data_config_lib.parse_mix("") == []
  # A folder may hold ':' (the ratio is after the last one).
  assert data_config_lib.parse_mix("custom@/data/a:b:3")[0].root == "/data/a:b"


@pytest.mark.parametrize("text, message", [
    ("lasot", r"config\.data\.mix: entry 'lasot' is not NAME:RATIO.*--config\.data\.mix=lasot:1"),
    ("lasot:x", r"config\.data\.mix: entry 'lasot:x' has a malformed ratio 'x'.*--config\.data"),
    ("lasot:0", "malformed ratio '0'"),
    ("coco:-1", "malformed ratio '-1'"),
    ("coco:nan", "malformed ratio 'nan'"),
    ("imagenet:1", r"config\.data\.mix: unknown dataset 'imagenet'.*got10k_vottrain"),
    ("lasot:1,", "empty entry"),
    ("custom@:1", "empty folder"),
    ("synthetic@/x:1", "reads no folder"),
    ("lasot:1,lasot:2", "named twice"),
])
def test_malformed_mixes_name_the_field_and_entry(text, message):
  with pytest.raises(ValueError, match=message):
    data_config_lib.parse_mix(text)


def test_val_mix_errors_name_their_own_field():
  with pytest.raises(ValueError, match=r"config\.data\.val_mix: unknown dataset 'votval'"):
    data_config_lib.parse_mix("votval:1", "data.val_mix")


def test_trackingnet_chunks():
  assert data_config_lib.trackingnet_chunks("") is None
  assert data_config_lib.trackingnet_chunks("0-3") == [0, 1, 2, 3]
  assert data_config_lib.trackingnet_chunks("0,2,5-6") == [0, 2, 5, 6]
  for bad in ("12", "3-1", "a"):
    with pytest.raises(ValueError, match="config.data.trackingnet_chunks"):
      data_config_lib.trackingnet_chunks(bad)


# ------------------------------------------------------------------------------ split lists


def _indices(file_name):
  path = data_config_lib.split_file(file_name)
  assert os.path.isfile(path), path
  return [int(line) for line in open(path).read().split()]


def test_shipped_got10k_splits_are_the_reference_lists():
  vottrain = _indices("got10k_vot_train_split.txt")
  votval = _indices("got10k_vot_val_split.txt")
  full = _indices("got10k_train_full_split.txt")
  # Indices into GOT-10k train/list.txt (9335 videos): vottrain 7086 and votval 1249 videos,
  # disjoint; the 1000 videos left out are those VOT forbids.
  assert len(vottrain) == len(set(vottrain)) == 7086
  assert len(votval) == len(set(votval)) == 1249
  assert not set(vottrain) & set(votval)
  assert sorted(full) == list(range(9335))
  assert max(vottrain + votval) < 9335


# ------------------------------------------------------------------------------ resolution


def test_reference_mix_resolves_to_four_readers(tmp_path):
  lasot, got10k, coco, trackingnet = _dirs(tmp_path, "LaSOT", "GOT-10k", "coco", "TrackingNet")
  config = parse_flags(ST50, f"--config.data.roots.lasot={lasot}",
                       f"--config.data.roots.got10k={got10k}", f"--config.data.roots.coco={coco}",
                       f"--config.data.roots.trackingnet={trackingnet}",
                       "--config.data.trackingnet_chunks=0-3")
  train = train_data.training_datasets(config)
  assert [(e["label"], e["name"], e["root"], e["ratio"]) for e in train] == [
      ("lasot", "lasot", lasot, 1), ("got10k_vottrain", "got10k", got10k, 1),
      ("coco", "coco", coco, 1), ("trackingnet", "trackingnet", trackingnet, 1)]
  assert train[0]["options"] == {"split": "train"}
  assert train[1]["options"]["split"] == "train"
  assert os.path.basename(train[1]["options"]["split_file"]) == "got10k_vot_train_split.txt"
  assert train[2]["options"] == {"split": "train2017"}
  assert train[3]["options"] == {"chunks": [0, 1, 2, 3]}
  val = train_data.validation_datasets(config)
  assert [(e["label"], e["root"]) for e in val] == [("got10k_votval", got10k)]
  assert os.path.basename(val[0]["options"]["split_file"]) == "got10k_vot_val_split.txt"
  # The data config handed to data_pipelines holds the resolved list and no mix.
  data = stark_train.stark_data_config(config, "stage1", "val")
  assert data.mix == "" and data.val_mix == "" and len(data.train_datasets) == 1

  only = parse_flags(ST50 + ":got10k_only", f"--config.data.roots.got10k={got10k}")
  entries = train_data.training_datasets(only)
  assert [e["label"] for e in entries] == ["got10k_train_full"]
  assert os.path.basename(entries[0]["options"]["split_file"]) == "got10k_train_full_split.txt"
  assert only.tracker.update_intervals.trackingnet == 200


def test_resolved_entries_open_the_readers(tmp_path):
  """The reference mix on tiny copies of each layout: every entry opens its reader."""
  lasot = write_lasot(str(tmp_path / "LaSOT"), seqs=("airplane-2", "airplane-3"))  # not test
  got10k = str(tmp_path / "GOT-10k")
  write_got10k(got10k)
  coco = write_coco(str(tmp_path / "coco"), split="train2017")
  trackingnet = write_trackingnet(str(tmp_path / "TrackingNet"), chunk="TRAIN_3")
  config = parse_flags(ST50, f"--config.data.roots.lasot={lasot}",
                       f"--config.data.roots.got10k={got10k}", f"--config.data.roots.coco={coco}",
                       f"--config.data.roots.trackingnet={trackingnet}",
                       "--config.data.mix=lasot:1,coco:1,trackingnet:1",
                       "--config.data.trackingnet_chunks=3")
  sources, ratios = make_sources(train_data.training_datasets(config))
  assert [len(s) for s in sources] == [2, 2, 2] and ratios == [1.0, 1.0, 1.0]
  # vottrain indexes train/list.txt of the real GOT-10k: 2 fixture videos are not enough.
  config.data.mix = "got10k_vottrain:1"
  with pytest.raises(DatasetError, match=r"got10k_vot_train_split\.txt: index \d+ outside the 2"):
    make_sources(train_data.training_datasets(config))


def test_several_custom_folders_and_python_entries(tmp_path):
  a, b = _dirs(tmp_path, "a", "b")
  config = parse_flags(ST50 + ":tiny", f"--config.data.mix=custom@{a}:1,custom@{b}:3")
  train = train_data.training_datasets(config)
  assert [(e["name"], e["root"], e["ratio"]) for e in train] == [("custom", a, 1), ("custom", b, 3)]
  config.data.mix = ""
  config.data.train_datasets = [{"name": "custom", "root": a, "ratio": 2,
                                 "options": {"strict": True}}]
  assert train_data.training_datasets(config) == [
      {"name": "custom", "root": a, "ratio": 2, "options": {"strict": True}}]
  config.data.mix = "synthetic:1"
  assert [e["name"] for e in train_data.training_datasets(config)] == ["synthetic", "custom"]
  config.data.mix, config.data.train_datasets = "", []
  with pytest.raises(ValueError, match="no training data.*--config.data.mix=custom:1"):
    train_data.training_datasets(config)


def test_synthetic_mix_takes_the_recipe_sizes_and_validates_on_its_val_split():
  config = parse_flags(ST50 + ":tiny", "--config.synthetic.num_sequences=7",
                       "--config.synthetic.val_sequences=3")
  (train,) = train_data.training_datasets(config)
  (val,) = train_data.validation_datasets(config)
  assert train["options"]["num_sequences"] == 7 and train["options"]["split"] == "train"
  assert val["options"]["num_sequences"] == 3 and val["options"]["split"] == "val"
  assert tuple(train["options"]["image_size"]) == tuple(config.synthetic.image_size)


def test_a_root_that_is_not_a_folder_names_its_flag(tmp_path):
  config = parse_flags(S50 + ":tiny", "--config.data.mix=custom:1",
                       f"--config.data.roots.custom={tmp_path / 'nowhere'}")
  with pytest.raises(ValueError, match=r"config\.data\.roots\.custom: .*nowhere is not a dir"):
    train_data.training_datasets(config)
  config.data.mix = f"custom@{tmp_path / 'gone'}:1"
  with pytest.raises(ValueError, match=r"config\.data\.mix entry custom@.*gone:1: .*not a dir"):
    train_data.training_datasets(config)


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("config_file", [ST50, S50, str(REPO / "configs" / "stark_st101.py")])
def test_full_recipe_refuses_to_start_without_its_datasets(tmp_path, config_file):
  config = parse_flags(config_file)
  workdir = tmp_path / "run"
  with pytest.raises(ValueError) as error:
    loop.train_and_evaluate(config, str(workdir))
  for flag in REFERENCE_ROOT_FLAGS:
    assert flag in str(error.value), str(error.value)
  assert "config.data.mix=" in str(error.value)
  assert not workdir.exists()  # refused before anything was written or compiled


def test_got10k_only_recipe_asks_for_got10k_only(tmp_path):
  with pytest.raises(ValueError) as error:
    loop.train_and_evaluate(parse_flags(ST50 + ":got10k_only"), str(tmp_path / "run"))
  assert "--config.data.roots.got10k=" in str(error.value)
  assert "--config.data.roots.lasot=" not in str(error.value)


def test_own_data_without_validation_data_fails_before_anything_runs(tmp_path):
  (videos,) = _dirs(tmp_path, "videos")
  workdir = tmp_path / "run"
  config = parse_flags(ST50 + ":tiny", "--config.data.mix=custom:1",
                       f"--config.data.roots.custom={videos}")
  with pytest.raises(ValueError) as error:
    loop.train_and_evaluate(config, str(workdir))
  message = str(error.value)
  assert "no validation data" in message and "--config.data.val_mix=" in message
  assert "--config.train.val_every_epochs=0" in message and "stage1, stage2" in message
  assert not workdir.exists()
  # The full recipe validates on GOT-10k votval: the flag for its root is named.
  full = parse_flags(ST50, "--config.data.mix=custom:1", f"--config.data.roots.custom={videos}")
  with pytest.raises(ValueError, match=r"--config.data.roots.got10k=.*val_every_epochs=0"):
    loop.check_datasets(full)
  # val_every_epochs=0 switches validation off in every stage, stage 2's own interval included.
  off = parse_flags(ST50, "--config.data.mix=custom:1", f"--config.data.roots.custom={videos}",
                    "--config.train.val_every_epochs=0")
  assert loop.check_datasets(off).endswith("no validation")
  # Off in stage 1 only: stage 2 still validates, so the check still asks for data.
  stage1_off = parse_flags(ST50 + ":tiny", "--config.data.mix=custom:1",
                           f"--config.data.roots.custom={videos}",
                           "--config.train.stage1.val_every_epochs=0")
  with pytest.raises(ValueError, match=r"validating in stage2\)"):
    loop.check_datasets(stage1_off)


def test_validation_interval_global_and_per_stage():
  config = parse_flags(ST50 + ":tiny")
  every = lambda c: [loop.validation_every_epochs(c, s) for s in ("stage1", "stage2")]
  assert every(config) == [20, 10]  # stage 2 of the reference validates every 10 epochs
  assert every(parse_flags(ST50 + ":tiny", "--config.train.val_every_epochs=0")) == [0, 0]
  assert every(parse_flags(ST50 + ":tiny", "--config.train.stage2.val_every_epochs=0")) == [20, 0]
  assert every(parse_flags(ST50 + ":tiny", "--config.train.stage1.val_every_epochs=3")) == [3, 10]
  assert every(parse_flags(ST50 + ":tiny", "--config.train.val_samples=0")) == [0, 0]


# ------------------------------------------------------------------------------ real batches


def test_custom_train_and_validation_folders_give_batches(tmp_path):
  train_root = write_custom(str(tmp_path / "train"), num_seqs=2, num_frames=22, height=96,
                            width=128)
  val_root = write_custom(str(tmp_path / "val"), num_seqs=1, num_frames=22, height=96, width=128)
  config = parse_flags(S50 + ":tiny", "--config.data.mix=custom:1",
                       f"--config.data.roots.custom={train_root}",
                       f"--config.data.val_mix=custom@{val_root}:1",
                       f"--config.data.cache_dir={tmp_path / 'cache'}")
  assert "validation: custom (" + val_root + ") x1" in loop.check_datasets(config)
  m = config.model
  for split in ("train", "val"):
    iterator = stark_train.build_iterator(config, "stage1", split=split, seed=0,
                                          global_batch_size=2)
    batch = next(iterator)
    assert batch["template_images"].shape == (2, 1, m.template_size, m.template_size, 3)
    assert batch["search_images"].shape == (2, m.search_size, m.search_size, 3)
    assert np.all(np.isfinite(batch["search_anno"]))
    iterator.close()


def test_synthetic_texture_cache_comes_from_the_config_and_renders_the_same():
  config = parse_flags(ST50 + ":quickstart", "--config.synthetic.num_sequences=3",
                       "--config.synthetic.cache_sequences=1")
  (cached,), _ = make_sources(train_data.training_datasets(config))
  assert cached.cache_size == 1 and len(cached) == 3
  config = parse_flags(ST50 + ":quickstart", "--config.synthetic.num_sequences=3")
  (default,), _ = make_sources(train_data.training_datasets(config))
  assert default.cache_size >= len(default)  # every training sequence stays rendered
  for index in (0, 1, 2, 0, 2):  # cache 1: each switch of sequence re-renders its textures
    np.testing.assert_array_equal(cached.read_frame(index, 5), default.read_frame(index, 5))
