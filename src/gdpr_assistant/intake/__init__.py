"""Question intake, before retrieval: hygiene, personal data, requests declined by policy, steering passages."""
