"""Shared test fixtures."""

import json
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
KEY_LISTS = REPO / "tests" / "data" / "stark_official_keys"
sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
  return REPO


def official_keys(model: str) -> dict[str, tuple[tuple[int, ...], str]]:
  """``{name: (shape, dtype)}`` of an official STARK state dict; ``model`` is s50, st50 or st101.

  The key lists in ``tests/data/stark_official_keys`` record the tensors of the official models
  (researchmm/Stark) as built from their experiment files.
  """
  doc = json.loads((KEY_LISTS / f"stark_{model}.json").read_text())
  keys = {name: (tuple(t["shape"]), t["dtype"]) for name, t in doc["tensors"].items()}
  if len(keys) != doc["num_tensors"]:
    raise ValueError(f"{KEY_LISTS}/stark_{model}.json: {len(keys)} tensors, header says "
                     f"{doc['num_tensors']}")
  return keys
