"""A deterministic model behind the real seam (:mod:`gdpr_assistant.models.backend`), for tests whose point is the
program's logic: what it asks the model, and what it does with the answer. Everything else stays real.

    backend = FakeBackend("Le SIA compte 5 personnes [1].", refusal_margin=-2.0)
    assistant = Assistant(settings, models=FakeModels(backend), embedder=e5)

A draft is a fixed string, a function of the messages, or a list of either (one per request, the last repeated);
it is streamed in small deltas, as a model streams tokens. A judgement is a constant margin or a function of the
:class:`Judgement`. Every request is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from gdpr_assistant.models.backend import Generation, GenerationStats, Judgement, Message, ModelBackend, ModelError

Draft = str | Callable[[list[Message]], str]
Margin = float | Callable[[Judgement], float]


@dataclass
class FakeBackend:
    """Implements :class:`ModelBackend`. ``refusal_margin`` is written into the stats of a request that offers a
    refusal literal (as the llama.cpp backend measures it); the draft itself is what the test scripts, whatever
    the margin and the bias."""

    draft: Draft | Sequence[Draft] = ""
    judgement: Margin = 0.0
    refusal_margin: float | None = None
    name: str = "fake-model"
    size: int = 1
    delta_chars: int = 5  # streamed in pieces this long: sentences end mid-delta, as tokens do
    sent: int = 0  # characters of the current draft streamed so far (what the program had read)
    requests: list[Generation] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)

    def _draft_for(self, request: Generation) -> str:
        draft = self.draft
        if isinstance(draft, list | tuple):
            draft = draft[min(len(self.requests) - 1, len(draft) - 1)]
        return draft(request.messages) if callable(draft) else str(draft)

    def generate(self, request: Generation, stats: GenerationStats) -> Iterator[str]:
        self.requests.append(request)
        text = self._draft_for(request)
        t0 = time.perf_counter()
        if request.refusal:
            stats.refusal_margin = self.refusal_margin
        stats.prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        self.sent = 0
        for i in range(0, len(text), self.delta_chars):
            if i == 0:
                stats.ttft_s = time.perf_counter() - t0
            stats.completion_tokens += 1
            self.sent = min(len(text), i + self.delta_chars)
            yield text[i:i + self.delta_chars]
        stats.total_s = time.perf_counter() - t0

    def judge(self, request: Judgement) -> float:
        self.judgements.append(request)
        return self.judgement(request) if callable(self.judgement) else float(self.judgement)

    # -- what the program asked ----------------------------------------------------------------------------------
    def prompts(self) -> list[str]:
        """The user message of each generation request."""
        return [r.messages[-1]["content"] for r in self.requests]

    def judged(self) -> list[str]:
        """The user message of each judgement (the question and the quote put to the judge)."""
        return [j.messages[-1]["content"] for j in self.judgements]


class FakeModels:
    """Implements :class:`Models` over given backends (fakes, or real ones: a test may script the model that
    answers and keep the real judge). The judge is larger when its ``size`` is."""

    def __init__(self, answerer: ModelBackend, judge: ModelBackend | None = None, missing: str = "") -> None:
        self._answerer = answerer
        self._judge = judge
        self.missing = missing  # check() raises this ModelError when set

    @property
    def name(self) -> str:
        return self._answerer.name

    @property
    def judge_name(self) -> str:
        return self._judge.name if self._judge is not None else ""

    def check(self) -> None:
        if self.missing:
            raise ModelError(self.missing)

    def answerer(self) -> ModelBackend:
        return self._answerer

    def judge(self) -> ModelBackend | None:
        return self._judge

    def judge_is_larger(self) -> bool:
        return self._judge is not None and self._judge.size > self._answerer.size
