"""Benchmark runner, results table, and the paper's tables and figures."""
