"""Tests of the fake Numerai and the synthetic data (tests/fakes/)."""
