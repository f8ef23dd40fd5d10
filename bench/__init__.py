"""Benchmark scripts (run them as ``python bench/<script>.py``); the
transducer-loss benchmark's modules (shapes, steps) import as ``bench.*``."""
