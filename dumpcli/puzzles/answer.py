"""The answer block and the format rule shared by every verifier.

Logic-RL's format rule (used by DUMP): exactly one each of `<think>`, `</think>`, `<answer>`,
`</answer>`, in that order; text before `<think>` or after `</answer>` is allowed. The answer is
the last `<answer>...</answer>` block. Tags are matched case-insensitively (`<Answer>` counts);
on the standard lower-case tags this is exactly Logic-RL.

Every scan here is a linear pass over the text (one simple regex, no nested quantifiers), so a
1 MB completion costs milliseconds; the answer block itself is capped at `MAX_ANSWER_CHARS`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any, NamedTuple

import orjson

MAX_ANSWER_CHARS = 20_000
MAX_TAGS = 64  # beyond this the format has long failed; stop pairing tags one by one
_TAG = re.compile(r"<(/?)([tT][hH][iI][nN][kK]|[aA][nN][sS][wW][eE][rR])>")  # any case, ASCII only
_ORDER = {("", "think"): 0, ("/", "think"): 1, ("", "answer"): 2, ("/", "answer"): 3}
_STANDARD = [("", "think"), ("/", "think"), ("", "answer"), ("/", "answer")]


class Block(NamedTuple):
    """What a completion's tags say.

    format_ok  Logic-RL's format rule holds
    answer     stripped text of the last <answer>...</answer> block; None when unusable
    problem    why `answer` is None ("" when it is not)
    """

    format_ok: bool
    answer: str | None
    problem: str


def answer_block(completion: str) -> Block:
    """Split a raw completion into (format ok, last answer block): a C-level check for the usual
    four tags in order, else one pass over the tags."""
    if not isinstance(completion, str):
        return Block(False, None, f"completion is {type(completion).__name__}, not text")
    if _TAG.findall(completion) == _STANDARD:  # the common case, all in C: exactly Logic-RL's format
        return _block(
            True, completion[completion.rfind("<answer>") + len("<answer>") : completion.rfind("</answer>")]
        )
    counts = [0, 0, 0, 0]
    firsts = [-1, -1, -1, -1]
    start = close = last_open = -1
    for i, m in enumerate(_TAG.finditer(completion)):
        if i == MAX_TAGS:
            return _many_tags(completion)
        k = _ORDER[(m.group(1), m.group(2).lower())]
        counts[k] += 1
        if firsts[k] < 0:
            firsts[k] = m.start()
        # blocks pair up left to right like Logic-RL's re.finditer(r"<answer>(.*?)</answer>"):
        # a block opens at the first <answer> after the previous block's end
        if k == 2 and last_open < 0:
            last_open = m.end()
        elif k == 3 and last_open >= 0:
            start, close, last_open = last_open, m.start(), -1
    format_ok = counts == [1, 1, 1, 1] and firsts[0] <= firsts[1] <= firsts[2] <= firsts[3]
    if close < 0:
        return Block(format_ok, None, "no <answer>...</answer> block")
    return _block(format_ok, completion[start:close])


def _many_tags(completion: str) -> Block:
    """More than MAX_TAGS tags: the format already fails, so no reward uses the answer; take the
    text between the last </answer> and the <answer> before it, with a few C-level scans."""
    low = completion.lower()
    source = completion if len(low) == len(completion) else low  # same length: same indices
    close = low.rfind("</answer>")
    start = low.rfind("<answer>", 0, close) if close >= 0 else -1
    if start < 0:
        return Block(False, None, "no <answer>...</answer> block")
    return _block(False, source[start + len("<answer>") : close])


def _block(format_ok: bool, text: str) -> Block:
    text = text.strip()
    if not text:
        return Block(format_ok, None, "empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        return Block(format_ok, None, f"answer block longer than {MAX_ANSWER_CHARS} characters")
    return Block(format_ok, text, "")


def visible_text(text: str) -> str:
    """The text as a reader sees it: NFKC-normalised (full-width letters, ligatures and odd spaces
    become plain ones) and without format characters (Unicode category Cf: zero-width spaces and
    joiners, soft hyphens, bidi controls, tag characters). Without this, `k\u200bnight` is a role
    word to a reader but not to a verifier counting role words. ASCII text is returned as is."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if c.isascii() or unicodedata.category(c) != "Cf")


# Letters of other scripts that look like Latin ones (a reader sees "knave" in "kn\u0430ve", with a
# Cyrillic a): a small table from Unicode's confusables (TR39) for the letters that matter here,
# capitals first (Greek capital Nu is an N, its small letter a v), then small letters.
_CAPITAL_LOOKALIKES = str.maketrans(
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТХУЅІЈԚԜ",
    "abezhikmnoptyxabekmhopctxysijqw",
)
_SMALL_LOOKALIKES = str.maketrans(  # Cyrillic, Greek, Latin (dotless i, small capitals), Armenian
    "аеорсухіјѕԁһӏкмнтвԛԝьгпѵαεικνορτυχγηωβμϲϳıȷɑɡɩʋᴀᴄᴅᴇɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢօոսցհ",
    "aeopcyxijsdhlkmhtbqwbrnvaeikvoptuxynwbucjijagiuacdeghijklmnoprstuvwyzonugh",
)


def reader_text(text: str) -> str:
    """Lower-cased text as a reader reads it: HTML entities decoded (`&#107;nave` is `knave`),
    `visible_text`, letters of other scripts that look like Latin ones read as those
    (`_CAPITAL_LOOKALIKES`, `_SMALL_LOOKALIKES`), accents dropped (`knáve` is `knave`)."""
    if "&" in text:
        text = html.unescape(text)
    if text.isascii():
        return text.lower()
    text = visible_text(text).translate(_CAPITAL_LOOKALIKES).lower().translate(_SMALL_LOOKALIKES)
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "".join(
            str(m.get("content", "")) if isinstance(m, dict) else str(m)
            for m in completion
            if not isinstance(m, dict) or m.get("role", "assistant") == "assistant"
        )
    raise ValueError(f"completion must be text or a list of chat messages, got {type(completion).__name__}")


def from_json_text(raw: Any) -> Any:
    """A reference answer given as JSON text (a dataset column) -> the value; anything else as is."""
    if isinstance(raw, (str, bytes)):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ValueError(f"answer: invalid JSON ({e})") from None
    return raw
