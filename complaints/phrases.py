"""The forbidden-phrase guard (服务禁语, DOMAIN.md §4): decides whether a customer-facing text says one.

Pure and database-free: the editable list lives elsewhere and is passed in; this module only
decides. Matching is done on a *folded* form of both the phrase and the text, so that the
variants a hurried (or evasive) staff member types are caught:

* Unicode compatibility forms are unified (NFKD, then combining marks dropped: NFKC's effect
  plus accent-insensitivity; Hangul stays decomposed into jamo, which only matters for reading
  ``normalize``'s output): full-width ``ＡＢＣ`` and ``，`` are ``ABC`` and
  ``,``; ``①`` is ``1``; CJK compatibility ideographs are the ordinary ones.
* Case is ignored (``casefold``), and so are diacritics (``dón't`` is ``don't``).
* Invisible characters are treated as absent: zero-width spaces/joiners, soft hyphens, word
  joiners, BOMs, bidi controls, variation selectors, Hangul fillers, the braille blank.
* Apostrophe variants (``' ’ ‘ ʼ ` ´ ′ ＇``) are dropped, so ``don't``, ``don’t`` and ``dont``
  are one word.
* Every other character that is not a letter or a digit (whitespace of any kind including
  non-breaking and ideographic spaces, Chinese and Western punctuation in both widths, symbols,
  emoji, control characters) only separates words and is otherwise removed.
* Latin look-alikes from Cyrillic and Greek (``о`` U+043E for ``o`` …) are read as Latin, and the
  traditional forms of the characters used in the default Chinese phrases as simplified
  (``這事不歸我管`` is ``这事不归我管``).

Word boundaries. Chinese is written without spaces, so a Chinese phrase matches anywhere in the
folded text: ``不 知 道!``, ``不知道。`` and ``不，知道`` are all ``不知道`` (the last one is a
deliberate cost: "不，知道了" is refused too). A phrase edge made of a Latin letter or a digit
must, however, fall on a word boundary of the text: ``impossible`` does not fire inside
``impossibleness`` and ``I'm busy`` does not fire inside ``I'm busybody``. Only the two *ends* of
a match are checked, not the spacing inside it, so ``I d o n ' t  k n o w`` is still caught.
Common English contractions are equivalent to their long forms (``I don't know`` also matches
``I do not know`` and ``I dunno``; ``I'm busy`` matches ``I am busy``).

Allowed contexts (``DEFAULT_ALLOWED``): a few polite everyday expressions that contain a listed
phrase, such as ``如有不清楚的地方，请随时联系我`` ("if anything is unclear, contact me") or
``照片看不清楚，麻烦您再拍一张`` ("the photo is unclear, please take another"). A match lying
entirely inside an allowed expression is not a hit. Everything else that contains a listed phrase
is refused, even where a reader would find it harmless: ``这不可能再发生了`` and "if repair is
impossible, we will replace it" both say 不可能/impossible, and "I'm busy arranging your
replacement" says "I'm busy"; the staff member rephrases ("这种情况不会再发生了", "if we cannot
repair it"). Quality managers can remove a phrase they find too strict.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple


class Phrase(NamedTuple):
    """A forbidden phrase as written, and its language ("zh" or "en"; for people, not matching)."""

    text: str
    language: str


def _zh(*texts: str) -> list[Phrase]:
    return [Phrase(t, "zh") for t in texts]


def _en(*texts: str) -> list[Phrase]:
    return [Phrase(t, "en") for t in texts]


#: The starting list: every phrase of DOMAIN.md §4 exactly as written there (the "A / B"
#: alternatives as two phrases, the more specific one first), each followed by English
#: equivalents; two extra Chinese spellings (做 for the source's 作, 得 for 的) are marked below.
#: Order matters only for which phrase is named when several match: the first listed one.
DEFAULT_PHRASES: tuple[Phrase, ...] = tuple(
    itertools.chain(
        _zh("不知道"),
        _en("I don't know", "I have no idea"),
        _zh("不清楚"),
        _en("not clear to me"),
        _zh("这事不归我管"),
        _en("not my job", "not my responsibility", "not my problem", "that's not my department"),
        _zh("不关我事,你找别人吧"),
        _en("none of my business", "not my business", "go find someone else", "go ask someone else"),
        _zh("您的问题我无法解决,找有关部门吧", "找有关部门吧"),
        _en(
            "I can't solve your problem",
            "go to the relevant department",
            "take it up with the relevant department",
        ),
        _zh("这是公司规定,我也没办法"),
        _en("it's company policy, nothing I can do", "nothing I can do", "rules are rules"),
        _zh("以前这是谁作的,水平这么差"),
        _zh("以前这是谁做的,水平这么差"),  # extra: the usual spelling of the source's 作
        _en("who did this before", "whoever did this before", "what a terrible job"),
        _zh("这是小事,无所谓"),
        _en("it's a trivial matter", "it's no big deal"),
        _zh("你会不会,怎么搞的"),
        _en("do you even know how", "what did you do to it", "how did you manage to break it"),
        _zh("这么简单的问题还问我"),
        _en("such a simple question", "such a basic question", "that's a stupid question"),
        _zh("不可能"),
        _en("impossible"),
        _zh("我是新来的,这我不懂"),
        _en("I'm new here", "I just started here"),
        _zh("我们的机器就这样的", "这种型号的产品都是这样的"),
        _en(
            "our machines are just like that",
            "they're all like that",
            "that's just how they are",
            "this model is always like that",
        ),
        _zh("就这样,没有办法解决,凑合着用"),
        _en("you'll have to live with it", "just live with it", "make do with it"),
        _zh("这是设计问题,我无能为力"),
        _en("it's a design problem, nothing I can do"),
        _zh("这种型号坏的太多,质量不过关"),
        _zh("这种型号坏得太多,质量不过关"),  # extra: the standard 得 for the source's 的
        _en("this model breaks a lot", "this model breaks all the time"),
        _zh("这是新产品,我也不清楚"),
        _en("new product, no idea"),
        _zh("我没空"),
        _en("I'm busy", "I'm too busy", "I don't have time for this", "I have no time for this"),
        _zh("反正我做不了"),
        _en("I can't do it anyway", "I can't do anything about it"),
        _zh("这事你不懂"),
        _en("you wouldn't understand", "you don't understand these things"),
        _zh("不付费,就不去"),
        _en("no pay, no visit", "no payment, no visit", "if you don't pay, we won't come"),
        _zh("我早就告诉你了,怎么又错了"),
        _en("I told you already", "I already told you", "how many times do I have to tell you"),
        _zh("你看手册了吗"),
        _en("did you read the manual", "did you even read the manual", "have you read the manual", "RTFM"),
    )
)

#: Polite expressions that contain a listed phrase; a match entirely inside one is not a hit.
DEFAULT_ALLOWED: tuple[str, ...] = (
    "不清楚的地方",  # 如有不清楚的地方，请随时联系我
    "不清楚之处",
    "有什么不清楚",  # 有什么不清楚的请随时问我
    "听不清楚",  # 电话里我听不清楚，麻烦您再说一遍
    "看不清楚",  # 照片看不清楚，麻烦您再拍一张
    "不知道您是否",  # 不知道您是否方便…  (polite "I wonder whether you…")
    "不知道您什么时候",
    "不知道您何时",
    "不知道您方便",
    "我没空调",  # "I have no air-conditioner [part]", not 我没空
)

#: A phrase as ``Guard`` accepts it: plain text, or a (text, language) pair such as ``Phrase``.
PhraseLike = str | Sequence[str]

# --- folding --------------------------------------------------------------------------------

# Dropped before anything else (NFKD would turn ´ into a space and a combining accent).
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u2018\u201b\u02bc\u02bb\u02b9\u02c8`\u00b4\u2032\uff07\uff40"))

# Invisible characters that are letters or symbols by category (format characters, marks are
# dropped by category).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Applied after casefold: Cyrillic/Greek look-alikes of Latin letters, and the traditional forms
# of the characters used in the default Chinese phrases. No target is itself a key.
_LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l",
    "ԛ": "q", "ԝ": "w", "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "h", "ι": "i", "κ": "k",
    "μ": "m", "ν": "n", "ο": "o", "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ı": "i", "ɑ": "a",
}  # fmt: skip
_TRADITIONAL = "為爲麼麽產産們會關関冊決別辦務單號壞處歸無機來樣沒規設計訴誰謂質費過還這錯門問題簡種著戶嗎湊"
_SIMPLIFIED = "为为么么产产们会关关册决别办务单号坏处归无机来样没规设计诉谁谓质费过还这错门问题简种着户吗凑"
_CHAR_MAP = str.maketrans({**_LOOKALIKES, **dict(zip(_TRADITIONAL, _SIMPLIFIED, strict=True))})

# Scripts written without spaces between words: no word boundary is needed next to them.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3040, 0x31FF),  # kana, bopomofo, CJK strokes
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)

_DROP, _KEEP, _SEPARATE = 0, 1, 2


@functools.lru_cache(maxsize=8192)
def _kind(char: str) -> tuple[int, bool]:
    """Whether a folded character is dropped, kept or separates words; and if kept, whether spaced."""
    category = unicodedata.category(char)
    if category[0] == "M" or category == "Cf" or char in _INVISIBLE:
        return _DROP, False
    if category[0] in "LN":
        code = ord(char)
        return _KEEP, not any(lo <= code <= hi for lo, hi in _UNSPACED)
    return _SEPARATE, False


def _fold(text: str) -> tuple[str, bytes]:
    """The folded text and its boundaries: ``bounds[i]`` is 1 where a word may begin or end before i."""
    text = text.translate(_APOSTROPHES)
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = text.translate(_APOSTROPHES).translate(_CHAR_MAP)  # again: NFKD makes ŉ into ʼn
    kept: list[str] = []
    bounds = bytearray(b"\x01")
    separated = False
    previous_spaced = False
    for char in text:
        kind, spaced = _kind(char)
        if kind == _KEEP:
            if kept:
                bounds.append(separated or not spaced or not previous_spaced)
            kept.append(char)
            separated = False
            previous_spaced = spaced
        elif kind == _SEPARATE:
            separated = True
    bounds.append(1)
    return "".join(kept), bytes(bounds)


def normalize(text: str) -> str:
    """The form in which matching happens: folded, with every separator removed."""
    return _fold(text)[0]


# --- phrases --------------------------------------------------------------------------------

# Each group lists token sequences that mean the same (apostrophes already dropped). Used to
# widen a phrase, never the text, so spaced-out letters in the text still match.
_CONTRACTIONS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("dont",), ("do", "not")),
    (("dunno",), ("dont", "know"), ("do", "not", "know")),
    (("doesnt",), ("does", "not")),
    (("didnt",), ("did", "not")),
    (("cant",), ("cannot",), ("can", "not")),
    (("wont",), ("will", "not")),
    (("wouldnt",), ("would", "not")),
    (("couldnt",), ("could", "not")),
    (("shouldnt",), ("should", "not")),
    (("isnt",), ("is", "not")),
    (("arent",), ("are", "not")),
    (("wasnt",), ("was", "not")),
    (("havent",), ("have", "not")),
    (("hasnt",), ("has", "not")),
    (("im",), ("i", "am")),
    (("ive",), ("i", "have")),
    (("youre",), ("you", "are")),
    (("youll",), ("you", "will")),
    (("youve",), ("you", "have")),
    (("theyre",), ("they", "are")),
    (("thats",), ("that", "is")),
    (("theres",), ("there", "is")),
    (("its",), ("it", "is")),
    (("whats",), ("what", "is")),
)
_ALTERNATIVES: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    member: tuple(other for other in group if other != member) for group in _CONTRACTIONS for member in group
}
_LONGEST_CONTRACTION = max(len(member) for member in _ALTERNATIVES)
_MAX_FORMS = 32


def _tokens(folded: str, bounds: bytes) -> list[str]:
    cuts = [i for i in range(len(folded) + 1) if bounds[i]]
    return [folded[a:b] for a, b in itertools.pairwise(cuts)]


def _forms(phrase: str) -> tuple[str, ...]:
    """The folded phrase and its contraction variants; empty if the phrase has no letter or digit."""
    folded, bounds = _fold(phrase)
    if not folded:
        return ()
    tokens = _tokens(folded, bounds)
    forms: dict[str, None] = {}

    def expand(i: int, done: tuple[str, ...]) -> None:
        if len(forms) >= _MAX_FORMS:
            return
        if i == len(tokens):
            forms["".join(done)] = None
            return
        expand(i + 1, (*done, tokens[i]))
        for size in range(1, min(_LONGEST_CONTRACTION, len(tokens) - i) + 1):
            for other in _ALTERNATIVES.get(tuple(tokens[i : i + size]), ()):
                expand(i + size, done + other)

    expand(0, ())
    return tuple(forms)


def _text_of(phrase: PhraseLike) -> str:
    return phrase if isinstance(phrase, str) else phrase[0]


def is_usable(phrase: str) -> bool:
    """Whether a phrase can be matched at all (has a letter or digit); others are ignored."""
    return bool(normalize(phrase))


class Guard:
    """A compiled phrase list: build once per list, then ``find`` in any number of texts."""

    def __init__(self, phrases: Iterable[PhraseLike], allowed: Iterable[str] = DEFAULT_ALLOWED) -> None:
        self._entries = [(text, forms) for text in map(_text_of, phrases) if (forms := _forms(text))]
        self._allowed = [form for text in allowed for form in _forms(text)]
        self.phrases: tuple[str, ...] = tuple(text for text, _ in self._entries)

    def find(self, text: str) -> str | None:
        """The first listed phrase the text says, as written in the list; None if it says none."""
        return next(self._hits(text), None)

    def find_all(self, text: str) -> list[str]:
        """Every listed phrase the text says, in list order."""
        return list(self._hits(text))

    def _hits(self, text: str) -> Iterator[str]:
        folded, bounds = _fold(text)
        allowed: list[tuple[int, int]] | None = None
        for phrase, forms in self._entries:
            for form in forms:
                start = folded.find(form)
                while start != -1:
                    end = start + len(form)
                    if bounds[start] and bounds[end]:
                        if allowed is None:
                            allowed = list(self._spans(folded, bounds, self._allowed))
                        if not any(a <= start and end <= b for a, b in allowed):
                            break
                    start = folded.find(form, start + 1)
                if start != -1:
                    yield phrase
                    break

    @staticmethod
    def _spans(folded: str, bounds: bytes, forms: list[str]) -> Iterator[tuple[int, int]]:
        for form in forms:
            start = folded.find(form)
            while start != -1:
                end = start + len(form)
                if bounds[start] and bounds[end]:
                    yield start, end
                start = folded.find(form, start + 1)


@functools.lru_cache(maxsize=16)
def _guard(phrases: tuple[PhraseLike, ...], allowed: tuple[str, ...]) -> Guard:
    return Guard(phrases, allowed)


def find_forbidden(
    text: str, phrases: Iterable[PhraseLike] = DEFAULT_PHRASES, allowed: Iterable[str] = DEFAULT_ALLOWED
) -> str | None:
    """The first listed phrase ``text`` says (original spelling), or None; compiled lists are cached."""
    listed, excused = tuple(phrases), tuple(allowed)
    try:
        guard = _guard(listed, excused)
    except TypeError:  # unhashable items, e.g. [text, language] lists from JSON: compile uncached
        guard = Guard(listed, excused)
    return guard.find(text)
