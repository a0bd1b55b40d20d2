"""Language models: the backend protocol every model call goes through, and its implementations."""
