"""Device groups: users' groups and the organization's admin groups, and their tree."""
