"""Core test configuration; the fixtures come from pivotal_core.testing (a pytest plugin)."""
