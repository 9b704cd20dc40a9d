"""SynthHeads: procedural 4D heads with exact ground truth (see params.py)."""
