"""Benchmarks: the real bot over HTTP against the fake Slack on loopback. Run: make bench."""
