"""The answer flow: intake, retrieval, drafting, verification, fallback, the answer."""
