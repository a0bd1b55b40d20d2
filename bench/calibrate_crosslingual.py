"""Calibrate the cross-lingual support check: when does an English claim stand on a French passage?

An English answer shares few words with the French guidance, so a claim may stand on its dense similarity to
the passage's closest sentence (``verification.crosslingual.sentence_similarity``), scaled between
``claim_dense_floor`` and ``claim_dense_ceiling``, if one of its distinctive words is in the passage
(``verification.claims.support``). This script reads ``bench/data/crosslingual.jsonl``: corpus sentences
(``fr``, copied from ``doc``), a faithful English translation (``en``) and a near miss on the same topic that the
sentence does not support (``en_wrong``: a figure, the actor or the polarity changed, or another fact). The set
was written apart from the dev questions.

For each item it scores three pairs: the translation against the passage that holds the sentence (should
stand), the near miss against that passage (should not) and the translation against the closest other passage
that retrieval finds for it (should not). It prints the similarity quantiles at sentence and at passage level,
then the share of each pair that stands for a sweep of thresholds (the similarity at which the scaled support
reaches ``support_threshold``), the other checks (figures, anchor word) included.

    .venv/bin/python bench/calibrate_crosslingual.py [--data bench/data/crosslingual.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.verification.claims import support
from gdpr_assistant.verification.crosslingual import sentence_similarity

MIDPOINTS = (0.84, 0.85, 0.86, 0.865, 0.87, 0.875, 0.88, 0.89)


def _norm(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "crosslingual.jsonl")
    args = parser.parse_args()
    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]

    assistant = Assistant()
    s = assistant.settings
    retriever = assistant.retriever()
    embed = assistant.embedder
    pairs: dict[str, list[tuple[str, str]]] = {"translation": [], "near miss": [], "other passage": []}
    for item in items:
        own = next((p for p in retriever.passages if p.doc == item["doc"] and _norm(item["fr"]) in _norm(p.text)),
                   None)
        if own is None:
            print(f"skipped (sentence not found in one passage): {item['fr'][:60]}")
            continue
        other = next(h.passage for h in retriever.search(item["en"], 5)
                     if _norm(item["fr"]) not in _norm(h.passage.text))
        pairs["translation"].append((item["en"], own.id))
        pairs["near miss"].append((item["en_wrong"], own.id))
        pairs["other passage"].append((item["en"], other.id))

    by_id = {p.id: p for p in retriever.passages}
    scores: dict[str, dict[str, list[float]]] = {}
    for name, got in pairs.items():
        sentence, whole, lexical, anchored = [], [], [], []
        for claim, pid in got:
            text = by_id[pid].text
            q = embed.embed_query(claim)
            sentence.append(sentence_similarity(embed, [text])(claim, 0))
            whole.append(float(np.asarray(retriever.stored_embeddings([pid])[0], dtype=np.float32) @ q))
            # support() with dense similarities that always / never pass shows what the other checks decide.
            lexical.append(support(claim, text, 0.0, 0.5, 0.6, retriever.idf, "", True))
            anchored.append(support(claim, text, 1.0, 0.5, 0.6, retriever.idf, "", True))
        scores[name] = {"sentence": sentence, "passage": whole, "lexical": lexical, "anchored": anchored}

    print(f"\n{sum(len(v) for v in pairs.values()) // 3} items; dense similarity quantiles (10/25/50/75/90 %):\n")
    print("| pair | closest sentence | whole passage |\n|---|---|---|")
    for name, sc in scores.items():
        cells = [" / ".join(f"{v:.3f}" for v in np.quantile(sc[k], [0.1, 0.25, 0.5, 0.75, 0.9]))
                 for k in ("sentence", "passage")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")

    t = s.trust.support_threshold
    print(f"\nShare of claims that stand (support ≥ {t}) by the sentence similarity at which scaled support reaches "
          f"{t}; 'passage' is the former check (whole passage, midpoint "
          f"{s.trust.dense_floor + t * (s.trust.dense_ceiling - s.trust.dense_floor):.3f}):\n")
    print("| midpoint | " + " | ".join(pairs) + " |\n|---|" + "---|" * len(pairs))

    def stands(sc: dict[str, list[float]], key: str, mid: float) -> float:
        ok = [lex >= t or (anc >= t and d >= mid)
              for lex, anc, d in zip(sc["lexical"], sc["anchored"], sc[key], strict=True)]
        return float(np.mean(ok))

    former = s.trust.dense_floor + t * (s.trust.dense_ceiling - s.trust.dense_floor)
    print("| passage | " + " | ".join(f"{stands(sc, 'passage', former):.2f}" for sc in scores.values()) + " |")
    for mid in MIDPOINTS:
        print(f"| {mid} | " + " | ".join(f"{stands(sc, 'sentence', mid):.2f}" for sc in scores.values()) + " |")
    now = s.trust.claim_dense_floor + t * (s.trust.claim_dense_ceiling - s.trust.claim_dense_floor)
    print(f"\nConfigured: claim_dense_floor {s.trust.claim_dense_floor}, ceiling {s.trust.claim_dense_ceiling} "
          f"(midpoint {now:.3f}).")


if __name__ == "__main__":
    main()
