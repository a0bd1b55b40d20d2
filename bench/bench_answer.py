"""Answer speed: our pipeline against llama.cpp alone on the same prompts.

For each model (default 1.5B, fast 0.5B) and each question: the pipeline's time to first token and total
time, then llama.cpp alone generating from the very prompt the pipeline built (same messages, grammar,
sampling, refusal bias on the first token), in the same order so that both see the same KV-cache reuse.
Where the pipeline's draft failed and it had the judge model rate a quote (verification/quotes.py), llama.cpp alone
rates the same quote too, and where the larger judge then wrote the answer again (--fast), llama.cpp alone
has it generate from the same prompt too, so that both do the same model work. The ratio of medians is the
pipeline's overhead (retrieval, verification of citations, dense support checks); a second ratio compares
with the answer prompt alone, i.e. counts the judgements and second drafts as overhead. Peak RSS is the
process maximum (both models are loaded in turn, with the 1.5B judge beside the 0.5B).

    .venv/bin/python bench/bench_answer.py --questions 8 --out bench/results/answer.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.answer.pipeline import Snapshot
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.drafting.prompt import NOT_COVERED, answer_grammar
from gdpr_assistant.models.backend import GenerationStats, ModelBackend
from gdpr_assistant.models.llama import LlamaCppBackend, _RefusalBias
from gdpr_assistant.offline import install_egress_guard
from gdpr_assistant.settings import get_settings
from gdpr_assistant.verification import quotes
from gdpr_assistant.verification.judge import judge_quote

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"


def raw_llama(backend: ModelBackend) -> LlamaCppBackend:
    if not isinstance(backend, LlamaCppBackend):
        raise SystemExit(f"{backend.name} is not a llama.cpp model: there is no llama.cpp alone to compare with.")
    return backend


def llama_alone(assistant: Assistant, messages: list[dict[str, str]], n_passages: int,
                backend: ModelBackend | None = None) -> tuple[float, float, int]:
    """llama.cpp alone (its ``Llama``, no backend code around it) on the pipeline's prompt: same messages, grammar,
    sampling, and the same refusal bias on the first token (the processor the backend installs)."""
    from llama_cpp import LlamaGrammar, LogitsProcessorList

    s = assistant.settings
    model = raw_llama(backend or assistant.models.answerer())
    stats = GenerationStats()
    grammar = LlamaGrammar.from_string(answer_grammar(n_passages), verbose=False)
    bias = LogitsProcessorList([_RefusalBias(*model._first_tokens(NOT_COVERED), s.trust.refusal_bias, stats)])
    t0 = time.perf_counter()
    stream = model.llm.create_chat_completion(messages=messages, max_tokens=s.answer.max_answer_tokens,
                                              temperature=s.models.temperature, top_k=1, seed=s.models.seed,
                                              grammar=grammar, logits_processor=bias, stream=True)
    for chunk in stream:
        if chunk["choices"][0].get("delta", {}).get("content"):
            if not stats.completion_tokens:
                stats.ttft_s = time.perf_counter() - t0
            stats.completion_tokens += 1
    stats.total_s = time.perf_counter() - t0
    return stats.ttft_s, stats.total_s, stats.completion_tokens


def judge_alone(assistant: Assistant, snap: Snapshot, question: str, passages: list[str], lang: str,
                sentence: bool, excerpt: bool) -> float:
    """The pipeline's quote judgements, replayed: same sentence and excerpt, same judge, same cache handling."""
    t = assistant.settings.trust
    idf = snap.retriever.idf
    texts = []
    if sentence:
        found = quotes.extract(question, passages, idf, lang, t.min_question_coverage, t.extract_min_known)
        assert found is not None
        texts.append(found.quote)
    if excerpt:
        wider = quotes.excerpt(question, passages, idf, lang, t.min_question_coverage, t.extract_min_known,
                               t.excerpt_max_chars, snap.retriever.expand(question))
        assert wider is not None
        texts.append(wider.quote)
    judge = assistant.models.judge()
    assert judge is not None
    t0 = time.perf_counter()
    for quote in texts:
        judge_quote(judge, question, quote, lang)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8, help="answerable dev questions to time")
    parser.add_argument("--models", default="default,fast")
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    install_egress_guard()

    items = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [it["question"] for it in items if it["type"] in ("fact", "list")][: args.questions]
    results = {}
    for model in args.models.split(","):
        assistant = Assistant(get_settings().replace(llm=model))
        assistant.models.answerer()  # loaded before the clock starts
        assistant.ask("Quelles qualités doit réunir le consentement ?")  # warm-up: index, model, caches
        runs = []
        for q in questions:
            t0 = time.perf_counter()
            first = None
            answer = None
            for event in assistant.ask_stream(q):
                if first is None:
                    first = time.perf_counter() - t0
                answer = event
            total = time.perf_counter() - t0
            assert answer is not None and not isinstance(answer, str)
            hits = answer.passages
            snap = assistant.snapshot()
            messages = assistant.pipeline.prompt_messages(snap, answer.question, hits, answer.lang)
            runs.append({"question": q, "refused": answer.refused, "pipeline_first_output_s": first,
                         "pipeline_ttft_s": answer.timings["ttft_s"] + answer.timings["retrieval_s"],
                         "pipeline_total_s": total, "prompt_tokens": answer.timings["prompt_tokens"],
                         "completion_tokens": answer.timings["completion_tokens"], "messages": messages,
                         "n_passages": len(hits),
                         "judged": (answer.quote_margin is not None, answer.excerpt_margin is not None),
                         "pipeline_judge_s": answer.timings["judge_s"],
                         "escalated": "escalation_s" in answer.timings,
                         "judge_input": (snap, answer.question, [h.passage.text for h in hits], answer.lang)})
        for run in runs:
            if run["refused"] and not run["completion_tokens"]:
                continue  # refused before generation: nothing for llama.cpp alone to compare with
            messages = run.pop("messages")
            ttft, total, tokens = llama_alone(assistant, messages, run["n_passages"])
            judge = judge_alone(assistant, *run["judge_input"], *run["judged"]) if any(run["judged"]) else 0.0
            if run["escalated"]:
                judge += llama_alone(assistant, messages, run["n_passages"], assistant.models.judge())[1]
            run.update(llama_ttft_s=ttft, llama_answer_s=total, llama_judge_s=judge, llama_total_s=total + judge,
                       llama_tokens=tokens)
        timed = [r for r in runs if "llama_total_s" in r]
        med = {key: statistics.median(r[key] for r in timed) for key in
               ("pipeline_ttft_s", "pipeline_total_s", "llama_ttft_s", "llama_total_s", "llama_answer_s",
                "prompt_tokens", "completion_tokens")}
        results[assistant.model_name] = {
            "questions": len(timed), "judged": sum(any(r["judged"]) for r in timed),
            **{f"median_{k}": round(v, 3) for k, v in med.items()},
            "ratio_total": round(med["pipeline_total_s"] / med["llama_total_s"], 3),
            "ratio_total_vs_answer_prompt_only": round(med["pipeline_total_s"] / med["llama_answer_s"], 3),
            "ratio_ttft": round(med["pipeline_ttft_s"] / med["llama_ttft_s"], 3),
            "runs": [{k: v for k, v in r.items() if k not in ("messages", "judge_input")} for r in runs],
        }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| model | n (judged) | TTFT pipeline | TTFT llama.cpp | total pipeline | total llama.cpp | ratio total "
          "| ratio vs answer prompt only | prompt tok | answer tok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['questions']} ({r['judged']}) | {r['median_pipeline_ttft_s']:.2f} s "
              f"| {r['median_llama_ttft_s']:.2f} s | {r['median_pipeline_total_s']:.2f} s "
              f"| {r['median_llama_total_s']:.2f} s | {r['ratio_total']} | {r['ratio_total_vs_answer_prompt_only']} "
              f"| {r['median_prompt_tokens']:.0f} | {r['median_completion_tokens']:.0f} |")
    print(f"\nPeak RSS: {peak_mb:.0f} MB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"results": results, "peak_rss_mb": round(peak_mb)}, indent=2,
                                       ensure_ascii=False))


if __name__ == "__main__":
    main()
