"""One line per metric: what it measures (shown in the report tables)."""

QA_HELP = {
    "recall_at_1": "single-paper questions: gold paper ranked first",
    "recall_at_k": "single-paper questions: gold paper among the top_k retrieved",
    "mrr": "single-paper questions: mean reciprocal rank of the gold paper",
    "multi_recall_at_k": "multi-paper questions: share of gold papers among the top_k",
    "citation_validity": "answers whose cited papers were all retrieved",
    "citation_gold_hit": "answered questions citing at least one gold paper",
    "key_fact_recall": "single-paper: key facts in the answer or its quotes (abstain = 0)",
    "key_fact_recall_answer_only": "as key_fact_recall, answer text only (no quotes)",
    "multi_key_fact_recall": "multi-paper: key facts in the answer or its quotes",
    "unsupported_sentence_rate": "shown sentences the judge does not support (vs cited abstracts)",
    "absent_numbers": "count of numbers in shown sentences absent from the cited sources",
    "absent_entities": "count of named entities in shown sentences absent from cited sources",
    "abstention_accuracy": "unanswerable questions the assistant declined",
    "abstention_off_topic": "off-topic questions declined",
    "abstention_near_miss": "near-miss questions (a detail the abstract lacks) declined",
    "false_abstention_rate": "answerable (single + multi) questions declined",
    "absent_term_answers": "unanswerable questions answered with a made-up 'absent term'",
    "model_sentence_share": "shown sentences written by the model (rest are verbatim quotes)",
    "latency_p50_s": "seconds per question, median",
    "latency_p95_s": "seconds per question, 95th percentile",
}
TLDR_HELP = {
    "facts_check_pass_rate": "TL;DRs whose numbers and entities are all in the abstract",
    "faithfulness": "TL;DRs the judge supports against title + abstract",
    "length_compliance": "TL;DRs within the word limit",
    "one_sentence_rate": "TL;DRs that are exactly one sentence",
    "generated_share": "TL;DRs written by the model (rest: extractive fallback)",
    "key_entity_rate": "TL;DRs naming at least one of the paper's key entities",
    "mean_words": "mean TL;DR length in words",
    "seconds_p50": "seconds per TL;DR, median",
}
JUDGE_HELP = {
    "bad_caught_rate": "bad sentences the judge rejects (recall; excl. hard negation)",
    "good_passed_rate": "good sentences the judge accepts",
    "precision": "rejected sentences that are truly bad (excl. hard negation)",
    "hard_negation_caught": "negation-only errors rejected (tracked, not gated)",
    "bad_caught_rate_lexical": "bad_caught_rate without the embedder",
    "good_passed_rate_lexical": "good_passed_rate without the embedder",
    "llm_judge_agreement": "optional LLM judge: verdicts matching the labels",
    "llm_judge_unparsed": "optional LLM judge: replies with neither yes nor no",
}
