"""Drafting the purpose (finalité) of an AI system's processing, checked against CNIL Fiche 2."""

from gdpr_assistant.purpose.drafter import PurposeDraft, draft_purpose
from gdpr_assistant.purpose.facts import PurposeInputError, PurposeRequest, is_draft_request
from gdpr_assistant.purpose.render import answer_text

__all__ = ["PurposeDraft", "PurposeInputError", "PurposeRequest", "answer_text", "draft_purpose", "is_draft_request"]
