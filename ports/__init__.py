"""Interfaces the domain needs from the outside world (typing.Protocol, no implementations)."""
