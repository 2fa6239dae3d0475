"""Benchmarks of issue 6 (``make bench`` / ``python -m bench``): see ``bench/cli.py``."""
