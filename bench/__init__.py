"""Benchmark harness: large MLflow stores built quickly, and every stage measured on them."""
