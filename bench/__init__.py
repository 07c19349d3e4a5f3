"""Pivotal benchmarks: data generators and the harnesses measuring DESIGN.md section 12."""
