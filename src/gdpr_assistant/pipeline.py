"""The one API under the CLI and the UI: index, search, ask (streamed and verified), corpus management."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdpr_assistant import citations, extraction, generation, offline, safety
from gdpr_assistant.corpus import SUPPORTED_SUFFIXES, CorpusError, load_catalogue, load_document
from gdpr_assistant.embedding import Embedder, get_embedder
from gdpr_assistant.index import Index, IndexDamaged, IndexLocked, IndexReport, ProgressFn
from gdpr_assistant.models import PACKAGED, load_llm, resolve_model
from gdpr_assistant.retrieval import Hit, Retriever
from gdpr_assistant.settings import Settings, get_settings

log = logging.getLogger(__name__)

# The Python API is an entry point like the CLI and the UI: guarded from import on (loopback only), before
# any heavy library is loaded; an Assistant adds the hosts its settings allow.
offline.protect()


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


@dataclass
class _Draft:
    """What survived the check of one model draft, as it streams."""
    lead: str = ""  # written before its first sentence (a blank line after text already shown)
    raw: str = ""
    kept: list[str] = field(default_factory=list)  # verified sentences, citations renumbered
    streamed: int = 0  # how many of them were shown as they came (see _write: some wait for a figure)
    needs_figure: bool = False  # the question asks for an amount or a count
    has_figure: bool = False  # a kept sentence gives one
    shown: list[int] = field(default_factory=list)  # 0-based passages in order of their citation number
    quotes: dict[int, list[str]] = field(default_factory=dict)  # claims resting on each passage
    dropped: list[str] = field(default_factory=list)  # sentences no passage supported


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
    # "purpose": a Fiche 2 draft; "extract": a passage quoted in place of a draft that failed verification;
    # "escalated": written by the larger judge model after the draft of the model that answers failed (--fast)
    kind: str = "answer"

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "answer": self.answer, "refused": self.refused, "lang": self.lang,
            "citations": [c.as_dict() for c in self.citations],
            "passages": [h.as_dict() for h in self.passages], "model": self.model, "timings": self.timings,
            "warnings": self.warnings, "dropped": self.dropped, "refusal_reason": self.refusal_reason,
            "refusal_margin": None if self.refusal_margin is None else round(self.refusal_margin, 2),
            "quote_margin": None if self.quote_margin is None else round(self.quote_margin, 2),
            "excerpt_margin": None if self.excerpt_margin is None else round(self.excerpt_margin, 2),
            "kind": self.kind,
        }


REFUSAL = {
    "fr": ("Le corpus ne couvre pas cette question : je ne trouve pas de passage des recommandations de la CNIL "
           "et de l'Inserm qui y réponde, et je préfère ne pas deviner. Je réponds aux questions sur le RGPD et "
           "l'IA à partir de ces documents."),
    "en": ("The corpus does not cover this question: no passage of the CNIL and Inserm guidance answers it, and "
           "I would rather not guess. I answer GDPR and AI-compliance questions from these documents."),
}


class Assistant:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or get_settings()).resolved()
        offline.protect(self.settings.allowed_hosts)
        self._embedder: Embedder | None = None
        self._index: Index | None = None
        self._retriever: Retriever | None = None
        self._lock = threading.RLock()

    # -- components --------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedder, self.settings.n_threads,
                                          self.settings.embed_query_threads)
        return self._embedder

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self.settings, self.embedder)
        return self._index

    def model_path(self) -> Path:
        return resolve_model(self.settings.llm, self.settings.cache_dir)

    @property
    def model_name(self) -> str:
        return _model_name(self.settings.llm)

    def llm(self) -> Any:
        return load_llm(self.model_path(), self.settings.n_ctx, self.settings.n_threads, self.settings.seed)

    def judge_llm(self) -> Any:
        """The model that checks fallback quotes, and writes again a draft that failed when it is larger than the
        model that answers: the answering model itself when it is the judge (a second instance would hold
        another ~0.7 GB of repacked weights), else its own instance."""
        s = self.settings
        path = resolve_model(s.quote_judge, s.cache_dir)
        if path == self.model_path():
            return self.llm()
        return load_llm(path, s.n_ctx, s.n_threads, s.seed, role="judge")

    # -- index -------------------------------------------------------------------------------------------
    def update_index(self, progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
        with self._lock:
            report = self.index.update(progress=progress, force=force)
            self._retriever = None
            return report

    def retriever(self, progress: ProgressFn | None = None) -> Retriever:
        """The retriever of the current index, brought up to date with the corpus folder first."""
        with self._lock:
            if self.index.stale_files():
                try:
                    self.index.update(progress=progress)
                except IndexLocked:
                    if self.index.manifest() is None:
                        raise
                    log.info("Index is being updated by another process; using the previous version.")
            manifest = self.index.manifest()
            if self._retriever is None or manifest is None or \
                    manifest.get("collection") != self._retriever.manifest.get("collection"):
                try:
                    self._retriever = Retriever(self.index)
                except IndexDamaged as exc:
                    log.warning("%s Rebuilding it now.", exc)
                    self.index.update(progress=progress, force=True)
                    self._retriever = Retriever(self.index)
            return self._retriever

    def documents(self) -> list[dict[str, Any]]:
        manifest = self.index.manifest() or {"files": {}}
        catalogue = load_catalogue(self.settings.corpus_dir)
        out = []
        for name, meta in sorted(manifest["files"].items()):
            cat = catalogue.get(name)
            out.append({"doc": name, "title": (cat.title if cat else "") or meta.get("title", name),
                        "kind": (cat.kind if cat else "") or meta.get("kind", ""), "passages": meta.get("passages", 0),
                        "indexed_at": meta.get("indexed_at", ""), "problem": meta.get("problem", "")})
        return out

    def titles(self) -> dict[str, str]:
        return {d["doc"]: d["title"] for d in self.documents()}

    def add_files(self, paths: Sequence[Path], progress: ProgressFn | None = None) -> tuple[IndexReport, list[str]]:
        """Copy user files into the corpus folder (after checking they can be read) and re-index."""
        problems: list[str] = []
        corpus = self.settings.corpus_dir
        for src in paths:
            src = Path(src)
            if src.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(f"{src.name}: unsupported type (use .pdf, .md or .txt).")
                continue
            dest = corpus / src.name
            if dest.exists():
                problems.append(f"{src.name}: a document with this name is already in the corpus; "
                                "remove it first or rename the new file.")
                continue
            # Hidden (the indexer skips it) but with the real suffix: it decides how the file is read.
            tmp = corpus / f".upload-{src.name}"
            try:
                shutil.copyfile(src, tmp)
                load_document(tmp, corpus)  # refuse unreadable files before they enter the corpus
                tmp.rename(dest)
            except CorpusError as exc:
                problems.append(str(exc).replace(tmp.name, src.name))
            finally:
                tmp.unlink(missing_ok=True)
        return self.update_index(progress), problems

    def remove_document(self, name: str, progress: ProgressFn | None = None) -> IndexReport:
        path = (self.settings.corpus_dir / name).resolve()
        if self.settings.corpus_dir not in path.parents or not path.is_file():
            raise CorpusError(f"{name}: no such document in the corpus.")
        trash = self.settings.index_dir / "removed"
        trash.mkdir(parents=True, exist_ok=True)
        # Moved aside, not deleted: removing a document from the assistant must not lose the user's file.
        shutil.move(str(path), trash / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}")
        return self.update_index(progress)

    # -- search ------------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None) -> list[Hit]:
        question = safety.clean_question(question, self.settings.max_question_chars)
        return self.retriever().search(question, k or self.settings.search_k)

    # -- ask ---------------------------------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            lang: str | None = None) -> Answer:
        answer = None
        for event in self.ask_stream(question, history, k, lang):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
                   lang: str | None = None) -> Iterator[str | Answer]:
        """Yield verified answer text as each sentence is checked, then the final :class:`Answer`."""
        for event in self._ask_stream(question, history, k, lang):
            if isinstance(event, Answer) and self.settings.history_file:
                self._record(event)
            yield event

    def _record(self, answer: Answer) -> None:
        """Append the exchange to the history file the user turned on (off by default: no trace on disk)."""
        path = self.settings.history_file
        assert path is not None
        entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "question": answer.question, "answer": answer.answer,
                 "refused": answer.refused, "model": answer.model,
                 "citations": [c.as_dict() for c in answer.citations]}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: the file holds what the user asked.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("Could not append to the history file %s (%s); the answer is not recorded.", path,
                        exc.strerror or exc)

    def _ask_stream(self, question: str, history: Sequence[tuple[str, str]], k: int | None,
                    lang: str | None) -> Iterator[str | Answer]:
        t0 = time.perf_counter()
        s = self.settings
        question = safety.clean_question(question, s.max_question_chars)
        lang = lang if lang in ("fr", "en") else safety.detect_language(question)
        warnings = safety.question_warnings(question, lang)
        timings: dict[str, float | int] = {"retrieval_s": 0.0, "ttft_s": 0.0, "total_s": 0.0,
                                           "prompt_tokens": 0, "completion_tokens": 0, "judge_s": 0.0}
        stats = generation.GenerationStats()

        def finish(text: str, refused: bool, hits: list[Hit], reason: str, cites: list[Citation] | None = None,
                   dropped: list[str] | None = None, raw: str = "") -> Answer:
            timings["total_s"] = round(time.perf_counter() - t0, 3)
            timings["judge_s"] = round(stats.judge_s, 3)
            return Answer(question=question, answer=text, refused=refused, lang=lang, citations=cites or [],
                          passages=hits, model=self.model_name, timings=timings, warnings=warnings,
                          dropped=dropped or [], raw=raw, refusal_reason=reason, refusal_margin=stats.refusal_margin,
                          quote_margin=stats.quote_margin, excerpt_margin=stats.excerpt_margin)

        policy = safety.check_policy(question)
        if policy.decline:
            text = safety.policy_message(policy.reason, lang)
            yield text
            yield finish(text, True, [], policy.reason)
            return

        from gdpr_assistant import purpose  # purpose builds on this module's Citation

        if not history and purpose.is_draft_request(question):
            # A purpose statement to draft: the program's Fiche 2 checklist answers it, not free generation.
            statement = self.draft_purpose(purpose.PurposeRequest(description=question, lang=lang))
            text = purpose.answer_text(statement)
            timings.update(prompt_tokens=statement.timings["prompt_tokens"],
                           completion_tokens=statement.timings["completion_tokens"])
            yield text
            answer = finish(text, False, [], "", list(statement.citations), raw=statement.raw)
            answer.kind = "purpose"
            answer.warnings += [w for w in statement.warnings if w not in answer.warnings]
            yield answer
            return

        retriever = self.retriever()
        query = question
        if history and len(question.split()) < 15:
            # A follow-up ("et pour la santé ?") is read with the previous question everywhere: in retrieval, in
            # the prompt (a list of earlier questions above it left the models refusing follow-ups they answer
            # when asked in one piece), by the claim checks and by the quote judge (alone, "quelles qualités
            # doit-il réunir ?" had a sentence on the quality of a database quoted).
            query = f"{history[-1][0]} {question}"
        hits = retriever.search(query, k or s.answer_k)
        # A passage that gives the assistant orders (prompt injection in a user's file) stays visible in search
        # but never enters a prompt, and the user is told which document carries it.
        steering = sorted({h.passage.doc for h in hits if safety.addresses_the_assistant(h.passage.text)})
        if steering:
            hits = [h for h in hits if not safety.addresses_the_assistant(h.passage.text)]
            warnings.append(safety.steering_warning(steering, lang))
        timings["retrieval_s"] = round(time.perf_counter() - t0, 3)

        evidence = self.evidence(query, hits)
        if evidence < s.refuse_below_evidence:
            yield REFUSAL[lang]
            yield finish(REFUSAL[lang], True, hits, f"weak retrieval evidence ({evidence:.2f})")
            return

        passages = [h.passage for h in hits]
        messages = self.prompt_messages(query, hits, lang)
        draft = _Draft()
        yield from self._write(self.llm(), messages, passages, query, lang, stats, draft)
        timings.update(ttft_s=round(stats.ttft_s, 3), prompt_tokens=stats.prompt_tokens,
                       completion_tokens=stats.completion_tokens)
        reason, spans = self._verdict(draft, passages, query, lang)
        kind = "answer"
        if reason:
            found = self.quote_instead(query, [p.text for p in passages], lang, stats)
            streamed = draft.streamed > 0  # what is shown next starts after a blank line
            if found is None and self.escalates():
                # The last try before refusing: the judge model, larger than the one that wrote the draft
                # (--fast), writes from the same prompt, and the same checks decide.
                t1 = time.perf_counter()
                second, second_stats = _Draft(lead="\n\n" if streamed else ""), generation.GenerationStats()
                yield from self._write(self.judge_llm(), messages, passages, query, lang, second_stats, second)
                timings["escalation_s"] = round(time.perf_counter() - t1, 3)
                timings["prompt_tokens"] = stats.prompt_tokens + second_stats.prompt_tokens
                timings["completion_tokens"] = stats.completion_tokens + second_stats.completion_tokens
                second_reason, spans = self._verdict(second, passages, query, lang)
                second.raw = f"{draft.raw}\n\n{second.raw}"  # both drafts, for --verbose and the evaluation
                second.dropped[:0] = draft.dropped
                streamed = streamed or second.streamed > 0
                if second_reason:
                    reason = f"{reason}; the larger model's draft: {second_reason}"
                else:
                    kind = "escalated"
                draft = second
            if kind != "escalated":
                lead = "\n\n" if streamed else ""
                if found is None:
                    yield lead + REFUSAL[lang]
                    yield finish(REFUSAL[lang], True, hits, reason, dropped=draft.dropped, raw=draft.raw)
                    return
                p = passages[found.passage]
                text = extraction.render(found, lang)
                yield lead + text
                answer = finish(text, False, hits, reason, [Citation(
                    n=1, doc=p.doc, title=self.titles().get(p.doc, p.doc), location=p.location, quote=found.quote,
                    text=p.text, passage_id=p.id)], draft.dropped, draft.raw)
                answer.kind = "extract"
                yield answer
                return
        titles = self.titles()  # reads the manifest and catalogue: once per answer, not once per citation
        cites = [Citation(n=n, doc=passages[src].doc, title=titles.get(passages[src].doc, passages[src].doc),
                          location=passages[src].location, quote=spans[src], text=passages[src].text,
                          passage_id=passages[src].id)
                 for n, src in enumerate(draft.shown, start=1)]
        answer = finish(" ".join(draft.kept), False, hits, reason, cites, draft.dropped, draft.raw)
        answer.kind = kind
        if kind == "escalated":
            answer.model = _model_name(s.quote_judge)
        yield answer

    def _write(self, llm: Any, messages: list[dict[str, str]], passages: Sequence[Any], question: str, lang: str,
               stats: generation.GenerationStats, draft: _Draft) -> Iterator[str]:
        """Stream one draft of the model over ``passages``, yielding each sentence once it passes the citation
        check (with its citations renumbered in order of appearance); ``draft`` records what was kept."""
        s = self.settings
        retriever = self.retriever()
        texts = [p.text for p in passages]
        passage_langs = [safety.detect_language(t) for t in texts]
        dense = self.claim_similarity(texts)
        seen: set[str] = set()
        shown_terms: list[set[str]] = []  # the words of each claim shown so far

        def check(sentence: str) -> str | None:
            v = citations.verify(sentence, texts, s.support_threshold, dense, s.claim_dense_floor,
                                 s.claim_dense_ceiling, idf=retriever.idf, question=question, answer_lang=lang,
                                 passage_langs=passage_langs)
            out = []
            for claim in v.claims:
                terms = generation.tokenize(citations.without_enumerator(claim.text))
                key = " ".join(terms)
                # Small models loop, and the last repeat is often cut short or reworded ("Non, il est obligé de
                # …" after "L'organisme est obligé de …"): a sentence whose every word a shown one already says
                # adds nothing. Only shown ones: a dropped claim must not hide the supported one that follows;
                # and not a connective ("Ainsi :"), which has no word of its own. A list number is not a word:
                # "2. La CNIL peut…" repeats "1. La CNIL peut…" (the 0.5B looped so on dev q032 on one machine).
                if any(k.startswith(key) for k in seen) or \
                        (len(set(terms)) > 1 and any(set(terms) <= shown for shown in shown_terms)):
                    continue
                seen.add(key)
                if not claim.kept or not claim.sources:
                    if claim.reason != "connective":
                        draft.dropped.append(claim.text)
                    elif claim.text:
                        out.append(claim.text)
                    continue
                shown_terms.append(set(terms))
                for src in claim.sources:
                    if src not in draft.shown:
                        draft.shown.append(src)
                    draft.quotes.setdefault(src, []).append(claim.text)
                marks = "".join(f"[{draft.shown.index(src) + 1}]" for src in claim.sources)
                text = claim.text[0].upper() + claim.text[1:]  # the model may start mid-sentence ("pendant…")
                end = text[-1] if text[-1] in ".!?" else "."
                out.append(f"{text.rstrip('.!?')} {marks}{end}")
            return " ".join(out) if out else None

        # A question about an amount or a count: nothing is streamed before a figure, since without one the
        # answer is refused (see _verdict) and what was streamed would stand above the refusal.
        draft.needs_figure = citations.asks_for_a_quantity(question)

        def emit(sentence: str) -> Iterator[str]:
            text = check(sentence)
            if not text:
                return
            draft.kept.append(text)
            draft.has_figure = draft.has_figure or citations.states_a_quantity(text)
            if draft.needs_figure and not draft.has_figure:
                return
            for held in draft.kept[draft.streamed:]:
                yield (draft.lead if draft.streamed == 0 else " ") + held
                draft.streamed += 1

        pending = ""
        for delta in generation.generate(llm, messages, len(passages), s.max_answer_tokens, s.temperature,
                                         s.seed, stats, s.refusal_bias):
            draft.raw += delta
            pending += delta
            # A sentence is complete once its citation is closed and what follows starts a new one.
            while (cut := _sentence_end(pending)) is not None:
                sentence, pending = pending[:cut], pending[cut:]
                yield from emit(sentence)
        if pending.strip() and not draft.raw.lstrip().startswith(citations.NOT_COVERED):
            yield from emit(pending)

    def _verdict(self, draft: _Draft, passages: Sequence[Any], question: str, lang: str) -> tuple[str, dict[int, str]]:
        """Why the draft cannot be shown ("" if it can), and the span each cited passage is quoted by."""
        reason = citations.refusal_reason(draft.raw, supported=len(draft.shown)) or ""
        # Shown like a fallback quote: the passage's words without its Markdown marks ("## Le consentement").
        spans = {src: extraction.plain(citations.best_quote(draft.quotes[src], passages[src].text))
                 for src in draft.shown}
        if not reason:
            coverage = citations.question_coverage(question, [" ".join(draft.kept), *spans.values()],
                                                   self.retriever().idf, lang)
            if coverage < self.settings.min_question_coverage:
                reason = f"the answer and its quotes do not address the question ({coverage:.2f})"
            elif draft.needs_figure and not draft.has_figure:
                # Restating the question with a condition from a passage ("la CNIL peut sanctionner… si elle a
                # entraîné un modèle en violation du principe de minimisation") passes every check above; the
                # 0.5B answered dev q032 so on one machine of two.
                reason = "the question asks for an amount or a count and the answer gives none"
        return reason, spans

    def prompt_messages(self, question: str, hits: Sequence[Hit], lang: str) -> list[dict[str, str]]:
        """The chat messages sent to the model (public so the benchmark can replay the exact prompt)."""
        retriever = self.retriever()
        return generation.build_messages(question, [h.passage for h in hits], self.titles(), lang,
                                         self.settings.max_passage_chars, focus=retriever.expand(question),
                                         idf=retriever.idf)

    def quote_instead(self, question: str, passages: Sequence[str], lang: str,
                      stats: generation.GenerationStats) -> extraction.Extract | None:
        """What to show in place of a draft that failed verification, or None (refuse): the passage sentence
        that best covers the question if the judge accepts it, else the best excerpt (a run of lines) if the
        judge says yes to it (its own, stricter threshold: see settings)."""
        s = self.settings
        if not s.quote_judge:
            return None
        retriever = self.retriever()
        sentence = extraction.extract(question, passages, retriever.idf, lang, s.min_question_coverage,
                                      s.extract_min_known)
        t0 = time.perf_counter()
        try:
            if sentence is not None:
                stats.quote_margin = self._judge(question, sentence.quote, lang)
                if stats.quote_margin >= s.quote_judge_min:
                    return sentence
            excerpt = extraction.excerpt(question, passages, retriever.idf, lang, s.min_question_coverage,
                                         s.extract_min_known, s.excerpt_max_chars, retriever.expand(question))
            if excerpt is not None and (sentence is None or excerpt.quote != sentence.quote):
                stats.excerpt_margin = self._judge(question, excerpt.quote, lang)
                if stats.excerpt_margin >= s.quote_excerpt_judge_min:
                    return excerpt
            return None
        finally:
            stats.judge_s = time.perf_counter() - t0

    def escalates(self) -> bool:
        """Whether a draft that fails, with no quote in its place, is written again by the judge model: only
        when that model is larger than the one that answers (the 1.5B behind --fast)."""
        s = self.settings
        if not (s.escalate and s.quote_judge):
            return False
        return resolve_model(s.quote_judge, s.cache_dir).stat().st_size > self.model_path().stat().st_size

    def _judge(self, question: str, quote: str, lang: str) -> float:
        judge = self.judge_llm()
        return generation.judge_quote(judge, question, quote, lang, keep_cache=judge is self.llm())

    # -- evidence ----------------------------------------------------------------------------------------
    def evidence(self, query: str, hits: Sequence[Hit]) -> float:
        """0..1 strength of the retrieved evidence, used to refuse before spending time on generation."""
        if not hits:
            return 0.0
        s = self.settings
        top = max(h.similarity for h in hits)
        dense = (top - s.dense_floor) / max(1e-6, s.dense_ceiling - s.dense_floor)
        q = set(generation.tokenize(self.retriever().expand(query)))
        lex = len(q & set(generation.tokenize(" ".join(h.passage.text for h in hits[:3])))) / len(q) if q else 0.0
        return float(max(0.0, min(1.0, max(dense, lex))))

    def claim_support(self, claim: str, passage_id: str, question: str = "", lang: str = "") -> float:
        """The support check of :mod:`citations`, for one claim and one stored passage (evaluation)."""
        retriever = self.retriever()
        passage = retriever.passages[retriever._by_id[passage_id]]
        s = self.settings
        cross = bool(lang) and safety.detect_language(passage.text) != lang
        dense = self.claim_similarity([passage.text])(claim, 0) if cross else None
        return citations.support(claim, passage.text, dense, s.claim_dense_floor, s.claim_dense_ceiling,
                                 retriever.idf, question, cross)

    def claim_similarity(self, passages: Sequence[str]) -> citations.DenseFn:
        """Dense similarity of a claim to the closest sentence of passage ``i`` (read only across languages,
        see citations.support). A sentence, not the whole passage: a faithful translation of one sentence
        scores a median 0.88 against it but 0.83 against its passage, barely above a translation set against
        the next passage retrieval finds (0.81); at sentence level that one scores 0.82, so translations and
        wrong passages part (bench/results/crosslingual.md). Each passage's sentences are embedded once per
        answer (~0.7 s for five passages, English answers only)."""
        embedded: dict[int, np.ndarray] = {}
        claims: dict[str, np.ndarray] = {}

        def sim(claim: str, i: int) -> float:
            if i not in embedded:
                units = citations.sentences(passages[i]) or [passages[i]]
                embedded[i] = np.asarray(self.embedder.embed_passages(units), dtype=np.float32)
            if claim not in claims:
                claims[claim] = self.embedder.embed_query(claim)
            return float((embedded[i] @ claims[claim]).max())

        return sim

    # -- purpose drafting --------------------------------------------------------------------------------
    def draft_purpose(self, request: Any, use_model: bool = True) -> Any:
        """A purpose statement (finalité) for an AI system, checked against CNIL Fiche 2: see :mod:`purpose`.

        ``request`` is a :class:`purpose.PurposeRequest`; returns a :class:`purpose.PurposeDraft`."""
        from gdpr_assistant import purpose  # purpose builds on this module's Citation

        return purpose.draft_purpose(self, request, use_model)


def _model_name(choice: str) -> str:
    return PACKAGED[choice].name if choice in PACKAGED else Path(choice).name


def _sentence_end(text: str) -> int | None:
    """Index just after a completed cited sentence in streamed text, or None while it is still open."""
    import re

    m = re.search(r"\]\.?\s+(?=[^\s\[])", text)
    return m.end() if m else None


def answer_to_json(answer: Answer) -> str:
    return json.dumps(answer.as_dict(), ensure_ascii=False, indent=2)

