"""Experiment configs: `get_config(arg)` per file, loaded by launch.main as --config=configs/NAME.py:ARG."""
