"""Prompt templates: turn a problem's text into chat messages (TRL's conversational format).

`think_answer` is the Logic-RL / DUMP system prompt, tidied; `dump_kk` is the DUMP paper's
knights-and-knaves system prompt character for character (its spacing included), for
reproductions; `short` is a one-line version for the tiny CPU model (fewer tokens per step);
`plain` passes the question through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

THINK_ANSWER_SYSTEM = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind "
    "and then provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here "
    "</think><answer> answer here </answer>. Now the user asks you to solve a logical reasoning problem. "
    "After thinking, when you finally reach a conclusion, clearly state the answer within "
    "<answer> </answer> tags. For knights and knaves, state the identity of each character, i.e., "
    "<answer> (1) Zoey is a knight\n(2) ... </answer>."
)

# Verbatim from the DUMP data (the system turn of every prompt in its kk_logic_* parquet files),
# including "and<answer>", the double space and the trailing newline: a reproduction should
# show the model exactly the text the paper's model saw.
DUMP_KK_SYSTEM = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind "
    "and then provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and<answer> </answer> tags, respectively, i.e., <think> reasoning process here "
    "</think><answer> answer here </answer>.  Now the user asks you to solve a logical reasoning problem. "
    "After thinking, when you finally reach a conclusion, clearly state the identity of each character "
    "within <answer> </answer> tags. i.e., <answer> (1) Zoey is a knight\n(2) ... </answer>.\n"
)

SHORT_SYSTEM = "Think in <think> </think>, then answer in <answer> </answer>."

Messages = list[dict[str, str]]


def think_answer(question: str) -> Messages:
    return [{"role": "system", "content": THINK_ANSWER_SYSTEM}, {"role": "user", "content": question}]


def dump_kk(question: str) -> Messages:
    return [{"role": "system", "content": DUMP_KK_SYSTEM}, {"role": "user", "content": question}]


def short(question: str) -> Messages:
    return [{"role": "system", "content": SHORT_SYSTEM}, {"role": "user", "content": question}]


def plain(question: str) -> Messages:
    return [{"role": "user", "content": question}]


TEMPLATES: dict[str, Callable[[str], Messages]] = {
    "think_answer": think_answer,
    "dump_kk": dump_kk,
    "short": short,
    "plain": plain,
}


def render(template: str, question: str) -> Messages:
    return TEMPLATES[template](question)
