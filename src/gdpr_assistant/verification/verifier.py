"""What of a draft is shown: the one place that decides it, for the product and for the tests.

The program, not the model, guarantees the citations. A draft streams in; each completed sentence is split
into claims, and each claim is checked against the passage it cites. A citation stands only if that passage
supports the claim; otherwise it moves to the passage that does, and a claim that no passage supports is
dropped. Shown claims get their citations renumbered in order of first use. At the end, the verdict says
whether the draft as a whole can stand (:meth:`DraftVerifier.verdict`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from gdpr_assistant.drafting.prompt import NOT_COVERED
from gdpr_assistant.settings import TrustSettings
from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.words import tokenize
from gdpr_assistant.verification.checks import (
    counts_a_stranger,
    drops_a_negation,
    drops_an_attribution,
    echoes_a_restriction,
    grafts_a_clause,
    is_connective,
    is_heading_copy,
    is_meta,
    is_restatement,
    names_a_stranger,
    overstates,
    speaks_for_someone,
    states_the_premise,
)
from gdpr_assistant.verification.claims import (
    Claim,
    DenseFn,
    EntailFn,
    asks_for_a_quantity,
    best_quote,
    cut_tail,
    question_coverage,
    split_claims,
    states_a_quantity,
    support,
    without_enumerator,
)


@dataclass
class Evidence:
    """What the claims of one draft are checked against. ``cross[i]``: passage ``i`` is in another language than
    the answer, so a claim may stand on its dense similarity to the passage (``dense``)."""

    passages: Sequence[str]
    question: str
    idf: Mapping[str, float]
    trust: TrustSettings
    dense: DenseFn | None = None
    cross: Sequence[bool] = ()
    # The entailment judge: (claim, passage index) -> its log-odds that the passage states the claim. None: the
    # lexical checks alone decide (and sentences stream as the model writes them).
    entail: EntailFn | None = None
    # A premise of the question the judge found in no passage (premise.py): a claim asserting it is not shown.
    premise: str = ""

    def crosses(self, i: int) -> bool:
        return i < len(self.cross) and self.cross[i]


def assess(claim: Claim, ev: Evidence) -> Claim:
    """Decide whether ``claim`` is shown, and which passages its citation points to (see the module doc)."""
    t = ev.trust
    if is_restatement(claim.text, ev.question):
        claim.reason = "restates the question"
        return claim
    if ev.premise and states_the_premise(claim.text, ev.premise, ev.idf, t.support_threshold):
        claim.reason = "states the question's premise, which no passage states"
        return claim
    if is_meta(claim.text):
        claim.reason = "talks about the excerpts, not the subject"
        return claim
    if claim.text.endswith("?"):  # a heading or the question copied back: it asserts nothing
        claim.reason = "a question, not a statement"
        return claim
    if is_heading_copy(claim.text, ev.passages):
        claim.reason = "a heading or label, not a statement"
        return claim
    if is_connective(claim.text, cited=bool(claim.cited)):
        claim.kept, claim.reason = True, "connective"
        return claim
    for i, text in enumerate(ev.passages):
        d = ev.dense(claim.text, i) if ev.dense and ev.crosses(i) else None
        claim.support[i] = support(claim.text, text, d, t.claim_dense_floor, t.claim_dense_ceiling, ev.idf,
                                   ev.question, ev.crosses(i))
    for i in claim.support:  # across languages the closest sentence cannot be found by shared words
        if claim.support[i] >= t.support_threshold and not ev.crosses(i) and (
                drops_a_negation(claim.text, ev.passages[i], ev.idf)
                or drops_an_attribution(claim.text, ev.passages[i], ev.idf)
                or echoes_a_restriction(claim.text, ev.passages[i], ev.question, ev.idf)
                or names_a_stranger(claim.text, ev.passages[i], ev.question)
                or counts_a_stranger(claim.text, ev.passages[i], ev.question)
                or grafts_a_clause(claim.text, ev.passages[i], ev.question, ev.idf, t.clause_floor,
                                   t.clause_min_words)):
            claim.support[i] = 0.0
        # Its word lists hold both languages: it runs across languages too ("must" stands on "doivent"); so does
        # the first person.
        if claim.support[i] >= t.support_threshold and (overstates(claim.text, ev.passages[i], ev.question)
                                                        or speaks_for_someone(claim.text, ev.passages[i])):
            claim.support[i] = 0.0
    cited_ok = [n - 1 for n in claim.cited
                if 1 <= n <= len(ev.passages) and claim.support[n - 1] >= t.support_threshold]
    if cited_ok:
        claim.kept, claim.sources, claim.reason = True, cited_ok, "cited passage supports it"
        return claim
    best = max(claim.support, key=lambda i: claim.support[i]) if claim.support else None
    if best is not None and claim.support[best] >= t.support_threshold:
        claim.kept, claim.sources = True, [best]
        claim.reason = "re-attributed" if claim.cited else "citation added"
    else:
        claim.reason = "no passage supports it"
    return claim


# Reasons that settle a claim before any passage is read: the judge is not asked about them.
_SETTLED = ("restates the question", "talks about the excerpts, not the subject", "a question, not a statement",
            "a heading or label, not a statement", "connective", "states the question's premise, which no passage "
            "states")


def judged(claim: Claim, ev: Evidence) -> Claim:
    """``assess``, then the entailment judge on the passages the claim may rest on: its cited passage first,
    then the others by support, those whose support reaches ``support_floor`` (a claim sharing almost no word
    with a passage is not judged against it). A passage that supports the claim lexically needs ``entail_min``;
    one below ``support_threshold`` (a faithful translation or restatement the word check misses) needs the
    stricter ``entail_rescue_min``. The first passage that passes is the claim's source."""
    assert ev.entail is not None
    assess(claim, ev)
    if claim.reason in _SETTLED:
        return claim
    t = ev.trust
    cited = [n - 1 for n in claim.cited if 1 <= n <= len(ev.passages)]
    order = cited + sorted((i for i in claim.support if i not in cited), key=lambda i: -claim.support[i])
    candidates = [i for i in order if claim.support.get(i, 0.0) >= t.support_floor][:t.entail_candidates]
    claim.kept, claim.sources = False, []
    for i in candidates:
        margin = ev.entail(claim.text, i)
        claim.entailment[i] = margin
        need = t.entail_min if claim.support[i] >= t.support_threshold else t.entail_rescue_min
        if margin >= need:
            claim.kept, claim.sources = True, [i]
            claim.reason = "the judge: the cited passage states it" if i in cited else \
                "the judge: another passage states it (citation moved)"
            return claim
    claim.reason = "the judge: no passage states it" if candidates else "no passage supports it"
    return claim


def sentence_end(text: str) -> int | None:
    """Index just after a completed cited sentence in streamed text, or None while it is still open."""
    m = _SENTENCE_END.search(text)
    return m.end() if m else None


# Not before a colon, semicolon or comma: "… l'extrait [1] : elle recommande …" goes on after its citation, and
# its tail alone is a fragment whose subject is lost (": elle recommande …").
_SENTENCE_END = re.compile(r"\]\.?\s+(?=[^\s\[:;,])")


@dataclass
class DraftVerifier:
    """Checks one draft as it streams (:meth:`feed`, then :meth:`close`) and records what was kept.

    ``lead`` is written before the first sentence shown (a blank line after text already on screen)."""

    evidence: Evidence
    lead: str = ""
    raw: str = ""
    kept: list[str] = field(default_factory=list)  # verified sentences, citations renumbered
    streamed: int = 0  # how many of them were shown as they came (some wait for a figure: see feed)
    shown: list[int] = field(default_factory=list)  # 0-based passages in order of their citation number
    quotes: dict[int, list[str]] = field(default_factory=dict)  # claims resting on each passage
    dropped: list[str] = field(default_factory=list)  # claims no passage supported
    claims: list[Claim] = field(default_factory=list)  # every claim checked, shown or not
    _pending: str = ""
    _queued: list[str] = field(default_factory=list)  # sentences waiting for the judge
    _seen: set[str] = field(default_factory=set)
    _shown_terms: list[set[str]] = field(default_factory=list)  # the words of each claim shown so far

    def __post_init__(self) -> None:
        # A question about an amount or a count: nothing is streamed before a figure, since without one the
        # answer is refused (see verdict) and what was streamed would stand above the refusal.
        self.needs_figure = asks_for_a_quantity(self.evidence.question)
        self.has_figure = False
        self.coverage: float | None = None  # the question's share in the answer, once verdict() has measured it

    def feed(self, delta: str) -> Iterator[str]:
        """Take the model's next text; yield what can be shown now. With the entailment judge nothing is: the
        judge is the model that writes (or shares the CPU with it), so claims are judged once the draft is done."""
        self.raw += delta
        self._pending += delta
        # A sentence is complete once its citation is closed and what follows starts a new one.
        while (cut := sentence_end(self._pending)) is not None:
            sentence, self._pending = self._pending[:cut], self._pending[cut:]
            if self.evidence.entail is None:
                yield from self._emit(sentence)
            else:
                self._queued.append(sentence)

    def close(self) -> Iterator[str]:
        """The draft is complete: check what is left, each sentence shown once it has passed."""
        pending, self._pending = self._pending, ""
        if pending.strip() and not self.raw.lstrip().startswith(NOT_COVERED):
            pending, cut = cut_tail(pending)
            if cut:
                self.claims.append(Claim(text=cut, cited=[], reason="cut off by the length bound"))
                self.dropped.append(cut)
            if pending.strip():
                self._queued.append(pending)
        queued, self._queued = self._queued, []
        for sentence in queued:
            yield from self._emit(sentence)

    def _emit(self, sentence: str) -> Iterator[str]:
        text = self._check(sentence)
        if not text:
            return
        self.kept.append(text)
        self.has_figure = self.has_figure or states_a_quantity(text)
        if self.needs_figure and not self.has_figure:
            return
        for held in self.kept[self.streamed:]:
            if self.streamed == 0:
                yield self.lead + held.lstrip("\n")
            else:
                yield held if held.startswith("\n") else " " + held
            self.streamed += 1

    def _check(self, sentence: str) -> str | None:
        """The sentence as shown (claims kept, citations renumbered), or None if nothing of it stands."""
        out = []
        check = judged if self.evidence.entail is not None else assess
        # A list item ("- Libre [2]", as a list question's draft gives them) stays on its own line.
        bullet = sentence.lstrip().startswith(("- ", "• ", "* "))
        for claim in split_claims(sentence):
            check(claim, self.evidence)
            self.claims.append(claim)
            terms = tokenize(without_enumerator(claim.text))
            key = " ".join(terms)
            # Small models loop, and the last repeat is often cut short or reworded ("Non, il est obligé de …"
            # after "L'organisme est obligé de …"): a claim whose every word a shown one already says adds
            # nothing. Only shown ones: a dropped claim must not hide the supported one that follows; and not a
            # connective ("Ainsi :"), which has no word of its own. A list number is not a word: "2. La CNIL
            # peut…" repeats "1. La CNIL peut…".
            if any(k.startswith(key) for k in self._seen) or \
                    (len(set(terms)) > 1 and any(set(terms) <= shown or _overlap(set(terms), shown) >=
                                                 self.evidence.trust.repeat_overlap for shown in self._shown_terms)):
                continue
            self._seen.add(key)
            if not claim.kept or not claim.sources:
                if claim.reason != "connective":
                    self.dropped.append(claim.text)
                elif claim.text:
                    out.append(claim.text)
                continue
            self._shown_terms.append(set(terms))
            for src in claim.sources:
                if src not in self.shown:
                    self.shown.append(src)
                self.quotes.setdefault(src, []).append(claim.text)
            marks = "".join(f"[{self.shown.index(src) + 1}]" for src in claim.sources)
            text = claim.text[0].upper() + claim.text[1:]  # the model may start mid-sentence ("pendant…")
            end = text[-1] if text[-1] in ".!?" else "."
            out.append(f"{text.rstrip('.!?')} {marks}{end}")
        if not out:
            return None
        return ("\n- " if bullet and self.kept else "- " if bullet else "") + " ".join(out)

    def spans(self) -> dict[int, str]:
        """The span each cited passage is quoted by, shown like a fallback quote: without Markdown marks."""
        return {src: plain(best_quote(self.quotes[src], self.evidence.passages[src])) for src in self.shown}

    def list_intros(self) -> list[str]:
        """What introduces the items an answer gives, in the passages it cites twice or more: the headings, and
        the lines ending in a colon or a question mark, above its quoted span ("## Lister et évaluer les risques",
        "Comment minimiser la collecte de données ?"). A bare item ("La discrimination automatisée") answers
        the question its list's intro states; the question's words are there, not in the item."""
        out = []
        for src in self.shown:
            if len(self.quotes[src]) < 2:
                continue
            passage = self.evidence.passages[src]
            first = min((passage.find(c) for c in self.quotes[src] if c in passage), default=-1)
            start = self._span_start(src) if first < 0 else first
            out += [line for line in passage[:max(0, start)].splitlines()
                    if line.lstrip().startswith("#") or line.rstrip(" *_").endswith((":", "?"))]
        return out

    def _span_start(self, src: int) -> int:
        passage, span = self.evidence.passages[src], self.spans()[src]
        lines = [ln for ln in passage.splitlines() if ln.strip() and plain(ln).strip()[:30] in span]
        return passage.find(lines[0]) if lines else -1

    def verdict(self, lang: str) -> str:
        """Why the draft cannot be shown ("" if it can)."""
        reason = refusal_reason(self.raw, supported=len(self.shown))
        if reason:
            return reason
        ev = self.evidence
        self.coverage = question_coverage(ev.question, [" ".join(self.kept), *self.spans().values(),
                                                        *self.list_intros()], ev.idf, lang)
        if self.coverage < ev.trust.min_answer_coverage:
            return f"the answer and its quotes do not address the question ({self.coverage:.2f})"
        if self.needs_figure and not self.has_figure:
            # Restating the question with a condition from a passage ("la CNIL peut sanctionner… si elle a
            # entraîné un modèle en violation du principe de minimisation") passes every check above.
            return "the question asks for an amount or a count and the answer gives none"
        return ""

    @property
    def text(self) -> str:
        # A block added after the sentences (completeness.py) brings its own blank line.
        text = "".join(k if i == 0 or k.startswith("\n") else " " + k for i, k in enumerate(self.kept))
        return text.lstrip("\n")


def _overlap(a: set[str], b: set[str]) -> float:
    """Shared words over all the words of both (Jaccard)."""
    return len(a & b) / len(a | b) if a | b else 0.0


def refusal_reason(draft: str, supported: int) -> str:
    """Why the answer must be a refusal, or "". ``supported``: cited passages that a shown claim rests on."""
    # Only as the whole answer: written after sentences (a loop, a list item) it is one more meta sentence.
    if draft.lstrip().startswith(NOT_COVERED):
        return "the model found no answer in the passages"
    if supported == 0:
        return "no sentence of the draft was supported by a passage"
    return ""
