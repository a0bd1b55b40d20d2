"""Reading a description: what the system is, what it produces, what it is for, and which case of Fiche 2 applies.

Everything is read with patterns, in French and English, from the user's own words; what the user typed in
the structured fields of :class:`PurposeRequest` wins over what is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gdpr_assistant.intake import question as safety
from gdpr_assistant.purpose.criteria import Case
from gdpr_assistant.settings import Settings
from gdpr_assistant.text.words import fold, tokenize


class PurposeInputError(safety.QuestionError):
    """The description is too thin to draft a purpose from; the message asks for what is missing."""


# -- the request and what is known of the system --------------------------------------------------------------
@dataclass
class PurposeRequest:
    description: str
    operational_use_known: bool | None = None
    general_purpose: bool | None = None
    research: bool | None = None
    research_field: str | None = None
    capabilities: str | None = None
    risky_capabilities: str | None = None
    excluded_functionalities: str | None = None
    conditions_of_use: str | None = None
    lang: str | None = None  # "fr" / "en"; None: the description's language


@dataclass
class Facts:
    """What the program knows about the system: given by the user or found in the description."""

    system: str | None = None  # noun phrase naming the system ("un modèle qui prédit …")
    task: str | None = None  # what it produces, when stated ("prédit", "compare")
    use: str | None = None  # the operational use ("pour prioriser le suivi")
    capabilities: str | None = None
    risky: str | None = None
    excluded: str | None = None
    conditions: str | None = None
    research_field: str | None = None
    publication: str | None = None
    legal: str | None = None
    vague: bool = False
    given: set[str] = field(default_factory=set)  # facts typed in the structured fields (not inferred)

    def as_dict(self) -> dict[str, Any]:
        keys = ("system", "task", "use", "capabilities", "risky", "excluded", "conditions", "research_field",
                "publication", "legal")
        return {k: {"value": getattr(self, k), "source": "user" if k in self.given else "description"}
                for k in keys if getattr(self, k)} | {"vague": self.vague}


# -- reading the description ----------------------------------------------------------------------------------
ART_FR = r"(?:un|une|le|la|les|des|notre|nos|ce|cet|cette|l['’])"
ART_EN = r"(?:a|an|the|our|this|its)"
_HEAD = (r"(?:mod[eè]les?|syst[eè]mes?|algorithmes?|outils?|services?|classifieurs?|r[ée]seaux? de neurones|"
         r"agents? conversationnels?|chatbots?|assistants?|LLMs?|VLMs?|m[ée]thodes?|preuves? de concept|"
         r"applications?|plateformes?|dispositifs?|models?|systems?|algorithms?|tools?|classifiers?|"
         r"neural networks?|methods?|proofs? of concept|platforms?|pipelines?)")
# An article, at most three words that are not themselves articles ("un grand", "an open-source general-purpose
# vision-language"), then a head noun; or a head noun opening a sentence ("Modèle d'aide au tri…").
_SYSTEM = re.compile(rf"(?:\b(?:{ART_FR}|{ART_EN})\s*(?:(?!(?:{ART_FR}|{ART_EN})\b)[\w’'-]+\s+){{0,3}}?|^){_HEAD}\b"
                     r"[^.;!?\n]*", re.IGNORECASE | re.MULTILINE)
# The clause that says what the system is for: "pour prioriser", "afin de", "so that nurses can…".
_USE = re.compile(r"[,(]?\s*\b(?:pour (?:(?:le|la|les|l['’]|leur|leurs|en) )?(?!(?:notre|votre|autre|chaque|entre)\b)"
                  r"\w+(?:er|ir|re)\b|afin (?:de|d['’]|que|qu['’])|pour que|de sorte que|de fa[çc]on à|"
                  r"en vue d['e]\s*(?!une? publication)|destin[ée]e?s? (?:à|aux)|permettant (?:de|d['’]|aux?)|"
                  r"so that|so as to|in order to|to help|to support|to assist|to enable|to allow|to prioriti[sz]e|"
                  r"used by|for use by|which (?:will )?(?:be )?used)", re.IGNORECASE)
_TASK = re.compile(r"\b(?:pr[ée]di[rst]\w*|pr[ée]voi\w*|estim\w+|classe\w*|classifi\w+|d[ée]tect\w+|segment\w+|"
                   r"recommand\w+|compar\w+|tri(?:e|er|ent|age)?|identifi\w+|reconna[iî]\w+|analys\w+|"
                   r"g[ée]n[ée]r(?:e|es|er|ent|ant|ation|ations)|"
                   r"tradu\w+|r[ée]sum\w+|transcri\w+|scor\w+|calcul\w+|d[ée]cri\w+|localis\w+|rep[ée]r\w+|"
                   r"predict\w*|forecast\w*|estimat\w+|classif\w+|detect\w*|recommend\w*|compar\w+|triag\w*|"
                   r"identif\w+|recogni[sz]\w+|analy[sz]\w+|generat\w+|translat\w+|summari[sz]\w+|transcrib\w+|"
                   r"scor\w+|describ\w+|locali[sz]\w+|rank\w*|r[ée]pond\w*|answer\w*|r[ée]dig\w+|draft\w*|"
                   r"writ\w+|expliqu\w+|explain\w*|compl[eè]t\w+|complet\w+|sugg[eè]r\w+|suggest\w*|"
                   r"conseill\w+|advis\w+|alert\w+|signal\w+|orient\w+|attribu\w+|assign\w+|extrai\w+|"
                   r"extract\w+|cibl\w+|target\w+|flag\w+|match\w+)\b", re.IGNORECASE)
# Capabilities a system may have; used to find them in a description and to catch invented ones.
CAPABILITY = re.compile(
    r"\b(?:r[ée]pond\w* (?:à|aux) (?:des )?questions|answer\w* questions|g[ée]n[ée]r\w+ (?:du |des |de la |de )?"
    r"(?:textes?|images?|codes?|contenus?|vid[ée]os?|sons?|audio|r[ée]sum[ée]s?)|generat\w+ (?:text|images?|code|"
    r"content|videos?|audio)|tradu\w+|traductions?|translat\w+|r[ée]sum[ée]\w*|summari[sz]\w+|classifi\w+|"
    r"classer|d[ée]tect\w+|detect\w+|segment\w+|reconna[iî]\w+|recogni[sz]\w+|localis\w+|locali[sz]\w+|"
    r"d[ée]cri\w+|describ\w+|transcri\w+|pr[ée]di[rst]\w*|predict\w*|recommand\w+|recommend\w*|corrig\w+|"
    r"corrections?|correct\w+|lire (?:le |du )?texte|read\w* text|ocr|dialogu\w+|conversation\w*|"
    r"analyse\w* de sentiments?|sentiment analysis|r[ée]dig\w+|extrai\w+|extract\w+|identifi\w+ (?:des )?"
    r"(?:personnes|visages|objets)|identif\w+ (?:people|faces|objects)|code completion|compl[ée]tion de code)\b",
    re.IGNORECASE)
_CAP_CLAUSE = re.compile(r"\b(?:capables? (?:de|d['’])|pouvant|qui (?:peut|pourra|permet(?:tra)? de)|"
                         r"able to|capable of|that can|which can|(?:fonctionnalit[ée]s|capacit[ée]s|capabilities|"
                         r"features|functionalities|t[aâ]ches|tasks)\s*:)\s*", re.IGNORECASE)
VAGUE = re.compile(r"\b(?:(?:mod[eè]le|syst[eè]me|outil)s? d['’](?:IA|intelligence artificielle) g[ée]n[ée]rati"
                    r"(?:ve|f)s?|IA g[ée]n[ée]rative|generative AI(?: model| system)?)\b", re.IGNORECASE)
_RISKY = re.compile(r"(?:les plus (?:à risque|risqu[ée]es)|capacit[ée]s? (?:\w+ )?(?:à risque|risqu[ée]es?|"
                    r"dangereuses?|sensibles?)|risque[s]? (?:principaux|identifi[ée]s|majeurs?)|risky|riskiest|"
                    r"high[- ]risk capabilit\w+|could be misused|misuse|d[ée]tourn\w+|pourrait servir à)",
                    re.IGNORECASE)
_EXCLUDED = re.compile(r"(?:exclu\w*|ne (?:fera|pourra|permettra|sera|proposera) pas|n['’](?:effectuera|inclura|"
                       r"offrira|int[ée]grera) pas|d[ée]sactiv\w+|interdit\w*|bloqu[ée]\w*|will not|won['’]t|"
                       r"does not (?:support|include|offer)|excluded|not designed to|disabled|by design,? no)",
                       re.IGNORECASE)
_CONDITIONS = re.compile(r"(?:conditions? (?:g[ée]n[ée]rales )?d['’]utilisation|licen[cs]e|terms of (?:use|service)|"
                         r"usage (?:r[ée]serv[ée]|limit[ée])|r[ée]serv[ée]e?s? (?:à|aux)|acc[eè]s (?:restreint|"
                         r"r[ée]serv[ée]|sur demande)|restricted to|only (?:for|by|to)|acceptable use|charte "
                         r"d['’]utilisation|conditions of use)", re.IGNORECASE)
_LEGAL = re.compile(r"(?:base l[ée]gale|int[ée]r[eê]t l[ée]gitime|mission (?:d['’]int[ée]r[eê]t public|de service "
                    r"public)|ex[ée]cution d['’]une mission|obligation l[ée]gale|consentement|ex[ée]cution d['’]un "
                    r"contrat|legal basis|lawful basis|legitimate interest|public[- ](?:interest|task)|consent\b|"
                    r"legal obligation|article 6|art\. ?6|autoris[ée]e? par|authori[sz]ed by)", re.IGNORECASE)
_PUBLICATION = re.compile(r"(?:publication|publi(?:er|ée?s?|és)\b|publish\w*|article scientifique|revue "
                          r"scientifique|\bpaper\b|conf[ée]rence|reproductib\w+|peer[- ]review\w*)", re.IGNORECASE)
_RESEARCH_CUES = re.compile(r"(?:recherche scientifique|scientific research|preuve de concept|proof[- ]of[- ]concept|"
                            r"publication|publier|publish\w*|acad[ée]mique|academic|laboratoire|laborator\w+|"
                            r"\blabo\b|th[eè]se|\bphd\b|doctora\w+|chercheu\w+|researchers?|research (?:team|project|"
                            r"purposes?|group)|projet de recherche|[ée]quipe de recherche|[àa] des fins de recherche|"
                            r"for research)", re.IGNORECASE)
GP_CUES = re.compile(r"(?:usage g[ée]n[ée]ral|general[- ]purpose|g[ée]n[ée]raliste|mod[eè]les? de fondation|"
                      r"foundation models?|sans cas d['’]usage|pas (?:encore )?de cas d['’]usage|cas d['’]usage "
                      r"(?:final )?(?:non|pas) (?:encore )?(?:arr[eê]t[ée]|d[ée]fini|connu)|usages? finaux? "
                      r"(?:non|pas|d[ée]pendr)\w*|no (?:specific|final|defined) use|use cases? (?:is|are) not "
                      r"(?:yet )?(?:defined|known|fixed)|downstream (?:uses?|applications?)|any (?:downstream )?use|"
                      r"open[- ]weights?|multi-?t[aâ]ches|polyvalent|r[ée]utilisateurs|re-?users)", re.IGNORECASE)
_GP_TYPES = re.compile(r"(?:grands? mod[eè]les? de langage|large language models?|\bLLMs?\b|vision[- ]lang\w+|"
                       r"\bVLMs?\b|multimodal)", re.IGNORECASE)
_OPERATIONAL_CUES = re.compile(r"(?:d[ée]ploy\w+|en production|int[ée]gr[ée]e? (?:à|au|aux|dans)|utilis[ée]e?s? par|"
                               r"mis[e]? à disposition|aide à la d[ée]cision|decision support|prioris\w+|"
                               r"prioriti[sz]\w+|usagers|agents|soignants|infirmi\w+|nurses|clinicians|"
                               r"staff|caseworkers)", re.IGNORECASE)
# Research fields named by the participants (synthesis) and common in the corpus, with how to say them.
_FIELDS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"dermatolog\w*", re.I), "dermatologie", "dermatology"),
    (re.compile(r"imagerie m[ée]dicale|medical imag\w+|radiolog\w+", re.I), "imagerie médicale", "medical imaging"),
    (re.compile(r"\bm[ée]dical\w*|\bsant[ée]\b|clini\w+|health\w*|h[ôo]pita\w+|hospital\w*|patients?\b", re.I),
     "recherche médicale", "medical research"),
    (re.compile(r"d[ée]mograph\w+", re.I), "recherche démographique", "demographic research"),
    (re.compile(r"audit algorithmique|algorithmic audit\w*", re.I), "audit algorithmique", "algorithmic auditing"),
    (re.compile(r"[ée]pid[ée]miolog\w+", re.I), "épidémiologie", "epidemiology"),
    (re.compile(r"g[ée]nomi\w+|genomic\w*", re.I), "génomique", "genomics"),
    (re.compile(r"linguisti\w+|traitement automatique des langues|natural language processing|\bNLP\b|\bTAL\b", re.I),
     "traitement automatique des langues", "natural language processing"),
    (re.compile(r"vision par ordinateur|computer vision", re.I), "vision par ordinateur", "computer vision"),
    (re.compile(r"apprentissage (?:automatique|profond)?|machine learning|deep learning", re.I),
     "apprentissage automatique", "machine learning"),
    (re.compile(r"sciences? sociales?|social science\w*|sociolog\w+", re.I), "sciences sociales", "social sciences"),
    (re.compile(r"[ée]conomi\w+|economics", re.I), "économie", "economics"),
]
# Sentences that ask for the draft rather than describe the system ("Rédige la finalité…").
_REQUEST = re.compile(r"^\s*(?:r[ée]dige[sz]?|propose[sz]?|formule[sz]?|[ée]cri[st]|[ée]crivez|donne[sz]?|"
                      r"sugg[eè]re[sz]?|aide[sz]?[- ]moi|pouvez-vous|peux-tu|draft|write|propose|suggest|help me|"
                      r"can you|could you|please)\b.*\b(?:finalit[ée]|purpose|formulation|statement)", re.IGNORECASE)
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")


def clean_description(text: str | None, settings: Settings, lang: str | None = None) -> str:
    """The description, normalised; a clear request for more when it is empty or a single word."""
    fr = lang != "en"
    ask_more = ("Décrivez le système d'IA en une ou deux phrases : ce qu'il fait, pour qui, et si son usage est "
                "déjà connu (par exemple : « un modèle qui prédit le risque de réhospitalisation à 30 jours pour "
                "prioriser le suivi des patients »)." if fr else
                "Describe the AI system in a sentence or two: what it does, for whom, and whether its use is "
                "already known (e.g. “a model that predicts the risk of readmission within 30 days so that nurses "
                "can prioritise follow-up calls”).")
    try:
        text = safety.clean_question(text, settings.purpose.purpose_max_chars)
    except safety.QuestionError as exc:
        if "limit" in str(exc):
            raise PurposeInputError(
                f"La description est trop longue (limite : {settings.purpose.purpose_max_chars:,} caractères). Gardez "
                "l'essentiel : ce que fait le système, son usage, ses capacités." if fr else
                f"The description is too long (limit: {settings.purpose.purpose_max_chars:,} characters). Keep what "
                "matters: what the system does, its use, its capabilities.") from exc
        raise PurposeInputError(("Description vide ou illisible. " if fr else "Empty or unreadable description. ")
                                + ask_more) from exc
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if len(words) < settings.purpose.purpose_min_words or len(set(tokenize(text))) < 2:
        raise PurposeInputError(("Description trop courte pour rédiger une finalité. " if fr else
                                 "Too short to draft a purpose from. ") + ask_more)
    return text


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_SPLIT.split(text) if c.strip()]


def core_text(description: str) -> str:
    """The description without the sentences that only ask for the draft."""
    kept = [s for s in _clauses(description) if not _REQUEST.search(s)]
    return " ".join(kept) if kept else description


def _first_clause(pattern: re.Pattern[str], text: str) -> str | None:
    for clause in _clauses(text):
        if pattern.search(clause):
            return clause.rstrip(" .;")
    return None


def _after_cue(pattern: re.Pattern[str], text: str) -> str | None:
    """The clause holding the cue, cut after a colon when there is one ("Exclu : la reconnaissance faciale")."""
    clause = _first_clause(pattern, text)
    if clause and ":" in clause:
        head, _, tail = clause.partition(":")
        if pattern.search(head) and len(tail.split()) >= 2:
            return tail.strip()
    return clause


def read_facts(request: PurposeRequest, core: str, lang: str) -> Facts:
    f = Facts()
    m = _SYSTEM.search(core)
    if m:
        phrase = m.group(0).strip(" ,")
        cut = _USE.search(phrase)
        if cut and cut.start() > 0:
            f.use = phrase[cut.start():].strip(" ,(").rstrip(" )")
            phrase = phrase[:cut.start()].rstrip(" ,(")
        caps = _CAP_CLAUSE.search(phrase)
        if caps and caps.start() > 0:  # the capabilities are a fact of their own
            phrase = phrase[:caps.start()].rstrip(" ,(")
        f.system = phrase
    if f.use is None:
        u = _USE.search(core)
        if u:
            f.use = core[u.start():].split(".")[0].strip(" ,(").rstrip(" );")
    t = _TASK.search(f.system or core)
    f.task = t.group(0) if t else None
    f.risky = _after_cue(_RISKY, core)
    f.excluded = _after_cue(_EXCLUDED, core)
    f.conditions = _after_cue(_CONDITIONS, core)
    f.legal = _first_clause(_LEGAL, core)
    # Capabilities named in the risky or excluded clauses are not capabilities the system is built for.
    rest = " ".join(c for c in _clauses(core) if not any(c.rstrip(" .;").endswith(x) for x in
                                                          (f.risky, f.excluded, f.conditions) if x))
    caps = None
    c = _CAP_CLAUSE.search(rest)
    if c:
        caps = re.split(r"[.;!?\n]", rest[c.end():])[0].strip(" ,")
        # "capable de décrire…, de répondre… et de localiser…" reads as a list without the repeated "de".
        caps = re.sub(r"(,|\bet|\bou)\s+d(?:e\s+|['’])(?=\w+(?:er|ir|re)\b)", r"\1 ", caps)
    elif len({fold(x) for x in CAPABILITY.findall(rest)}) >= 2:
        caps = ", ".join(dict.fromkeys(x.strip() for x in CAPABILITY.findall(rest)))
    f.capabilities = caps or None
    f.vague = bool(VAGUE.search(core)) and not f.capabilities
    pub = _PUBLICATION.search(core)
    f.publication = pub.group(0) if pub else None
    names = [fr if lang == "fr" else en for pattern, fr, en in _FIELDS if pattern.search(core)]
    names = list(dict.fromkeys(names))
    joined = ", ".join(names[:-1]) + (" et " if lang == "fr" else " and ") + names[-1] if len(names) > 1 else ""
    f.research_field = joined or (names[0] if names else None)
    # What the user typed in the structured fields wins over what was read in the description.
    for attr, value in (("research_field", request.research_field), ("capabilities", request.capabilities),
                        ("risky", request.risky_capabilities), ("excluded", request.excluded_functionalities),
                        ("conditions", request.conditions_of_use)):
        if value and value.strip():
            setattr(f, attr, re.sub(r"\s+", " ", value).strip(" .;"))
            f.given.add(attr)
    if "capabilities" in f.given:
        f.vague = False
    return f


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def quoted(text: str, lang: str) -> str:
    """The user's words in the quotation marks of the language."""
    return f"« {text} »" if lang == "fr" else f"“{text}”"


def detect_case(request: PurposeRequest, core: str, facts: Facts, lang: str) -> tuple[Case, str, bool]:
    """(case, why, decided by the user): structured answers first, then cues in the description."""
    fr = lang == "fr"
    flags = [name for name, on in (("research", request.research), ("general_purpose", request.general_purpose),
                                   ("operational", request.operational_use_known)) if on]
    if flags:
        # Research takes precedence: Fiche 2 allows a research purpose whatever the system's generality.
        case: Case = flags[0]  # type: ignore[assignment]
        why = "indiqué par vous" if fr else "as you stated"
        if len(flags) > 1:
            why += (f" (plusieurs cas cochés : {', '.join(flags)} ; le premier retenu)" if fr
                    else f" (several cases ticked: {', '.join(flags)}; the first one kept)")
        return case, why, True
    cues: dict[str, list[str]] = {
        "research": [] if request.research is False else _RESEARCH_CUES.findall(core),
        "general_purpose": [] if request.general_purpose is False else GP_CUES.findall(core),
        "operational": [] if request.operational_use_known is False else _OPERATIONAL_CUES.findall(core),
    }
    if facts.use and request.operational_use_known is not False:
        cues["operational"].append(facts.use)
    if request.operational_use_known is False and request.general_purpose is None and not cues["research"]:
        return "general_purpose", ("usage opérationnel non connu (indiqué par vous)" if fr
                                   else "operational use not known (as you stated)"), True
    gp_types = _GP_TYPES.findall(core) if request.general_purpose is not False else []
    score = {"research": len(cues["research"]), "general_purpose": len(cues["general_purpose"]) + 0.5 * bool(gp_types),
             "operational": len(cues["operational"])}
    if score["research"] >= 2 or (score["research"] and score["research"] >= max(score.values())):
        case = "research"
    elif score["general_purpose"] >= 1 and score["general_purpose"] >= score["operational"]:
        case = "general_purpose"
    elif score["operational"] or request.general_purpose is False or (
            facts.task and request.operational_use_known is not False and request.general_purpose is None):
        case = "operational"
    else:
        case = "general_purpose"  # no use and no task named: nothing narrows the purpose
    found = list(dict.fromkeys(c.strip() for c in cues[case] + (gp_types if case == "general_purpose" else [])))
    if found:
        shown = ", ".join(quoted(_short(c), lang) for c in found[:4])
        why = (f"déduit de la description ({shown})" if fr else f"inferred from the description ({shown})")
    else:
        why = ("déduit par défaut : la description ne nomme ni usage opérationnel ni cadre de recherche" if fr else
               "default: the description names neither an operational use nor a research setting")
    return case, why, False


# -- a chat question that asks for a draft --------------------------------------------------------------------
# "Rédige la finalité…", "Propose une formulation de finalité", "Draft the purpose statement": a request for a
# draft, not a question about purposes ("Comment définir une finalité ?" is answered from the corpus).
_DRAFT_REQUEST = re.compile(r"\b(?:r[ée]dig\w*|propos\w*|formul\w*|[ée]cri[rstv]\w*|draft\w*|write|suggest\w*)\b"
                            r"[^.?!]{0,60}?\b(?:finalit[ée]s?|purpose)\b", re.IGNORECASE)


def is_draft_request(question: str) -> bool:
    return bool(_DRAFT_REQUEST.search(question))
