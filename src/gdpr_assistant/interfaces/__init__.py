"""The ways in: the `ask` command, the web UI, `ask doctor`."""
