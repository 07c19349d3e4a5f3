"""Test support for Pivotal and its plugins: pytest fixtures (entry point ``pytest11``)."""
