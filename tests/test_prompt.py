"""The prompt the model reads: each passage trimmed to the window that matters for the question (pure logic)."""

from __future__ import annotations

from gdpr_assistant.drafting.prompt import trim_passage

PASSAGE = "\n".join([
    "Les données d'entraînement doivent être protégées.",
    "La CNIL rappelle que les données doivent être minimisées.",
    "Les données sensibles appellent une vigilance particulière.",
    "Autre point sans rapport avec la question posée ici.",
    "La durée de conservation des données est fixée pour la maintenance du modèle.",
    "Elle est réexaminée chaque année.",
])


def test_the_window_kept_holds_the_questions_rare_words_not_its_common_ones_repeated() -> None:
    question = "Combien de temps conserver les données ? durée conservation"
    idf = {"donne": 0.2, "dure": 3.0, "conserv": 2.5, "combien": 3.0, "temp": 2.0}
    kept = trim_passage(PASSAGE, question, 120, idf)
    assert "durée de conservation" in kept
    assert len(kept) <= 120
    # Counting every occurrence of "données" equally would keep the first lines instead.
    assert "minimisées" not in kept


def test_a_short_passage_is_kept_whole() -> None:
    assert trim_passage(PASSAGE, "durée", len(PASSAGE), {}) == PASSAGE
