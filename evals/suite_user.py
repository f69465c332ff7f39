"""The ``user`` suite: questions in the user's own words (issue 16), reported per split.

Every fixture written the way readers ask goes through ``Assistant.ask``: paraphrased
single-paper questions, near-misses and off-topic ones, "which papers ...?" questions,
two-turn follow-ups and multi-paper questions. Every metric is computed separately on the
``dev`` rows (tune on them) and the ``test`` rows (report on them; only ``test_*`` is gated).

Definitions (a question that abstains scores 0 on every recall-like metric):

* key facts are *shown* when any alternative occurs in the answer text or in a citation's
  marked span (``Citation.span``), matched as :func:`evals.metrics.fact_found` does. The rest
  of a quote does not count: the span is what the user's eye is led to.
* span key facts: the share of key facts inside some citation's ``span``.
* paper recall / precision ("which papers"): the distinct cited papers against the complete
  gold list, per question, then the mean over questions. Nothing cited has precision 0.
* a resolved follow-up names its paper when ``Answer.standalone_question`` (or, when that is
  None, the second turn itself) contains one of the paper's names, see :func:`paper_names`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from assistant.errors import FixtureError
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.types import Answer, Paper
from evals import metrics as M
from evals import suites as S
from evals.cases import FIXTURES_DIR
from evals.descriptions import USER_HELP
from evals.gate import CaseResult, SuiteResult
from evals.suite_shown import answer_shown

SPLITS = ("test", "dev")
Split = Literal["dev", "test"]
ChatFn = Callable[[Assistant, str, Sequence[Message]], Answer]
Tick = Callable[[BaseModel], None]


# --- fixtures ------------------------------------------------------------------------------------


class UserCase(BaseModel):
    """One row of a user-words fixture file; unused fields stay empty."""

    id: str
    kind: str  # paraphrase | near_miss | off_topic | which_papers | followup | multi
    split: Split
    question: str = ""  # for a follow-up: its second turn
    first_turn: str = ""
    gold_titles: list[str] = Field(default_factory=list)
    gold_ids: list[str] = Field(default_factory=list)
    key_facts: list[list[str]] = Field(default_factory=list)


class UserCases(BaseModel):
    cases: list[UserCase]
    titles: dict[str, str]  # paper_id -> title, for the paper names of follow-ups
    texts: dict[str, str]  # paper_id -> title + abstract

    def of(self, kind: str, split: str) -> list[UserCase]:
        return [c for c in self.cases if c.kind == kind and c.split == split]


FILES = ("qa_paraphrase", "qa_nearmiss", "qa_which_papers", "qa_followups", "qa_multi")


def load_user_cases(papers: Sequence[Paper], fixtures_dir: Path = FIXTURES_DIR) -> UserCases:
    """Read the five files; titles resolve to ids and fail loudly when one no longer matches."""
    ids = {" ".join(p.title.split()): p.paper_id for p in papers}
    cases: list[UserCase] = []
    for name in FILES:
        path = fixtures_dir / f"{name}.jsonl"
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "split" not in row:
                raise FixtureError(f"{path.name}:{n}: no split")
            kind = {"qa_paraphrase": "paraphrase", "qa_which_papers": "which_papers"}.get(name)
            kind = kind or {"qa_followups": "followup", "qa_multi": "multi"}.get(name, "")
            case = UserCase(
                id=row["id"],
                kind=kind or row["kind"],
                split=row["split"],
                question=row["turns"][1] if "turns" in row else row["question"],
                first_turn=row["turns"][0] if "turns" in row else "",
                gold_titles=row.get("gold_titles", []),
                key_facts=row.get("key_facts", []),
            )
            try:
                case.gold_ids = [ids[" ".join(t.split())] for t in case.gold_titles]
            except KeyError as exc:
                raise FixtureError(f"{case.id}: no paper titled {exc} in the corpus") from None
            cases.append(case)
    return UserCases(
        cases=cases,
        titles={p.paper_id: p.title for p in papers},
        texts={p.paper_id: f"{p.title}\n\n{p.abstract}" for p in papers},
    )


# --- metrics (pure) ------------------------------------------------------------------------------


def spans(ans: Answer) -> list[str]:
    """The non-empty marked spans of the answer's citations."""
    return [c.span for c in ans.citations if c.span.strip()]


def shown_fact_recall(facts: Sequence[Sequence[str]], ans: Answer) -> float:
    """Share of key facts in the answer text or a marked span (0 when abstaining)."""
    return 0.0 if ans.abstained else M.key_fact_recall(facts, [ans.answer, *spans(ans)])


def span_fact_recall(facts: Sequence[Sequence[str]], ans: Answer) -> float:
    """Share of key facts inside some citation's marked span (0 when abstaining)."""
    return 0.0 if ans.abstained else M.key_fact_recall(facts, spans(ans))


def quote_fact_recall(facts: Sequence[Sequence[str]], ans: Answer) -> float:
    """The qa suite's rule (answer + whole quotes), to compare with the span rule."""
    texts = [ans.answer, *(c.quote for c in ans.citations)]
    return 0.0 if ans.abstained else M.key_fact_recall(facts, texts)


def cited_papers(ans: Answer) -> list[str]:
    return list(dict.fromkeys(c.paper_id for c in ans.citations))


def paper_recall(cited: Sequence[str], gold: Sequence[str]) -> float:
    if not gold:
        raise ValueError("paper_recall needs at least one gold paper")
    return len(set(cited) & set(gold)) / len(set(gold))


def paper_precision(cited: Sequence[str], gold: Sequence[str]) -> float:
    """Share of cited papers that are gold; 0 when nothing is cited (an empty list is no
    answer, and scoring it 1 would reward abstaining)."""
    return len(set(cited) & set(gold)) / len(set(cited)) if cited else 0.0


def _name_re(name: str) -> re.Pattern[str]:
    # hyphens and spaces are interchangeable ("Tree of Code"); no match inside a longer word
    body = r"[-\s]+".join(re.escape(part) for part in re.split(r"[-\s]+", name) if part)
    return re.compile(r"(?<![A-Za-z0-9])" + body + r"(?![A-Za-z0-9])", re.IGNORECASE)


def names_in(text: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if _name_re(n).search(text)]


def _token(word: str) -> str:
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", word)


def _odd(token: str) -> bool:
    """A name-like token: a digit, or a capital after its first letter in a token of 4+
    characters (UniVTG, M4LE, GUIDE; not the generic LMs, NLP, GPT)."""
    if any(ch.isdigit() for ch in token):
        return len(token) >= 2
    return len(token) >= 4 and token[1:] != token[1:].lower()


# function words a title may use that name nothing (rule 3 of paper_names)
TITLE_STOPWORDS = {
    *("a", "an", "and", "the", "on", "for", "with", "from", "into", "via", "using", "when"),
    *("through", "towards", "toward", "across", "between", "beyond", "within", "without"),
}


def paper_names(
    title: str, others: Sequence[str], first_turn: str = "", text: str = ""
) -> list[str]:
    """The names that pick out the paper titled ``title``; ``others`` are the title + abstract
    of every other paper in the corpus, ``text`` this paper's. Distinctive means: it occurs
    in none of ``others`` (matched case-insensitively, hyphen = space, whole words).

    1. the part of the title before its first ':', '!' or '?' when that is at most two words
       (Cappy, Tree-of-Code, Distilling Step-by-Step), the name the fixtures' verifier keeps
       out of second turns;
    2. distinctive name-like title tokens (:func:`_odd`: HoME, Self-Practicing; not RAG, which
       other papers use too);
    3. only when 1 and 2 give nothing: distinctive title words of 4+ letters (Crosslingual);
    4. distinctive name-like tokens of the first turn found in ``text`` (xP3, aTLAS, SIM-RAG:
       the user named the method, which the title does not).
    A paper with none of these has no name, and its follow-ups cannot count as resolved.
    """
    head = re.split(r"[:!?]", title)[0]
    names = [_token(head)] if head != title and len(head.split()) <= 2 else []

    def distinctive(token: str) -> bool:
        return token not in names and not any(_name_re(token).search(o) for o in others)

    words = [_token(w) for w in title.split()]
    names += [w for w in words if _odd(w) and distinctive(w)]
    if not names:
        long = [w for w in words if len(w) >= 4 and w.lower() not in TITLE_STOPWORDS]
        names = [w for w in long if distinctive(w)]
    names += [
        w
        for w in dict.fromkeys(_token(x) for x in first_turn.split())
        if _odd(w) and _name_re(w).search(text) and distinctive(w)
    ]
    return names


def resolved_question(ans: Answer, question: str) -> str:
    """The question retrieval ran on: the standalone rewrite, else the follow-up as asked."""
    return (ans.standalone_question or "").strip() or question


# --- running -------------------------------------------------------------------------------------


def default_chat(assistant: Assistant, question: str, history: Sequence[Message]) -> Answer:
    return assistant.ask(question, history=history)


def chat_for(answer_fn: S.AnswerFn) -> ChatFn:
    """The runner's answerer as a ChatFn: a one-argument stand-in (tests' broken answerers)
    gets the second turn without the history; the default asks with it."""
    if answer_fn is S.default_answer:
        return default_chat
    return lambda assistant, question, _history: answer_fn(assistant, question)


def _record(case: UserCase, ans: Answer, secs: float) -> CaseResult:
    return CaseResult(
        suite="user",
        id=case.id,
        kind=case.kind,
        question=case.question,
        answer=ans.answer,
        abstained=ans.abstained,
        citations=[
            {"marker": str(c.marker), "title": c.title, "paper_id": c.paper_id}
            | {"quote": c.quote, "span": c.span}
            for c in ans.citations
        ],
        retrieved=[r.paper_id for r in ans.retrieved],
        seconds=round(secs, 3),
        details={
            "split": case.split,
            "answer_kind": ans.kind,
            "gold": case.gold_ids,
            "shown_rows": answer_shown(ans),
        },
    )


def _score(case: UserCase, ans: Answer, out: CaseResult, cases: UserCases) -> None:
    """Fill ``out.details`` with the case's metric values and ``out.why`` with its misses."""
    d, why = out.details, out.why
    cited = cited_papers(ans)
    if case.kind in ("near_miss", "off_topic"):
        if not ans.abstained:
            why.append("answered instead of abstaining")
        return
    if case.kind == "which_papers":
        d |= {"recall": paper_recall(cited, case.gold_ids)}
        d |= {"precision": paper_precision(cited, case.gold_ids), "list": ans.kind == "list"}
        if d["recall"] < 1.0 or d["precision"] < 1.0:
            why.append(f"papers recall {d['recall']:.2f}, precision {d['precision']:.2f}")
        if ans.kind != "list":
            why.append(f"answer kind {ans.kind!r}, not 'list'")
        return
    if ans.abstained:
        why.append("abstained on an answerable question")
    d |= {
        "shown": shown_fact_recall(case.key_facts, ans),
        "span": span_fact_recall(case.key_facts, ans),
        "quotes": quote_fact_recall(case.key_facts, ans),
        "spans": spans(ans),
        "gold_hit": M.citation_gold_hit(cited, case.gold_ids),
    }
    if not ans.abstained and d["shown"] < 1.0:
        missing = M.missing_facts(case.key_facts, [ans.answer, *spans(ans)])
        why.append("key facts not shown: " + "; ".join(" | ".join(f) for f in missing))
    if case.kind == "followup":
        gold = case.gold_ids[0]
        others = [t for pid, t in cases.texts.items() if pid != gold]
        names = paper_names(cases.titles[gold], others, case.first_turn, cases.texts[gold])
        resolved = resolved_question(ans, case.question)
        d |= {"resolved": resolved, "names": names, "named": bool(names_in(resolved, names))}
        if not d["named"]:
            why.append(f"resolved question {resolved!r} names none of {names}")


def _ask(chat: ChatFn, assistant: Assistant, case: UserCase) -> tuple[CaseResult, Answer]:
    """Ask the case's question; a follow-up first asks its first turn and passes it on as the
    history, the way the chat does. ``seconds`` times the (last) question only."""
    history: list[Message] = []
    first = None
    if case.kind == "followup":
        first = chat(assistant, case.first_turn, [])
        history = [
            {"role": "user", "content": case.first_turn},
            {"role": "assistant", "content": first.answer},
        ]
    t0 = time.perf_counter()
    ans = chat(assistant, case.question, history)
    out = _record(case, ans, time.perf_counter() - t0)
    out.details["standalone_question"] = ans.standalone_question
    if first is not None:
        out.details |= {"first_turn": case.first_turn, "first_answer": first.answer}
    return out, ans


def _split_values(rows: Sequence[CaseResult]) -> dict[str, float | None]:
    def of(*kinds: str) -> list[CaseResult]:
        return [c for c in rows if c.kind in kinds]

    def avg(kind: str, key: str) -> float | None:
        return M.mean(float(c.details[key]) for c in of(kind))

    para = of("paraphrase")
    answered = [c for c in para if not c.abstained]
    words = [len(s.split()) for c in answered for s in c.details["spans"]]
    return {
        "false_abstention": M.rate(bool(c.abstained) for c in para),
        "key_fact_recall": avg("paraphrase", "shown"),
        "span_key_fact": avg("paraphrase", "span"),
        "key_fact_recall_quotes": avg("paraphrase", "quotes"),
        "span_marked_rate": M.rate(bool(c.details["spans"]) for c in answered),
        "mean_span_words": M.mean(float(w) for w in words),
        "citation_gold_hit": M.rate(bool(c.details["gold_hit"]) for c in answered),
        "abstention_near_miss": M.rate(bool(c.abstained) for c in of("near_miss")),
        "abstention_off_topic": M.rate(bool(c.abstained) for c in of("off_topic")),
        "paper_recall": avg("which_papers", "recall"),
        "paper_precision": avg("which_papers", "precision"),
        "list_kind_rate": M.rate(bool(c.details["list"]) for c in of("which_papers")),
        "resolved_names_paper": M.rate(bool(c.details["named"]) for c in of("followup")),
        "followup_key_fact": avg("followup", "shown"),
        "followup_false_abstention": M.rate(bool(c.abstained) for c in of("followup")),
        "multi_key_fact_recall": avg("multi", "shown"),
        "multi_false_abstention": M.rate(bool(c.abstained) for c in of("multi")),
    }


# the fixture rows each metric is computed over: none in a split means "not measured"
POPULATION = {
    "abstention_near_miss": "near_miss",
    "abstention_off_topic": "off_topic",
    "paper_recall": "which_papers",
    "paper_precision": "which_papers",
    "list_kind_rate": "which_papers",
    "resolved_names_paper": "followup",
    "followup_key_fact": "followup",
    "followup_false_abstention": "followup",
    "multi_key_fact_recall": "multi",
    "multi_false_abstention": "multi",
}


def run_user(
    assistant: Assistant,
    cases: UserCases,
    *,
    tick: Tick = lambda _r: None,
    chat: ChatFn = default_chat,
) -> SuiteResult:
    t0 = time.perf_counter()
    results: list[CaseResult] = []
    for case in cases.cases:
        out, ans = _ask(chat, assistant, case)
        _score(case, ans, out, cases)
        out.passed = not out.why
        results.append(out)
        tick(out)
    values: dict[str, float | None] = {}
    unmeasured: list[str] = []
    for split in SPLITS:
        rows = [c for c in results if c.details["split"] == split]
        for name, value in _split_values(rows).items():
            values[f"{split}_{name}"] = value
            if not cases.of(POPULATION.get(name, "paraphrase"), split):
                unmeasured.append(f"{split}_{name}")
    kinds = sorted({*POPULATION.values(), "paraphrase"})
    counts = {f"{s}_{k}": len(cases.of(k, s)) for s in SPLITS for k in kinds}
    return SuiteResult(
        name="user",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help={f"{s}_{k}": f"{s}: {v}" for s in SPLITS for k, v in USER_HELP.items()},
        info={"rows": counts, "unmeasured": unmeasured, "tuned_on": "dev", "gated_on": "test"},
        cases=results,
    )
