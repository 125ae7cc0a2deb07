"""Fakes that speak the real daemons' protocols (tests only)."""
