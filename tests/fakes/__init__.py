"""Tests of the fakes themselves (fakes/): they must speak the real clients' wire format."""
