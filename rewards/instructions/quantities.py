"""Numbers, measurements, temperatures and money found in text, with their values.

Why: IF-MT rules such as "convert imperial units to metric", "°F to °C" or "convert prices at
1 USD = 0.92 EUR" are checked on values, not on formats, so that a translation that writes the
right unit with the wrong arithmetic fails. This module finds quantities and returns every value
a number can mean; the checks in `translation_rules` compare them.

Numbers: digits with `.` or `,` as separators, and `'`, a (narrow) no-break, thin or plain
space before a group of exactly three digits ("1 000", "1'000"). When both `.` and `,` occur, the last
one is the decimal mark. One separator followed by exactly three digits is ambiguous ("1,500" is
1500 in English and 1.5 in Portuguese): both values are candidates. Other non-ASCII decimal
digits count as their value. A scale word after the number multiplies it ("1,2 milhões",
"3 mil", "12万"; pt-PT "bilião" and es "billón" are 10^12, pt-BR "bilhão" 10^9).

Units: English imperial units in the source (a number, optionally a hyphen or space, then the
unit: "5 miles", "10-foot", "6 ft 2 in" as one length, "70°F", "5-10 miles" as two); metric
units in the output written as symbols or words in English, Portuguese, Spanish, French,
German, Italian and Chinese. Money: ISO codes, symbols and words of USD, EUR, GBP, BRL, MXN,
CNY, JPY, CHF and INR before or after the amount ("$12.50", "12,50 €", "100元", "USD 3").

Not covered: numbers written in words ("five miles"), fractions ("½ inch"), units other than
those in the tables (cups, stones, nautical miles), temperatures without a scale ("70 degrees"
in a source), ranges with the unit on both ends written differently, currencies other than the
ones listed. The source side assumes English (IF-MT's sources are English).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

# The atomic group (?>...) keeps the engine from retrying shorter prefixes of a number when the
# unit after it does not match: linear time on text full of numbers.
NUMBER = r"(?<![0-9.,])((?>[-−]?\d+(?:(?:[.,]|['\u00a0\u202f\u2009\s](?=\d{3}(?!\d)))\d+)*))"
_GROUPING = "'\u00a0\u202f\u2009 "

SCALES: dict[str, float] = {
    "thousand": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "mil": 1e3,
    "milhão": 1e6,
    "milhões": 1e6,
    "mil milhões": 1e9,
    "bilhão": 1e9,
    "bilhões": 1e9,
    "bilião": 1e12,
    "biliões": 1e12,
    "millón": 1e6,
    "millones": 1e6,
    "mil millones": 1e9,
    "billón": 1e12,
    "billones": 1e12,
    "千": 1e3,
    "万": 1e4,
    "萬": 1e4,
    "百万": 1e6,
    "千万": 1e7,
    "亿": 1e8,
    "億": 1e8,
}

# English unit words -> (dimension, factor to the metric base unit: m, kg, L, km/h, m²).
IMPERIAL: dict[str, tuple[str, float]] = {}
for _words, _dim, _factor in (
    ("mile miles mi", "length", 1609.344),
    ("yard yards yd yds", "length", 0.9144),
    ("foot feet ft", "length", 0.3048),
    ("inch inches in.", "length", 0.0254),
    ("pound pounds lb lbs", "mass", 0.45359237),
    ("ounce ounces oz", "mass", 0.028349523125),
    ("gallon gallons gal", "volume", 3.785411784),
    ("quart quarts qt", "volume", 0.946352946),
    ("pint pints", "volume", 0.473176473),
    ("fl_oz fl._oz. fluid_ounce fluid_ounces", "volume", 0.0295735295625),
    ("mph miles_per_hour miles_an_hour", "speed", 1.609344),
    ("sq_ft sq._ft. square_foot square_feet ft²", "area", 0.09290304),
    ("sq_mi square_mile square_miles mi²", "area", 2589988.110336),
    ("acre acres", "area", 4046.8564224),
):
    IMPERIAL.update({w.replace("_", " "): (_dim, _factor) for w in _words.split()})

# Metric units (symbols and words in en, pt, es, fr, de, it, zh) -> (dimension, factor to base).
METRIC: dict[str, tuple[str, float]] = {}
for _words, _dim, _factor in (
    (
        "km quilómetro quilómetros quilômetro quilômetros kilómetro kilómetros kilometro kilometri chilometri "
        "kilometre kilometres kilometer kilometers Kilometer 公里 千米",
        "length",
        1000.0,
    ),
    ("m metro metros metre metres meter meters mètre mètres Meter 米", "length", 1.0),
    (
        "cm centímetro centímetros centimetro centimetri centimetre centimetres centimeter centimeters "
        "Zentimeter 厘米 公分",
        "length",
        0.01,
    ),
    (
        "mm milímetro milímetros millimetro millimetri millimetre millimetres millimeter millimeters Millimeter 毫米",
        "length",
        0.001,
    ),
    (
        "kg quilo quilos quilograma quilogramas kilo kilos kilogramo kilogramos chilogrammi chilo "
        "kilogram kilograms kilogramme kilogrammes Kilogramm 公斤 千克",
        "mass",
        1.0,
    ),
    ("g grama gramas gramo gramos grammo grammi gram grams gramme grammes Gramm 克", "mass", 0.001),
    ("t tonelada toneladas tonne tonnes tonnellata tonnellate Tonne Tonnen 吨 公吨", "mass", 1000.0),
    ("l L litro litros litri litre litres liter liters Liter 升 公升", "volume", 1.0),
    (
        "ml mL mililitro mililitros millilitro millilitri millilitre millilitres milliliter milliliters "
        "Milliliter 毫升",
        "volume",
        0.001,
    ),
    ("cl cL centilitro centilitros", "volume", 0.01),
    ("dl dL decilitro decilitros", "volume", 0.1),
    (
        "km/h kmh km/hr quilómetros_por_hora quilômetros_por_hora kilómetros_por_hora km_por_hora "
        "kilometres_per_hour kilometers_per_hour 公里/小时 公里每小时 千米/小时 千米每小时",
        "speed",
        1.0,
    ),
    (
        "m² m2 metro_quadrado metros_quadrados metro_cuadrado metros_cuadrados square_metre square_metres "
        "square_meter square_meters 平方米",
        "area",
        1.0,
    ),
    (
        "km² km2 quilómetros_quadrados quilômetros_quadrados kilómetros_cuadrados square_kilometres "
        "square_kilometers 平方公里 平方千米",
        "area",
        1e6,
    ),
    ("ha hectare hectares hectárea hectáreas ettaro ettari Hektar 公顷", "area", 1e4),
):
    METRIC.update({w.replace("_", " "): (_dim, _factor) for w in _words.split()})

# Imperial unit words as translations write them (pt, es, zh, fr, de, it), for "no imperial unit left".
IMPERIAL_WORDS = tuple(IMPERIAL) + tuple(
    "milha milhas pé pés polegada polegadas jarda jardas onça onças galão galões "
    "milla millas pie pies pulgada pulgadas yarda yardas onza onzas galón galones "
    "mille miglia piede piedi pollice pollici Meile Meilen Fuß Zoll Gallone Gallonen "
    "pouce pouces pied pieds 英里 英尺 英寸 码 磅 盎司 加仑 英亩".split()
)

FAHRENHEIT_UNITS = (
    "°F",
    "° F",
    "ºF",
    "º F",
    "℉",
    "degrees Fahrenheit",
    "degree Fahrenheit",
    "degrees F",
    "Fahrenheit",
    "graus Fahrenheit",
    "grados Fahrenheit",
    "华氏度",
    "華氏度",
)
CELSIUS_UNITS = (
    "°C",
    "° C",
    "ºC",
    "º C",
    "℃",
    "degrees Celsius",
    "degree Celsius",
    "Celsius",
    "graus Celsius",
    "grau Celsius",
    "graus",
    "grados Celsius",
    "grados",
    "gradi",
    "Grad",
    "摄氏度",
    "攝氏度",
    "°",
    "º",
)

# code -> (symbols written before or after the amount, words written after it)
CURRENCIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "USD": (("US$", "$", "USD"), ("dollar", "dollars", "dólar", "dólares", "dollari", "Dollar", "美元")),
    "EUR": (("€", "EUR"), ("euro", "euros", "Euro", "欧元", "歐元")),
    "GBP": (
        ("£", "GBP"),
        ("pound", "pounds", "libra", "libras", "libras esterlinas", "sterline", "Pfund", "英镑", "英鎊"),
    ),
    "BRL": (("R$", "BRL"), ("real", "reais", "巴西雷亚尔")),
    "MXN": (("MX$", "Mex$", "$", "MXN"), ("peso", "pesos", "pesos mexicanos", "peso mexicano", "墨西哥比索")),
    "CNY": (("¥", "￥", "CN¥", "RMB", "CNY", "人民币"), ("yuan", "renminbi", "元", "人民币", "人民幣")),
    "JPY": (("¥", "￥", "JP¥", "JPY"), ("yen", "iene", "ienes", "日元", "円")),
    "CHF": (
        ("CHF", "Fr."),
        ("franc", "francs", "franco suíço", "francos suíços", "franco suizo", "francos suizos", "瑞士法郎"),
    ),
    "INR": (("₹", "Rs", "INR"), ("rupee", "rupees", "rupia", "rupias", "卢比")),
}


@dataclass(frozen=True)
class Quantity:
    """A number found in text: every value it can mean (in the base unit), its unit key and span."""

    values: tuple[float, ...]
    unit: str
    span: tuple[int, int]


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c for c in text)


def number_values(token: str) -> tuple[float, ...]:
    """Every value a written number can mean (see the module docstring); () if it is not one."""
    text = _ascii_digits(token).replace("−", "-")
    sign = -1.0 if text.startswith("-") else 1.0
    text = "".join(c for c in text.lstrip("-") if c not in _GROUPING)
    marks = [c for c in text if c in ".,"]
    if not marks:
        return (sign * float(text),) if text.isdigit() else ()
    if len(set(marks)) == 2:
        decimal = text[max(text.rfind("."), text.rfind(","))]
        whole, _, frac = text.rpartition(decimal)
        whole = whole.replace("." if decimal == "," else ",", "")
        return (sign * float(f"{whole}.{frac}"),) if whole.isdigit() and frac.isdigit() else ()
    parts = text.split(marks[0])
    if not all(p.isdigit() for p in parts):
        return ()
    if len(parts) > 2:
        return (sign * float("".join(parts)),)
    whole, frac = parts
    as_decimal = sign * float(f"{whole}.{frac}")
    return (sign * float(whole + frac), as_decimal) if len(frac) == 3 else (as_decimal,)


def _alternation(words: Iterable[str]) -> str:
    """Longest first; a unit ending in a letter of a spaced script must not run into another letter."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        tail = r"(?![^\W\d_])" if word[-1].isalpha() and ord(word[-1]) < 0x2E80 else ""
        head = r"(?<![^\W\d_])" if word[0].isalpha() and ord(word[0]) < 0x2E80 else ""
        parts.append(head + re.escape(word).replace(r"\ ", r"\s+") + tail)
    return "|".join(parts)


_SCALE = _alternation(SCALES)
_UNIT_START = r"(?=[^\W\d_]|[^\w\s])"  # a unit starts with a letter or a symbol: skip the long alternation otherwise


def _scaled(values: tuple[float, ...], scale: str | None) -> tuple[float, ...]:
    factor = SCALES.get((scale or "").strip().lower(), SCALES.get((scale or "").strip(), 1.0)) if scale else 1.0
    return tuple(v * factor for v in values)


def _unit_key(found: str, table: Mapping[str, object]) -> str:
    found = " ".join(found.split())
    return found if found in table else next((k for k in table if k.lower() == found.lower()), found)


@lru_cache(maxsize=64)
def _quantity_pattern(unit_words: tuple[str, ...], joiner: str) -> re.Pattern[str]:
    return re.compile(
        NUMBER
        + r"(?:\s*(?:-|–|to|a|até|hasta)\s*"
        + NUMBER
        + r")?"
        + rf"(?:\s*({_SCALE}))?{joiner}{_UNIT_START}({_alternation(unit_words)})",
        re.IGNORECASE,
    )


def quantities(text: str, units: Mapping[str, tuple[str, float]], *, joiner: str = r"[\s-]?") -> list[Quantity]:
    """Numbers followed by one of `units` (unit -> (dimension, factor)); values in the base unit.

    Ranges ("5-10 miles", "5 to 10 miles") give one quantity per number.
    """
    pattern = _quantity_pattern(tuple(units), joiner)
    found = []
    for m in pattern.finditer(text):
        unit = _unit_key(m.group(4), units)
        dim, factor = units.get(unit, units.get(unit.lower(), ("", 1.0)))
        for group in (1, 2):
            if m.group(group):
                values = tuple(v * factor for v in _scaled(number_values(m.group(group)), m.group(3)))
                found.append(Quantity(values, dim, m.span(group)))
    return found


_FEET_AND_INCHES = re.compile(
    NUMBER + r"\s*(?:feet|foot|ft|')\s*(?:and\s+)?" + NUMBER + r"\s*(?:inches|inch|in\b|\"|″)", re.IGNORECASE
)


def imperial_lengths(text: str) -> list[Quantity]:
    """English imperial quantities in metric base units, "6 ft 2 in" / "5 feet 11 inches" as one."""
    found, taken = [], []
    for m in _FEET_AND_INCHES.finditer(text):
        values = tuple(f * 0.3048 + i * 0.0254 for f in number_values(m.group(1)) for i in number_values(m.group(2)))
        found.append(Quantity(values, "length", m.span()))
        taken.append(m.span())
    for q in quantities(text, IMPERIAL):
        if not any(a <= q.span[0] < b for a, b in taken):
            found.append(q)
    return found


@lru_cache(maxsize=16)
def _temperature_pattern(units: tuple[str, ...], fahrenheit: bool) -> re.Pattern[str]:
    prefix = "华氏|華氏" if fahrenheit else "摄氏|攝氏"
    return re.compile(rf"(?:(?:{prefix})\s*{NUMBER}\s*度)|(?:{NUMBER}\s*(?:{_alternation(units)}))", re.IGNORECASE)


def temperatures(text: str, units: Iterable[str], *, fahrenheit: bool) -> list[Quantity]:
    """Temperatures in °C (Fahrenheit values converted): "70°F", "21 °C", "摄氏21度", "华氏70度"."""
    pattern = _temperature_pattern(tuple(units), fahrenheit)
    found = []
    for m in pattern.finditer(text):
        if not fahrenheit and re.match(r"\s?F", text[m.end() :]):
            continue  # "70°F": a bare degree sign followed by F is not Celsius
        group = 1 if m.group(1) else 2
        values = number_values(m.group(group))
        if fahrenheit:
            values = tuple((v - 32.0) * 5.0 / 9.0 for v in values)
        found.append(Quantity(values, "temperature", m.span(group)))
    return found


@lru_cache(maxsize=32)
def _money_pattern(code: str) -> re.Pattern[str]:
    symbols, words = CURRENCIES[code]
    return re.compile(
        rf"(?:(?<![A-Za-z])(?:{_alternation(symbols)})\s?{NUMBER}(?:\s*({_SCALE}))?)"
        rf"|(?:{NUMBER}(?:\s*({_SCALE}))?\s?(?:de\s+)?(?:{_alternation(symbols + words)}))",
        re.IGNORECASE,
    )


def money(text: str, code: str) -> list[Quantity]:
    """Amounts in currency `code`, one per number ("$12.50", "12,50 €", "1,2 milhões de euros")."""
    pattern = _money_pattern(code)
    by_span: dict[tuple[int, int], Quantity] = {}
    for m in pattern.finditer(text):
        number, scale = (1, 2) if m.group(1) else (3, 4)
        span = m.span(number)
        by_span.setdefault(span, Quantity(_scaled(number_values(m.group(number)), m.group(scale)), code, span))
    return list(by_span.values())


def match_all(expected: list[float], found: list[Quantity], close: Callable[[float, float], bool]) -> list[float]:
    """The expected values that no distinct found quantity matches (greedy, in order)."""
    free = list(found)
    missing = []
    for value in expected:
        hit = next((q for q in free if any(close(v, value) for v in q.values)), None)
        if hit is None:
            missing.append(value)
        else:
            free.remove(hit)
    return missing
