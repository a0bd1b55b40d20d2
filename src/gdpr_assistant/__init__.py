"""Offline assistant for GDPR and AI-compliance questions, grounded in CNIL and Inserm guidance."""

from gdpr_assistant.offline import set_offline_env

# Before anything else in the package can import chromadb, gradio or sentence-transformers.
set_offline_env()

__version__ = "0.1.0"
