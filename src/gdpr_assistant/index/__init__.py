"""Embedding passages and storing them in Chroma, generation by generation."""
