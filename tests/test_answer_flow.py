"""The answer flow on a scripted model: what the program asks the model, and what it does with each draft.

Everything but the model is real: the session's e5 index of two small CNIL documents (conftest), retrieval,
the prompt, verification, the fallback and the refusals. The model is :class:`fakes.FakeBackend`, so each test
reads the program's logic, not a model's mood, and runs in a second or two. (The real models: test_answer_e2e.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest
from conftest import Built
from fakes import FakeBackend, FakeModels

from gdpr_assistant.answer.pipeline import REFUSAL, WITHDRAWN
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.drafting.prompt import DOCUMENT_NOTE, INSTRUCTIONS, LIST_NOTE, NOT_COVERED, answer_grammar
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.models.backend import Message, ModelBackend
from gdpr_assistant.text.markup import plain
from gdpr_assistant.types import Answer
from gdpr_assistant.verification import quotes
from gdpr_assistant.verification.premise import NOTICE, PROMPT_NOTE

COLLECTIVITES = "cnil-collectivites-ia-environnement-2024.md"
SANTE = "cnil-ia-sante-defis.md"
# Facts of the two documents, and words that find the excerpt holding each in a prompt.
SIA = "Création d'un SIA"  # "Création d'un SIA en 2023 : 5 personnes avec des compétences complémentaires"
HLEG = "AI HLEG (52 experts)"  # "… AI HLEG (52 experts)", and "ALTAI … (testé par 350 organisations)"
HLEG_Q = "Combien d'experts composaient le AI HLEG ?"
BOTH_Q = "Combien de personnes compte le SIA de la CNIL et combien d'experts comptait le AI HLEG ?"


def excerpt(messages: list[Message], needle: str) -> int:
    """The number the prompt gives the excerpt that holds ``needle``: what a model would cite."""
    for block in re.split(r"\n\n(?=\[\d+\] \()", messages[-1]["content"]):
        if (m := re.match(r"\[(\d+)\] \(", block)) and needle in block:
            return int(m.group(1))
    raise AssertionError(f"{needle!r} is in no excerpt of the prompt")


def citing(template: str, **needles: str) -> Callable[[list[Message]], str]:
    """A draft that cites, for each ``{name}`` of ``template``, the excerpt holding ``needles[name]``."""
    return lambda messages: template.format(**{k: excerpt(messages, v) for k, v in needles.items()})


@pytest.fixture
def make(built: Built, e5: Embedder) -> Callable[..., Assistant]:
    """An assistant over the session index whose models are the given backends; ``flat``: settings changed."""
    def make(answerer: ModelBackend, judge: ModelBackend | None = None, **flat: object) -> Assistant:
        return Assistant(built.settings.replace(**flat), models=FakeModels(answerer, judge), embedder=e5)

    return make


def ask(assistant: Assistant, question: str, history: Sequence[tuple[str, str]] = ()) -> tuple[Answer, str]:
    """The final answer and the text streamed before it (what the user saw)."""
    events = list(assistant.ask_stream(question, history))
    answer = events[-1]
    assert isinstance(answer, Answer) and all(isinstance(e, str) for e in events[:-1])
    return answer, "".join(e for e in events[:-1] if isinstance(e, str))


def test_a_supported_draft_is_streamed_as_it_is_checked_with_its_citations_renumbered(
        make: Callable[..., Assistant]) -> None:
    # The second sentence cites the wrong excerpt: its citation moves to the one that supports it, and sources
    # are numbered in order of first use, whatever numbers the model wrote.
    draft = citing("Le SIA créé en 2023 compte 5 personnes [{a}]. Le AI HLEG comptait 52 experts [{a}].", a=SIA)
    model = FakeBackend(draft)
    stream = make(model).ask_stream(BOTH_Q)
    first = next(stream)
    # The first sentence is shown while the model is still writing the second one.
    assert first == "Le SIA créé en 2023 compte 5 personnes [1]."
    assert model.sent < len(draft(model.requests[0].messages))
    rest = list(stream)
    answer = rest[-1]
    assert isinstance(answer, Answer) and rest[:-1] == [" Le AI HLEG comptait 52 experts [2]."]
    assert not answer.refused and answer.kind == "answer" and answer.refusal_reason == ""
    assert answer.answer == first + rest[0] and answer.raw == draft(model.requests[0].messages)
    sia, hleg = answer.citations
    assert (sia.n, sia.doc, hleg.n, hleg.doc) == (1, COLLECTIVITES, 2, SANTE)
    assert "5 personnes" in sia.quote and "52 experts" in hleg.quote
    hits = {h.passage.id: h.passage for h in answer.passages}
    for c in answer.citations:  # each quote is a span of the passage it cites, a passage the prompt showed
        assert c.passage_id in hits and c.text == hits[c.passage_id].text
        assert plain(c.quote) in plain(c.text) and c.title and c.location


def test_an_unsupported_sentence_is_dropped_and_a_draft_with_none_supported_is_refused(
        make: Callable[..., Assistant]) -> None:
    invented = "La CNIL inflige des amendes de 20 millions d'euros au AI HLEG [{h}]."
    model = FakeBackend(citing(invented + " Le AI HLEG comptait 52 experts [{h}].", h=HLEG))
    answer, shown = ask(make(model), HLEG_Q)
    assert shown == answer.answer == "Le AI HLEG comptait 52 experts [1]." and not answer.refused
    assert answer.dropped == ["La CNIL inflige des amendes de 20 millions d'euros au AI HLEG."]
    # Nothing supported, and no judge to quote a passage instead: the refusal, and only it, is shown.
    answer, shown = ask(make(FakeBackend(citing(invented, h=HLEG))), HLEG_Q)
    assert answer.refused and shown == answer.answer == REFUSAL["fr"] and answer.citations == []
    assert answer.refusal_reason == "no sentence of the draft was supported by a passage"
    assert answer.dropped == ["La CNIL inflige des amendes de 20 millions d'euros au AI HLEG."]
    assert "20 millions" in answer.raw and answer.kind == "answer"


@pytest.mark.parametrize("says_yes", [True, False])
def test_a_failed_draft_gives_way_to_a_quote_only_when_the_judge_says_yes(
        make: Callable[..., Assistant], built: Built, says_yes: bool) -> None:
    t = built.settings.trust
    margin = t.quote_judge_min + (0.5 if says_yes else -0.5)
    judge = FakeBackend(judgement=margin, name="judge")  # as large as the model: it never writes a draft
    answer, shown = ask(make(FakeBackend(NOT_COVERED), judge), HLEG_Q)
    assert judge.requests == [] and answer.quote_margin == margin
    assert answer.refusal_reason == "the model found no answer in the passages" and answer.raw == NOT_COVERED
    # The judge is asked whether the passage's best sentence answers the question, in the question's language.
    assert judge.judged()[0].startswith(f"Question : {HLEG_Q}\nPassage : « ") and "52 experts" in judge.judged()[0]
    if says_yes:
        assert not answer.refused and answer.kind == "extract" and len(judge.judgements) == 1
        [cite] = answer.citations
        assert cite.doc == SANTE and "52 experts" in cite.quote and cite.quote in judge.judged()[0]
        assert shown == answer.answer and answer.answer.endswith(f"« {cite.quote} » [1]")
    else:
        # The wider excerpt is judged too (below its own, stricter threshold here), then the question refused.
        assert answer.refused and shown == REFUSAL["fr"] and answer.citations == []
        assert len(judge.judgements) == 2 and answer.excerpt_margin == margin < t.quote_excerpt_judge_min


@pytest.mark.parametrize("says_yes", [True, False])
def test_an_answer_holding_less_of_the_question_than_a_quote_must_is_judged_as_a_quote_is(
        make: Callable[..., Assistant], built: Built, says_yes: bool) -> None:
    # Every answer is below the quotes' share here (1.01): the judge decides, at the quotes' bar.
    t = built.settings.trust
    margin = t.quote_judge_min + (0.5 if says_yes else -0.5)
    draft = citing("Le AI HLEG comptait 52 experts [{h}].", h=HLEG)
    judge = FakeBackend(judgement=margin, name="judge")
    answer, shown = ask(make(FakeBackend(draft), judge, min_answer_coverage=0.0, min_question_coverage=1.01), HLEG_Q)
    assert answer.coverage is not None and 0.0 < answer.coverage < 1.01
    # The first judgement is the written answer's, asked as a quote's is: does this text answer the question?
    assert judge.judged()[0].startswith(f"Question : {HLEG_Q}\nPassage : « Le AI HLEG comptait 52 experts. »")
    assert answer.relevance_margin == margin
    if says_yes:
        assert not answer.refused and answer.kind == "answer" and answer.answer == "Le AI HLEG comptait 52 experts [1]."
        assert len(judge.judgements) == 1
    else:
        assert answer.refused and answer.refusal_reason.startswith("the judge finds the answer off the question")
        # The sentence streamed before the verdict stays on screen: it is withdrawn, in words, above the refusal.
        assert shown == f"Le AI HLEG comptait 52 experts [1].\n\n{WITHDRAWN['fr']}\n\n{REFUSAL['fr']}", shown
        assert answer.answer == REFUSAL["fr"]
    # Without a judge such an answer is not shown, as when that share was the written answer's floor.
    answer, _ = ask(make(FakeBackend(draft), None, min_answer_coverage=0.0, min_question_coverage=1.01), HLEG_Q)
    assert answer.refused and answer.refusal_reason.startswith("the answer and its quotes do not address")
    # A larger judge (--fast) would write again: the small model's answer of that band gives way to the judge's
    # draft, itself judged (quotes are rejected here, so the draft is what answers).
    def margin_of(j: object) -> float:
        return margin if "Passage : « Le AI HLEG comptait" in str(j) else -10.0
    large = FakeBackend(draft, judgement=margin_of, name="large", size=2)
    answer, _ = ask(make(FakeBackend(draft), large, min_answer_coverage=0.0, min_question_coverage=1.01), HLEG_Q)
    assert len(large.requests) == 1 and answer.relevance_margin == margin
    assert answer.kind == "escalated" if says_yes else answer.refused
    # An answer above the quotes' share is not judged.
    judge = FakeBackend(judgement=margin, name="judge")
    answer, _ = ask(make(FakeBackend(draft), judge, min_answer_coverage=0.0, min_question_coverage=0.0), HLEG_Q)
    assert not answer.refused and judge.judgements == [] and answer.relevance_margin is None


@pytest.mark.parametrize(("judge_size", "escalate", "written_again"), [(2, True, True), (1, True, False),
                                                                        (2, False, False)])
def test_only_a_larger_judge_writes_a_failed_draft_again(make: Callable[..., Assistant], judge_size: int,
                                                         escalate: bool, written_again: bool) -> None:
    small = FakeBackend(NOT_COVERED, name="small", size=1)
    large = FakeBackend(citing("Le AI HLEG comptait 52 experts [{h}].", h=HLEG), judgement=-10.0, name="large",
                        size=judge_size)  # rejects every quote: only its own draft can answer
    answer, shown = ask(make(small, large, escalate=escalate), HLEG_Q)
    assert len(large.requests) == int(written_again)
    if not written_again:
        assert answer.refused and answer.kind == "answer" and "escalation_s" not in answer.timings
        return
    assert large.requests[0] == small.requests[0]  # the same prompt, grammar and refusal literal
    assert not answer.refused and answer.kind == "escalated" and answer.model == "large"
    assert shown == answer.answer == "Le AI HLEG comptait 52 experts [1]."
    n = excerpt(small.requests[0].messages, HLEG)
    assert answer.raw == f"{NOT_COVERED}\n\nLe AI HLEG comptait 52 experts [{n}]."  # both drafts
    assert answer.refusal_reason == "the model found no answer in the passages"
    assert answer.timings["escalation_s"] >= 0 and answer.citations[0].doc == SANTE


def test_the_larger_judge_writes_before_any_quote_is_judged(make: Callable[..., Assistant]) -> None:
    # A written, verified answer over a quote: the judge would accept any quote here, yet writes first.
    small = FakeBackend(NOT_COVERED, name="small", size=1)
    large = FakeBackend(citing("Le AI HLEG comptait 52 experts [{h}].", h=HLEG), judgement=10.0, name="large", size=2)
    answer, _ = ask(make(small, large), HLEG_Q)
    assert answer.kind == "escalated" and large.judgements == [] and answer.quote_margin is None
    # Its draft failing too, the quote comes after it.
    large = FakeBackend(NOT_COVERED, judgement=10.0, name="large", size=2)
    answer, _ = ask(make(small, large), HLEG_Q)
    assert answer.kind == "extract" and len(large.requests) == 1 and answer.quote_margin == 10.0
    assert answer.raw == f"{NOT_COVERED}\n\n{NOT_COVERED}"


def _french_of(messages: list[Message]) -> str:
    """The text a translation request asks for (drafting/translation.py)."""
    m = re.search(r"French:\n(.*?)\n\n(?:Terms:|English:)", messages[-1]["content"], re.DOTALL)
    assert m, messages[-1]["content"]
    return m.group(1)


@pytest.mark.parametrize("faithful", [True, False])
def test_an_english_question_gets_its_french_quote_in_english_only_if_the_translation_holds(
        make: Callable[..., Assistant], faithful: bool) -> None:
    # The judge translates the quote; its translation is checked against the passage like an English answer.
    # A stand-in that keeps the passage's words passes that check; one that invents a figure does not.
    translation = _french_of if faithful else (lambda messages: "The AI HLEG had 75 experts from 9 countries.")
    judge = FakeBackend(translation, judgement=10.0, name="judge")
    question = "How many experts made up the AI HLEG?"
    answer, shown = ask(make(FakeBackend(NOT_COVERED), judge), question)
    assert answer.kind == "extract" and not answer.refused and shown == answer.answer
    [cite] = answer.citations
    asked = _french_of(judge.requests[0].messages)
    assert "52 experts" in asked and plain(asked.replace("\n", " ")) == cite.quote
    assert answer.answer.startswith(f"{quotes.LEAD['en']}\n\n« {cite.quote} » [1]")
    assert answer.timings["translation_s"] >= 0
    if faithful:
        english = answer.answer.split(f"{quotes.IN_ENGLISH}\n\n")[1]
        assert english.endswith(" [1].") and re.sub(r"\W", "", english) == re.sub(r"\W", "", asked) + "1"
    else:
        assert quotes.IN_ENGLISH not in answer.answer and "75" not in answer.answer
    # A French question's quote is shown as it is: nothing to translate.
    judge.requests.clear()
    answer, _ = ask(make(FakeBackend(NOT_COVERED), judge), HLEG_Q)
    assert answer.kind == "extract" and judge.requests == [] and quotes.IN_ENGLISH not in answer.answer


@pytest.mark.parametrize("stated", [True, False])
def test_a_premise_no_passage_states_is_said_first_and_never_stated_as_fact(
        make: Callable[..., Assistant], stated: bool) -> None:
    question = "Pourquoi le AI HLEG a-t-il abandonné la grille ALTAI ?"
    premise = "le AI HLEG a abandonné la grille ALTAI"
    # The judge finds the premise in no passage (or, in the control, in the best one).
    judge = FakeBackend(judgement=lambda j: 5.0 if stated else -5.0, name="judge")
    draft = citing("Le AI HLEG a abandonné la grille ALTAI testée par 350 organisations [{h}].", h=HLEG)
    model = FakeBackend(draft)
    answer, shown = ask(make(model, judge, premise_check=True, premise_min=-1.0), question)
    assert any(f"« {premise} »" in j for j in judge.judged())  # the premise, judged against the passages
    notice = NOTICE["fr"].format(premise=premise)
    if stated:  # nothing said first, and the draft's sentence, supported by its words, is shown
        assert not answer.refused and answer.answer == "Le AI HLEG a abandonné la grille ALTAI testée par 350 " \
            "organisations [1]." and notice not in model.requests[0].messages[-1]["content"]
        return
    # Said before anything else, the model told, and the sentence that states the premise anyway not shown.
    assert shown.startswith(notice) and answer.answer.startswith(notice)
    assert PROMPT_NOTE["fr"].format(premise=premise) in model.requests[0].messages[-1]["content"]
    assert "Le AI HLEG a abandonné la grille ALTAI testée par 350 organisations." in answer.dropped
    assert "[1]" not in answer.answer.replace(notice, "")


def test_a_question_about_a_count_is_refused_without_a_figure_and_nothing_is_shown_before(
        make: Callable[..., Assistant]) -> None:
    draft = citing("Le AI HLEG a travaillé sur le concept de Trustworthy AI [{h}].", h=HLEG)
    answer, shown = ask(make(FakeBackend(draft)), HLEG_Q)
    assert answer.refused and shown == REFUSAL["fr"], shown
    assert answer.refusal_reason == "the question asks for an amount or a count and the answer gives none"
    # The same sentence answers a question that asks for no count.
    answer, shown = ask(make(FakeBackend(draft)), "Sur quel concept le AI HLEG a-t-il travaillé ?")
    assert not answer.refused and shown == "Le AI HLEG a travaillé sur le concept de Trustworthy AI [1]."


def test_a_follow_up_is_read_joined_to_the_previous_question(make: Callable[..., Assistant], built: Built) -> None:
    follow_up = "Et l'outil ALTAI, par combien d'organisations a-t-il été testé ?"
    previous = (HLEG_Q, "Le AI HLEG comptait 52 experts [1].")
    model = FakeBackend(citing("L'outil ALTAI a été testé par 350 organisations [{h}].", h="ALTAI"))
    answer, shown = ask(make(model), follow_up, history=[previous])
    # In the prompt, one question: the previous one and the follow-up; the previous answer is not repeated.
    prompt = model.prompts()[0]
    assert prompt.endswith(f"Question : {HLEG_Q} {follow_up}\nRéponse :") and previous[1] not in prompt
    assert answer.question == follow_up and shown == "L'outil ALTAI a été testé par 350 organisations [1]."
    # A question longer than a follow-up is read alone, and so is a first question.
    long = ("Par combien d'organisations l'outil ALTAI publié par le groupe d'experts de haut niveau sur l'IA de "
            "la Commission a-t-il été testé ?")
    assert len(long.split()) > built.settings.answer.followup_max_words
    ask(make(model), long, history=[previous])
    ask(make(model), follow_up)
    assert [p.rsplit("Question : ", 1)[1] for p in model.prompts()[1:]] == [f"{long}\nRéponse :",
                                                                          f"{follow_up}\nRéponse :"]


def test_the_draft_request_and_its_refusal_margin_are_recorded(make: Callable[..., Assistant],
                                                                built: Built) -> None:
    s = built.settings
    model = FakeBackend(citing("Le AI HLEG comptait 52 experts [{h}].", h=HLEG), refusal_margin=-2.5)
    answer, _ = ask(make(model), HLEG_Q)
    [request] = model.requests
    assert request.refusal == NOT_COVERED and request.refusal_bias == s.trust.refusal_bias
    assert request.grammar == answer_grammar(len(answer.passages)) and len(answer.passages) == s.retrieval.answer_k
    assert (request.max_tokens, request.temperature, request.seed) == (s.answer.max_answer_tokens,
                                                                        s.models.temperature, s.models.seed)
    assert request.messages[0] == {"role": "system", "content": INSTRUCTIONS["fr"]}
    assert answer.refusal_margin == -2.5 and answer.model == "fake-model"
    assert answer.timings["prompt_tokens"] == sum(len(m["content"].split()) for m in request.messages)
    assert answer.timings["completion_tokens"] == -(-len(answer.raw) // model.delta_chars)
    # Evidence too weak: refused before the model runs, so there is no margin to record.
    off = FakeBackend("Le AI HLEG comptait 52 experts [1].", refusal_margin=3.0)
    answer, shown = ask(make(off), "Qui a gagné la coupe du monde de football en 1998 ?")
    assert off.requests == [] and answer.refused and shown == REFUSAL["fr"]
    assert answer.refusal_margin is None and answer.refusal_reason.startswith("weak retrieval evidence")


def test_an_english_question_gets_english_instructions_and_an_english_refusal(make: Callable[..., Assistant]) -> None:
    question = "How many people are in the SIA that the CNIL created in 2023?"
    claim = "In 2023 the CNIL created the SIA, a team of 5 people with complementary skills (legal, AI/ML, cognitive " \
            "sciences)"
    model = FakeBackend(citing(claim + " [{s}].", s=SIA))
    answer, shown = ask(make(model), question)
    assert model.requests[0].messages[0]["content"] == INSTRUCTIONS["en"]
    assert model.prompts()[0].endswith(f"Question : {question}\nAnswer :")
    assert answer.lang == "en" and not answer.refused and shown == claim + " [1]."
    assert answer.citations[0].doc == COLLECTIVITES
    answer, shown = ask(make(FakeBackend(NOT_COVERED)), question)
    assert answer.refused and shown == REFUSAL["en"]


def test_a_request_for_personal_contact_details_never_reaches_the_model(make: Callable[..., Assistant]) -> None:
    model = FakeBackend("Le AI HLEG comptait 52 experts [1].")
    answer, shown = ask(make(model), "Donne-moi le numéro de téléphone personnel du président du AI HLEG.")
    assert model.requests == [] and answer.refused and answer.refusal_reason == "personal-contact"
    assert answer.passages == [] and "coordonnées personnelles" in shown


def test_a_loop_of_the_model_is_shown_once(make: Callable[..., Assistant]) -> None:
    # Small models loop: the 0.5B answered a dev question with "L'organisme est obligé de … [1]. Non, il est
    # obligé de … [1]." and, another time, numbered the same sentence "1. …", "2. …"; the last repeat is often cut.
    for loop in ("Le AI HLEG comptait 52 experts [{h}]. Non, le AI HLEG comptait 52 experts [{h}]. Le AI HLEG compt",
                 "1. Le AI HLEG comptait 52 experts [{h}].\n2. Le AI HLEG comptait 52 experts [{h}].\n"):
        answer, shown = ask(make(FakeBackend(citing(loop, h=HLEG))), HLEG_Q)
        assert not answer.refused and shown == answer.answer and shown.endswith("Le AI HLEG comptait 52 experts [1].")
        assert shown.count("HLEG") == 1, shown


def test_a_list_question_gets_lines_and_the_items_its_answer_left_out(make: Callable[..., Assistant],
                                                                      built: Built) -> None:
    """A list question: with the list prompt on, the model may write one cited line per item; the items of the
    cited list that its answer leaves out are added, quoted and cited (verification/completeness.py); a fact
    question gets neither."""
    a = built.settings.answer
    question = "Quels critères de sélection la CNIL a-t-elle retenus pour son bac à sable sur la santé ?"
    model = FakeBackend(citing("Les critères de sélection étaient :\n- le bénéfice pour le public [{c}]\n"
                               "- l'intérêt pour la protection des données [{c}]", c="bénéfice pour le public"))
    answer, shown = ask(make(model, list_prompt=True), question)
    [request] = model.requests
    assert request.grammar == answer_grammar(len(answer.passages), a.max_list_sentences, lines=True)
    assert request.max_tokens == a.max_list_tokens
    assert request.messages[-1]["content"].endswith(f"{question}\n{LIST_NOTE['fr']}\nRéponse :")
    assert not answer.refused and shown == answer.answer
    lines = answer.answer.splitlines()
    assert lines[:3] == ["Les critères de sélection étaient:", "- le bénéfice pour le public [1].",
                         "- L'intérêt pour la protection des données [1]."], lines
    assert lines[-3:] == ["La même liste comprend aussi :", "",
                          "- « engagement fort dans une approche de la conformité RGPD » [1]"]
    assert "engagement fort" in answer.citations[0].quote  # the highlighted span covers the added item
    # With the list prompt off (the default), the prompt and grammar of any question; the left-out items are still
    # added.
    model = FakeBackend(citing("Les critères de sélection étaient le bénéfice pour le public [{c}].",
                               c="bénéfice pour le public"))
    answer, _ = ask(make(model), question)
    assert model.requests[0].grammar == answer_grammar(len(answer.passages)) and LIST_NOTE["fr"] not in \
        model.prompts()[0] and model.requests[0].max_tokens == a.max_answer_tokens
    assert "« engagement fort dans une approche de la conformité RGPD » [1]" in answer.answer
    # The same draft for a question on one fact: the shape of before, nothing added.
    model = FakeBackend(citing("Le premier critère était le bénéfice pour le public [{c}].",
                               c="bénéfice pour le public"))
    answer, _ = ask(make(model), "Quel était le premier critère de sélection du bac à sable santé de la CNIL ?")
    assert model.requests[0].grammar == answer_grammar(len(answer.passages))
    assert "engagement fort" not in answer.answer and LIST_NOTE["fr"] not in model.prompts()[0]


def _first_line_of_excerpt_1(messages: list[Message]) -> str:
    """A draft that copies the first full line of excerpt [1] and cites it: supported, whatever the excerpt."""
    block = re.split(r"\n\n(?=\[\d+\] \()", messages[-1]["content"].split("\n\n", 1)[1])[0]
    line = next(ln for ln in block.splitlines()[1:] if len(ln.split()) >= 5)
    return f"{plain(line).strip(' -*#').rstrip('.:')} [1]."


def test_a_question_on_several_documents_asks_each_document_alone_and_answers_a_line_each(
        make: Callable[..., Assistant], built: Built) -> None:
    """Per document, a prompt with that document's passages alone; one verified line per document, their
    citations numbered in the answer's list (answer/documents.py). A fact question gets one prompt."""
    s = built.settings
    question = "Que disent les documents de la CNIL sur le bac à sable et l'accompagnement des projets d'IA ?"
    model = FakeBackend(_first_line_of_excerpt_1)
    answer, shown = ask(make(model), question)
    assert len(model.requests) == 2 and not answer.refused and shown == answer.answer
    docs = []
    for request in model.requests:
        prompt = request.messages[-1]["content"]
        heads = re.findall(r"^\[\d+\] \((.*)\)$", prompt, re.MULTILINE)
        assert len(set(heads)) == 1 and len(heads) <= s.answer.per_document_passages  # one document each
        assert DOCUMENT_NOTE["fr"].format(title=heads[0].rstrip(), count="1 ou 2 phrases")[:40] in prompt
        assert request.grammar == answer_grammar(len(heads), s.answer.per_document_sentences)
        assert request.max_tokens == s.answer.per_document_tokens
        docs.append(heads[0])
    lines = answer.answer.splitlines()
    assert len(lines) == 2 and all(ln.startswith("- ") for ln in lines), lines
    assert lines[0].endswith("[1].") and lines[1].endswith("[2].")
    assert {c.doc for c in answer.citations} == {COLLECTIVITES, SANTE}
    # A document the model finds silent adds nothing; all silent is the model's refusal.
    silent = FakeBackend([_first_line_of_excerpt_1, NOT_COVERED])
    answer, _ = ask(make(silent), question)
    assert len(answer.answer.splitlines()) == 1 and len(answer.citations) == 1
    answer, _ = ask(make(FakeBackend(NOT_COVERED)), question)
    assert answer.refused and answer.refusal_reason == "the model found no answer in the passages"
