"""A French passage quoted to an English question, put into English by the model.

The quote fallback shows the corpus word for word; for an English question that is French text the reader may
not read (and that holds none of the English words the question is asked in). Translating is a task the small
model does well where writing an answer is not: the text to say is given. What it writes is not trusted for
that: the answer flow checks it against the passage as it checks an English answer (verification/), and keeps
the French quote when any of it fails.
"""

from __future__ import annotations

from gdpr_assistant.models.backend import Generation, GenerationStats, Message, ModelBackend
from gdpr_assistant.text.glossary import english_terms

_INSTRUCTIONS = (
    "You translate French compliance guidance into English. Translate the text faithfully: keep every name, "
    "figure, negation and list item, add nothing, explain nothing, do not spell out abbreviations. Use the "
    "English terms given. Translate line by line: one line of English for each line of French. Write only the "
    "translation."
)

# No citation marks (the program adds the citation); a slide's lines stay lines, no blank line between them.
_GRAMMAR = r"""
root ::= line ("\n" line)*
line ::= [^\[\]\n] [^\[\]\n]*
"""


def translation_messages(text: str) -> list[Message]:
    """The terms of art found in ``text`` go with it, as the English the CNIL and the GDPR use for them."""
    terms = "".join(f"\n- {fr} = {en}" for fr, en in english_terms(text))
    terms = f"\n\nTerms:{terms}" if terms else ""
    return [{"role": "system", "content": _INSTRUCTIONS},
            {"role": "user", "content": f"French:\n{text}{terms}\n\nEnglish:"}]


def translate(model: ModelBackend, text: str, max_tokens: int, stats: GenerationStats, seed: int = 0) -> str:
    """The model's English for ``text`` (French), greedy; "" when it writes nothing."""
    request = Generation(messages=translation_messages(text), max_tokens=max_tokens, grammar=_GRAMMAR,
                         temperature=0.0, seed=seed)
    return "".join(model.generate(request, stats)).strip()
