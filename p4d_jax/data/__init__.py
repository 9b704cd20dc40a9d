"""Data: scenes, data sets, records and input pipelines."""
