"""A model on an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama): the shared deployment's backend.

The same two things as the in-process backend (:mod:`.llama`), over HTTP:

* a draft, streamed, held to the GBNF grammar where the server takes one (llama.cpp: ``grammar``; vLLM:
  ``guided_grammar``). The refusal margin is read from the first token's ``top_logprobs`` (a one-token request
  first), and the bias applied to it as in-process: above the bias the draft is the refusal literal; below it but
  above zero the refusal's first tokens (found with the server's tokenizer) are banned by ``logit_bias``;
* a judgement: one token, its ``top_logprobs``, yes against no.

Only the top tokens are listed, so a side missing from them is bounded by the smallest logprob listed: the
margin is then a bound (logged). A server that lacks logprobs, a tokenizer or grammars still gets every answer
checked by the verifier, which does not depend on the model; :meth:`ServerBackend.weaker_checks` says what
is weaker, for ``ask doctor`` and a log line at first use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from gdpr_assistant.models.backend import Generation, GenerationStats, Judgement, ModelError
from gdpr_assistant.settings import ModelSettings

log = logging.getLogger(__name__)

TOP_LOGPROBS = 20  # the OpenAI API's maximum, and vLLM's default max_logprobs
_NOT_AN_ANSWER_START = ("[", "]", "\n")  # as in models/llama.py: the refusal competes with real answer starts
_RETRY_STATUS = (502, 503, 504)  # a proxy in front of a server that is (re)starting


@dataclass
class Margin:
    """Log-odds of one side against the other from a top-logprobs list; ``bound`` when a side was not listed."""

    value: float
    bound: str = ""  # "", "upper" or "lower"


def margin(top: Sequence[tuple[str, float]], first: Sequence[str], other: Sequence[str] | None) -> Margin | None:
    """Best logprob among listed tokens that begin one of ``first``, minus the best among tokens that begin one
    of ``other`` (``None``: any token that is not a ``first`` one and may begin an answer). A side absent from
    the list is at most the smallest logprob listed: the result is then an upper or a lower bound. None when
    neither side is listed (nothing can be said)."""
    def begins(token: str, words: Sequence[str]) -> bool:
        return bool(token) and any(w.startswith(token) for w in words)

    floor = min((lp for _, lp in top), default=None)
    mine = [lp for t, lp in top if begins(t, first)]
    if other is None:
        theirs = [lp for t, lp in top if t and not begins(t, first) and t[:1] not in _NOT_AN_ANSWER_START]
    else:
        theirs = [lp for t, lp in top if begins(t, other) and not begins(t, first)]
    if floor is None or (not mine and not theirs):
        return None
    if not mine:
        return Margin(floor - max(theirs), "upper")
    if not theirs:
        return Margin(max(mine) - floor, "lower")
    return Margin(max(mine) - max(theirs))


@dataclass
class _Capabilities:
    """What the server turned out to offer (learnt from its answers: nothing is assumed that it did not show)."""

    flavour: str = ""  # "llama.cpp", "vllm" or "other"
    tokenize: str | None = None  # the tokenizer endpoint that answered
    logprobs: bool | None = None
    warned: set[str] = field(default_factory=set)


class ServerBackend:
    """Implements :class:`~gdpr_assistant.models.backend.ModelBackend` over an OpenAI-compatible chat API.
    Thread-safe: the server serves several users at once (it batches them, or queues them itself)."""

    def __init__(self, settings: ModelSettings) -> None:
        assert settings.llm_url
        self.url = settings.llm_url.rstrip("/")
        self.root = self.url.removesuffix("/v1")  # llama.cpp and vLLM put their tokenizer beside /v1
        self.model = settings.llm_model
        self.timeout = settings.llm_timeout
        self.retries = max(0, settings.llm_retries)
        self.name = self.model or urlsplit(self.url).netloc
        self.size = 0  # unknown: a draft that fails is never written again by a "larger" judge on a server
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # connect: a server that is down fails fast; read: the time between two streamed tokens (a long prompt
        # is read before the first one, hence the generous default).
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout, connect=5.0),
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        self._caps = _Capabilities()
        self._token_ids: dict[str, list[int] | None] = {}
        self._lock = threading.Lock()

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def _error(self, exc: Exception | None = None, status: int = 0, body: str = "") -> ModelError:
        """The error a user sees: which server, what happened, the fix. The key is never part of it."""
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ModelError(f"The model server at {self.url} sent nothing for {self.timeout:.0f} s: it is "
                              "overloaded or stuck. Try again, raise ASK_LLM_TIMEOUT, or give the server more "
                              "capacity.")
        if exc is not None:
            return ModelError(f"The model server at {self.url} cannot be reached ({exc.__class__.__name__}). Start "
                              "it (e.g. `python -m llama_cpp.server --model PATH --port 8000`), or set ASK_LLM_URL "
                              "to where it runs.")
        if status in (401, 403):
            return ModelError(f"The model server at {self.url} refused the key (HTTP {status}): set ASK_LLM_API_KEY.")
        if status == 404:
            return ModelError(f"The model server at {self.url} has no model {self.model!r} or no chat API (HTTP "
                              "404): check ASK_LLM_MODEL and that ASK_LLM_URL ends with /v1.")
        return ModelError(f"The model server at {self.url} failed (HTTP {status}: {body[:200]}). Check its log.")

    def _post(self, path: str, payload: dict[str, Any], stream: bool = False) -> httpx.Response:
        """POST with a few short retries while the server cannot be reached (restarting, or a proxy's 502-504).
        A streamed response is returned open: the caller reads and closes it."""
        for attempt in range(self.retries + 1):
            try:
                request = self._http.build_request("POST", f"{self.url}{path}", json=payload)
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == self.retries:
                    raise self._error(exc) from exc
            except httpx.HTTPError as exc:
                raise self._error(exc) from exc
            else:
                if response.status_code < 400:
                    return response
                body = response.read().decode(errors="replace") if stream else response.text
                response.close()
                if response.status_code not in _RETRY_STATUS or attempt == self.retries:
                    raise self._error(status=response.status_code, body=body)
            time.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _body(self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int,
              logprobs: bool = False) -> dict[str, Any]:
        # Greedy, like the in-process model: llama-cpp-python's server would add a repeat penalty of 1.1 by default.
        body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                                "seed": seed, "top_k": 1, "repeat_penalty": 1.0}
        if logprobs:
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        if self.model:
            body["model"] = self.model
        return body

    def _first_token(self, messages: list[dict[str, str]], cache_prompt: bool = True) -> dict[str, Any]:
        """One token with its top logprobs: the choice object. Asked apart from the streamed draft because
        llama-cpp-python's server sorts the whole vocabulary in Python for every token that reports logprobs
        (about 1 s a token here); the draft that follows reuses the prompt the server has just read."""
        body = self._body(messages, 1, 0.0, 0, logprobs=True)
        if not cache_prompt:
            body["cache_prompt"] = False
        response = self._post("/chat/completions", body)
        try:
            data = response.json()
            choice: dict[str, Any] = data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._error(status=response.status_code, body=response.text) from exc
        choice["usage"] = data.get("usage") or {}
        return choice

    # -- what the server offers ------------------------------------------------------------------------------------
    def flavour(self) -> str:
        """llama.cpp (its servers answer /extras/tokenize or /props), vLLM (/version) or another server."""
        if not self._caps.flavour:
            found = "other"
            for path, name in (("/extras/tokenize", "llama.cpp"), ("/props", "llama.cpp"), ("/version", "vllm")):
                try:
                    method = "POST" if path == "/extras/tokenize" else "GET"
                    payload = {"input": "a"} if method == "POST" else None
                    r = self._http.request(method, f"{self.root}{path}", json=payload, timeout=5.0)
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    found = name
                    break
            self._caps.flavour = found
        return self._caps.flavour

    def tokenize(self, text: str) -> list[int] | None:
        """The server's token ids of ``text`` (None: the server has no tokenizer endpoint, or could not answer now:
        only an endpoint found absent is remembered as such)."""
        if text in self._token_ids:
            return self._token_ids[text]
        absent = 0
        # llama-cpp-python's server, then llama.cpp's and vLLM's (each ignores the other's field names). The
        # timeout is the generation's: llama-cpp-python tokenizes only between two requests.
        for path, payload in (("/extras/tokenize", {"input": text}),
                              ("/tokenize", {"content": text, "prompt": text, "add_special": False})):
            if self._caps.tokenize not in (None, path):
                continue
            try:
                r = self._http.post(f"{self.root}{path}", json={**payload, **({"model": self.model} if self.model
                                                                               else {})})
            except httpx.HTTPError:
                return None  # busy or restarting: asked again next time
            if r.status_code == 200 and isinstance(r.json().get("tokens"), list):
                self._caps.tokenize = path
                self._token_ids[text] = [int(t) for t in r.json()["tokens"]]
                return self._token_ids[text]
            absent += r.status_code in (404, 405)
        if absent == 2:
            self._token_ids[text] = None
        return None

    def _first_token_ids(self, literal: str) -> list[int] | None:
        """Ids of the single tokens that begin ``literal`` ("N", "NO", "NON", …), as the in-process backend finds
        them in the vocabulary; None when the server cannot tokenize."""
        ids: set[int] = set()
        for n in range(1, len(literal) + 1):
            got = self.tokenize(literal[:n])
            if got is None:
                return None
            if len(got) == 1:
                ids.add(got[0])
        return sorted(ids)

    def weaker_checks(self) -> list[str]:
        """What this server makes weaker than the in-process model (for ``ask doctor`` and the log)."""
        weaker = []
        if self.flavour() == "other":
            weaker.append("no grammar: drafts are not held to the citation grammar (the verifier still checks "
                          "every sentence and drops what is not supported)")
        if self._first_token_ids("NON") is None:
            weaker.append("no tokenizer endpoint: the refusal bias cannot be applied (the model refuses as it "
                          "likes; refusals stay refusals, never unchecked answers)")
        if self._caps.logprobs is False:
            weaker.append("no logprobs: the refusal margin is not measured and yes/no judgements are the model's "
                          "greedy word (±5), not calibrated log-odds")
        weaker.append("top-20 logprobs only: a side missing from them makes a margin a bound")
        return weaker

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._caps.warned:
            self._caps.warned.add(key)
            log.warning("Model server %s: %s", self.url, message)

    # -- drafts ----------------------------------------------------------------------------------------------------
    def generate(self, request: Generation, stats: GenerationStats) -> Iterator[str]:
        body = self._body(request.messages, request.max_tokens, request.temperature, request.seed)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        if request.grammar:
            flavour = self.flavour()
            if flavour == "llama.cpp":
                body["grammar"] = request.grammar
            elif flavour == "vllm":
                body["guided_grammar"] = request.grammar
            else:
                self._warn_once("grammar", "no grammar support known; drafts are checked by the verifier only.")
        t0 = time.perf_counter()
        if request.refusal:
            probe = self._first_token(request.messages)
            stats.prompt_tokens = int(probe["usage"].get("prompt_tokens") or 0)
            self._read_refusal_margin(probe.get("logprobs"), request.refusal, stats)
            if stats.refusal_margin is not None and stats.refusal_margin - request.refusal_bias > 0:
                # The model's first token, biased as in-process, begins the refusal: the grammar leaves it nothing
                # else to write, so the literal is the draft (no second request).
                stats.ttft_s = stats.total_s = time.perf_counter() - t0
                stats.completion_tokens = 1
                yield request.refusal
                return
            bias = self._refusal_logit_bias(request.refusal, request.refusal_bias, stats.refusal_margin)
            if bias:
                body["logit_bias"] = bias
        for attempt in range(self.retries + 1):
            response = self._post("/chat/completions", body, stream=True)
            sent = False
            try:
                for chunk in _events(response):
                    if chunk.get("usage"):
                        stats.prompt_tokens = int(chunk["usage"].get("prompt_tokens") or stats.prompt_tokens)
                    choices = chunk.get("choices") or []
                    if not choices:
                        continue
                    delta = (choices[0].get("delta") or {}).get("content")
                    if not delta:
                        continue  # the role chunk, or the last one
                    if not sent:
                        stats.ttft_s = time.perf_counter() - t0
                        sent = True
                    stats.completion_tokens += 1
                    yield delta
                break
            except (httpx.TransportError, httpx.StreamError) as exc:
                if isinstance(exc, httpx.TimeoutException):
                    raise self._error(exc) from exc  # an overloaded server: asking again would only add load
                # Nothing shown yet: try again (a restarting server); half an answer cannot be taken back.
                if sent or attempt == self.retries:
                    raise ModelError(f"The model server at {self.url} stopped in the middle of an answer "
                                     f"({exc.__class__.__name__}). Ask again; if it persists, check that the "
                                     "server is running.") from exc
                time.sleep(0.5 * 2 ** attempt)
            finally:
                response.close()
        stats.total_s = time.perf_counter() - t0

    def _refusal_logit_bias(self, refusal: str, bias: float, margin: float | None) -> dict[str, float]:
        """``logit_bias`` for a draft that must not refuse. With the margin measured, only when the model prefers
        the refusal but by less than the bias: its first tokens are then banned (-100). Without it, the bias
        itself. Either applies at every position (the API has no first-token-only bias): the refusal literal's
        first tokens ("N", "NON") rarely begin a word of an answer."""
        if margin is not None and margin <= 0:
            return {}  # greedy decoding answers anyway
        if not bias and margin is None:
            return {}
        ids = self._first_token_ids(refusal)
        if not ids:
            self._warn_once("bias", "no tokenizer endpoint: the refusal bias is not applied.")
            return {}
        value = -100.0 if margin is not None else max(-100.0, min(100.0, -bias))  # ±inf is not JSON
        return {str(i): value for i in ids}

    def _read_refusal_margin(self, logprobs: dict[str, Any] | None, refusal: str, stats: GenerationStats) -> None:
        top = _top_logprobs(logprobs)
        if top is None:
            self._caps.logprobs = False
            self._warn_once("logprobs", "no logprobs: the refusal margin is not measured.")
            return
        self._caps.logprobs = True
        found = margin(top, [refusal], None)
        if found is not None:
            stats.refusal_margin = found.value
            if found.bound:
                log.info("Refusal margin %+.2f is an %s bound (a side not among the top %d tokens).", found.value,
                         found.bound, TOP_LOGPROBS)

    # -- judgements ------------------------------------------------------------------------------------------------
    def judge(self, request: Judgement) -> float:
        """Log-odds of yes over no at the first token. ``cache_prompt: false`` asks llama.cpp's server to read the
        prompt whole (a reused prefix moved judgements by up to 0.36 nats in-process); other servers ignore it."""
        choice = self._first_token(request.messages, cache_prompt=False)
        top = _top_logprobs(choice.get("logprobs"))
        if top is None:
            # A server without logprobs: only its greedy word is known, so a clear yes or no, never calibrated.
            self._caps.logprobs = False
            self._warn_once("judge", "no logprobs: judgements are the model's greedy yes/no (±5 nats).")
            word = ((choice.get("message") or {}).get("content") or "").strip()
            return 5.0 if any(y.startswith(word) for y in request.yes) and word else -5.0
        self._caps.logprobs = True
        found = margin(top, list(request.yes), list(request.no))
        if found is None:  # neither yes nor no among the top tokens: no evidence of a yes
            log.info("Judgement: neither yes nor no among the top %d tokens; counted as no.", TOP_LOGPROBS)
            return -10.0
        if found.bound:
            log.info("Judgement %+.2f is an %s bound (a side not among the top %d tokens).", found.value, found.bound,
                     TOP_LOGPROBS)
        return found.value

    # -- health ----------------------------------------------------------------------------------------------------
    def check(self) -> None:
        """The server answers and serves the configured model (without generating anything)."""
        try:
            r = self._http.get(f"{self.url}/models", timeout=5.0)
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        if r.status_code >= 400:
            raise self._error(status=r.status_code, body=r.text)
        served = [str(m.get("id")) for m in (r.json().get("data") or []) if isinstance(m, dict)]
        if self.model and served and self.model not in served:
            raise ModelError(f"The model server at {self.url} serves {', '.join(served)}, not {self.model!r}: set "
                             "ASK_LLM_MODEL to one of them.")
        with self._lock:
            if "checked" not in self._caps.warned:  # said once per process, when the server is first used
                self._caps.warned.add("checked")
                for weaker in self.weaker_checks()[:-1]:
                    log.warning("Model server %s: %s.", self.url, weaker)


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to ``[DONE]``."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except ValueError:
            continue


def _top_logprobs(logprobs: dict[str, Any] | None) -> list[tuple[str, float]] | None:
    """The first token's alternatives from an OpenAI chat ``logprobs`` object (None: not given)."""
    content = (logprobs or {}).get("content") or []
    if not content:
        return None
    top = content[0].get("top_logprobs") or []
    listed = [(str(t.get("token", "")), float(t["logprob"])) for t in top if t.get("logprob") is not None]
    if not listed and content[0].get("logprob") is not None:
        listed = [(str(content[0].get("token", "")), float(content[0]["logprob"]))]
    return listed or None
