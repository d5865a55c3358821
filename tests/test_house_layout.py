"""The house's rules (docs/architecture.md): generic code never names a family, imports flow one
way, every family package exports the same few names, and weights say which family they are.

Generic modules are every ``.py`` file under ``trackjax/`` and ``data_pipelines/`` outside
``trackjax/families/<name>/``. A family name anywhere in one (identifier, import, string, comment
or docstring, any case) is a hit, reported as ``file:line``.
"""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

from trackjax.families import available_families

REPO = pathlib.Path(__file__).resolve().parents[1]
FAMILIES_DIR = REPO / "trackjax" / "families"
# The families trackjax was promised (DEVELOPERS.md) and any folder that exists by now.
FAMILY_NAMES = sorted({"stark", "mapnet", "actrack", "finetrack", *available_families()})
FAMILY_PATTERN = re.compile("|".join(FAMILY_NAMES), re.IGNORECASE)


def generic_modules() -> list[pathlib.Path]:
  files = []
  for package in ("trackjax", "data_pipelines"):
    for path in sorted((REPO / package).rglob("*.py")):
      relative = path.relative_to(FAMILIES_DIR) if FAMILIES_DIR in path.parents else None
      if relative is not None and len(relative.parts) > 1:  # inside trackjax/families/<name>/
        continue
      files.append(path)
  return files


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(REPO).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
  """(line, absolute module) of every import in ``path``, function-level imports included."""
  package = _module_name(path).split(".")
  if path.name != "__init__.py":
    package = package[:-1]
  out = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
      out.append((node.lineno, base))
      out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
  return out


def _where(path: pathlib.Path, line: int, text: str) -> str:
  return f"{path.relative_to(REPO)}:{line}: {text.strip()}"


def test_generic_modules_name_no_family():
  modules = generic_modules()
  assert len(modules) > 50 and REPO / "trackjax" / "families" / "__init__.py" in modules
  hits = []
  for path in modules:
    for number, line in enumerate(path.read_text().splitlines(), 1):
      if FAMILY_PATTERN.search(line):
        hits.append(_where(path, number, line))
  assert not hits, "generic modules name a family:\n" + "\n".join(hits)


def test_data_pipelines_import_only_geometry_from_trackjax():
  bad = []
  for path in sorted((REPO / "data_pipelines").rglob("*.py")):
    for line, module in imported_modules(path):
      if module.split(".")[0] == "trackjax" and not re.match(r"trackjax\.geometry(\.|$)", module):
        if module != "trackjax":
          bad.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
  assert not bad, "\n".join(bad)


def test_models_never_import_data_training_tracking_or_families():
  forbidden = re.compile(r"^(data_pipelines|trackjax\.(train|sot|mot|families|convert))(\.|$)")
  bad = [f"{path.relative_to(REPO)}:{line}: imports {module}"
         for path in sorted((REPO / "trackjax" / "models").rglob("*.py"))
         for line, module in imported_modules(path) if forbidden.match(module)]
  assert not bad, "\n".join(bad)


def test_generic_code_never_imports_a_family():
  family_module = re.compile(r"^trackjax\.families\.[A-Za-z_]")
  bad = [f"{path.relative_to(REPO)}:{line}: imports {module}"
         for path in generic_modules()
         for line, module in imported_modules(path)
         if family_module.match(module) and module.split(".")[2] not in ("get_family",
                                                                         "available_families")]
  assert not bad, "\n".join(bad)


def test_trackjax_package_is_import_light_and_data_pipelines_pull_only_geometry():
  init = ast.parse((REPO / "trackjax" / "__init__.py").read_text())
  assert not [n for n in ast.walk(init) if isinstance(n, (ast.Import, ast.ImportFrom))]
  code = ("import sys\n"
          "import data_pipelines.config, data_pipelines.train_iterator, data_pipelines.grain_pipeline\n"
          "import data_pipelines.sot_processing, data_pipelines.synthetic\n"
          "import data_pipelines.sources.factory\n"
          "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trackjax'))")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                        timeout=300, check=True)
  loaded = eval(proc.stdout.strip().splitlines()[-1])  # pylint: disable=eval-used
  assert all(m == "trackjax" or re.match(r"trackjax\.geometry(\.|$)", m) for m in loaded), loaded


@pytest.mark.parametrize("name", available_families())
def test_every_family_exports_the_contract(name):
  from trackjax.families import get_family  # pylint: disable=g-import-not-at-top
  family = get_family(name)
  assert getattr(family, "TASK", None) in ("sot", "mot"), f"{name}: TASK must be 'sot' or 'mot'"
  for attribute in ("build_model", "init_variables", "train_task", "build_tracker"):
    assert callable(getattr(family, attribute, None)), f"{name} lacks {attribute}"
  for optional in ("checkpoint_rules", "check_checkpoint"):
    assert getattr(family, optional, None) is None or callable(getattr(family, optional))


def test_unknown_family_lists_the_available_ones():
  from trackjax.families import get_family  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="available: .*stark"):
    get_family("nosuchtracker")


def test_weights_name_their_family_and_another_family_is_refused(tmp_path):
  from trackjax import weights  # pylint: disable=g-import-not-at-top
  from trackjax.config_files import load_config  # pylint: disable=g-import-not-at-top
  from trackjax.sot.tracker_variables import (  # pylint: disable=g-import-not-at-top
      load_tracker_variables, random_variables)
  config = load_config(str(REPO / "configs" / "stark_st50.py") + ":tiny")
  variables = random_variables(config, 0)
  weights.save_variables(str(tmp_path / "old"), variables, {"model": config.model.to_dict()})
  weights.save_variables(str(tmp_path / "other"), variables, {"family": "otherfamily"})
  loaded = load_tracker_variables(config, str(tmp_path / "old"))  # before families: the config's
  assert loaded["params"].keys() == variables["params"].keys()
  with pytest.raises(ValueError, match="'otherfamily' family but config.family='stark'"):
    load_tracker_variables(config, str(tmp_path / "other"))
