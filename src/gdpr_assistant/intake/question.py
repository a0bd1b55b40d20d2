"""Input checks that come before retrieval: question hygiene, personal data, out-of-policy asks, steering."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from stdnum import iban as stdnum_iban
from stdnum.fr import nir as stdnum_nir

from gdpr_assistant.text.words import fold


class QuestionError(ValueError):
    """The question cannot be processed as typed; the message says what to change."""


# Control characters, zero-width marks and lone surrogates (undecodable bytes in a command-line argument
# arrive as surrogates, and the embedder and the model both need valid UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")
_EMPTY = "Empty question: type a question about GDPR or AI compliance."


def clean_question(text: object, max_chars: int) -> str:
    """The question as the pipeline uses it, or :class:`QuestionError` with what to change."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if text is None:
        raise QuestionError(_EMPTY)
    if not isinstance(text, str):
        raise QuestionError(f"The question must be text, not {type(text).__name__}.")
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QuestionError(_EMPTY)
    # Before the letter count: for a huge paste, "too long" is the useful thing to hear.
    if len(text) > max_chars:
        raise QuestionError(f"The question is {len(text):,} characters long; the limit is {max_chars:,}. "
                            "Ask about one point at a time, or raise ASK_MAX_QUESTION_CHARS.")
    letters = sum(c.isalpha() for c in text)
    if letters < 2 or letters < len(text) * 0.3:
        raise QuestionError("This does not look like a question (too few letters). Please rephrase it in words.")
    return text


# Personal data the Inserm note asks researchers not to type into AI tools. A pattern finds the candidates;
# the NIR and the IBAN must also pass their check digits (python-stdnum), so that a date, an article number
# or a long figure is not taken for one (1 random 15-digit run in 97 passes the NIR key, 1 in 97 the IBAN's).
_PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "e-mail address": re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b"),
    "phone number": re.compile(r"(?<!\d)(?:\+33\s?|0)[1-9](?:[\s.-]?\d{2}){4}(?!\d)"
                               r"|(?<!\d)\+\d{1,3}[\s.-]?\d{6,12}(?!\d)"),
    # Sex, year, month (or 20-99: unknown), department (2A/2B: Corsica), commune, serial, key.
    "French social security number": re.compile(r"(?<!\d)[12][\s.]?\d{2}[\s.]?(?:0[1-9]|1[0-2]|[2-9]\d)[\s.]?"
                                                r"(?:\d{2}|2[AB])[\s.]?\d{3}[\s.]?\d{3}[\s.]?\d{2}(?!\d)"),
    "IBAN": re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b"),
}


def _valid_nir(candidate: str) -> bool:
    return stdnum_nir.is_valid(re.sub(r"[\s.]", "", candidate))


def _valid_iban(candidate: str) -> bool:
    # The pattern may have taken a word typed after the number ("… 189 MERCI"): drop trailing groups until valid.
    groups = candidate.split()
    return any(stdnum_iban.is_valid("".join(groups[:n])) for n in range(len(groups), 0, -1))


_CHECKS: dict[str, Callable[[str], bool]] = {"French social security number": _valid_nir, "IBAN": _valid_iban}


def personal_data_found(text: str) -> list[str]:
    # Upper case: IBANs are often typed in lower case, Corsican NIRs with "2a"; the other patterns are case-free.
    upper = text.upper()
    found = []
    for kind, pattern in _PII_PATTERNS.items():
        check = _CHECKS.get(kind)
        if any(check is None or check(m.group()) for m in pattern.finditer(upper if check else text)):
            found.append(kind)
    return found


def personal_data_warning(kinds: list[str], lang: str) -> str:
    what = ", ".join(kinds)
    if lang == "en":
        return (f"Warning: your question seems to contain personal data ({what}). It stays on this computer, "
                "but Inserm's guidance is to avoid typing personal data into AI tools.")
    return (f"Attention : votre question semble contenir des données personnelles ({what}). Elles restent sur "
            "cet ordinateur, mais l'Inserm recommande de ne pas en saisir dans les outils d'IA.")


def question_warnings(question: str, lang: str) -> list[str]:
    """What the interfaces show next to the answer; warnings never block a question."""
    kinds = personal_data_found(question)
    return [personal_data_warning(kinds, lang)] if kinds else []


@dataclass
class Policy:
    decline: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)


_CONTACT = re.compile(
    r"(adresse (personnelle|perso|du domicile|postale)|domicile|home address|personal (phone|mobile|number|email"
    r"|e-mail|address)|num[eé]ro (de t[eé]l[eé]phone|de portable|perso)|t[eé]l[eé]phone (personnel|portable)"
    r"|mobile number|phone number|portable (personnel|perso))")


def check_policy(question: str) -> Policy:
    """Requests the assistant declines whatever the corpus says: personal contact details of a person."""
    if _CONTACT.search(fold(question)) or _CONTACT.search(question.lower()):
        return Policy(decline=True, reason="personal-contact")
    return Policy()


def policy_message(reason: str, lang: str) -> str:
    if reason == "personal-contact":
        if lang == "en":
            return ("I cannot give anyone's personal contact details (home address, personal phone or e-mail). "
                    "To reach the CNIL about a project, use its official channels (cnil.fr, its switchboard "
                    "or its online forms).")
        return ("Je ne peux pas communiquer les coordonnées personnelles d'une personne (adresse, téléphone ou "
                "e-mail personnels). Pour joindre la CNIL au sujet d'un projet, passez par ses canaux officiels "
                "(cnil.fr, standard, formulaires en ligne).")
    return ""


# Text in a document that speaks to the assistant instead of about its subject: a user-added file may carry
# instructions meant to steer the model (prompt injection). One family alone is usually a document that
# *describes* such attacks; two or more together are an attempt. Matched on folded text (no case, no accents).
_STEERING: dict[str, re.Pattern[str]] = {
    "override": re.compile(r"\b(ignore[rsz]?|disregard|forget|oublie[rsz]?|ne tiens? pas compte)\b.{0,40}"
                           r"\b(instructions?|consignes?|regles|rules|prompts?|directives?)\b"),
    "role": re.compile(r"\b(you are now|from now on,? you|act as|tu es (desormais|maintenant)|vous etes "
                       r"(desormais|maintenant)|mode (libre|developpeur)|developer mode|jailbreak)\b"),
    "output": re.compile(r"\b(answer|reply|respond)\b.{0,30}\b(only|every|all)\b|\brepond(s|ez)?\b.{0,30}"
                         r"\b(uniquement|seulement|toujours)\b|\b(ne cite|do not cite|don't cite|without citing"
                         r"|sans citer)\b"),
    "prompt": re.compile(r"\b(system prompt|prompt (systeme|system)|revea\w* your (instructions|prompt)|"
                         r"(affiche|revele|donne)[rsz]? (integralement )?(ton|tes|votre|vos) (prompt|instructions|"
                         r"consignes))\b"),
}


def steering_signals(text: str) -> list[str]:
    folded = re.sub(r"\s+", " ", fold(text))
    return [family for family, pattern in _STEERING.items() if pattern.search(folded)]


def addresses_the_assistant(text: str) -> bool:
    """Whether a passage carries instructions aimed at the model rather than content about its subject."""
    return len(steering_signals(text)) >= 2


def steering_warning(docs: list[str], lang: str) -> str:
    names = ", ".join(docs)
    if lang == "en":
        return (f"Some passages of {names} contain instructions addressed to the assistant (\"ignore previous "
                "instructions…\"). They were not used for this answer; check where this document comes from.")
    return (f"Des passages de {names} contiennent des instructions adressées à l'assistant (« ignore les "
            "instructions précédentes… »). Ils n'ont pas servi à cette réponse ; vérifiez la provenance de ce "
            "document.")


# Said in both languages: the user wrote in neither.
LANGUAGES_ONLY = ("Je réponds en français et en anglais uniquement : posez votre question dans l'une de ces langues. "
                  "/ I answer in French and English only: please ask your question in one of these languages.")
