"""The grounded prompt and the grammar a draft is held to."""
