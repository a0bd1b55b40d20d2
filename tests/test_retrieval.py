"""Retrieval: query expansion, BM25, the hubness-corrected dense ranking and its fusion, on the real e5 index
of two small documents (the session fixture ``built``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Built, make_settings

from gdpr_assistant.index.bm25 import BM25
from gdpr_assistant.index.embedding import E5Embedder, Embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.text.glossary import expansion
from gdpr_assistant.text.words import tokenize


# -- glossary ----------------------------------------------------------------------------------------------------
def test_english_question_gets_french_terms_longest_phrase_first() -> None:
    terms = expansion("When is a data protection impact assessment mandatory for an AI system?", "en")
    assert "AIPD" in terms and "obligatoire" in terms and "système" in terms
    # The whole phrase matched, not "impact assessment" inside it as well: each word once.
    assert len(terms.split()) == len(set(terms.split()))


def test_french_question_gets_only_borrowed_english_phrases_and_abbreviations() -> None:
    # "differential privacy" is an English term of art used as such in French.
    assert expansion("Que dit la CNIL de la differential privacy ?", "fr") == "confidentialité différentielle"
    # Single words are left alone: "client", "code" or "patient" are French words too.
    assert expansion("Le client fournit le code du patient.", "fr") == ""
    assert "DPO" in expansion("Faut-il un délégué à la protection des données ?", "fr")
    assert "analyse" in expansion("Quand une AIPD est-elle requise ?", "fr")


def test_query_without_expansion_is_left_exactly_as_typed() -> None:
    # A trailing space is one more token for the embedder and moves the dense ranking.
    q = "Quelle durée de conservation pour les données ?"
    assert Retriever.expand(q) == q
    assert Retriever.expand("Is consent required?").startswith("Is consent required? ")


def test_expansion_reads_typographic_apostrophes_and_is_empty_without_domain_terms() -> None:
    assert "analyse" in expansion("Quand réaliser l’AIPD ?", "fr")
    assert "consentement" in expansion("Is consent the right legal basis?", "en")
    assert expansion("Bonjour, comment allez-vous ?", "fr") == ""


# -- BM25 -----------------------------------------------------------------------------------------------------
def test_bm25_folds_accents_stems_and_drops_stop_words() -> None:
    assert tokenize("Les données d'entraînement") == tokenize("donnee entrainement")
    bm = BM25(["Les données d'entraînement du modèle", "La durée de conservation", "Un texte sans rapport"],
              k1=1.8, b=0.75)
    assert bm.top("entraîner un modèle sur des données", 3)[0][0] == 0
    assert bm.top("le la les", 3) == []  # nothing but stop words: no match, rather than noise


def test_bm25_k1_controls_term_frequency_saturation() -> None:
    texts = ["consentement " * 6 + "base", "consentement base légale"]
    low, high = BM25(texts, k1=0.1, b=0.0), BM25(texts, k1=5.0, b=0.0)
    gap = lambda bm: bm.scores("consentement")[0] - bm.scores("consentement")[1]  # noqa: E731
    assert gap(high) > gap(low) > -1e-9


# Two domains in one corpus: "CNIL" in every GDPR passage and in no manual page; "taille", "jeu" and "données"
# in every manual page and, among the GDPR passages, only in the one that answers.
_GDPR = {"cnil-presentation.md": "# La CNIL et l'IA\n\nLa CNIL publie des recommandations. La CNIL accompagne "
                                 "les acteurs. La CNIL contrôle. La CNIL sanctionne les manquements.\n",
         "cnil-minimisation.md": "# Minimisation\n\nSelon la CNIL, la taille du jeu de données d'entraînement "
                                 "doit rester proportionnée à l'objectif du modèle.\n",
         "cnil-droits.md": "# Droits des personnes\n\nLa CNIL rappelle que les personnes gardent un droit "
                           "d'opposition et d'effacement.\n"}
_MANUAL = ("# Manuel de l'outil {n}\n\nL'option --size fixe la taille du tampon de données ; le jeu de caractères "
           "choisit l'encodage des données lues ; la taille maximale dépend du système.\n")
_QUESTION = "Que dit la CNIL sur la taille du jeu de données ?"


def test_bm25_within_counts_word_rarities_among_the_chosen_passages() -> None:
    texts = [t for t in _GDPR.values()] + [_MANUAL.format(n=n) for n in range(12)]
    bm = BM25(texts, k1=1.8, b=0.75)
    gdpr = np.arange(len(texts)) < len(_GDPR)
    # Over the whole corpus "CNIL" is the rare word: the passage that repeats it wins; among the GDPR passages
    # "CNIL" says nothing and "taille" singles out the answer.
    assert bm.top(_QUESTION, 1)[0][0] == 0
    within = bm.top_within(_QUESTION, 5, gdpr)
    assert within[0][0] == 1 and {i for i, _ in within} <= {0, 1, 2}
    # With every passage in scope it is the ordinary ranking, scores included.
    every = bm.top_within(_QUESTION, 15, np.ones(len(texts), dtype=bool))
    assert [i for i, _ in every] == [i for i, _ in bm.top(_QUESTION, 15)]
    assert np.allclose([s for _, s in every], [s for _, s in bm.top(_QUESTION, 15)])


def test_lexical_ranking_stays_within_the_documents_the_question_is_about(tmp_path: Path, e5: Embedder) -> None:
    """Among software manuals the GDPR passage that answers ranks below one that only repeats "CNIL"; with the
    lexical scope (the documents of either ranker's 3 best here), BM25 ranks it first as in the GDPR files alone."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in _GDPR.items():
        (corpus / name).write_text(text, encoding="utf-8")
    for n in range(12):
        (corpus / f"manuel-{n:02d}.md").write_text(_MANUAL.format(n=n), encoding="utf-8")
    ranks = {}
    for scope in (0, 3):
        settings = make_settings(corpus, tmp_path / f"index-{scope}", lexical_scope=scope)
        Index(settings, e5).update()
        hits = Retriever(Index(settings, e5)).search(_QUESTION, 8)
        ranks[scope] = {h.passage.doc: h.lexical_rank for h in hits}
    assert ranks[0]["cnil-presentation.md"] == 1 and ranks[0]["cnil-minimisation.md"] > 1
    assert ranks[3]["cnil-minimisation.md"] == 1
    assert not any(doc.startswith("manuel-") and rank for doc, rank in ranks[3].items())


# -- hubness-corrected dense ranking and fusion -----------------------------------------------------------------
@pytest.fixture(scope="module")
def retriever(built: Built, e5: Embedder) -> Retriever:
    return Retriever(Index(built.settings, e5))


def test_hub_scores_are_mean_similarity_to_nearest_other_passages(retriever: Retriever) -> None:
    hub = retriever._hubness
    assert hub is not None and hub.shape == (len(retriever.passages),)
    ids = [p.id for p in retriever.passages]
    vectors = np.asarray(retriever.stored_embeddings(ids), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    k = retriever.index.settings.retrieval.hubness_k
    expected = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
    assert np.allclose(hub, expected, atol=1e-5)


def test_dense_ranking_is_chroma_cosine_reordered_by_hubness(built: Built, e5: Embedder) -> None:
    query = e5.embed_query("Quels critères pour sélectionner les projets du bac à sable données de santé ?")
    plain = Retriever(Index(built.settings.replace(hubness_weight=0.0), e5))
    corrected = Retriever(Index(built.settings.replace(hubness_weight=0.5), e5))
    raw = plain._dense(query, 10)
    sims = [s for _, s in raw]
    assert sims == sorted(sims, reverse=True)  # plain cosine order, as Chroma returns it
    got = corrected._dense(query, 10)
    hub = corrected._hubness
    assert hub is not None
    keyed = [s - 0.5 * hub[i] for i, s in got]
    assert keyed == sorted(keyed, reverse=True)
    # The similarity reported stays the plain cosine: the refusal threshold is calibrated on it.
    assert dict(got).items() <= dict(plain._dense(query, len(plain.passages))).items()


def test_search_fuses_both_rankers_without_duplicates(retriever: Retriever) -> None:
    hits = retriever.search("Sur quels critères la CNIL a-t-elle choisi les projets de son bac à sable santé ?", 8)
    assert 0 < len(hits) <= 8
    assert len({h.passage.id for h in hits}) == len(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any(h.dense_rank and h.lexical_rank for h in hits)  # fusion, not one ranker alone
    assert any("Critères de sélection" in h.passage.text for h in hits[:3])


def test_english_question_reaches_the_french_passage(retriever: Retriever) -> None:
    hits = retriever.search("What criteria did the CNIL use to select the projects of its 2021 health data "
                            "sandbox?", 3)
    assert any("Critères de sélection" in h.passage.text for h in hits)


def test_versions_of_one_text_take_one_place_and_the_rankers_go_deeper(tmp_path: Path, e5: Embedder) -> None:
    """Twelve versions of one paragraph (another authority, another figure) would fill every place: the best-ranked
    stands for them, and the passage that says something else is found below them."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = ["la CNIL", "l'AEPD", "la DPC irlandaise", "l'ARPD", "le Garante", "l'APD belge"]
    for n in range(12):
        (corpus / f"version-{n:02d}.md").write_text(
            f"# Note {n}\n\nPour les données d'entraînement d'un modèle d'intelligence artificielle, "
            f"{names[n % len(names)]} recommande une durée de conservation de {3 + n} ans, fixée à l'avance, "
            "proportionnée à l'objectif du traitement et revue à chaque nouvelle version du jeu de données, "
            "avec une purge documentée des données devenues inutiles.\n", encoding="utf-8")
    (corpus / "autre.md").write_text(
        "# Archivage\n\nAprès la phase de développement, les données d'entraînement sont archivées dans une "
        "base distincte, accessible aux seules personnes habilitées, le temps de l'audit du modèle.\n",
        encoding="utf-8")
    query = "Quelle durée de conservation est recommandée pour les données d'entraînement ?"
    found = {}
    for overlap in (0.8, 1.01):  # 1.01: never a look-alike, the ranking as it was
        settings = make_settings(corpus, tmp_path / f"index-{overlap}", lookalike_overlap=overlap, candidates=4)
        Index(settings, e5).update()
        found[overlap] = [h.passage.doc for h in Retriever(Index(settings, e5)).search(query, 3)]
    assert sum(d.startswith("version-") for d in found[1.01]) == 3
    assert "autre.md" not in found[1.01]
    # Only two different texts: the rankers went through all thirteen passages (four at first) to find them.
    assert sorted(d.startswith("version-") for d in found[0.8]) == [False, True] and "autre.md" in found[0.8]


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_single_ranker_modes(built: Built, e5: Embedder, mode: str) -> None:
    r = Retriever(Index(built.settings.replace(retrieval_mode=mode), e5))
    hits = r.search("bac à sable données de santé", 5)
    assert hits
    assert all((h.lexical_rank is None) == (mode == "dense") for h in hits)
    assert all((h.dense_rank is None) == (mode == "lexical") for h in hits)


# -- embedder threads -------------------------------------------------------------------------------------------
def test_query_and_passage_calls_set_their_own_thread_counts(e5: Embedder) -> None:
    assert isinstance(e5, E5Embedder)
    omp = e5._openmp
    assert omp is not None  # the wheel bundles its OpenMP runtime, so the per-call setting takes effect
    text = "Quelle durée de conservation pour une base d'entraînement ?"
    one = E5Embedder(threads=2, query_threads=1)
    a = one.embed_query(text)
    assert omp.omp_get_max_threads() == 1
    one.embed_passages([text])
    assert omp.omp_get_max_threads() == 2
    b = E5Embedder(threads=2, query_threads=2).embed_query(text)
    assert omp.omp_get_max_threads() == 2
    assert np.allclose(a, b, atol=1e-4)  # the thread count changes the speed, not the vector


# -- cross-lingual claim support ----------------------------------------------------------------------------------
def test_an_english_claim_stands_on_the_french_sentence_it_translates(built: Built, e5: Embedder) -> None:
    """The similarity read for an English claim is that of the passage's closest sentence: high for the
    sentence it translates, not reached by the same claim set against a passage that does not make it."""
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.verification.crosslingual import sentence_similarity
    from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

    assistant = Assistant(built.settings, embedder=e5)
    t = assistant.settings.trust
    retriever = assistant.retriever()
    passages = [p.text for p in retriever.passages]
    own = next(p for p in passages if "Une équipe dédiée (DPO / datascientist" in p)
    other = next(p for p in passages if "Ekonom" in p and "datascientist" not in p and len(p) > 600)
    # "DPO" is its anchor: a word the passage shares with it (see verification.claims.support).
    claim = ("The project has a dedicated team: the DPO, a data scientist, IT and a data and foresight officer "
             "of the Water Cycle Department [1].")
    sim = sentence_similarity(assistant.embedder, [own, other])
    midpoint = t.claim_dense_floor + t.support_threshold * (t.claim_dense_ceiling - t.claim_dense_floor)
    assert sim(claim, 0) >= midpoint > sim(claim, 1)
    # Cited against the other passage, the claim moves to the one it translates.
    draft = DraftVerifier(Evidence(passages=[own, other], question="", idf=retriever.idf, trust=t, dense=sim,
                                   cross=[True, True]))
    shown = "".join([*draft.feed(claim.replace("[1]", "[2]")), *draft.close()])
    assert draft.shown == [0] and draft.claims[0].reason == "re-attributed", draft.claims
    assert shown.endswith("Department [1].")
