"""The pseudo-view directory's manifest, checked against the shards on disk.

    manifest = pseudo_view_manifest.load(OUT)     # cheap checks, at open
    summary = pseudo_view_manifest.verify(OUT)    # + every shard's sha256

`load` refuses, naming the file: a manifest that is missing, damaged or
foreign; one that lists other shards than its settings make; shard files it
does not list; a shard whose size or record count (from the record headers,
one seek each) differs from what the manifest records; totals that do not
add up; no records at all. `verify` also hashes every shard (reads it all):
`python tools/precompute_pseudo_views.py --verify --out=OUT`.
"""

from __future__ import annotations

import hashlib
import os

from p4d_jax.data import pseudo_view_records as records
from p4d_jax.data import tfrecord_io
from p4d_jax.media import json_file
from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError

_STAGE = "tools/precompute_pseudo_views.py"
# How to redo one damaged shard: the stage redoes shards that are absent.
_REDO = (f"delete it and its .json, then rerun {_STAGE} with the same "
         "settings to redo it")


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _read(directory: str) -> tuple[str, dict]:
  path = os.path.join(directory, records.MANIFEST)
  if not os.path.exists(path):
    partial = os.path.exists(os.path.join(directory, records.SETTINGS))
    raise MissingFile(
        f"{path} does not exist: " + (
            f"the pseudo-view stage has not finished there; rerun {_STAGE} "
            "with the same settings to complete it." if partial else
            f"no pseudo views were written there; make them with {_STAGE}."))
  manifest = json_file.read(path, f"rerun {_STAGE} with the same settings to "
                            "rewrite it from the shards' .json files.")
  if not isinstance(manifest, dict):
    raise UserError(f"{path} is not a pseudo-view manifest.")
  return path, manifest


def _check_shard(directory: str, shard: dict) -> None:
  """The shard file against its manifest entry: present, same size, same
  record count, and clip counts that add up."""
  path = os.path.join(directory, shard["file"])
  if not os.path.isfile(path):
    raise MissingFile(f"{path} is missing (the manifest lists it); rerun "
                      f"{_STAGE} with the same settings to redo it.")
  size = os.path.getsize(path)
  if size != shard["bytes"]:
    raise UserError(f"{path}: {size} bytes, the manifest says "
                    f"{shard['bytes']}; the shard is damaged: {_REDO}.")
  count = tfrecord_io.count_records(path)
  if count != shard["records"] or count != sum(n for _, n in shard["clips"]):
    raise UserError(f"{path}: {count} records, the manifest says "
                    f"{shard['records']}; the shard is damaged: {_REDO}.")


def _check(directory: str, path: str, manifest: dict) -> None:
  settings = manifest["settings"]
  if settings["schema_version"] != records.SCHEMA_VERSION:
    raise UserError(f"{path}: schema version {settings['schema_version']}, "
                    f"this code reads {records.SCHEMA_VERSION}; regenerate "
                    "the records.")
  count = settings["num_shards"]
  want = [records.shard_name(i, count) for i in range(count)]
  listed = [s["file"] for s in manifest["shards"]]
  if listed != want:
    raise UserError(
        f"{path} lists {len(listed)} shard(s), its settings make {count} "
        f"(missing {sorted(set(want) - set(listed))[:3]}); the manifest is "
        f"damaged: delete it and rerun {_STAGE} with the same settings to "
        "rewrite it.")
  present = {n for n in os.listdir(directory)
             if n.startswith("pseudo_views-") and n.endswith(".tfrecord")}
  foreign = sorted(present - set(want))
  if foreign:
    raise UserError(f"{directory} holds shard files its manifest does not "
                    f"list: {foreign[:3]}; move them away (another run's?) "
                    "or write each run to its own directory.")
  for shard in manifest["shards"]:
    _check_shard(directory, shard)
  total = sum(s["records"] for s in manifest["shards"])
  clips = sum(len(s["clips"]) for s in manifest["shards"])
  if (manifest["records"], manifest["clips"]) != (total, clips):
    raise UserError(
        f"{path} states {manifest['records']} records and "
        f"{manifest['clips']} clips, its shards hold {total} and {clips}; "
        f"the manifest is damaged: delete it and rerun {_STAGE}.")
  if not total:
    raise UserError(f"{path}: the shards hold no records; rerun {_STAGE} "
                    "on clips that have frames.")


def load(directory: str) -> dict:
  """The stage's manifest, checked against the shard files (sizes and
  record counts; no hashing)."""
  path, manifest = _read(directory)
  try:
    _check(directory, path, manifest)
  except UserError:
    raise
  except (KeyError, TypeError, ValueError) as err:   # fields missing or odd
    raise UserError(f"{path} is not a complete pseudo-view manifest ({err!r} "
                    f"is wrong); delete it and rerun {_STAGE}.") from err
  return manifest


def verify(directory: str) -> dict:
  """`load`, then every shard's sha256 against the manifest's. Returns a
  summary (shards, records, clips, bytes)."""
  manifest = load(directory)
  for shard in manifest["shards"]:
    path = os.path.join(directory, shard["file"])
    if sha256(path) != shard["sha256"]:
      raise UserError(f"{path}: its sha256 differs from the manifest's; the "
                      f"shard is damaged: {_REDO}.")
  return dict(directory=os.path.abspath(directory), verified=True,
              shards=len(manifest["shards"]), records=manifest["records"],
              clips=manifest["clips"],
              bytes=sum(s["bytes"] for s in manifest["shards"]))
