"""The noun a question asks about, and whether an evidence sentence gives it a value.

"What batch size did the UDR authors train with?" asks about a *batch size*; "Which base LLM
is IRanker-3B fine-tuned from?" about a *base LLM*. A near-miss question is about a real paper
and retrieves it, but the best sentence either does not speak of that thing at all ("LM
sizes", not batch sizes) or speaks of it without a value ("the base model", never named).

* :func:`asked_noun` reads the noun phrase after the question word (its last word is the
  head: "size" in "batch size"), skipping qualifiers ("specific", "exactly", "two") and
  asides in parentheses.
* :func:`noun_at` finds it in a sentence, allowing the head's category synonyms ("model" for
  "LLM", "benchmark" for "dataset", "boost" for "gain") and the acronyms an abstract defines
  ("large language models (LLMs)"). A measure word ("size", "rate", "hours") is found only with
  one of its modifiers: "LM sizes" is not a batch size.
* :func:`filled` is the strict slot check: a value of the asked type right next to the noun —
  a name or a list for "which X" ("the GSM8K and HotpotQA datasets", "three tasks (moment
  retrieval, ...)", "RoBERTa as the backbone"), a number for "how many X" ("11 tasks").

Pure functions over :mod:`assistant.grounding`'s tokens, no model and no embedder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant import grounding
from assistant.evidence.terms import new_entities
from assistant.grounding.textnorm import CAP_STOPWORDS, stem

# Words of one category: a question asking for one is answered by a sentence saying another.
_CATEGORIES = (
    "model models llm llms lm lms plm plms network networks architecture architectures "
    "backbone backbones encoder encoders decoder decoders transformer transformers",
    "dataset datasets benchmark benchmarks corpus corpora collection collections data "
    "testbed testbeds suite suites",
    "method methods approach approaches technique techniques framework frameworks algorithm "
    "algorithms strategy strategies mechanism mechanisms",
    "task tasks problem problems application applications scenario scenarios",
    "metric metrics measure measures score scores accuracy ap f1 bleu rouge miou ndcg auc "
    "precision recall",
    "stage stages phase phases step steps block blocks round rounds",
    "gain gains improvement improvements improve improves improved boost boosts boosted "
    "increase increases increased outperform outperforms outperformed margin speedup "
    "speed-up better higher",
    "baseline baselines competitor competitors",
    "annotator annotators worker workers crowdworker crowdworkers rater raters participant "
    "participants",
    "language languages",
    "parameter parameters weights",
)
# Measure words name an attribute of something else: only found with a modifier.
_MEASURES = grounding.content_words(
    "size sizes rate rates number count amount length hours hour time duration ratio "
    "dimension dimensions depth width budget cost"
)
# Qualifiers skipped before the noun ("Which specific LLM ...?": an LLM).
_SKIP = {
    "the", "a", "an", "specific", "exact", "exactly", "particular", "precise", "actual",
    "existing", "total", "overall", "other", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "ten", "eleven", "twelve", "several", "main", "different", "single",
}  # fmt: skip
# "What kind of architecture ...?" asks for a description, not a name or a number
_DESCRIBE = {"kind", "kinds", "type", "types", "sort", "sorts", "form", "forms"}
# Heads whose value is a proper name ("Which dataset": GSM8K); "which technique / what
# problem" is answered by a description, which no slot check can recognise.
_NAME_HEADS = grounding.content_words(
    "dataset datasets benchmark benchmarks corpus corpora model models llm llms lm lms plm "
    "backbone backbones encoder encoders decoder decoders network networks architecture "
    "baseline baselines metric metrics library libraries tool toolkit gpu gpus hardware "
    "optimizer optimiser tokenizer venue conference journal company platform organization "
    "institution university lab laboratory software simulator engine country countries "
    "license licence version"
)
# "Who funded ...?": the act asked about, done by someone the sentence must name
_WHO = re.compile(r"\bwho\s+([a-z]+ed)\b", re.IGNORECASE)
# Words that end the noun phrase: verbs, prepositions, pronouns.
_END = {
    "do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "can", "could",
    "would", "will", "should", "may", "might", "be", "been", "in", "of", "on", "for", "from",
    "with", "to", "at", "by", "that", "as", "into", "across", "over", "under", "between",
    "among", "it", "they", "he", "she", "we", "this", "these", "its", "their", "and", "or",
    "used", "using", "make", "makes", "made", "get", "gets", "power", "powers", "drive",
    "drives", "took", "take", "takes", "which", "what", "who",
}  # fmt: skip
_WH = re.compile(r"\b(?:how many|how much|which|what|name the|name)\s+", re.IGNORECASE)
_TOKEN = re.compile(r"\([^()]*\)|[A-Za-z0-9][\w/.+-]*|[?,;:!]")
_GAIN_QUESTION = re.compile(
    r"\b(?:by how much|how much (?:better|faster|higher|lower|more|less)|"
    r"how much does .{0,60}\b(?:improve|gain|boost|outperform|speed)|"
    r"what (?:(?!(?:does|do|did|is|are|was|were|can|could)\b)[\w-]+ ){0,2}"
    r"(?:gain|improvement|boost|speed-?up|margin)s?)\b",
    re.IGNORECASE,
)
# "What fraction of ... ?" is answered by a percentage, whatever noun the sentence uses
_PERCENT_HEADS = grounding.content_words("percentage percent fraction share proportion")
# a gain or a share is a percentage, a ratio, points or a decimal, not a count
_RATIO_VALUE = re.compile(
    r"\d+(?:\.\d+)?\s*(?:%|\\%|x\b|×|times\b|-?fold\b|points?\b|pp\b)|\d+\.\d+", re.IGNORECASE
)
_GAIN_AFTER = 14  # "outperform heavily engineered models trained on ... by more than 1.2 nDCG"
_NEAR_BEFORE = 3  # words between a value and the noun it fills, value first ("GSM8K datasets")
_NEAR_AFTER = 4  # ... noun first ("datasets such as GSM8K", "tasks (moment retrieval, ...")
# a list right after the noun, or after a word or two more ("prompt tuning methods, namely")
_LIST_AFTER = re.compile(
    r"^(?:\s+[\w-]+){0,4}?\s*(?:\(|:|,?\s+(?:such as|including|like|namely|e\.g\.|i\.e\.|"
    r"called|named|dubbed)\b)(?:\s*(?:i\.e\.|e\.g\.),?)?",
    re.IGNORECASE,
)
_ITEM_WORDS = 5  # "text prompt tuning" is an item, "compared to both finetuning and ..." is not


@dataclass(frozen=True)
class AskedNoun:
    words: tuple[str, ...]  # lower-case surface words, the head last
    kind: str  # "name", "quantity", "gain", "percent" or "duration"

    @property
    def head(self) -> str:
        return self.words[-1]

    @property
    def modifiers(self) -> tuple[str, ...]:
        return self.words[:-1]

    @property
    def measure(self) -> bool:
        return _is_measure(self.head)


_COPULA = re.compile(r"\b(what|which)\s+(?:is|are|was|were)\s+(?:the|a|an)\s+", re.IGNORECASE)
_COUNTED = {"number", "amount", "count"}
_SIZE = {"size", "length", "scale", "magnitude"}  # "what is the number of layers": layers, counted
# Metrics are asked for by value ("What accuracy does X reach?"), like measures
_METRIC_WORDS = grounding.content_words(
    "accuracy f1 bleu rouge miou ndcg auc precision recall perplexity error latency throughput"
)
_DURATION_QUESTION = re.compile(
    r"\bhow long\b.{0,60}\b(?:take|takes|took|train|trained|training|last|run|runs)\b|"
    r"\bhow much (?:time|compute)\b",
    re.IGNORECASE,
)
_DURATION_VALUE = re.compile(
    r"\d[\d.,]*\s*-?\s*(?:K\s+)?(?:GPU[- ]?)?(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|"
    r"weeks?|months?|epochs?)\b",
    re.IGNORECASE,
)


def _phrase(question: str) -> tuple[list[str], bool] | None:
    """The words after the question word up to the verb, and whether they are counted ("the
    number of layers"); None for "what kind of X" and "what is the size of X"."""
    question = _COPULA.sub(r"\1 ", question)  # "What is the batch size ...?"
    m = _WH.search(question)
    if not m:
        return [], False
    words: list[str] = []
    counted = False
    for t in _TOKEN.findall(question[m.end() :]):
        low = t.lower()
        if t.startswith("("):
            continue  # an aside: "Which CLIP image encoder (ViT-B/16, ResNet-50, ...)"
        if low == "and" and words:
            continue  # "which image understanding and generation model"
        if low == "of" and len(words) == 1 and words[0] in _COUNTED | {"name", "names"}:
            counted = counted or words[0] in _COUNTED
            words.pop()  # "the name of the base model": the base model
            continue
        if not t[0].isalnum() or low in _END:
            if low == "of" and words and words[-1] in _DESCRIBE:
                return None
            if low == "of" and len(words) == 1 and words[0] in _SIZE:
                return None  # "the size of the dataset": measured in any words
            break
        if not words and (low in _SKIP or low.isdigit()):
            continue
        words.append(low)
        if len(words) > 6:
            return [], False  # not a noun phrase
    return words, counted


def _is_measure(word: str) -> bool:
    return bool(grounding.content_words(word) & _MEASURES)


def asked_noun(question: str, kind: str) -> AskedNoun | None:
    """The noun phrase the question asks about: "batch size" in "What batch size ...?", for
    a quantity question (``kind`` is :func:`assistant.evidence.question_kind`'s, or the noun
    is a measure, a metric or counted), a gain ("By how much ...?"), a share, a duration
    ("How long did training take?") or a "which X" question whose X has proper names (a
    dataset, a model). None otherwise: open questions, "how large is X" and "what is the size
    of X" (the answer measures X in any words), "what kind of X" (a description) and "which
    technique".
    """
    if _DURATION_QUESTION.search(question):
        return AskedNoun(("time",), "duration")
    if who := _WHO.search(question):
        return AskedNoun((who.group(1).lower(),), "name")
    found = _phrase(question)
    if found is None:
        return None
    words, counted = found
    if _GAIN_QUESTION.search(question):
        return AskedNoun(tuple(words) or ("gain",), "gain")
    if not words:
        return None
    head = grounding.content_words(words[-1])
    if head & _PERCENT_HEADS:
        return AskedNoun(tuple(words), "percent")
    how_many = re.match(r"how (?:many|much)\b", _wh_text(question), re.IGNORECASE)
    if head & _NAME_HEADS and not how_many and not counted:
        return AskedNoun(tuple(words), "name")  # "which multi-task LLM ..., and how many ..."
    if kind == "quantity" or counted or head & (_MEASURES | _METRIC_WORDS):
        return AskedNoun(tuple(words), "quantity")
    return None


def _wh_text(question: str) -> str:
    m = _WH.search(question)
    return question[m.start() :] if m else ""


def _stem(word: str) -> str:
    s = stem(word.lower().strip(".-"))
    return s[:-1] if len(s) > 3 and s.endswith("s") and not s.endswith("ss") else s


def _same(a: str, b: str) -> bool:
    return a == b or (len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5])


# by surface form, not stem: a stem would make "our work" a worker and a "set" a setting
_CATEGORY_OF: dict[str, int] = {w: i for i, group in enumerate(_CATEGORIES) for w in group.split()}


def _category(word: str) -> int | None:
    w = word.lower().strip(".-")
    return _CATEGORY_OF.get(w, _CATEGORY_OF.get(w[:-1] if w.endswith("s") else w))


def acronyms(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Acronyms the texts define, with the stems they stand for: "large language models
    (LLMs)" -> {"llm": ("larg", "languag", "model")}."""
    out: dict[str, tuple[str, ...]] = {}
    for text in texts:
        for m in re.finditer(r"((?:[\w-]+\s+){1,6})\(([A-Z][A-Za-z]*[A-Z])s?\)", text):
            acro = m.group(2)
            words = m.group(1).split()
            letters = [c.lower() for c in acro if c.isupper()]
            initials = [w[0].lower() for w in words]
            n = len(letters)
            if n and initials[-n:] == letters:
                out[acro.lower()] = tuple(_stem(w) for w in words[-n:])
    return out


def _matches(word: str, token: str, acro: dict[str, tuple[str, ...]]) -> bool:
    if "-" in token.strip("-"):  # "three-stage": a stage
        return any(_matches(word, part, acro) for part in token.split("-") if part)
    a, b = _stem(word), _stem(token)
    if _same(a, b):
        return True
    ca, cb = _category(word), _category(token)
    if ca is not None and ca == cb:
        return True
    return bool(acro.get(word.lower().rstrip("s")) and _same(acro[word.lower().rstrip("s")][-1], b))


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int


def _words(sentence: str) -> list[_Word]:
    return [_Word(m.group(), m.start(), m.end()) for m in re.finditer(r"[\w][\w/.%+-]*", sentence)]


def noun_at(noun: AskedNoun, sentence: str, acro: dict[str, tuple[str, ...]]) -> list[int]:
    """Word positions in ``sentence`` where the asked noun's head occurs (with a modifier
    nearby when the head is a measure word); empty when the sentence does not speak of it."""
    ws = _words(sentence)
    at = [i for i, w in enumerate(ws) if _matches(noun.head, w.text, acro)]
    if noun.kind == "gain":
        return at
    if noun.measure and noun.modifiers:
        near = []
        for i in at:
            window = ws[max(0, i - 3) : i + 4]
            if any(_matches(m, w.text, acro) for m in noun.modifiers for w in window):
                near.append(i)
        at = near
    return at


def filled(
    noun: AskedNoun, sentence: str, question: str, acro: dict[str, tuple[str, ...]]
) -> bool | None:
    """True when a value of the asked type sits right next to the noun, False when the noun is
    there without one, None when the sentence does not speak of it."""
    if noun.kind == "percent":  # the share's noun varies: "zero activations", "of the data"
        return bool(_RATIO_VALUE.search(sentence))
    if noun.kind == "duration":  # "trained for 3 days", "in 12 GPU hours"
        return bool(_DURATION_VALUE.search(sentence))
    at = noun_at(noun, sentence, acro)
    if at and noun.kind == "gain":  # "improves the click rate by 2.3%"
        ws = _words(sentence)
        for i in at:
            lo = ws[max(0, i - _NEAR_BEFORE)].start  # "another 5.0 point nDCG improvement"
            window = sentence[lo : ws[min(len(ws) - 1, i + _GAIN_AFTER)].end]
            if _RATIO_VALUE.search(re.split(r"[:;]", window[ws[i].start - lo :])[0]) or (
                _RATIO_VALUE.search(sentence[lo : ws[i].start])
            ):
                return True
        return False
    if not at:
        # "From which datasets ...?" - "a meta-training set from UnifiedQA and CrossFit"
        return True if noun.kind == "name" and _free_names(sentence, question, noun) else None
    ws = _words(sentence)
    q_numbers = grounding.extract_numbers(question)
    for i in at:
        lo = ws[max(0, i - _NEAR_BEFORE - len(noun.modifiers))].start  # "Llama as the base LLM"
        hi = ws[min(len(ws) - 1, i + _NEAR_AFTER)].end
        window = sentence[lo:hi]  # with the noun itself: "a three-stage training strategy"
        if noun.kind == "quantity":
            if grounding.extract_numbers(window) - q_numbers:
                return True
            continue
        if _names(sentence[lo : ws[i].start], question) or _names(
            sentence[ws[i].end : hi], question
        ):
            return True
        rest = sentence[ws[i].end :]
        m = _LIST_AFTER.match(rest)
        if m and (_listed(rest[m.end() :]) or _names(_clause(rest[m.end() :]), question)):
            return True
    return False


def _free_names(sentence: str, question: str, noun: AskedNoun) -> bool:
    """A list of new names in ``sentence`` ("from UnifiedQA and CrossFit"), not right after
    a noun of another category ("techniques including Same Topic Prediction (STP), ...":
    techniques, not encoders)."""
    names = new_entities(sentence, question) - _GENERIC_NAMES
    spans = sorted(
        (m.start(), m.end())
        for n in names
        for m in re.finditer(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", sentence)
    )
    mine = _category(noun.head)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if not _JOIN.fullmatch(sentence[end:start]):
            continue
        before = _words(sentence[: spans[0][0]])[-4:]
        return not any(_category(w.text) not in (None, mine) for w in before)
    return False


_JOIN = re.compile(r"\s*(?:,|,?\s+and|,?\s+or)\s+", re.IGNORECASE)


def _clause(text: str) -> str:
    return re.split(r"[.;)]", text, maxsplit=1)[0]


def _names(text: str, question: str) -> bool:
    return bool(new_entities(text, question) - _GENERIC_NAMES)


def _listed(rest: str) -> bool:
    """Two or more short items right at the start of ``rest``: "moment retrieval, highlight
    detection and video summarization)"."""
    body = _clause(rest)
    items = [x.strip() for x in re.split(r",|\band\b|\bor\b", body) if x.strip()]
    if len(items) < 2 or any(len(x.split()) > _ITEM_WORDS for x in items[:3]):
        return False
    return items[0].split()[0].lower() not in CAP_STOPWORDS


_GENERIC_NAMES = {"First", "Second", "Third", "Finally", "Specifically", "Experiments"}


def noun_features(
    question: str, kind: str, sentences: Sequence[str], abstracts: Sequence[str]
) -> tuple[float, float]:
    """(absent, unfilled) of the asked noun in the best of ``sentences`` (the lead sentences):
    absent when none speaks of it, unfilled when some do and none gives it a value. (0, 0)
    when the question asks about no noun."""
    noun = asked_noun(question, kind)
    if noun is None or not sentences:
        return 0.0, 0.0
    acro = acronyms(abstracts)
    states = [filled(noun, s, question, acro) for s in sentences]
    if any(s is True for s in states):
        return 0.0, 0.0
    if any(s is False for s in states):
        return 0.0, 1.0
    return 1.0, 0.0
