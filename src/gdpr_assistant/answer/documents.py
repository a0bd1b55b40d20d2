"""Several documents, one answer. A question on what several sources say (intake/shape.py: "synthesis") is put to
the model once per document, each time with that document's retrieved passages alone, and the drafts go through
one verifier as one answer, a line per document, each claim cited.

The small model, given passages from three documents at once, writes a sentence or two from the first one and
stops: the other side of a comparison is lost. Asked one document at a time it says what each one says, and
each prompt is shorter (prompt processing dominates time on a laptop CPU), so two short drafts cost about what
one long one did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from gdpr_assistant.drafting.prompt import NOT_COVERED, answer_grammar
from gdpr_assistant.models.backend import Generation, GenerationStats, Message, ModelBackend
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Hit
from gdpr_assistant.verification.claims import cut_tail
from gdpr_assistant.verification.verifier import DraftVerifier

_CITE = re.compile(r"\[(\d{1,2})\]")


def by_document(hits: Sequence[Hit], max_documents: int, per_document: int) -> list[list[int]]:
    """Indices of ``hits`` grouped by document, documents in the order of their best passage, at most
    ``per_document`` passages each."""
    groups: dict[str, list[int]] = {}
    for i, h in enumerate(hits):
        groups.setdefault(h.passage.doc, []).append(i)
    return [idx[:per_document] for idx in list(groups.values())[:max_documents]]


def renumber(text: str, group: Sequence[int]) -> str:
    """The draft's citations ([1] = the group's first passage) as numbers of the whole list of passages. The
    grammar allows only the group's numbers; one out of range stays as written (the verifier then finds the
    passage that supports the claim, or drops it)."""
    def one(c: re.Match[str]) -> str:
        k = int(c.group(1))
        return f"[{group[k - 1] + 1}]" if 0 < k <= len(group) else c.group(0)

    return _CITE.sub(one, text)


def write_per_document(model: ModelBackend, groups: Sequence[Sequence[int]],
                       prompt: Callable[[Sequence[int]], list[Message]], draft: DraftVerifier,
                       stats: GenerationStats, settings: Settings) -> Iterator[str]:
    """One draft per group of passages (``prompt`` builds its messages), its citations turned into the numbers
    of the whole list of passages, fed to ``draft`` as one line per document. A document the model finds silent
    on the question (NON_COUVERT) adds nothing; all silent is the model's refusal."""
    a, m, t = settings.answer, settings.models, settings.trust
    wrote = False
    for n, group in enumerate(groups):
        request = Generation(messages=prompt(group), max_tokens=a.per_document_tokens,
                             grammar=answer_grammar(len(group), a.per_document_sentences),
                             temperature=m.temperature, seed=m.seed, refusal=NOT_COVERED, refusal_bias=t.refusal_bias)
        one = GenerationStats()
        text = "".join(model.generate(request, one))
        stats.prompt_tokens += one.prompt_tokens
        stats.completion_tokens += one.completion_tokens
        if n == 0:
            stats.ttft_s, stats.refusal_margin = one.ttft_s, one.refusal_margin
        if not text.strip() or text.lstrip().startswith(NOT_COVERED):
            continue
        # A document's draft cut by its token bound ends mid-sentence: the fragment goes, the next document's line
        # must not run on from it.
        text, cut = cut_tail(text.strip())
        if cut:
            draft.dropped.append(cut)
        if not text.strip():
            continue
        yield from draft.feed(("\n" if wrote else "") + "- " + renumber(text.strip(), group) + " ")
        wrote = True
    if not wrote:
        yield from draft.feed(NOT_COVERED)
    yield from draft.close()
