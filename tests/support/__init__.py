"""Test support shared by every test package: real services, run prefixes, subprocess helpers."""
