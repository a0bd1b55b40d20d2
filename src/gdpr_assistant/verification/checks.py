"""Checks of meaning that word overlap misses: restatements, talk about the excerpts, dropped negations,
premises taken from the question, names and counts the passage does not give, claims stronger than their
passage, connectives."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.text.words import fold, rarity_weights, tokenize
from gdpr_assistant.verification.claims import COUNT_WORDS, lexical_support, numbers


def is_restatement(text: str, question: str) -> bool:
    """The claim only repeats the question's words and figures: it answers nothing and is not shown."""
    terms = set(tokenize(text))
    return bool(question) and terms <= set(tokenize(question)) and numbers(text) <= numbers(question)


# Sentences about the excerpts or the question rather than the subject ("The excerpt does not deal with…",
# "Non_couvert"): a refusal in other words, never a claim to show.
# "La question de la finalité" is a subject, not the question asked.
_META = re.compile(r"\b(excerpts?|extraits?|the question(?!\s+of\b)|la question(?!\s+(?:de|du|des)\b|\s*d['’])|"
                   r"non[_ ]?couvert)\b|^\s*question\s*:", re.IGNORECASE)


def is_meta(text: str) -> bool:
    return bool(_META.search(text))


# Words that negate or restrict. A claim that leaves them out of the passage sentence it echoes ("la base
# légale est le consentement" from "souvent impossible en pratique … quand les données sont collectées en
# ligne") has every word of the passage and the opposite meaning.
_NEGATION = re.compile(r"\b(?:impossibles?|interdi\w*|pas|jamais|aucune?s?|sans|ni|non|not|no|never|cannot|"
                       r"without|prohibit\w*|forbid\w*)\b|\bn['’]", re.IGNORECASE)
# Lines, sentences and the clauses of a slide line ("Option 1 : … (sans analyse) : le nombre … ;").
_CLAUSES = re.compile(r"\n+|(?<=[.!?])\s+(?=[A-ZÀ-Ý«\"(\-•*])|\s+[:;]\s+|;\s*")


def _closest(units: Sequence[str], weights: Mapping[str, float]) -> int:
    """Index of the unit holding most of the (rarity-weighted) words."""
    return max(range(len(units)), key=lambda k: sum(weights.get(t, 0.0) for t in set(tokenize(units[k]))))


def drops_a_negation(claim: str, passage: str, idf: Mapping[str, float] | None = None) -> bool:
    """The passage clause closest to the claim (most rarity-weighted shared words) negates or restricts what the
    claim says, and the claim does not.

    What a negation bears on is the clause after its cue ("ne financera pas de plateforme…", "souvent impossible
    … quand les données sont collectées en ligne"), or the next line when the cue ends a wrapped PDF line: the
    claim must share a word with it. A negation elsewhere on the line ("mentor.gouv.fr (6h), pour le grand
    public sans aucun / prérequis…") does not make "la formation dure 6 heures" a dropped negation. Claim
    benchmark (bench/claims_bench.py lexical): every negation, modality and other rejection kept on both halves,
    one faithful claim of the calibration half more accepted."""
    if _NEGATION.search(claim):
        return False
    weights = rarity_weights(set(tokenize(claim)), idf)
    units = [u for u in _CLAUSES.split(passage) if u.strip()]
    if not units or not weights:
        return False
    i = _closest(units, weights)
    cue = _NEGATION.search(units[i])
    if cue is None:
        return False
    cues = {t for m in _NEGATION.finditer(units[i]) for t in tokenize(m.group())}
    scope = set(tokenize(units[i][cue.start():])) - cues
    if not scope and i + 1 < len(units):
        scope = set(tokenize(units[i + 1]))
    return bool(scope & weights.keys())


# A name: an acronym (CNIL, ANSSI, EDPS) or a capitalised word inside the sentence (Albert, Lifen, Inria).
_NAME = re.compile(r"(?<![\w'’])(?:[A-ZÀ-Ý]{2,}[A-ZÀ-Ý0-9-]*|[A-ZÀ-Ý][a-zà-ÿ]+(?:-[A-ZÀ-Ý]?[\w]+)*)(?![\w'’])")
_SENTENCE_START = re.compile(r"(?:^\s*|[.!?:]\s+|\n\s*)(?:(?:[-*•]|\d+[.)])\s*)?(?:\*\*)?$")


def names_a_stranger(claim: str, passage: str, question: str = "") -> bool:
    """The claim names someone or something (an acronym, a capitalised word inside a sentence) that neither its
    passage nor the question names: an actor swapped ("le guide de la CNIL" from "le guide de l'ANSSI"), a
    project given another's description. Word overlap cannot see it: every other word is the passage's. Words
    capitalised only because they open a sentence or an item do not count."""
    known = set(tokenize(passage)) | set(tokenize(question))
    for m in _NAME.finditer(claim):
        if _SENTENCE_START.search(claim[:m.start()]) or _spells_out(m.group(), claim[:m.start()]):
            continue
        words = tokenize(m.group())
        if words and not set(words) <= known:
            return True
    return False


_WORD = re.compile(r"[^\W\d_]+")


def _figures(text: str) -> set[str]:
    """Its figures, a count in words as its digits ("cinq ans" and "5 ans" state the same)."""
    return numbers(text) | {COUNT_WORDS[w] for w in _WORD.findall(fold(text)) if w in COUNT_WORDS}


def counts_a_stranger(claim: str, passage: str, question: str = "") -> bool:
    """The claim gives a count in words ("trois experts") that its passage states neither in words nor in
    digits, and the question does not ask with it."""
    figures = _figures(passage + " " + question)
    return any(COUNT_WORDS[w] not in figures for w in _WORD.findall(fold(claim)) if w in COUNT_WORDS)


# The first person, French then English (English forms by case: "US" is a country, "i.e." no pronoun).
_FIRST_PERSON = re.compile(r"\b(?:[Nn]ous|[Nn]otre|[Nn]os|[Jj]e|[Jj]['’]|[Mm]on|[Mm]es|[Ww]e|[Oo]ur|us|my|My)\b|"
                           r"\bI\b(?!\.)")


def speaks_for_someone(claim: str, passage: str) -> bool:
    """The claim speaks in the first person ("nous devrions utiliser…", "Nous utilisons…", "we must") and its
    passage does not: an answer reports what the documents say, so a first-person sentence is the asker's voice
    taken up by the model (a request's plan written out, seen on harmful requests) or its own. None of the 239
    claims shown in the dev and question-set runs, nor any claim of the claim benchmark, is in the first person
    but three of those shown to harmful requests; a user's document written in the first person still supports
    first-person claims."""
    return bool(_FIRST_PERSON.search(claim)) and not _FIRST_PERSON.search(passage)


# Words that make a statement stronger, by kind, in both languages (folded): an obligation, a rule for all, a
# certainty or an exclusivity, something done already. A claim that uses one where its passage has no word of
# its kind turns "encouragés" into "tenus", "une partie" into "l'ensemble", "peut s'expliquer" into "s'explique
# avec certitude", "travaille à la mise à disposition" into "has already made available". Each kind: the words
# that make a claim stronger, then the further words by which a passage says as much ("l'ensemble des SIA" for
# "all AI systems", "nécessitent" for "requires", "besoin" for "the need to").
_STRONG = {
    "obligation": ({"doit", "doivent", "devra", "devront", "obligatoire", "obligatoires", "obligatoirement",
                    "oblige", "obligee", "obliges", "obligees", "tenu", "tenue", "tenus", "tenues", "impose",
                    "imposee", "imposes", "imposent", "exige", "exigee", "exigent", "requis", "requise",
                    "necessaire", "necessaires", "faut", "imperatif", "imperative", "must", "mandatory", "required",
                    "requires", "require", "obligatory", "obliged", "compulsory", "necessary", "shall"},
                   {"obligation", "obligations", "exigence", "exigences", "necessite", "necessitent", "implique",
                    "impliquent", "besoin", "convient", "need", "needs", "duty", "requirement", "requirements"}),
    "all": ({"tous", "toutes", "chaque", "systematique", "systematiquement", "toujours", "all", "every", "each",
             "always", "systematic", "systematically"},
            {"tout", "toute", "ensemble", "quel", "quelle", "quels", "quelles", "any", "whatever", "whole", "entire"}),
    "certainty": ({"certitude", "certainement", "forcement", "necessairement", "assurement", "seul", "seule",
                   "seuls", "seules", "uniquement", "exclusivement", "certainly", "definitely", "necessarily",
                   "surely", "only", "solely", "exclusively", "sole"}, set()),
    "already": ({"deja", "already"}, set()),
}


# A line that opens on an infinitive ("Prévoir des mesures…", "**Effectuer** une nouvelle sélection…") is an
# instruction: a slide's way of saying "il faut". (Not the frequent words of those endings that are no verbs.)
_INSTRUCTION = re.compile(r"^[\s>*•▪➢#–-]*(?:\d+[.)]\s*)?\**(?!(?:Entre|Autre|Notre|Votre|Titre|Premier|Dernier|"
                          r"Cadre|Nombre|Membre|Ordre|Fichier|Dossier)\b)[A-ZÀ-Ý][a-zà-ÿ]+(?:er|ir|re)\b", re.MULTILINE)


def overstates(claim: str, passage: str, question: str = "") -> bool:
    """The claim makes an obligation, a rule for all, a certainty or a thing done of what its passage (and the
    question) says with no word of that kind: a modality strengthened, which word overlap cannot see."""
    said = set(_WORD.findall(fold(passage + " " + question)))
    if _INSTRUCTION.search(passage):
        said.add("obligation")
    words = set(_WORD.findall(fold(claim)))
    return any(words & strong and not said & (strong | also) for strong, also in _STRONG.values())


def _spells_out(acronym: str, before: str) -> bool:
    """An abbreviation in parentheses right after the words it abbreviates ("systèmes d'intelligence artificielle
    (SIA)", "délégué à la protection des données (DPD)"): it names nothing new."""
    if not acronym.isupper() or not before.rstrip().endswith("("):
        return False
    words = [w for w in re.findall(r"[^\W\d_]+", before) if tokenize(w)]  # stop words have no initial
    initials = "".join(w[0] for w in words[-len(acronym):]).upper()
    return len(words) >= len(acronym) and initials == acronym.upper()


def echoes_a_restriction(claim: str, passage: str, question: str, idf: Mapping[str, float] | None = None) -> bool:
    """The claim repeats a negating or restricting word of the question ("Pourquoi la CNIL interdit-elle…")
    and the passage does not restrict anything near the clause closest to the claim: the claim takes the
    question's premise for a fact. Words the claim shares with the question do not count as support (see
    lexical_support), so a premise is checked here. The clauses either side count too: a restriction is
    often a clause away from what it restricts, and PDF line breaks are not clause ends ("ne doivent jamais
    être utilisées pour générer du code / destiné aux applications … liées à la cryptographie")."""
    echoed = {m.lower() for m in _NEGATION.findall(claim)} & {m.lower() for m in _NEGATION.findall(question)}
    if not echoed:
        return False
    weights = rarity_weights(set(tokenize(claim)) - set(tokenize(question)), idf) \
        or rarity_weights(set(tokenize(claim)), idf)
    units = sentences(passage)
    if not units or not weights:
        return False
    i = _closest(units, weights)
    return not any(_NEGATION.search(u) for u in units[max(0, i - 1):i + 2])


# A heading or label copied out of a passage ("## Exemple illustratif n°2", "Le consentement", "Se fonder sur :")
# names a topic and asserts nothing, however well its words match the passage: small models copy slide headings as
# sentences. Only short ones: a heading that is itself a statement ("La durée de conservation doit être définie")
# can be a claim.
_HEADING_MAX_WORDS = 4
_MARKUP = re.compile(r"[#*_`>]+|^\s*(?:[-•]|\d{1,2}[.)])\s+")


def _label(text: str) -> str:
    return re.sub(r"\s+", " ", _MARKUP.sub(" ", text)).strip(" .:;!").casefold()


# A numbered heading's title alone ("Fiche 2 - Définir une finalité", "Fiche 4 – Définir une base légale (1/2)"):
# what a model copies of it is the title, without the number that makes it look like a heading.
NUMBERED_HEADING = re.compile(r"^(?:\S+\s+){0,2}\S+\s+[-–:]\s+(.+?)(?:\s*\(\d+/\d+\))?$")


def _headings(passage: str) -> set[str]:
    """The passage's heading and label lines: Markdown headings, lines in bold alone, lines ending with a colon;
    a numbered heading's title also alone."""
    out = set()
    for line in passage.splitlines():
        bare = line.strip()
        if bare.startswith("#") or bare.endswith(":") or re.fullmatch(r"\*\*[^*]+\*\*:?", bare):
            label = _label(bare)
            out.add(label)
            if numbered := NUMBERED_HEADING.match(label):
                out.add(numbered.group(1))
    return out


def is_heading_copy(text: str, passages: Sequence[str]) -> bool:
    """The claim is a short heading or label: written as a Markdown heading, or one of the passages' heading
    lines."""
    label = _label(text)
    if not label or len(label.split()) > _HEADING_MAX_WORDS:
        return False
    return text.lstrip().startswith("#") or any(label in _headings(p) for p in passages)


def is_connective(text: str, cited: bool = False) -> bool:
    """'Oui.', 'En résumé :': too little content to need (or be checked by) a citation. A short cited item
    ("- Libre [2]") is still checked."""
    return not numbers(text) and len(set(tokenize(text))) < (1 if cited else 2)


# A sentence that calls the premise wrong corrects it, however many of its words it repeats ("Le chiffre est
# faux : le service compte 5 personnes", "The deck says the opposite: the RATP is listed…").
_CALLED_WRONG = re.compile(r"\b(?:faux|fausse|erron\w*|contraire|oppos\w*|wrong|false|incorrect|contrary)\b",
                           re.IGNORECASE)


def states_the_premise(claim: str, premise: str, idf: Mapping[str, float] | None, share: float) -> bool:
    """The claim asserts a premise of the question that no passage states (verification/premise.py): it holds
    the premise's figures and ``share`` of its rarity-weighted words, as a passage holds a claim it supports,
    with no negation the premise lacks and without calling it wrong. The passage it cites may hold all those
    words around another statement (the premise was written from the passages), so support cannot see it. A
    correction is not a repeat: it negates the premise ("n'est pas obligatoire pour tous"), gives other figures
    ("200 milliards", not "7") or calls it wrong ("Le chiffre est faux : …")."""
    if not _figures(premise) <= _figures(claim):
        return False
    for words in (_NEGATION, _CALLED_WRONG):
        if {m.lower() for m in words.findall(claim)} - {m.lower() for m in words.findall(premise)}:
            return False
    return lexical_support(premise, claim, idf) >= share


# Where a sentence joins two statements: a contrast, a cause or a consequence, a semicolon; or a subordinate clause
# that opens it ("Puisque X, Y"). Not a plain comma or "et": those join the items of one statement. "donc" only
# after a comma: "La CNIL a donc demandé…" is one statement.
_JOIN = re.compile(r"\s*;\s*|,?\s+(?:mais|car|puisque|alors\s+que|tandis\s+que|bien\s+que|ce\s+qui|but|because|since|"
                   r"whereas|although|so\s+that)\s+|,\s+(?:donc|while|so|thus|hence)\s+", re.IGNORECASE)
# Not "comme" nor "as": "Comme le précise la CNIL, …" attributes, it states nothing of its own.
_OPENER = re.compile(r"^\s*(?:puisque|parce\s+qu['’e]|[ée]tant\s+donn[ée]\s+qu['’e]|since|because|given\s+that)"
                     r"\b([^,]+),\s*(.+)$", re.IGNORECASE | re.DOTALL)


def clauses(claim: str) -> list[str]:
    """The statements a sentence joins ("X, mais Y" -> X, Y)."""
    opener = _OPENER.match(claim)
    parts = [opener.group(1), opener.group(2)] if opener else [claim]
    return [c.strip() for part in parts for c in _JOIN.split(part) if c.strip()]


def grafts_a_clause(claim: str, passage: str, question: str, idf: Mapping[str, float] | None, floor: float,
                    min_words: int) -> bool:
    """One statement of the claim has (almost) none of its own words in the passage, while the others carry the
    claim's share: an assertion grafted onto a faithful one ("L'intérêt légitime peut servir de base légale …,
    mais il est important de vérifier la qualité des résultats …", every word after "mais" the passage's). Word
    share over the whole sentence cannot see it. A statement with fewer than ``min_words`` words of its own
    (beyond the question's) is not judged alone: "…, ce qui est rare" leans on the rest."""
    parts = clauses(claim)
    if len(parts) < 2:
        return False
    asked = set(tokenize(question))
    return any(len(set(tokenize(part)) - asked) >= min_words and lexical_support(part, passage, idf, question) < floor
               for part in parts)


# A view the passage gives to some of those it reports on ("Un participant a considéré que le consentement était la
# base légale la plus adaptée"), not to all of them nor to the author; and the words by which a claim keeps a view a
# view ("selon un participant", "some contributors suggest", "estime").
_MINORITY_VIEW = re.compile(
    r"\b(?:un|une|certain(?:e)?s|plusieurs|quelques|d['’]autres|deux|trois|one|some|several|a\s+few|two|three)\s+"
    r"(?:des\s+|of\s+the\s+)?(?:participant|contribut(?:eur|rice|or)|r[ée]pondant|respondent|intervenant)s?\b",
    re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"\b(?:participants?|contribut\w*|r[ée]pondants?|respondents?|intervenants?|selon|d['’]apr[èe]s|according|"
    r"avis|views?|opinions?|estim\w*|consid[éèe]r\w*|jug\w*|sugg[éèe]r\w*|suggest\w*|propos\w*|soul[èe]v\w*|"
    r"rel[eè]v\w*|pointed|argu\w*)\b", re.IGNORECASE)


def drops_an_attribution(claim: str, passage: str, idf: Mapping[str, float] | None = None) -> bool:
    """The passage sentence closest to the claim gives its statement as the view of some of those it reports on
    (one participant, some contributors), and the claim states it as a fact, with no word that attributes it: a
    minority's view made the guidance's ("La base légale la plus adaptée … est le consentement" from "Un participant
    a considéré que le consentement … était la base légale la plus adaptée"). Every word of the claim is the
    passage's: word overlap cannot see it."""
    # Most passages give no one's view: no sentence splitting for them (it runs per claim and passage).
    if _ATTRIBUTION.search(claim) or not _MINORITY_VIEW.search(passage):
        return False
    weights = rarity_weights(set(tokenize(claim)), idf)
    units = sentences(passage)
    if not units or not weights:
        return False
    return bool(_MINORITY_VIEW.search(units[_closest(units, weights)]))
