"""Tools for setup: each module here is imported by the registry, and its @tool functions register."""
