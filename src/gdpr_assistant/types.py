"""The types every stage shares: a passage of a document, a retrieved hit, a citation, an answer.

They sit on the bottom floor so that stages pass them along without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Passage:
    doc: str
    index: int
    text: str
    start: int
    end: int
    headings: tuple[str, ...]
    line_start: int
    line_end: int
    page: int | None = None

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.index}"

    @property
    def location(self) -> str:
        parts = []
        if self.headings:
            parts.append(" › ".join(self.headings[-2:]))
        if self.page is not None:
            parts.append(f"p. {self.page}")
        parts.append(f"l. {self.line_start}–{self.line_end}" if self.line_end > self.line_start
                     else f"l. {self.line_start}")
        return ", ".join(parts)

    def embedding_text(self) -> str:
        """What is embedded and indexed lexically: the headings give short slides their context."""
        head = " › ".join(self.headings)
        return f"{head}\n{self.text}" if head and not self.text.lstrip("# *").startswith(self.headings[-1]) \
            else self.text


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # reciprocal-rank-fusion score
    similarity: float  # cosine similarity of the dense match (0 when the passage came from BM25 only)
    dense_rank: int | None
    lexical_rank: int | None

    def as_dict(self) -> dict[str, Any]:
        p = self.passage
        return {"doc": p.doc, "location": p.location, "text": p.text, "score": round(self.score, 6),
                "similarity": round(self.similarity, 4), "page": p.page, "headings": list(p.headings)}


@dataclass
class Citation:
    n: int
    doc: str
    title: str
    location: str
    quote: str
    text: str  # the whole passage, so a UI can show the quote in context
    passage_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "doc": self.doc, "title": self.title, "location": self.location, "quote": self.quote}


@dataclass(frozen=True)
class Energy:
    """What a piece of work cost on this computer (see energy.py for the method)."""

    wh: float
    gco2eq: float
    cpu_s: float
    method: str  # "rapl" (the CPU's energy counters) or "cpu-time" (an estimate from this process's CPU time)

    def as_dict(self) -> dict[str, float | str]:
        return {"wh": round(self.wh, 5), "gco2eq": round(self.gco2eq, 6), "cpu_s": round(self.cpu_s, 3),
                "method": self.method}


# "answer": written by the model and verified; "purpose": a Fiche 2 draft; "extract": a passage quoted in place
# of a draft that failed verification; "escalated": written by the larger judge model after the draft of the
# model that answers failed (--fast); "declined": a request the assistant does not serve (harm, another language).
AnswerKind = Literal["answer", "purpose", "extract", "escalated", "declined"]


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    lang: str
    citations: list[Citation]
    passages: list[Hit]
    model: str
    timings: dict[str, float | int]
    warnings: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # draft sentences no passage supported
    raw: str = ""  # the model's draft, before verification
    refusal_reason: str = ""  # why the model's draft was not shown (the refusal, or the extract in its place)
    refusal_margin: float | None = None  # model's first-token log-odds of refusing (None: model not run)
    quote_margin: float | None = None  # model's log-odds that the fallback sentence answers (None: not judged)
    excerpt_margin: float | None = None  # the same for the wider excerpt judged when the sentence is not quoted
    relevance_margin: float | None = None  # the judge's log-odds that the written answer answers the question
    coverage: float | None = None  # the question's share in the verified answer (None: no sentence verified)
    kind: AnswerKind = "answer"
    energy: Energy | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.answer, "refused": self.refused, "lang": self.lang,
            "citations": [c.as_dict() for c in self.citations],
            "passages": [h.as_dict() for h in self.passages], "model": self.model, "timings": self.timings,
            "warnings": self.warnings, "dropped": self.dropped, "refusal_reason": self.refusal_reason,
            "refusal_margin": None if self.refusal_margin is None else round(self.refusal_margin, 2),
            "quote_margin": None if self.quote_margin is None else round(self.quote_margin, 2),
            "excerpt_margin": None if self.excerpt_margin is None else round(self.excerpt_margin, 2),
            "relevance_margin": None if self.relevance_margin is None else round(self.relevance_margin, 2),
            "coverage": None if self.coverage is None else round(self.coverage, 3),
            "kind": self.kind, "energy": self.energy.as_dict() if self.energy else None,
        }
