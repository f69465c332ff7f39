"""Follow-up questions -> standalone questions, before retrieval.

A follow-up that refers back ("Which tasks does it unify?", "How many domains does the dataset
span?") is resolved deterministically: the subject of the previous turn (a name in the last
user question, else the short title of the first paper the last answer cited, else an earlier
user question's name) replaces the first pronoun or "this method / the dataset / the authors".
No model call, so no latency and nothing invented. Only when no subject can be found does the
model rewrite; its text is accepted only if it is one question that keeps every content word of
the follow-up, takes a word from the conversation, and brings in no number or entity absent
from it (a small model often answers instead, or echoes a role label); else the last user turn
and the follow-up are joined. A question that does not refer back is used as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant import grounding, prompting
from assistant.grounding.textnorm import CAP_STOPWORDS
from assistant.protocols import ChatModel, Message
from assistant.types import Answer

__all__ = [
    "Subject",
    "acceptable",
    "assistant_message",
    "cited_titles",
    "fallback",
    "previous_subject",
    "refers_back",
    "resolve",
    "standalone_question",
    "subject_of",
]

HISTORY_TURNS = 4
HISTORY_CHARS = 1200
_PRONOUNS = grounding.content_words("it its they them their this that these those one ones")

# Nouns a follow-up uses for the thing the last turn was about ("this method", "the dataset").
_HEADS = (
    "paper|work|study|article|method|approach|technique|model|framework|system|algorithm|"
    "dataset|benchmark|corpus|collection|architecture|tool|toolkit|predictor|scorer|ranker|"
    "retriever|pipeline|agent|metric|survey|network|library|suite|platform|project|idea|"
    "proposal|solution|strategy|recipe|data set|language model"
)
_ADJ = r"(?:(?:new|proposed|presented|introduced|above|same)\s+)?"
# "this/that X" always points back; "the X" only when no clause of its own follows (not "the
# model they train", "the dataset of ..."), which would make it a different thing.
_NOT_OWN_CLAUSE = r"(?!\s+(?:they|that|which|who|we|you|i|he|she|of|from|used|trained)\b)"
_ANAPHORS = re.compile(
    rf"\b(?:(?P<dem>this|that)\s+{_ADJ}(?P<dhead>{_HEADS})\b"
    rf"|(?P<def>the)\s+{_ADJ}(?P<head>{_HEADS})\b{_NOT_OWN_CLAUSE}"
    r"|(?P<authors>(?:the|these|its|their)\s+authors)\b"
    r"|(?P<pro>it|its|they|them|their|theirs)\b"
    r"|(?P<bare>this|that)(?=\s*(?:[?.!,;]|$)))",
    re.IGNORECASE,
)
# "What about X?", "And on BIG-Bench?": a fragment that borrows the last question's frame.
_ELLIPTIC = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+|^\s*and\s+", re.IGNORECASE)

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.'-]*[A-Za-z0-9]|[A-Za-z0-9]")
# Generic acronyms name a topic, not a paper: used only when nothing better is named.
_GENERIC = {
    "LLM", "LM", "NLP", "AI", "ML", "RAG", "QA", "VQA", "MoE", "GPU", "CPU", "API", "SOTA",
    "CV", "RL", "VLM", "LVLM", "MLLM", "PEFT", "LoRA", "BERT", "GPT", "NLU", "NLG", "OK",
}  # fmt: skip
# A question about several papers: "they" and "them" afterwards mean those papers.
_MANY = re.compile(r"\b(?:which|what)\s+(?:papers|works|studies|methods|models)\b", re.I)
# The question frames whose object is the subject: "What is X", "Tell me about X", ...
_FRAMES = re.compile(
    r"^(?:(?:so|ok|okay|and|now)[, ]+)?(?:"
    r"(?:what|who)(?:'s|\s+is|\s+are|\s+was|\s+were)\s+(?P<a>.+?)(?:\s+about)?"
    r"|(?:tell\s+me|talk|what\s+do\s+you\s+know)\s+(?:more\s+)?about\s+(?P<b>.+)"
    r"|(?:explain|describe|summari[sz]e|introduce|define|overview\s+of)\s+(?P<c>.+)"
    r"|(?:give\s+me\s+)?(?:an?\s+)?(?:overview|summary)\s+of\s+(?P<d>.+)"
    r"|what\s+(?:does|do|did)\s+(?P<e>.+?)\s+(?:do|contain|propose|introduce|present|offer|"
    r"study|address|solve|show|achieve|mean|provide|include)"
    r")\s*[?.!]*$",
    re.IGNORECASE,
)
_THE_NAME_HEAD = re.compile(
    rf"\b(?:the|this|that)\s+(?P<name>(?:[\w.'-]+\s+){{0,2}}?[\w.'-]+)\s+(?P<head>{_HEADS})\b",
    re.IGNORECASE,
)
_CITED = re.compile(r"^\s*\[(\d{1,3})\]\s+(.+?)(?:\s+\([^()\s]+\))?\s*$", re.MULTILINE)
MAX_SUBJECT_WORDS = 5


@dataclass(frozen=True)
class Subject:
    """What the last turn was about: a name ("UniVTG") and the noun it came with ("dataset")."""

    name: str
    head: str = ""
    plural: bool = False

    def phrase(self, head: str = "") -> str:
        """The name as a noun phrase: "the GUIDE dataset" for a dataset, "Cappy" for a paper."""
        head = (head or self.head).lower()
        if (
            not head
            or head in ("paper", "work", "study", "article")
            or self.name.startswith(("the ", "The "))
        ):
            return self.name
        return f"the {self.name} {head}"


# ---- finding the subject --------------------------------------------------------------------


def _name_like(token: str, first: bool) -> bool:
    """A coined or proper name: mixed case (UniVTG, xP3, HoME), digits (M4LE, Taskmaster-1),
    capitals (GUIDE, SIM-RAG), or a capitalised word that does not open the question (Cappy)."""
    if re.fullmatch(r"[A-Z]+s", token) or token.lower() in CAP_STOPWORDS:
        return False
    letters = [c for c in token if c.isalpha()]
    if not letters:
        return False
    mixed = any(c.isupper() for c in token[1:]) and any(c.islower() for c in token)
    digit = any(c.isdigit() for c in token) and any(c.isupper() for c in token)
    caps = len(letters) >= 2 and all(c.isupper() for c in letters)
    capitalised = token[0].isupper() and not first
    return mixed or digit or caps or capitalised


def _name_runs(text: str) -> list[str]:
    """Runs of adjacent name-like words ("Distilling step-by-step", "Tree-of-Code")."""
    runs: list[list[str]] = []
    last_end = -2
    for m in _TOKEN.finditer(text):
        token = m.group().rstrip(".'")
        first = m.start() == 0 or bool(re.search(r"[.!?:]\s*$", text[: m.start()]))
        joined = text[last_end : m.start()] == " "
        if _name_like(token, first):
            if runs and joined:
                runs[-1].append(token)
            else:
                runs.append([token])
            last_end = m.start() + len(token)
        elif runs and joined and "-" in token and token.islower():
            runs[-1].append(token)  # "Distilling step-by-step": a name's hyphenated tail
            last_end = m.start() + len(token)
    return [" ".join(r) for r in runs if r]


def _best_run(runs: Sequence[str]) -> str | None:
    specific = [r for r in runs if r not in _GENERIC]
    return next(iter(specific or runs), None)


def subject_of(question: str) -> Subject | None:
    """The paper, method or dataset a user question is about, if it names one."""
    q = " ".join(question.split()).strip()
    if not q:
        return None
    for m in _THE_NAME_HEAD.finditer(q):
        name = m.group("name")
        if _name_runs(" " + name) == [name]:  # "the GUIDE dataset", not "the large dataset"
            return Subject(name=name, head=m.group("head").lower())
    frame = _FRAMES.match(q)
    if frame:
        obj = next(g for g in frame.groups() if g)
        obj = re.sub(r"^(?:the|a|an)\s+", "", obj.strip(" ?.!"), flags=re.IGNORECASE)
        obj = re.sub(r"\s+(?:paper|in detail|briefly|work)$", "", obj, flags=re.IGNORECASE)
        runs = _name_runs(obj)
        named = _best_run(runs)
        plural = bool(re.match(r"^(?:what|who)\s+(?:are|were)\b", q, re.IGNORECASE))
        if named and named not in _GENERIC:
            return Subject(name=named, plural=plural)
        if obj and len(obj.split()) <= MAX_SUBJECT_WORDS and not _ANAPHORS.search(obj):
            return Subject(name=obj, plural=plural)
    named = _best_run(_name_runs(q))
    return Subject(name=named) if named else None


def cited_titles(content: str) -> list[str]:
    """Titles of the sources an assistant message lists ("[1] Title" or "[1] Title (id)")."""
    return [m.group(2).strip() for m in _CITED.finditer(content)]


def _title_subject(title: str) -> Subject:
    head, colon, _ = title.partition(":")
    if colon and 0 < len(head.split()) <= 3:
        return Subject(name=head.strip(), head="paper")
    return Subject(name=title.strip(), head="paper")  # no short name: the title itself


def previous_subject(history: Sequence[Message]) -> Subject | None:
    """The subject of the conversation's last turn: a name in the last user question; else the
    first paper the last answer cited; else a name in an earlier user question."""
    turns = [m for m in history if m.get("role") in ("user", "assistant")][-2 * HISTORY_TURNS :]
    users = [m["content"] for m in turns if m["role"] == "user"]
    last_user = users[-1] if users else ""
    if _MANY.search(last_user):
        return None  # "they" may mean any of the listed papers: left to the model
    found = subject_of(last_user) if last_user else None
    if found:
        return found
    after_user = False
    for m in turns:  # the assistant message that answered the last user question
        if m["role"] == "user":
            after_user = m["content"] == last_user
        elif after_user and (titles := cited_titles(m["content"])):
            return _title_subject(titles[0])
    for earlier in reversed(users[:-1]):
        found = subject_of(earlier)
        if found:
            return found
    return None


# ---- substituting it ------------------------------------------------------------------------


def _cap(text: str, like: str) -> str:
    return text[:1].upper() + text[1:] if like[:1].isupper() and text[:1].islower() else text


def _replacement(m: re.Match[str], subject: Subject) -> str:
    word = m.group(0)
    if m.group("dhead") or m.group("head"):
        return _cap(subject.phrase(m.group("dhead") or m.group("head")), word)
    if m.group("authors"):
        return _cap(f"the {subject.name} authors", word)
    pro = (m.group("pro") or m.group("bare") or "").lower()
    if pro in ("its", "their", "theirs"):
        return _cap(f"{subject.phrase()}'s", word)
    if pro == "they" and not subject.plural:
        return _cap(f"the {subject.name} authors", word)  # "they" of one paper: its authors
    return _cap(subject.phrase(), word)


def refers_back(question: str) -> bool:
    return bool(_ANAPHORS.search(question) or _ELLIPTIC.match(question))


def resolve(question: str, subject: Subject, previous: str = "") -> str | None:
    """``question`` with its first back-reference replaced by ``subject``; None when it has none.

    An elliptic follow-up ("What about TaskExpert?") takes the previous question with its
    subject swapped; one without a name of its own ("And on BIG-Bench?") gets the subject added.
    """
    q = " ".join(question.split())
    if subject.name.lower() in q.lower():
        return q  # already names it
    own = _best_run(_name_runs(q))
    named = own is not None and own not in _GENERIC
    for m in _ANAPHORS.finditer(q):
        if named and m.group("def"):
            continue  # "the model in Cappy": a question naming its paper means its own model
        return q[: m.start()] + _replacement(m, subject) + q[m.end() :]
    e = _ELLIPTIC.match(q)
    rest = q[e.end() :].strip(" ?.!") if e else ""
    if not rest:
        return q if named else None
    other = subject_of(rest)
    if other is None or not rest.lower().startswith(
        (other.name.lower(), f"the {other.name.lower()}")
    ):
        return f"{subject.phrase()}: {rest}?"  # a fragment: "And on BIG-Bench?"
    if subject.name in previous:
        return previous.replace(subject.name, other.name, 1)  # the same question, of another
    return None


# ---- the model's rewrite, and the old fallback ---------------------------------------------


def _history_text(history: Sequence[Message]) -> str:
    turns = [m for m in history if m.get("role") in ("user", "assistant")][-HISTORY_TURNS:]
    text = "\n".join(f"{m['role']}: {m['content']}" for m in turns)
    return text[-HISTORY_CHARS:]


def fallback(question: str, history: Sequence[Message]) -> str:
    users = [m["content"] for m in history if m.get("role") == "user"]
    return f"{users[-1]} {question}".strip() if users else question


# What a small model writes instead of a question: a role label or the start of an answer.
_NOT_A_QUESTION = re.compile(r"^\W*(?:user|assistant|answer|the answer|the abstract)\b", re.I)


def acceptable(rewritten: str, question: str, history: Sequence[Message]) -> bool:
    """A rewrite is used only if it is still one question, keeps every content word of the
    follow-up, takes at least one word from the conversation (else it resolved nothing), and
    brings in no number or entity the conversation does not have."""
    if not rewritten or len(rewritten) > 4 * max(len(question), 80):
        return False
    if not rewritten.rstrip().endswith("?") or _NOT_A_QUESTION.match(rewritten):
        return False
    needed = grounding.content_words(question) - _PRONOUNS
    words = grounding.content_words(rewritten)
    if not needed <= words:
        return False
    said = grounding.content_words(" ".join(m["content"] for m in history))
    if not (words - grounding.content_words(question)) & said:
        return False
    context = question + " " + " ".join(m["content"] for m in history)
    new_numbers = grounding.extract_numbers(rewritten) - grounding.extract_numbers(context)
    ctx_lower = context.lower()
    new_entities = {e for e in grounding.extract_entities(rewritten) if e.lower() not in ctx_lower}
    return not new_numbers and not new_entities


def _model_rewrite(question: str, history: Sequence[Message], llm: ChatModel) -> str:
    history_text = _history_text(history)
    messages = prompting.split_system_user("rewrite", history=history_text, question=question)
    if llm.prompt_tokens(messages) + 48 > llm.n_ctx:
        return fallback(question, history)
    gen = llm.generate(messages, max_tokens=48, stop=["\n"], temperature=0.0)
    rewritten = grounding.strip_unsafe(gen.text).strip().strip('"')
    return rewritten if acceptable(rewritten, question, history) else fallback(question, history)


def standalone_question(question: str, history: Sequence[Message], *, llm: ChatModel) -> str:
    """The question as retrieval should see it, given the conversation so far."""
    if not _history_text(history):
        return question
    if not refers_back(question):
        return question  # names its own subject, or starts a new topic: no joining
    subject = previous_subject(history)
    if subject is not None:
        users = [m["content"] for m in history if m.get("role") == "user"]
        resolved = resolve(question, subject, users[-1] if users else "")
        if resolved:
            return resolved
    return _model_rewrite(question, history, llm)


def assistant_message(answer: Answer) -> Message:
    """An answer as a history message: its text, then the cited titles that
    :func:`previous_subject` reads back ("[1] Title")."""
    cited = "\n".join(f"[{c.marker}] {c.title}" for c in answer.citations)
    return {"role": "assistant", "content": answer.answer + (f"\n\n{cited}" if cited else "")}
