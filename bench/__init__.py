"""Throughput and cost figures, reported as ratios. Not part of the test suite."""
