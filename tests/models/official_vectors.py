"""The official code's reference vectors (synthetic weights) and what the
parity tests share: where they are, the synthetic checkpoint of a file's
seed, and a checker that fails unless every stored array was compared.

$P4D_OFFICIAL_VECTORS (default ../shared/conformance/official beside the
repository) holds `<kind>_seed<N>.npz` files, `tolerances.json` and
`synthetic_checkpoint.py`, which regenerates seed N's weights.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax import tree_paths
from tests import shared_dir

DIR = os.environ.get("P4D_OFFICIAL_VECTORS", os.path.join(
    shared_dir.SHARED, "conformance", "official"))


@pytest.fixture
def highest_precision():
  """float32 matmuls on GPU/TPU too (TF32 and bfloat16 passes alone exceed
  the bounds); no change on CPU."""
  with jax.default_matmul_precision("highest"):
    yield


def files(kind: str) -> list[str]:
  """Every `<kind>_seed<N>.npz` of the directory (any seed)."""
  return sorted(glob.glob(os.path.join(DIR, f"{kind}_seed*.npz")))


def params(kind: str):
  """pytest parameters: one per file, or one skipped case naming the
  directory when there is none."""
  found = files(kind)
  if found:
    return [pytest.param(f, id=os.path.basename(f)[:-4]) for f in found]
  return [pytest.param(None, marks=pytest.mark.skip(
      reason=f"no {kind}_seed*.npz in {DIR} (set P4D_OFFICIAL_VECTORS)"))]


def seed(path: str) -> int:
  return int(re.search(r"_seed(\d+)\.npz$", path)[1])


@functools.cache
def synthetic_checkpoint():
  """The directory's synthetic_checkpoint.py, imported from there."""
  spec = importlib.util.spec_from_file_location(
      "synthetic_checkpoint", os.path.join(DIR, "synthetic_checkpoint.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@functools.cache
def tolerances() -> dict:
  with open(os.path.join(DIR, "tolerances.json")) as f:
    return json.load(f)


def nchw(x) -> np.ndarray:
  """[B, H, W, C] -> [B, C, H, W] (the official layout)."""
  return np.asarray(x).transpose(0, 3, 1, 2)


def nhwc(x) -> jax.Array:
  return jnp.asarray(np.asarray(x).transpose(0, 2, 3, 1))


def stats(x) -> np.ndarray:
  """[mean, std, min, max] in float64, as the files store them."""
  x = np.asarray(x, np.float64)
  return np.array([x.mean(), x.std(), x.min(), x.max()])


def merged(graphdef, abstract, named: dict):
  """The module `graphdef` with the converted arrays `named` ({path:
  array}) as its parameters `abstract`."""
  return nnx.merge(graphdef, tree_paths.fill(
      abstract, {k: jnp.asarray(v) for k, v in named.items()}))


class Checker:
  """Compares arrays with a file's stored ones at `tolerances.json`'s
  bounds for that kind of file; `finish` fails if any stored array was
  neither compared nor declared an input."""

  def __init__(self, path: str, kind: str):
    self.data = np.load(path)
    self.bounds = tolerances()[kind]
    self.unchecked = set(self.data.files)
    self.errors: dict[str, float] = {}

  def __getitem__(self, key: str) -> np.ndarray:
    return self.data[key]

  def inputs(self, *keys: str) -> None:
    """Arrays the test feeds in (inputs, metadata): checked by use."""
    missing = [k for k in keys if k not in self.data.files]
    assert not missing, f"the file lacks {missing}"
    self.unchecked -= set(keys)

  def close(self, key: str, got, atol: float | None = None) -> None:
    """|got - stored| <= atol (default the file's bound for `key`) and, for
    keys with one, its 99th percentile <= atol_p99."""
    want = self.data[key]
    got = np.asarray(got)
    assert got.shape == want.shape, f"{key}: shape {got.shape} != {want.shape}"
    err = np.abs(got.astype(np.float64) - want)
    bound = self.bounds.get(key, {})
    limit = atol if atol is not None else bound["atol"]
    self.errors[key] = float(err.max())
    assert err.max() <= limit, (
        f"{key}: max |error| {err.max():.3g} > {limit:g}")
    if atol is None and "atol_p99" in bound:
      p99 = np.percentile(err, 99)
      assert p99 <= bound["atol_p99"], (
          f"{key}: p99 |error| {p99:.3g} > {bound['atol_p99']:g}")
    self.unchecked.discard(key)

  def stats(self, key: str, arrays, like: str) -> None:
    """A stored [..., 4] statistics array against `stats` of each of ours,
    at the bound of the full array `like` (means, deviations and extremes
    move no more than the values do)."""
    self.close(key, np.stack([stats(a) for a in arrays]).reshape(
        self.data[key].shape), atol=self.bounds[like]["atol"])

  def equal(self, key: str, got) -> None:
    np.testing.assert_array_equal(np.asarray(got), self.data[key], key)
    self.unchecked.discard(key)

  def same_set(self, key: str, got) -> None:
    """A stored list of names equals the set `got`, in any order."""
    want = set(self.data[key].tolist())
    assert set(got) == want, (f"{key}: only stored {sorted(want - set(got))}"
                              f", only ours {sorted(set(got) - want)}")
    self.unchecked.discard(key)

  def finish(self) -> dict[str, float]:
    assert not self.unchecked, f"stored but never checked: {sorted(self.unchecked)}"
    return self.errors
