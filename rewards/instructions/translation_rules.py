"""IF-MT rules as constraint checks: translation with objectively checkable rules, no judge.

Why: IF-MT (Tower+ paper; dataset Unbabel/IF-MT-en-zh; generator deep-spin/zsb
`translation_w_hard_rules*.py`) gives a source text with 2-4 rules and judges adherence with an
LLM. Most of its rule catalogue can be verified exactly; these checks are usable as RL rewards,
curation filters and eval checks. Each compares the output with the source (`src` argument or
the row's `src` column, English as in IF-MT), so a rule is checked on values as well as on
format: a date in the right format but the wrong day fails, and so does a converted value with
wrong arithmetic. A source without anything the rule applies to passes (nothing to convert). An output with more
dates, times, measurements, temperatures or amounts than the source has (+2) fails: listing many
candidate values must not hit the expected ones by chance.

- translation:date_format {format="DD/MM/YYYY", source_order="mdy"}: every full date of the
  source ("March 5, 2024", "5th of March 2024", "2024-03-05", "03/05/2024" read as
  `source_order`) appears in the output written as `format` (DD, MM, YYYY with one of / . -,
  zero-padded), and no date is written otherwise (numeric dates in another order or separator,
  month names in en/pt/es/fr/de/it/nl, Chinese 年月日). Source dates without a year are not
  expected; the output may keep as many dates with month names as the source has without year.
- translation:time_24h: every 12-hour time of the source ("3:30 PM", "11am", "12 a.m.") appears as
  24-hour time ("15:30", "15h30", "15.30", "15h", "15点30分"), and no AM/PM marker is left
  ("p.m.", pt "da tarde", es "de la mañana", zh "下午3点" ...). "noon"/"midnight" are not read.
- translation:metric_units {tolerance=0.05, keep_original=false}: every imperial quantity of the
  source (see `quantities`) appears converted to a metric unit of the same dimension (length,
  mass, volume, speed, area), value within relative `tolerance`; no number is followed by an
  imperial unit in the output unless `keep_original`.
- translation:celsius {tolerance=1.0, keep_original=false}: every °F temperature appears in °C
  (°C, ℃, "graus Celsius", "摄氏21度", or a bare ° sign), within `tolerance` degrees; no °F left.
- translation:currency {rate, target, source="USD", tolerance=0.01, keep_original=false}: every
  amount in `source` currency appears as amount x `rate` in `target` currency (symbol, code or
  word; relative `tolerance`, at least one cent); no `source` amount is left when the two
  currencies do not share a symbol.
- translation:proper_nouns {names}: each name occurs verbatim (case-sensitive), not inside a
  longer word of the same script.
- translation:quotation_marks {language (or the row's tgt_lang), style?}: no straight `"` outside
  tags, the quotes are balanced, and the output has at least as many quotations in the
  language's style as the source has quotations. Styles by language (`QUOTE_STYLES_BY_LANGUAGE`):
  pt-PT «», pt-BR “”, pt (no region) either; es «» or “” (the RAE's Ortografía (2010) puts «» first,
  Latin American usage mostly writes “”); zh / zh-Hans “” (GB/T 15834-2011), zh-Hant / TW / HK
  「」 (Taiwan Ministry of Education's punctuation handbook); ja 「」; fr «»; de „“ or »«, de-CH «»;
  it «» or “”; ru/uk «»; pl „”; cs „“; en/nl/ko “”. Nested quotations in another style are fine.
  `style` ("angle", "curly", "low", "low_right", "reversed_angle", "corner") overrides.
- translation:decimal_comma: no decimal point in the output (a `.` followed by 1, 2 or 4+ digits,
  or the last of `.`/`,` when both occur; "1.500" reads as grouping), and every decimal number
  of the source that is not a measurement, temperature or price (those are converted) appears
  with a decimal comma and the same value.
- translation:html_tags_kept {translatable_attributes?}: the same tags in the same order (name,
  open/close/self-closing, every attribute and its value, except the attributes listed), and an
  element that wraps text in the source wraps text in the output. Escaped tags (&lt;b&gt;) are
  missing tags.
- translation:max_characters {max_chars, count_spaces=true}: the stripped output (NFC code
  points) has at most `max_chars` characters.

Not covered (need a judge or more context): regional spelling, phone/address formats, official
numbering, time-zone conversion, title abbreviations, capitalisation rules, local thousands
separators, formality. The numbers and units the checks can read are listed in `quantities`.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

import rewards.instructions.quantities as q
from rewards.instructions.segmentation import script_of
from rewards.instructions.spec import KINDS, Arg, check
from rewards.instructions.translation_checks import strip_markup
from rewards.languages import base_code, split_tag

# ---------------------------------------------------------------- argument kinds


def _kind(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in KINDS:
            raise ValueError(f"argument kind {name!r} is registered twice")
        KINDS[name] = fn
        return fn

    return register


@_kind("language_tag")
def _language_tag(value: Any) -> str:
    if not isinstance(value, str) or base_code(value) is None:
        raise ValueError(f"expected a language tag such as 'pt-PT', got {value!r}")
    base, subtags = split_tag(value)
    return "-".join([base_code(value) or base, *subtags])


@_kind("currency")
def _currency(value: Any) -> str:
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in q.CURRENCIES:
        raise ValueError(f"expected one of {', '.join(q.CURRENCIES)}, got {value!r}")
    return code


_DATE_FORMAT = re.compile(r"^(DD|MM|YYYY)([/.-])(DD|MM|YYYY)\2(DD|MM|YYYY)$")


@_kind("date_format")
def _date_format(value: Any) -> str:
    m = _DATE_FORMAT.match(value) if isinstance(value, str) else None
    if m is None or sorted(m.group(1, 3, 4)) != ["DD", "MM", "YYYY"]:
        raise ValueError(f"expected DD, MM and YYYY joined by one of / . - (e.g. 'DD/MM/YYYY'), got {value!r}")
    return value


@_kind("date_order")
def _date_order(value: Any) -> str:
    if value not in ("mdy", "dmy"):
        raise ValueError(f"expected 'mdy' or 'dmy', got {value!r}")
    return value


QUOTE_STYLES: dict[str, tuple[str, str]] = {
    "angle": ("«", "»"),
    "curly": ("“", "”"),
    "low": ("„", "“"),
    "low_right": ("„", "”"),
    "reversed_angle": ("»", "«"),
    "corner": ("「", "」"),
}
QUOTE_STYLES_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "pt": ("angle", "curly"),
    "pt-PT": ("angle",),
    "pt-BR": ("curly",),
    "es": ("angle", "curly"),
    "zh": ("curly",),
    "zh-Hans": ("curly",),
    "zh-CN": ("curly",),
    "zh-SG": ("curly",),
    "zh-Hant": ("corner",),
    "zh-TW": ("corner",),
    "zh-HK": ("corner",),
    "ja": ("corner",),
    "fr": ("angle",),
    "de": ("low", "reversed_angle"),
    "de-CH": ("angle",),
    "it": ("angle", "curly"),
    "ru": ("angle",),
    "uk": ("angle",),
    "pl": ("low_right",),
    "cs": ("low",),
    "en": ("curly",),
    "nl": ("curly",),
    "ko": ("curly",),
}


@_kind("quote_style")
def _quote_style(value: Any) -> str:
    if value not in QUOTE_STYLES:
        raise ValueError(f"expected one of {', '.join(QUOTE_STYLES)}, got {value!r}")
    return value


_SRC = Arg("src", "str", column="src")
PADDING_SLACK = 2


def _tolerance(name: str) -> Arg:
    return Arg(name, "positive_number", required=False)


def _padded(found: int, allowed: int) -> bool:
    """More values of a kind than the source has (+2, for a kept original or a split range): an
    output that lists many candidate values to hit the expected ones by chance."""
    return found > allowed + PADDING_SLACK


# ---------------------------------------------------------------- dates

_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_RE = "|".join(m[:3] + f"(?:{m[3:]})?" for m in _MONTHS) + "|sept"
_ORDINAL = r"(?:st|nd|rd|th)?"
_SRC_DATES = re.compile(
    rf"\b(?P<m1>{_MONTH_RE})\.?\s+(?P<d1>\d{{1,2}}){_ORDINAL}(?:,\s*|\s+)(?P<y1>\d{{4}})\b"
    rf"|\b(?P<d2>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<m2>{_MONTH_RE})\.?,?\s+(?P<y2>\d{{4}})\b"
    r"|\b(?P<y3>\d{4})-(?P<m3>\d{1,2})-(?P<d3>\d{1,2})\b"
    r"|\b(?P<a4>\d{1,2})/(?P<b4>\d{1,2})/(?P<y4>\d{4})\b",
    re.IGNORECASE,
)
_YEARLESS = re.compile(
    rf"\b(?:{_MONTH_RE})\.?\s+\d{{1,2}}{_ORDINAL}\b(?!,?\s*\d{{4}})|\b\d{{1,2}}{_ORDINAL}\s+(?:of\s+)?(?:{_MONTH_RE})\b(?!\.?,?\s+\d{{4}})",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(r"(?<![\d.,/-])(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})(?![\d/-]|\.\d)")
_OUT_MONTHS = (
    "january february march april may june july august september october november december "
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro "
    "enero febrero marzo mayo junio julio septiembre setiembre octubre noviembre diciembre "
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    "januar februar märz juni juli oktober dezember gennaio febbraio aprile maggio giugno luglio "
    "settembre ottobre dicembre januari februari maart mei augustus"
).split()
_WORD_DATE = re.compile(
    rf"\b\d{{1,2}}\.?(?:º|°|er)?\s+(?:de\s+)?(?:{'|'.join(_OUT_MONTHS)})\b|\b(?:{'|'.join(_OUT_MONTHS)})\s+\d{{1,2}}\b"
    r"|\d{1,2}\s*月\s*\d{1,2}\s*[日号]",
    re.IGNORECASE,
)


def _month(name: str) -> int:
    return next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(name.lower()[:3]))


def source_dates(src: str, order: str = "mdy") -> list[datetime.date]:
    """Full dates (with a year) in an English source; invalid dates are skipped."""
    found = []
    for m in _SRC_DATES.finditer(src):
        g = m.groupdict()
        if g["m1"]:
            parts = (int(g["y1"]), _month(g["m1"]), int(g["d1"]))
        elif g["m2"]:
            parts = (int(g["y2"]), _month(g["m2"]), int(g["d2"]))
        elif g["y3"]:
            parts = (int(g["y3"]), int(g["m3"]), int(g["d3"]))
        else:
            a, b = int(g["a4"]), int(g["b4"])
            parts = (int(g["y4"]), a, b) if order == "mdy" else (int(g["y4"]), b, a)
        try:
            found.append(datetime.date(*parts))
        except ValueError:
            continue
    return found


def format_date(date: datetime.date, fmt: str) -> str:
    return fmt.replace("YYYY", f"{date.year:04d}").replace("MM", f"{date.month:02d}").replace("DD", f"{date.day:02d}")


def _date_like(first: str, sep: str, last: str) -> bool:
    """A numeric date has a four-digit year at one end (or is d/m/yy); "1.2.3" is a version."""
    return len(first) == 4 or len(last) == 4 or (sep == "/" and len(last) == 2)


def _is_formatted(text: str, fmt: str) -> bool:
    pattern = (
        re.escape(fmt).replace("YYYY", r"(?P<y>\d{4})").replace("MM", r"(?P<m>\d{2})").replace("DD", r"(?P<d>\d{2})")
    )
    m = re.fullmatch(pattern, text)
    if m is None:
        return False
    try:
        datetime.date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return False
    return True


@check(
    "translation:date_format",
    _SRC,
    Arg("format", "date_format", required=False),
    Arg("source_order", "date_order", required=False),
)
def date_format(response: str, *, src: str, format: str = "DD/MM/YYYY", source_order: str = "mdy") -> bool:
    text = strip_markup(response)
    written = [m.group() for m in _NUMERIC_DATE.finditer(text) if _date_like(*m.group(1, 2, 4))]
    if any(not _is_formatted(w, format) for w in written):
        return False
    if len(_WORD_DATE.findall(text)) > len(_YEARLESS.findall(src)):
        return False
    expected = Counter(format_date(d, format) for d in source_dates(src, source_order))
    allowed = len(_NUMERIC_DATE.findall(src)) + len(_SRC_DATES.findall(src))
    return not (expected - Counter(written)) and not _padded(len(written), allowed)


# ---------------------------------------------------------------- times

_SRC_TIME = re.compile(r"(?<![\d:])(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?", re.IGNORECASE)
_OUT_TIME = re.compile(
    r"(?<![\d.,:])(\d{1,2})(?:[:.h](\d{2})(?!\d|[.,:]\d)|h(?![^\W\d_])|\s*[点點時时](?:\s*(\d{1,2})\s*分)?)"
)
_TWELVE_HOUR = re.compile(
    r"\d\s*(?:[ap]\.\s?m\.|[ap]m\b)"
    r"|\d(?:[:h]\d{2})?\s*(?:h\s*)?(?:da|de la|del)\s+(?:manhã|tarde|noite|madrugada|mañana|noche)\b"
    r"|(?:上午|下午|晚上|凌晨|早上|中午|傍晚|午前|午後)\s*\d",
    re.IGNORECASE,
)


def source_times(src: str) -> list[tuple[int, int]]:
    """12-hour times of an English source as (hour, minute) on the 24-hour clock."""
    found = []
    for m in _SRC_TIME.finditer(src):
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3).lower()
        if 1 <= hour <= 12 and minute < 60:
            found.append(((hour % 12) + (12 if half == "p" else 0), minute))
    return found


@check("translation:time_24h", _SRC)
def time_24h(response: str, *, src: str) -> bool:
    text = strip_markup(response)
    if _TWELVE_HOUR.search(text):
        return False
    written: Counter[tuple[int, int]] = Counter()
    for m in _OUT_TIME.finditer(text):
        hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
        if hour < 24 and minute < 60:
            written[(hour, minute)] += 1
    allowed = len(_OUT_TIME.findall(src)) + len(_SRC_TIME.findall(src))
    return not (Counter(source_times(src)) - written) and not _padded(sum(written.values()), allowed)


# ---------------------------------------------------------------- measurements, temperature, money

_IMPERIAL_LEFT = re.compile(q.NUMBER + rf"[\s-]?(?:{q._alternation(q.IMPERIAL_WORDS)})", re.IGNORECASE)
_FAHRENHEIT_LEFT = re.compile(rf"{q.NUMBER}\s*(?:{q._alternation(q.FAHRENHEIT_UNITS)})|华氏|華氏", re.IGNORECASE)


def _relative(tolerance: float) -> Callable[[float, float], bool]:
    return lambda found, want: abs(found - want) <= tolerance * abs(want) + 1e-9


def _quantities_match(
    expected: list[q.Quantity], found: list[q.Quantity], close: Callable[[float, float], bool]
) -> bool:
    free = list(found)
    for want in expected:
        hit = next(
            (f for f in free if f.unit == want.unit and any(close(a, b) for a in f.values for b in want.values)), None
        )
        if hit is None:
            return False
        free.remove(hit)
    return True


@check("translation:metric_units", _SRC, _tolerance("tolerance"), Arg("keep_original", "bool", required=False))
def metric_units(response: str, *, src: str, tolerance: float = 0.05, keep_original: bool = False) -> bool:
    text = strip_markup(response)
    if not keep_original and _IMPERIAL_LEFT.search(text):
        return False
    found = q.quantities(text, q.METRIC)
    if _padded(len(found), len(q.imperial_lengths(src)) + len(q.quantities(src, q.METRIC))):
        return False
    return _quantities_match(q.imperial_lengths(src), found, _relative(tolerance))


@check("translation:celsius", _SRC, _tolerance("tolerance"), Arg("keep_original", "bool", required=False))
def celsius(response: str, *, src: str, tolerance: float = 1.0, keep_original: bool = False) -> bool:
    text = strip_markup(response)
    if not keep_original and _FAHRENHEIT_LEFT.search(text):
        return False
    expected = q.temperatures(src, q.FAHRENHEIT_UNITS, fahrenheit=True)
    found = q.temperatures(text, q.CELSIUS_UNITS, fahrenheit=False)
    if _padded(len(found), len(expected) + len(q.temperatures(src, q.CELSIUS_UNITS, fahrenheit=False))):
        return False
    return _quantities_match(expected, found, lambda a, b: abs(a - b) <= tolerance + 1e-9)


@check(
    "translation:currency",
    _SRC,
    Arg("rate", "positive_number"),
    Arg("target", "currency"),
    Arg("source", "currency", required=False),
    _tolerance("tolerance"),
    Arg("keep_original", "bool", required=False),
)
def currency(
    response: str,
    *,
    src: str,
    rate: float,
    target: str,
    source: str = "USD",
    tolerance: float = 0.01,
    keep_original: bool = False,
) -> bool:
    text = strip_markup(response)
    shared = set(q.CURRENCIES[source][0]) & set(q.CURRENCIES[target][0])
    if not keep_original and not shared and q.money(text, source):
        return False
    expected = [q.Quantity(tuple(v * rate for v in a.values), target, a.span) for a in q.money(src, source)]
    close = lambda a, b: abs(a - b) <= max(tolerance * abs(b), 0.01) + 1e-9  # noqa: E731
    found = q.money(text, target)
    if _padded(len(found), len(expected) + len(q.money(src, target))):
        return False
    return _quantities_match(expected, found, close)


# ---------------------------------------------------------------- names, quotes, decimals, tags, length

_SPACED = frozenset({"Latin", "Cyrillic", "Greek", "Armenian", "Georgian", "Hebrew", "Arabic"})


def _same_script_letter(char: str, edge: str) -> bool:
    return char.isalnum() and script_of(edge) in _SPACED and script_of(char) == script_of(edge) or char.isdigit()


@check("translation:proper_nouns", Arg("names", "str_list"))
def proper_nouns(response: str, *, names: list[str]) -> bool:
    text = unicodedata.normalize("NFC", response)
    for name in (unicodedata.normalize("NFC", n.strip()) for n in names):
        start, found = text.find(name), False
        while start >= 0 and not found:
            before = text[start - 1] if start else " "
            after = text[start + len(name)] if start + len(name) < len(text) else " "
            found = not _same_script_letter(before, name[0]) and not _same_script_letter(after, name[-1])
            start = text.find(name, start + 1)
        if not found:
            return False
    return True


def quote_styles(language: str) -> tuple[str, ...]:
    """The quotation styles accepted for a language tag (most specific entry first)."""
    base, subtags = split_tag(language)
    for key in ["-".join([base, *subtags]), *(f"{base}-{t}" for t in subtags), base]:
        if key in QUOTE_STYLES_BY_LANGUAGE:
            return QUOTE_STYLES_BY_LANGUAGE[key]
    return ()


def _source_quotations(src: str | None) -> int:
    text = strip_markup(src or "")
    return text.count('"') // 2 + sum(text.count(o) for o in "“«„「")


@check(
    "translation:quotation_marks",
    Arg("language", "language_tag", column="tgt_lang"),
    Arg("style", "quote_style", required=False),
    Arg("src", "str", required=False, column="src"),
)
def quotation_marks(response: str, *, language: str, style: str | None = None, src: str | None = None) -> bool:
    styles = (style,) if style else quote_styles(language)
    text = strip_markup(response)
    if not styles or '"' in text:
        return False
    for name in styles:
        opener, closer = QUOTE_STYLES[name]
        other_openers = {QUOTE_STYLES[s][0] for s in styles if s != name}
        if closer not in other_openers and text.count(opener) != text.count(closer):
            return False
    opened = sum(text.count(QUOTE_STYLES[name][0]) for name in styles)
    return opened >= _source_quotations(src)


_NUMBER_TOKEN = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)+(?![\d])")


def _decimal_point(token: str) -> bool:
    """Does this number use '.' as its decimal mark? ("3.5", "1,234.5"; not "1.500" nor "1.234.567")."""
    if "." in token and "," in token:
        return token.rfind(".") > token.rfind(",")
    parts = token.split(".")
    return len(parts) == 2 and len(parts[1]) != 3


def _converted_spans(src: str) -> list[tuple[int, int]]:
    spans = [x.span for x in q.imperial_lengths(src)]
    spans += [x.span for x in q.temperatures(src, q.FAHRENHEIT_UNITS, fahrenheit=True)]
    spans += [x.span for code in q.CURRENCIES for x in q.money(src, code)]
    return spans


@check("translation:decimal_comma", _SRC)
def decimal_comma(response: str, *, src: str) -> bool:
    text = strip_markup(response)
    tokens = [m.group() for m in _NUMBER_TOKEN.finditer(text)]
    if any(_decimal_point(t) for t in tokens):
        return False
    skip = _converted_spans(src)
    expected = [
        float(m.group().replace(",", ""))
        for m in _NUMBER_TOKEN.finditer(strip_markup(src))
        if _decimal_point(m.group()) and not any(a <= m.start() < b for a, b in skip)
    ]
    found = [float(t.replace(".", "").replace(",", ".")) for t in tokens if t.count(",") == 1 and not _decimal_point(t)]
    if _padded(
        len(found), len(re.findall(q.NUMBER, src))
    ):  # converted values may add decimals: any source number counts
        return False
    return not q.match_all(expected, [q.Quantity((v,), "", (0, 0)) for v in found], lambda a, b: abs(a - b) < 1e-9)


_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)((?:\s[^<>]*?)?)(/?)>")
_ATTR = re.compile(r"([^\s=/]+)\s*(?:=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def tag_sequence(text: str, translatable: frozenset[str] = frozenset()) -> list[tuple[str, str, tuple]]:
    """(kind, name, sorted attributes) for every tag, in order; `translatable` attributes left out."""
    tags = []
    for m in _TAG.finditer(text):
        kind = "close" if m.group(1) else "self" if m.group(4) else "open"
        attrs = {a.lower(): (v or "").strip("\"'") for a, v in _ATTR.findall(m.group(3))}
        tags.append(
            (kind, m.group(2).lower(), tuple(sorted((a, v) for a, v in attrs.items() if a not in translatable)))
        )
    return tags


def _wraps_text(text: str) -> list[bool]:
    return [bool(part.strip()) for part in _TAG.split(text)[::5]]


@check("translation:html_tags_kept", _SRC, Arg("translatable_attributes", "str_list", required=False))
def html_tags_kept(response: str, *, src: str, translatable_attributes: list[str] | None = None) -> bool:
    skip = frozenset(a.lower() for a in translatable_attributes or ())
    if tag_sequence(response, skip) != tag_sequence(src, skip):
        return False
    return _wraps_text(response)[1:-1] == _wraps_text(src)[1:-1]


@check("translation:max_characters", Arg("max_chars", "int"), Arg("count_spaces", "bool", required=False))
def max_characters(response: str, *, max_chars: int, count_spaces: bool = True) -> bool:
    text = unicodedata.normalize("NFC", response.strip())
    return len(text if count_spaces else "".join(text.split())) <= max_chars
