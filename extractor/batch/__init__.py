"""Batch runs: many articles, concurrently and resumably, into one results file."""
