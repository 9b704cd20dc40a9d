"""JSON files read back with errors that name them (written by
`atomic.write_json`).

    settings = json_file.read("OUT/settings.json", "rerun the stage")
"""

from __future__ import annotations

import json
import os

from p4d_jax.user_errors import MissingFile
from p4d_jax.user_errors import UserError


def read(path: str, fix: str = "") -> object:
  """The value in the JSON file at `path`. A missing, empty or malformed
  file is a user error naming it; `fix` (a sentence) says what to do."""
  hint = f"; {fix}" if fix else "."
  if not os.path.isfile(path):
    raise MissingFile(f"{path} does not exist{hint}")
  with open(path, "rb") as f:
    data = f.read()
  if not data.strip():
    raise UserError(f"{path}: empty file{hint}")
  try:
    return json.loads(data)
  except (json.JSONDecodeError, UnicodeDecodeError) as err:
    raise UserError(f"{path}: not valid JSON ({err}){hint}") from err
