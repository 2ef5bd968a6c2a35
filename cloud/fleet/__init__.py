"""The fleet view: every gateway and device of a municipality and whether the kit works."""
