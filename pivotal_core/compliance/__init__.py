"""Compliance: suppressions and consents (the tables; the contact gate comes with its area)."""
