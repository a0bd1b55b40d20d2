"""Does the small model select better than it writes? A probe on recorded runs, before any product change.

Issue 22 (point 3) suggests drafting by selection: the 1.5B picks the numbered sentences of its passages that answer
the question, and the program assembles them (verbatim, so verified, and cited). This replays the passages an
`ask eval` run recorded for each answerable item in the question's language's documents (French questions: the
sentences are French, as the key points) and scores, with the harness's key-point matcher:
  recorded  the answer the run showed;
  lexical   the sentences sharing most rarity-weighted words with the question (no model), as many as selected;
  select    the sentences the model picked (a grammar allows only sentence numbers);
  ceiling   every sentence of the passages (what retrieval made possible).

    .venv/bin/python bench/select_probe.py RUN.json --out bench/results/select-probe.json [--split calib]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

SYSTEM = {
    "fr": ("Tu sélectionnes, parmi des phrases numérotées tirées de documents, celles qui répondent à la question. "
           "Réponds seulement par leurs numéros, de la plus utile à la moins utile, séparés par des virgules : toutes "
           "celles qui apportent un élément de réponse (une liste entière si la question demande une liste), aucune "
           "autre. Si aucune ne répond, réponds 0."),
    "en": ("You select, among numbered sentences taken from documents, those that answer the question. Reply only "
           "with their numbers, most useful first, separated by commas: every sentence that brings part of the "
           "answer (a whole list if the question asks for a list), no other. If none answers, reply 0."),
}


def numbered(passages: list[dict[str, Any]], max_sentences: int) -> list[tuple[int, str]]:
    from gdpr_assistant.text.sentences import sentences
    out: list[tuple[int, str]] = []
    for i, p in enumerate(passages):
        for s in sentences(p["text"]):
            if len(s.split()) >= 3 and len(out) < max_sentences:
                out.append((i, s))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", default="")
    ap.add_argument("--ids", default="")
    ap.add_argument("--max-sentences", type=int, default=60)
    ap.add_argument("--lang", default="fr")
    args = ap.parse_args()

    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.evaluation.harness import keypoint_covered
    from gdpr_assistant.models.backend import Generation, GenerationStats
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.words import rarity_weights, tokenize

    assistant = Assistant(get_settings())
    snap = assistant.snapshot()
    idf = snap.retriever.idf
    model = snap.models.answerer()
    items = [it for it in json.loads(args.run.read_text())["items"]
             if it["type"] not in ("unanswerable", "false_premise", "adversarial", "harmful", "benign_near")
             and it["key_points"] and it["lang"] == args.lang and it.get("answer_passages")
             and (not args.ids or it["id"] in args.ids.split(","))]
    rows = []
    for it in items:
        units = numbered(it["answer_passages"], args.max_sentences)
        listing = "\n".join(f"{n + 1}. {s}" for n, (_, s) in enumerate(units))
        q = it["question"]
        messages = [{"role": "system", "content": SYSTEM[it["lang"]]},
                    {"role": "user", "content": f"Phrases :\n{listing}\n\nQuestion : {q}\nNuméros :"
                     if it["lang"] == "fr" else f"Sentences:\n{listing}\n\nQuestion: {q}\nNumbers:"}]
        grammar = 'root ::= num ("," " "? num){0,9}\nnum ::= [0-9] | [1-9] [0-9]'
        t0 = time.perf_counter()
        stats = GenerationStats()
        raw = "".join(model.generate(Generation(messages=messages, max_tokens=40, grammar=grammar), stats))
        secs = time.perf_counter() - t0
        picked: list[int] = []
        for tok in raw.replace(" ", "").split(","):
            if tok.isdigit() and 1 <= int(tok) <= len(units) and int(tok) - 1 not in picked:
                picked.append(int(tok) - 1)
        selected = " ".join(units[n][1] for n in picked)
        weights = rarity_weights(set(tokenize(q)), idf)
        ranked = sorted(range(len(units)), key=lambda n: -sum(weights.get(t, 0.0) for t in set(tokenize(units[n][1]))))
        lexical = " ".join(units[n][1] for n in ranked[:max(1, len(picked))])
        every = " ".join(s for _, s in units)
        kps = it["key_points"]

        def score(text: str, kps: list[str] = kps) -> int:
            return sum(keypoint_covered(kp, text) for kp in kps)

        row = {"id": it["id"], "type": it["type"], "n_kp": len(kps),
               "recorded": 0 if it["refused"] else score(it["answer"]),
               "recorded_kind": "refused" if it["refused"] else it.get("kind"), "select": score(selected),
               "lexical": score(lexical), "ceiling": score(every), "picked": [n + 1 for n in picked],
               "n_units": len(units), "select_s": round(secs, 2), "prompt_tokens": stats.prompt_tokens,
               "answer_s": it["timings"].get("total_s"), "selected": selected[:1500]}
        rows.append(row)
        print(f"{it['id']} rec {row['recorded']} sel {row['select']} lex {row['lexical']} ceil {row['ceiling']} "
              f"of {len(kps)}  picked {row['picked']}  {secs:.1f}s", file=sys.stderr)
    total = sum(r["n_kp"] for r in rows)
    summary = {k: round(sum(r[k] for r in rows) / max(1, total), 3)
               for k in ("recorded", "select", "lexical", "ceiling")}
    summary["items"] = len(rows)
    summary["median_select_s"] = statistics.median(r["select_s"] for r in rows) if rows else None
    times = [float(r["answer_s"]) for r in rows if r["answer_s"]]
    summary["median_answer_s"] = statistics.median(times) if times else None
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
