"""Proposals: a post proposed, checked, approved step by step, handed off and published."""
