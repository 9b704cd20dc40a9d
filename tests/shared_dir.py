"""Where the project's shared reference files are: $P4D_SHARED_DIR, else
../shared beside the repository (a clone elsewhere sets the variable)."""

import os

SHARED = os.environ.get("P4D_SHARED_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), "shared"))
