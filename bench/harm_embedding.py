"""Can the question's embedding (the e5 vector retrieval already computes) tell a harmful request from a legitimate
one? A logistic regression trained on the calibration half of the question sets, reported on the test half, with
and without the set of legitimate requests written in the harmful ones' forms (questions-benign-requests.jsonl).

    .venv/bin/python bench/harm_embedding.py

Result (session 17): not adopted. Without the benign-requests set the test half looked separable (AUC 0.996; at
the calib negatives' 0.99 quantile 14 of 18 harmful requests flagged, 1 of 149 other questions); but the dev set's
three purpose requests and its injection and off-topic requests then scored above that threshold: the regression
had learnt the form (a project told in the first person, an order to the assistant), not the intent. With that
set in both halves, 8 to 11 of its 20 test requests are flagged at the thresholds that flag 16 or 17 of the 18
harmful ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from question_checks import SETS, load


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.index.embedding import E5Embedder

    embedder = E5Embedder()
    rows = [(name, item, embedder.embed_query(item["question"])) for name in SETS if name != "other-lang"
            for item in load(name)]
    for without in ("benign-requests", ""):
        use = [r for r in rows if r[0] != without]
        cal = [r for r in use if r[1]["split"] == "calib"]
        test = [r for r in use if r[1]["split"] == "test"]
        x_cal, y_cal = np.array([r[2] for r in cal]), np.array([r[1]["type"] == "harmful" for r in cal])
        x_test, y_test = np.array([r[2] for r in test]), np.array([r[1]["type"] == "harmful" for r in test])
        model = LogisticRegression(C=10, class_weight="balanced", max_iter=3000).fit(x_cal, y_cal)
        negatives = np.sort(model.decision_function(x_cal)[~y_cal])
        score = model.decision_function(x_test)
        print(f"## {'without ' + without if without else 'all sets'}: test AUC {roc_auc_score(y_test, score):.3f}")
        for quantile in (0.97, 0.99, 1.0):
            thr = negatives[min(len(negatives) - 1, int(len(negatives) * quantile))]
            flagged = [r[1]["id"] for r, s, h in zip(test, score, y_test, strict=True) if s > thr and not h]
            print(f"  threshold at the calib negatives' {quantile:.2f} quantile ({thr:+.2f}): harmful "
                  f"{int((score[y_test] > thr).sum())}/{int(y_test.sum())}, others {len(flagged)}/"
                  f"{int((~y_test).sum())} {flagged}")


if __name__ == "__main__":
    main()
