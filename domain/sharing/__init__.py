"""Sharing: nodes and groups offered by one user to another, through one engine."""
