"""What one question carries on its way through the answer flow (answer/pipeline.py): its cleaned text and the
query the stages read, its language and shape, and what was measured (timings, margins, energy) for the Answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gdpr_assistant.energy import Meter
from gdpr_assistant.intake.shape import Shape
from gdpr_assistant.types import Answer, AnswerKind, Citation, Hit


@dataclass
class Trace:
    """What one answer measured on its way, for the Answer's timings, margins and energy."""

    meter: Meter
    reading: tuple[float, int] = (0.0, 0)
    t0: float = field(default_factory=time.perf_counter)
    timings: dict[str, float | int] = field(default_factory=lambda: {
        "retrieval_s": 0.0, "ttft_s": 0.0, "total_s": 0.0, "prompt_tokens": 0, "completion_tokens": 0,
        "judge_s": 0.0})
    refusal_margin: float | None = None
    quote_margin: float | None = None
    excerpt_margin: float | None = None
    relevance_margin: float | None = None
    coverage: float | None = None

    def __post_init__(self) -> None:
        self.reading = self.meter.start()


@dataclass
class Asked:
    """One question on its way: what the stages read, what they decided to say before the answer."""

    question: str  # as cleaned
    query: str  # what retrieval, the prompt and the checks read: a follow-up joined to the previous question
    lang: str
    warnings: list[str]
    trace: Trace
    model: str
    notice: str = ""  # said before the answer: the question's premise is not in the documents
    premise: str = ""  # that premise: no sentence of the answer may state it
    shape: Shape = "fact"  # what the question asks for: a fact, a list, what several sources say

    listing: bool = False  # a list question answered in lines (settings.answer.list_prompt)

    def finish(self, text: str, refused: bool, hits: list[Hit], reason: str, cites: list[Citation] | None = None,
               dropped: list[str] | None = None, raw: str = "", kind: AnswerKind = "answer") -> Answer:
        t = self.trace
        t.timings["total_s"] = round(time.perf_counter() - t.t0, 3)
        if self.notice:
            text = f"{self.notice}\n\n{text}"
        return Answer(question=self.question, answer=text, refused=refused, lang=self.lang, citations=cites or [],
                      passages=hits, model=self.model, timings=t.timings, warnings=self.warnings,
                      dropped=dropped or [], raw=raw, refusal_reason=reason, refusal_margin=t.refusal_margin,
                      quote_margin=t.quote_margin, excerpt_margin=t.excerpt_margin,
                      relevance_margin=t.relevance_margin, coverage=t.coverage, kind=kind,
                      energy=t.meter.stop(t.reading))
