"""Runnable examples; tests/test_examples.py keeps them working."""
