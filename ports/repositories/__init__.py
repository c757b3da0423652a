"""Persistence ports, one module per product area (accounts, access, billing, devices,
groups, sharing, ota), and the unit of work that holds them (uow.py). Import each port from
its module."""
