"""User device groups: hierarchy, mutual exclusion and custom data."""
