"""The agent runtime loop, goal specs and the success checker."""
