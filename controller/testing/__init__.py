"""Development-only aliases; not part of the operator's distribution (see setup.cfg)."""
