"""Koho (広報): a Slack bot that runs a city government's social-media operations."""

__version__ = "0.1.0"
