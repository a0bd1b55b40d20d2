"""The answer flow, one way: intake → retrieval → drafting → verification → fallback → the answer.

Each question reads one :class:`Snapshot`, taken when it arrives: an index update during the answer cannot
change the passages, the word rarities the checks weigh, or the titles shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from functools import cached_property

from gdpr_assistant.answer.asked import Asked, Trace
from gdpr_assistant.answer.documents import by_document, write_per_document
from gdpr_assistant.drafting.prompt import (
    DOCUMENT_NOTE,
    LIST_NOTE,
    NOT_COVERED,
    answer_grammar,
    build_messages,
    document_note_count,
)
from gdpr_assistant.drafting.translation import translate
from gdpr_assistant.energy import Meter
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.intake import harm
from gdpr_assistant.intake import question as safety
from gdpr_assistant.intake.shape import question_shape
from gdpr_assistant.library import Library
from gdpr_assistant.models.backend import Generation, GenerationStats, Message, ModelBackend, Models
from gdpr_assistant.purpose import PurposeRequest, answer_text, draft_purpose, is_draft_request
from gdpr_assistant.retrieval.retriever import Retriever, evidence_strength
from gdpr_assistant.settings import Settings
from gdpr_assistant.text.language import detect_language, language_of
from gdpr_assistant.text.markup import plain
from gdpr_assistant.types import Answer, AnswerKind, Citation, Hit, Passage
from gdpr_assistant.verification import completeness, quotes
from gdpr_assistant.verification.crosslingual import pair_similarity, sentence_similarity
from gdpr_assistant.verification.entailment import claim_window, entailment_margin
from gdpr_assistant.verification.judge import judge_quote
from gdpr_assistant.verification.premise import NOTICE, PROMPT_NOTE, Premise, premise_of, unsupported
from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

_CITATION = re.compile(r"\s*\[\d+\]")

REFUSAL = {
    "fr": ("Le corpus ne couvre pas cette question : je ne trouve pas de passage des recommandations de la CNIL "
           "et de l'Inserm qui y réponde, et je préfère ne pas deviner. Je réponds aux questions sur le RGPD et "
           "l'IA à partir de ces documents."),
    "en": ("The corpus does not cover this question: no passage of the CNIL and Inserm guidance answers it, and "
           "I would rather not guess. I answer GDPR and AI-compliance questions from these documents."),
}


# Said when sentences already streamed (each verified against its passage) are then judged not to answer: the
# terminal cannot take them back, and a refusal or a quote right under them would contradict them unexplained.
WITHDRAWN = {
    "fr": "Les phrases ci-dessus ne répondent pas à la question posée : je les retire.",
    "en": "The sentences above do not answer the question: I withdraw them.",
}


class Snapshot:
    """What one answer reads, taken once: the index generation (passages, word rarities), the titles, the models.
    The index is read on first use, so a question declined at intake never waits for it."""

    def __init__(self, library: Library, models: Models) -> None:
        self._library = library
        self.models = models

    @cached_property
    def retriever(self) -> Retriever:
        return self._library.retriever()

    @cached_property
    def titles(self) -> dict[str, str]:
        self.retriever  # noqa: B018  (the index first: titles come from its manifest)
        return self._library.titles()

    @property
    def embedder(self) -> Embedder:
        return self._library.embedder

    def index_warnings(self, lang: str) -> list[str]:
        """An index update running while this answer is written from the previous generation (library.py)."""
        return self._library.index_warnings(lang)


class AnswerPipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.meter = Meter(settings.energy)

    def run(self, snap: Snapshot, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            lang: str | None = None) -> Iterator[str | Answer]:
        """Yield verified answer text as each sentence is checked, then the final :class:`Answer`."""
        s = self.settings
        trace = Trace(self.meter)
        question = safety.clean_question(question, s.answer.max_question_chars)
        lang = lang if lang in ("fr", "en") else detect_language(question)
        asked = Asked(question, question, lang, safety.question_warnings(question, lang), trace, snap.models.name)

        declined = self._declined(snap, asked)
        if declined is not None:
            yield declined.answer
            yield declined
            return
        if not history and is_draft_request(question):
            yield from self._purpose(snap, asked)
            return
        query = question
        if history and len(question.split()) <= s.answer.followup_max_words:
            # A follow-up ("et pour la santé ?") is read with the previous question everywhere: in retrieval, in
            # the prompt (a list of earlier questions above it left the models refusing follow-ups they answer
            # when asked in one piece), by the claim checks and by the quote judge.
            query = f"{history[-1][0]} {question}"
        asked.query = query
        asked.shape = question_shape(query)
        asked.listing = asked.shape == "list" and s.answer.list_prompt

        hits = self._retrieve(snap, asked, k or s.retrieval.answer_k)
        evidence = evidence_strength(snap.retriever, query, hits, s.trust)
        if evidence < s.trust.refuse_below_evidence:
            yield REFUSAL[lang]
            yield asked.finish(REFUSAL[lang], True, hits, f"weak retrieval evidence ({evidence:.2f})")
            return

        passages = [h.passage for h in hits]
        messages = self.prompt_messages(snap, query, hits, lang, LIST_NOTE[lang] if asked.listing else "")
        premise, premise_note = self._premise_unsupported(snap, asked, hits), ""
        if premise is not None:
            # Said first, and the model is told; a sentence that states the premise anyway is not shown.
            asked.notice, asked.premise = NOTICE[lang].format(premise=premise.text), premise.text
            premise_note = "\n" + PROMPT_NOTE[lang].format(premise=premise.text)
            messages[-1]["content"] += premise_note
            yield asked.notice
        draft = self._verifier(snap, passages, query, lang, lead="\n\n" if asked.notice else "", premise=asked.premise)
        stats = GenerationStats()
        groups = by_document(hits, s.answer.synthesis_documents, s.answer.per_document_passages) \
            if asked.shape == "synthesis" else []
        if len(groups) > 1:  # each document asked on its own (the premise note, if any, said to each)
            def prompt(group: Sequence[int]) -> list[Message]:
                doc = hits[group[0]].passage.doc
                count = document_note_count(s.answer.per_document_sentences, lang)
                note = DOCUMENT_NOTE[lang].format(title=snap.titles.get(doc, doc), count=count) + premise_note
                return self.prompt_messages(snap, query, [hits[i] for i in group], lang, note)
            yield from write_per_document(snap.models.answerer(), groups, prompt, draft, stats, s)
        else:
            yield from self._write(snap.models.answerer(), messages, draft, stats, asked.listing)
        trace.refusal_margin = stats.refusal_margin
        trace.timings.update(ttft_s=round(stats.ttft_s, 3), prompt_tokens=stats.prompt_tokens,
                             completion_tokens=stats.completion_tokens)
        reason = draft.verdict(lang) or self._irrelevant(snap, asked, draft, last=not self.escalates(snap))
        trace.coverage = draft.coverage
        if not reason:
            yield from self._complete(snap, asked, draft)
            yield self._written(snap, asked, hits, passages, draft, "", "answer")
            return
        yield from self._instead(snap, asked, hits, passages, messages, draft, reason, stats)

    # -- stages ------------------------------------------------------------------------------------------------
    def _declined(self, snap: Snapshot, asked: Asked) -> Answer | None:
        """A request the assistant does not serve, whatever the corpus says: a question in another language,
        someone's personal contact details, help to harm people or evade the law (intake/)."""
        foreign = language_of(asked.question)
        if foreign not in ("", "fr", "en"):
            return asked.finish(safety.LANGUAGES_ONLY, True, [], f"a question in another language ({foreign})",
                                kind="declined")
        policy = safety.check_policy(asked.question)
        if policy.decline:
            return asked.finish(safety.policy_message(policy.reason, asked.lang), True, [], policy.reason,
                                kind="declined")
        t = self.settings.trust
        family = harm.cue(asked.question)
        if t.harm_check == "always" or (t.harm_check == "cued" and family):
            judge = snap.models.judge() or snap.models.answerer()
            margin = harm.malice_margin(judge, asked.question, asked.lang)
            if margin >= t.harm_min:
                # With the guidance the request goes against: the nearest passages, listed, never quoted.
                hits = snap.retriever.search(asked.question, self.settings.retrieval.answer_k)
                return asked.finish(harm.decline_text(family or "general", asked.lang), True, hits,
                                    f"a request for help to harm or evade the law ({family or 'judged'}, "
                                    f"{margin:+.2f})", kind="declined")
        return None

    def _irrelevant(self, snap: Snapshot, asked: Asked, draft: DraftVerifier, last: bool = True) -> str:
        """Why a verified answer is not shown after all: the judge finds it does not answer the question (faithful
        sentences about something else, as an out-of-corpus question gets). "" when it does, or when unchecked.

        An answer holding less of the question than a quote must (min_question_coverage) is judged as a quote
        is, at the quote's bar: below that share, word overlap no longer tells a terse correct answer ("Ollama
        [1].", a list of bare items) from a faithful fragment about something else. Without a judge it is not
        shown, as when that share was the written answer's floor; nor when it is not the ``last`` draft: with
        --fast such an answer from the 0.5B gave way to the 1.5B's, which covered more key points (dev: 0.36
        against 0.43 when the band was judged in both)."""
        t = self.settings.trust
        low = draft.coverage is not None and draft.coverage < t.min_question_coverage
        judge = snap.models.judge() if t.relevance_check or low else None
        if low and (judge is None or not last):
            return f"the answer and its quotes do not address the question ({draft.coverage:.2f})"
        if judge is None:
            return ""
        answer = plain(_CITATION.sub("", draft.text))
        t0 = time.perf_counter()
        asked.trace.relevance_margin = judge_quote(judge, asked.query, answer, asked.lang)
        asked.trace.timings["judge_s"] = round(asked.trace.timings["judge_s"] + time.perf_counter() - t0, 3)
        if asked.trace.relevance_margin < (t.quote_judge_min if low else t.relevance_min):
            return f"the judge finds the answer off the question ({asked.trace.relevance_margin:+.2f})"
        return ""

    def _premise_unsupported(self, snap: Snapshot, asked: Asked, hits: Sequence[Hit]) -> Premise | None:
        t = self.settings.trust
        found = premise_of(asked.question) if t.premise_check else None
        judge = snap.models.judge() if found else None
        if found is None or judge is None:
            return None
        windows = [claim_window(found.text, h.passage.text, snap.retriever.idf, t.judge_window_chars)
                   for h in hits[:t.premise_passages]]
        return found if unsupported(found, windows, judge, asked.lang, t.premise_min) else None

    def _purpose(self, snap: Snapshot, asked: Asked) -> Iterator[str | Answer]:
        """A purpose statement to draft: the program's Fiche 2 checklist answers it, not free generation."""
        statement = draft_purpose(PurposeRequest(description=asked.question, lang=asked.lang), snap.retriever,
                                  snap.titles, snap.models.answerer(), self.settings)
        text = answer_text(statement)
        asked.trace.timings.update(prompt_tokens=statement.timings["prompt_tokens"],
                                   completion_tokens=statement.timings["completion_tokens"])
        yield text
        answer = asked.finish(text, False, [], "", list(statement.citations), raw=statement.raw, kind="purpose")
        answer.warnings += [w for w in statement.warnings if w not in answer.warnings]
        yield answer

    def _retrieve(self, snap: Snapshot, asked: Asked, k: int) -> list[Hit]:
        hits = snap.retriever.search(asked.query, k)
        asked.warnings += [w for w in snap.index_warnings(asked.lang) if w not in asked.warnings]
        # A passage that gives the assistant orders (prompt injection in a user's file) stays visible in search
        # but never enters a prompt, and the user is told which document carries it.
        steering = sorted({h.passage.doc for h in hits if safety.addresses_the_assistant(h.passage.text)})
        if steering:
            hits = [h for h in hits if not safety.addresses_the_assistant(h.passage.text)]
            asked.warnings.append(safety.steering_warning(steering, asked.lang))
        asked.trace.timings["retrieval_s"] = round(time.perf_counter() - asked.trace.t0, 3)
        return hits

    def prompt_messages(self, snap: Snapshot, question: str, hits: Sequence[Hit], lang: str,
                        note: str = "") -> list[Message]:
        """The chat messages sent to the model (public so the benchmark can replay the exact prompt)."""
        return build_messages(question, [h.passage for h in hits], snap.titles, lang,
                              self.settings.answer.max_passage_chars, focus=snap.retriever.expand(question),
                              idf=snap.retriever.idf, note=note)

    def _verifier(self, snap: Snapshot, passages: Sequence[Passage], question: str, lang: str,
                  lead: str = "", premise: str = "") -> DraftVerifier:
        texts = [p.text for p in passages]
        t = self.settings.trust
        judge = snap.models.judge() if t.claim_judge else None
        entail = None
        if judge is not None:
            idf, width, margins = snap.retriever.idf, t.judge_window_chars, dict[tuple[str, int], float]()

            def entail(claim: str, i: int) -> float:
                if (claim, i) not in margins:
                    margins[(claim, i)] = entailment_margin(judge, claim, claim_window(claim, texts[i], idf, width),
                                                            lang)
                return margins[(claim, i)]

        evidence = Evidence(passages=texts, question=question, idf=snap.retriever.idf, trust=t,
                            dense=sentence_similarity(snap.embedder, texts),
                            cross=[detect_language(text) != lang for text in texts], entail=entail, premise=premise)
        return DraftVerifier(evidence, lead=lead)

    def _write(self, model: ModelBackend, messages: list[Message], draft: DraftVerifier,
               stats: GenerationStats, listing: bool = False) -> Iterator[str]:
        """Stream one draft of ``model`` through its verifier: only checked sentences come out. A list question
        may get one line per item (more sentences, more tokens)."""
        a = self.settings.answer
        request = Generation(messages=messages, max_tokens=a.max_list_tokens if listing else a.max_answer_tokens,
                             grammar=answer_grammar(len(draft.evidence.passages),
                                                    a.max_list_sentences if listing else a.max_sentences, listing),
                             temperature=self.settings.models.temperature, seed=self.settings.models.seed,
                             refusal=NOT_COVERED, refusal_bias=self.settings.trust.refusal_bias)
        for delta in model.generate(request, stats):
            yield from draft.feed(delta)
        yield from draft.close()

    def _complete(self, snap: Snapshot, asked: Asked, draft: DraftVerifier) -> Iterator[str]:
        """The items of a cited list that a list question's verified answer leaves out, quoted and cited."""
        t = self.settings.trust
        # Across languages an item counts as given at the similarity where a claim counts as supported.
        floor = t.claim_dense_floor + t.support_threshold * (t.claim_dense_ceiling - t.claim_dense_floor)
        block = completeness.complete(draft, asked.shape == "list", asked.lang,
                                      self.settings.answer.max_added_items, pair_similarity(snap.embedder), floor)
        if block:
            yield block

    def _instead(self, snap: Snapshot, asked: Asked, hits: list[Hit], passages: list[Passage],
                 messages: list[Message], draft: DraftVerifier, reason: str,
                 stats: GenerationStats) -> Iterator[str | Answer]:
        """The draft failed: the judge's own draft (when it is larger), else a judged quote in its place, else a
        refusal."""
        withdraw = f"\n\n{WITHDRAWN[asked.lang]}\n\n"
        # What is shown next starts after a blank line, and after the withdrawal of sentences already shown.
        lead = withdraw if draft.streamed else "\n\n" if asked.notice else ""
        if self.escalates(snap):
            # With --fast the judge model, larger than the one that wrote the draft, writes from the same prompt,
            # and the same checks decide, before any quote: a written answer over a quote, and the failed
            # question then goes the default model's way, whose quality the question sets measure. Quoting first
            # answered 14 of 40 dev questions with a quote, 14 key points where the 1.5B's answers hold 24.
            t1 = time.perf_counter()
            second = self._verifier(snap, passages, asked.query, asked.lang, lead, asked.premise)
            second_stats = GenerationStats()
            judge = snap.models.judge()
            assert judge is not None
            yield from self._write(judge, messages, second, second_stats, asked.listing)
            timings = asked.trace.timings
            timings["escalation_s"] = round(time.perf_counter() - t1, 3)
            timings["prompt_tokens"] = stats.prompt_tokens + second_stats.prompt_tokens
            timings["completion_tokens"] = stats.completion_tokens + second_stats.completion_tokens
            second_reason = second.verdict(asked.lang) or self._irrelevant(snap, asked, second)
            second.raw = f"{draft.raw}\n\n{second.raw}"  # both drafts, for --verbose and the evaluation
            second.dropped[:0] = draft.dropped
            if not second_reason:
                yield from self._complete(snap, asked, second)
                yield self._written(snap, asked, hits, passages, second, reason, "escalated")
                return
            reason = f"{reason}; the larger model's draft: {second_reason}"
            # Shown sentences of either draft are withdrawn here (those of the first, already, if the second's
            # were shown under them).
            lead = withdraw if second.streamed or draft.streamed else "\n\n" if asked.notice else ""
            draft = second
        found = self.quote_instead(snap, asked.query, [p.text for p in passages], asked.lang, asked.trace)
        if found is None:
            yield lead + REFUSAL[asked.lang]
            yield asked.finish(REFUSAL[asked.lang], True, hits, reason, dropped=draft.dropped, raw=draft.raw)
            return
        p = passages[found.passage]
        english = self._in_english(snap, asked, quotes.laid_out(found.quote, p.text), p)
        text = quotes.render_translated(found, english) if english else quotes.render(found, asked.lang)
        yield lead + text
        cite = Citation(n=1, doc=p.doc, title=snap.titles.get(p.doc, p.doc), location=p.location, quote=found.quote,
                        text=p.text, passage_id=p.id)
        yield asked.finish(text, False, hits, reason, [cite], draft.dropped, draft.raw, kind="extract")

    def _in_english(self, snap: Snapshot, asked: Asked, quote: str, passage: Passage) -> str:
        """A French quote for an English question, translated by the judge model and checked as an English answer
        is, against the quoted passage: shown only if every sentence stands and none is dropped ("" keeps the
        French). A translation cut by its token bound is not shown either."""
        a = self.settings.answer
        if asked.lang != "en" or not a.translate_quotes or detect_language(quote.replace("\n", " ")) != "fr":
            return ""
        t0, stats = time.perf_counter(), GenerationStats()
        model = snap.models.judge() or snap.models.answerer()
        english = translate(model, quote, a.max_translation_tokens, stats, self.settings.models.seed)
        check = self._verifier(snap, [passage], asked.query, "en")
        list(check.feed(f"{english} [1]"))
        list(check.close())
        asked.trace.timings["translation_s"] = round(time.perf_counter() - t0, 3)
        cut = stats.completion_tokens >= a.max_translation_tokens
        return check.text if english and not cut and not check.dropped and not check.verdict("en") else ""

    def _written(self, snap: Snapshot, asked: Asked, hits: list[Hit], passages: list[Passage],
                 draft: DraftVerifier, reason: str, kind: AnswerKind) -> Answer:
        spans = draft.spans()
        cites = [Citation(n=n, doc=passages[src].doc, title=snap.titles.get(passages[src].doc, passages[src].doc),
                          location=passages[src].location, quote=spans[src], text=passages[src].text,
                          passage_id=passages[src].id)
                 for n, src in enumerate(draft.shown, start=1)]
        answer = asked.finish(draft.text, False, hits, reason, cites, draft.dropped, draft.raw, kind=kind)
        if kind == "escalated":
            answer.model = snap.models.judge_name
        return answer

    def quote_instead(self, snap: Snapshot, question: str, passages: Sequence[str], lang: str,
                      trace: Trace) -> quotes.Extract | None:
        """What to show in place of a draft that failed verification, or None (refuse): the passage sentence
        that best covers the question if the judge accepts it, else the best excerpt (a run of lines) if the
        judge says yes to it (its own, stricter threshold: see settings)."""
        t = self.settings.trust
        judge = snap.models.judge()
        if judge is None:
            return None
        idf = snap.retriever.idf
        sentence = quotes.extract(question, passages, idf, lang, t.min_question_coverage, t.extract_min_known)
        t0 = time.perf_counter()
        try:
            if sentence is not None:
                trace.quote_margin = judge_quote(judge, question, sentence.quote, lang)
                if trace.quote_margin >= t.quote_judge_min:
                    return sentence
            excerpt = quotes.excerpt(question, passages, idf, lang, t.min_question_coverage, t.extract_min_known,
                                     t.excerpt_max_chars, snap.retriever.expand(question))
            if excerpt is not None and (sentence is None or excerpt.quote != sentence.quote):
                trace.excerpt_margin = judge_quote(judge, question, excerpt.quote, lang)
                if trace.excerpt_margin >= t.quote_excerpt_judge_min:
                    return excerpt
            return None
        finally:
            trace.timings["judge_s"] = round(trace.timings["judge_s"] + time.perf_counter() - t0, 3)

    def escalates(self, snap: Snapshot) -> bool:
        return self.settings.trust.escalate and snap.models.judge_is_larger()
