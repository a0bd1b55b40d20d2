"""The one seam every model call goes through.

Stages ask a backend for two things only: a draft (streamed text, optionally held to a grammar, with the
model's first-token preference for a refusal literal measured and lowered), and a judgement (the model's
log-odds of answering yes rather than no). The in-process llama.cpp backend implements them today; a server
backend or the deterministic fake of the unit tests fits behind the same protocol without the answer flow
knowing which one it talks to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Message = dict[str, str]


class ModelError(Exception):
    """A model that cannot be used; the message names the fix."""


@dataclass(frozen=True)
class Generation:
    """What to generate. ``grammar`` is GBNF (llama.cpp's grammar format, which llama.cpp's server and vLLM
    accept too). ``refusal``: a literal the model may answer with instead of an answer; its first-token
    preference (log-odds against the best other start the grammar allows) is measured into the stats, and
    lowered by ``refusal_bias`` nats before sampling."""

    messages: list[Message]
    max_tokens: int
    grammar: str | None = None
    temperature: float = 0.0
    seed: int = 0
    refusal: str | None = None
    refusal_bias: float = 0.0


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float = 0.0
    total_s: float = 0.0
    refusal_margin: float | None = None  # first-token log-odds of the refusal literal (None: not measured)


@dataclass(frozen=True)
class Judgement:
    """A yes/no question: the model's first-token log-odds of any of ``yes`` against any of ``no``."""

    messages: list[Message]
    yes: Sequence[str] = field(default=("OUI", "Oui", "oui", "YES", "Yes", "yes"))
    no: Sequence[str] = field(default=("NON", "Non", "non", "NO", "No", "no"))
    # The messages extend the prompt the model just answered (its passages already read): a backend that keeps
    # that prompt's state reads only what was added. Otherwise the prompt is read whole, from a clean state.
    extends_answer: bool = False


class ModelBackend(Protocol):
    #: Shown to users and recorded with each answer.
    name: str
    #: A measure of the model's capacity (bytes of weights for a local file): a draft that fails is written
    #: again by the judge only when the judge is larger than the model that answers.
    size: int

    def generate(self, request: Generation, stats: GenerationStats) -> Iterator[str]:
        """Stream the model's text; ``stats`` is filled in as it goes."""
        ...

    def judge(self, request: Judgement) -> float:
        """The model's log-odds of yes over no as its first token. Never depends on what was asked before."""
        ...


class Models(Protocol):
    """The models an assistant uses, loaded when first asked for."""

    @property
    def name(self) -> str: ...

    @property
    def judge_name(self) -> str: ...

    def check(self) -> None:
        """Raise :class:`ModelError` (with its fix) if the answering model cannot be had, without loading it."""
        ...

    def answerer(self) -> ModelBackend:
        """The model that writes answers."""
        ...

    def judge(self) -> ModelBackend | None:
        """The model that judges fallback quotes (None: quotes are off)."""
        ...

    def judge_is_larger(self) -> bool:
        """Whether the judge writes again a draft of the answering model that failed."""
        ...
