"""Cutting documents into passages that follow their structure."""
