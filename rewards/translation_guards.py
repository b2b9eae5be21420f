"""Guards that stop a policy from gaming translation rewards (QE, COMET, chrF).

Why: a quality-estimation model scores *a* text against the source; a policy trained on it finds
what it overrates: copying the source, answering in the source language, dropping half of the
text, padding with chatter or repeating itself (WALAR and others report these hacks). These
guards are cheap, deterministic surface checks run before the metric; the translation rewards
(`rewards.translation`), curation filters and evaluation share them so a sample is judged the
same way everywhere. Pure Python: they import in the main and in the QE environment.

Guards (the names of the `guards` setting), each giving a `GuardCheck` with status `pass`,
`fail` or `skip` (cannot judge: a column is missing, the text is too short) and a detail:

- `language`: the output is in the row's `tgt_lang`. First by script: more than half of its
  letters must be in a script of that language (`rewards.languages.SCRIPTS`). Then, for the
  languages the project's detector can return, the detector (called through `detect`, the one
  place guards use it) reads the output without URLs, numbers and the names it shares with the
  source: from 5 words on, it must not name the source language (`src_lang`, else the source's
  detected language); from 12 words on, it must not name any other language. Short same-script
  sentences are where the offline detector errs (e.g. "Wir treffen uns morgen um zwölf Uhr." ->
  pt), so a short answer in a third language of the same script is not caught. An undecided
  detector passes. Skipped without `tgt_lang`, for tags not in `rewards.languages`, and for
  output without letters.
- `copy`: the output is not (mostly) the source. Both texts are normalised (lowercase, URLs,
  placeholders, tags and numbers removed, title-case words common to both removed: names are
  kept by translators) and cut into character 5-grams; the guard fails when the share of the
  output's 5-grams found in the source, or of the source's found in the output, reaches
  `copy_threshold` (default 0.5). The second direction catches "source, then translation".
  Skipped when `src_lang` and `tgt_lang` name the same language or the source has < 8 5-grams.
- `length`: non-space characters of output / source within a band around the ratio expected for
  the pair: expected = `CHAR_RATIO[tgt] / CHAR_RATIO[src]` (characters per English character;
  our estimates, e.g. de 1.2, zh 0.32), band [expected / `length_tolerance`, expected x
  `length_tolerance`] (default tolerance 2.0) plus a slack of 10 English-character equivalents
  for short segments. `length_ratios={"en-de": [lo, hi]}` replaces the band of a pair. A
  language that is not given is detected (source) or taken as English-like (1.0). An empty
  output fails.
- `translation_only`: no preamble, language label, trailing note or wrapper (see
  `rewards.instructions.translation_checks.extra_text_reason`), no repeated sentence or looping
  n-gram that the source lacks, and no answer in place of a question: a source with a question
  mark must give an output with one (`?`, `？`, `؟`, Greek `;`, `՞`, `፧`, or a Japanese / Chinese
  question particle before a full stop: `か。`, `吗`, `呢`). An empty output fails.

Penalty (used by the rewards): when any enabled guard fails, the sample's score is 0.0 with
status `ok` (a real verdict, not a failure of the reward) and the reason lists every failed guard
as "guard <name>: <detail>", joined by "; ". Passing and skipped guards leave the metric's
score untouched. The metric is not computed for guarded samples.

Settings (plain keyword arguments, all safe for a request to set: they only make the
requester's own reward stricter or looser, never touch server resources):
`guards` ("all", "none", a comma-separated string or a list of names; True/False),
`copy_threshold` (float in (0, 1]), `length_tolerance` (float in [1.05, 20]),
`length_ratios` (mapping "src-tgt" -> [lo, hi], 0 < lo < hi <= 100, at most 64 pairs).

Not covered: meaning (a fluent wrong translation passes: that is the metric's job), partial
copies below the threshold, code-switching inside a sentence, chatter in languages whose
preambles `translation_checks` does not list, questions rewritten as statements on purpose,
instructions in the source that the output obeys instead of translating (when it keeps the
length and language), reasoning traces (strip `<think>` blocks before scoring).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rewards.base import RewardResult
from rewards.instructions.language import LANGUAGES as DETECTABLE
from rewards.instructions.language import detect_language
from rewards.instructions.segmentation import script_of, words
from rewards.instructions.translation_checks import extra_text_reason, strip_protected
from rewards.languages import SCRIPTS, base_code

GUARDS = ("language", "copy", "length", "translation_only")
GuardStatus = Literal["pass", "fail", "skip"]

# Non-space characters per English non-space character, for the same content (our estimates from
# typical parallel corpora; the band around them is wide on purpose). Missing languages: 1.0.
CHAR_RATIO: dict[str, float] = {
    "en": 1.0,
    "de": 1.2,
    "fr": 1.2,
    "es": 1.15,
    "pt": 1.15,
    "it": 1.15,
    "nl": 1.15,
    "ca": 1.15,
    "gl": 1.15,
    "ro": 1.15,
    "sv": 1.05,
    "da": 1.05,
    "no": 1.05,
    "nb": 1.05,
    "nn": 1.05,
    "is": 1.05,
    "fi": 1.1,
    "et": 1.0,
    "pl": 1.1,
    "cs": 1.0,
    "sk": 1.0,
    "sl": 1.0,
    "hr": 1.0,
    "sr": 1.0,
    "hu": 1.1,
    "tr": 1.05,
    "el": 1.15,
    "ru": 1.1,
    "uk": 1.05,
    "bg": 1.1,
    "ar": 0.9,
    "fa": 0.9,
    "ur": 0.95,
    "he": 0.8,
    "hi": 1.0,
    "mr": 1.0,
    "ne": 1.0,
    "bn": 1.0,
    "vi": 1.1,
    "id": 1.15,
    "ms": 1.15,
    "tl": 1.2,
    "fil": 1.2,
    "sw": 1.1,
    "th": 1.0,
    "zh": 0.32,
    "yue": 0.32,
    "ja": 0.45,
    "ko": 0.5,
}
LENGTH_SLACK_CHARS = 10  # English-character equivalents added to both ends of the band
COPY_NGRAM = 5
COPY_MIN_NGRAMS = 8
QUESTION_MARKS = "?？؟՞፧"  # plus ";" (and U+037E) for Greek output
MAX_LENGTH_PAIRS = 64
DETECT_MIN_WORDS = 5  # fewer words (after removing names) and the detector is not asked
DETECT_MIN_WORDS_ANY = 12  # below this, only "the source language" is trusted from the detector
_PUNCT = ".,;:!?¿¡()[]{}\"'“”‘’«»„…-–—"


class GuardSettingError(ValueError):
    """A guard setting with a bad value; the message names the setting."""


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class GuardCheck:
    """One guard's verdict on one output."""

    guard: str
    status: GuardStatus
    detail: str = ""


@dataclass(frozen=True)
class GuardReport:
    """Every enabled guard's verdict on one output."""

    checks: tuple[GuardCheck, ...] = ()

    @property
    def failed(self) -> tuple[GuardCheck, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def reason(self) -> str:
        return "; ".join(f"guard {c.guard}: {c.detail}" for c in self.failed)

    def penalty(self) -> RewardResult | None:
        """Score 0.0 (status ok) with the failed guards as reason; None when all passed."""
        return None if self.passed else RewardResult.ok(0.0, self.reason)


# ---------------------------------------------------------------- the detector, in one place


def detect(text: str) -> str | None:
    """The language code of `text` by the project's detector, or None when undecided."""
    return detect_language(text)


def detectable(code: str) -> bool:
    """Whether the detector behind `detect` can return `code`."""
    return code in DETECTABLE


# ---------------------------------------------------------------- the four guards


def _script_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            counts[script_of(ch) or "Other"] += 1
    return counts


def script_mismatch(text: str, lang: Any) -> str | None:
    """A reason when `text` is obviously not in `lang`: half or more of its letters are in scripts
    the language is not written in. None when it may be (or `lang` is unknown, or no letters)."""
    expected = SCRIPTS.get(base_code(lang) or "")
    counts = _script_counts(text)
    total = sum(counts.values())
    if not expected or total == 0 or sum(n for s, n in counts.items() if s in expected) * 2 > total:
        return None
    found = counts.most_common(1)[0][0]
    return f"wrong language: expected {lang} ({'/'.join(sorted(expected))} script), output is mostly {found}"


def _is_title(word: str) -> bool:
    """'Berlin', 'McDonald', 'Hôtel' (not 'NASA', 'a', 'iPhone')."""
    return len(word) > 1 and word[0].isupper() and any(c.islower() for c in word[1:])


def _detector_text(output: str, src: Any = None) -> str:
    """What the detector sees: no URLs, placeholders, tags or numbers, and no title-case word that
    the source has too (names carry no evidence of the language around them)."""
    names = _names_in_both(src, output) if isinstance(src, str) else set()
    kept = [w for w in strip_protected(output).split() if w.strip(_PUNCT) not in names]
    return " ".join(kept)


def language_check(output: str, tgt_lang: Any, src_lang: Any = None, src: Any = None) -> GuardCheck:
    """Is `output` written in `tgt_lang`? (script first, then the detector)."""
    if not isinstance(tgt_lang, str) or not tgt_lang.strip():
        return GuardCheck("language", "skip", "no tgt_lang")
    code = base_code(tgt_lang)
    if code is None:
        return GuardCheck("language", "skip", f"unknown language {tgt_lang!r}")
    if not any(ch.isalpha() for ch in output):
        return GuardCheck("language", "skip", "no letters to judge")
    mismatch = script_mismatch(output, tgt_lang)
    if mismatch:
        return GuardCheck("language", "fail", mismatch)
    text = _detector_text(output, src)
    n_words = len(words(text))
    if detectable(code) and n_words >= DETECT_MIN_WORDS:
        found = detect(text)
        if found is not None and found != code:
            src_code = base_code(src_lang) or (detect(src) if isinstance(src, str) else None)
            if found == src_code:
                return GuardCheck(
                    "language", "fail", f"wrong language: expected {tgt_lang}, detected {found} (the source language)"
                )
            if n_words >= DETECT_MIN_WORDS_ANY:
                return GuardCheck("language", "fail", f"wrong language: expected {tgt_lang}, detected {found}")
    return GuardCheck("language", "pass")


def _names_in_both(src: str, output: str) -> set[str]:
    """Title-case words present in both texts (names, brands): translators keep them."""

    def pick(text: str) -> set[str]:
        return {w for w in re.findall(r"[^\W_]+", text) if _is_title(w)}

    return pick(src) & pick(output)


def _ngrams(text: str, drop: set[str]) -> set[str]:
    kept = [w for w in re.findall(r"[^\W_]+", strip_protected(text)) if w not in drop]
    norm = " ".join(unicodedata.normalize("NFKC", " ".join(kept)).lower().split())
    return {norm[i : i + COPY_NGRAM] for i in range(len(norm) - COPY_NGRAM + 1)}


def copy_check(
    output: str, src: Any, *, threshold: float = 0.5, src_lang: Any = None, tgt_lang: Any = None
) -> GuardCheck:
    """Does `output` reproduce (most of) `src`? Character 5-gram overlap in both directions."""
    if not isinstance(src, str) or not src.strip():
        return GuardCheck("copy", "skip", "no src")
    src_code, tgt_code = base_code(src_lang), base_code(tgt_lang)
    if src_code is not None and src_code == tgt_code:
        return GuardCheck("copy", "skip", "source and target language are the same")
    names = _names_in_both(src, output)
    src_grams, out_grams = _ngrams(src, names), _ngrams(output, names)
    if len(src_grams) < COPY_MIN_NGRAMS:
        return GuardCheck("copy", "skip", "source too short to judge")
    if not out_grams:
        return GuardCheck("copy", "pass")
    shared = len(src_grams & out_grams)
    of_output, of_source = shared / len(out_grams), shared / len(src_grams)
    if of_output >= threshold:
        return GuardCheck(
            "copy", "fail", f"{of_output:.0%} of the output's character {COPY_NGRAM}-grams occur in the source"
        )
    if of_source >= threshold:
        return GuardCheck(
            "copy", "fail", f"the output contains {of_source:.0%} of the source's character {COPY_NGRAM}-grams"
        )
    return GuardCheck("copy", "pass")


def visible_length(text: str) -> int:
    """Non-space characters (comparable across scripts with and without spaces)."""
    return sum(1 for ch in text if not ch.isspace())


def _ratio_code(lang: Any, text: str) -> str | None:
    code = base_code(lang)
    return code if code is not None else detect(text)


def length_band(
    src_code: str | None,
    tgt_code: str | None,
    tolerance: float,
    ratios: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[float, float]:
    """(low, high) output/source character ratio for a pair (see the module docstring)."""
    override = (ratios or {}).get(f"{src_code}-{tgt_code}")
    if override is not None:
        return override
    expected = CHAR_RATIO.get(tgt_code or "", 1.0) / CHAR_RATIO.get(src_code or "", 1.0)
    return expected / tolerance, expected * tolerance


def length_check(
    output: str,
    src: Any,
    *,
    src_lang: Any = None,
    tgt_lang: Any = None,
    tolerance: float = 2.0,
    ratios: Mapping[str, tuple[float, float]] | None = None,
) -> GuardCheck:
    """Is the output's length plausible for a translation of `src`? (see `length_band`)."""
    if not isinstance(src, str) or not src.strip():
        return GuardCheck("length", "skip", "no src")
    n_src, n_out = visible_length(src), visible_length(output)
    if n_out == 0:
        return GuardCheck("length", "fail", "empty output")
    src_code, tgt_code = _ratio_code(src_lang, src), _ratio_code(tgt_lang, output)
    low, high = length_band(src_code, tgt_code, tolerance, ratios)
    slack = LENGTH_SLACK_CHARS * CHAR_RATIO.get(tgt_code or "", 1.0)
    pair = f"{src_code or '?'}-{tgt_code or '?'}"
    if n_out < low * n_src - slack:
        return GuardCheck(
            "length",
            "fail",
            f"{n_out} characters for a {n_src}-character source, below {low:.2f}x ({pair}): under-translated?",
        )
    if n_out > high * n_src + slack:
        return GuardCheck(
            "length",
            "fail",
            f"{n_out} characters for a {n_src}-character source, above {high:.2f}x ({pair}): over-translated?",
        )
    return GuardCheck("length", "pass")


_SENTENCE_END = re.compile(r"[.!?。！？\n]+")


def _sentence_counts(text: str) -> Counter[str]:
    parts = (" ".join(p.lower().split()) for p in _SENTENCE_END.split(text))
    return Counter(p for p in parts if len(p) >= 12)


def _longest_loop(tokens: list[str], max_n: int = 4) -> tuple[int, str]:
    """The most consecutive repeats of one n-gram (n <= max_n) and that n-gram."""
    best, what = 1, ""
    for n in range(1, max_n + 1):
        i, run = n, 1
        while i + n <= len(tokens):
            if tokens[i : i + n] == tokens[i - n : i]:
                run += 1
                if run > best:
                    best, what = run, " ".join(tokens[i : i + n])
                i += n
            else:
                run = 1
                i += 1
    return best, what


def repetition_reason(output: str, src: str | None) -> str | None:
    """A repeated sentence or a looping n-gram that the source does not have, or None."""
    out_sentences = _sentence_counts(output)
    if out_sentences:
        sentence, count = out_sentences.most_common(1)[0]
        src_max = max(_sentence_counts(src or "").values(), default=1)
        if count >= 2 and count > src_max:
            return f"sentence repeated {count} times: {sentence[:40]!r}"
    loop, what = _longest_loop(words(output))
    if loop >= 4 and loop > _longest_loop(words(src or ""))[0]:
        return f"{what[:30]!r} repeated {loop} times in a row"
    return None


# Japanese and Chinese questions often end with a particle and a full stop instead of "?".
_QUESTION_PARTICLE = re.compile(r"[かの][。．]|[吗嗎呢][。．]?|[かの]$")


def _questions(text: str, lang: Any = None) -> int:
    marks = QUESTION_MARKS + (";\u037e" if base_code(lang) == "el" else "")
    return sum(text.count(mark) for mark in marks) + len(_QUESTION_PARTICLE.findall(text.strip()))


def translation_only_check(output: str, src: Any = None, tgt_lang: Any = None) -> GuardCheck:
    """Only a translation: no chatter or wrappers, no repetition, no answer to a question."""
    src_text = src if isinstance(src, str) else None
    reason = extra_text_reason(output, src_text) or repetition_reason(output, src_text)
    if reason is None and src_text and _questions(src_text) and _questions(output, tgt_lang) == 0:
        reason = "the source asks a question and the output asks none: answered instead of translated?"
    return GuardCheck("translation_only", "fail", reason) if reason else GuardCheck("translation_only", "pass")


# ---------------------------------------------------------------- configuration and the batch API


def _guard_names(value: Any) -> tuple[str, ...]:
    if value is True or value == "all":
        return GUARDS
    if value is False or value is None or value == "none" or value == "":
        return ()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise GuardSettingError(f"setting 'guards' must be 'all', 'none' or a list of {list(GUARDS)}, got {value!r}")
    unknown = [v for v in value if v not in GUARDS]
    if unknown:
        raise GuardSettingError(f"setting 'guards': unknown guard {unknown[0]!r}; known: {', '.join(GUARDS)}")
    return tuple(g for g in GUARDS if g in value)


def _number(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (low < value if open_low else low <= value)
        and value <= high
    )
    if not ok:
        bound = f"{'(' if open_low else '['}{low}, {high}]"
        raise GuardSettingError(f"setting {name!r} must be a number in {bound}, got {value!r}")
    return float(value)


def _ratios(value: Any) -> dict[str, tuple[float, float]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > MAX_LENGTH_PAIRS:
        raise GuardSettingError(
            f"setting 'length_ratios' must map at most {MAX_LENGTH_PAIRS} 'src-tgt' pairs to [low, high], got {value!r}"
        )
    out = {}
    for pair, band in value.items():
        parts = pair.split("-") if isinstance(pair, str) else []
        codes = [base_code(p) for p in parts]
        if len(parts) != 2 or None in codes:
            raise GuardSettingError(
                f"setting 'length_ratios': key {pair!r} must be 'src-tgt' with known language codes, e.g. 'en-de'"
            )
        if not isinstance(band, list | tuple) or len(band) != 2:
            raise GuardSettingError(f"setting 'length_ratios'[{pair!r}] must be [low, high], got {band!r}")
        low = _number(f"length_ratios[{pair!r}][0]", band[0], 0.0, 100.0, open_low=True)
        high = _number(f"length_ratios[{pair!r}][1]", band[1], low, 100.0, open_low=True)
        out[f"{codes[0]}-{codes[1]}"] = (low, high)
    return out


@dataclass(frozen=True)
class GuardConfig:
    """Which guards run and their thresholds; build it from settings with `from_settings`."""

    guards: tuple[str, ...] = GUARDS
    copy_threshold: float = 0.5
    length_tolerance: float = 2.0
    length_ratios: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, guards: Any = "all", copy_threshold: Any = 0.5, length_tolerance: Any = 2.0, length_ratios: Any = None
    ) -> GuardConfig:
        """Validate settings as a request or config gives them; raises GuardSettingError."""
        return cls(
            _guard_names(guards),
            _number("copy_threshold", copy_threshold, 0.0, 1.0, open_low=True),
            _number("length_tolerance", length_tolerance, 1.05, 20.0),
            _ratios(length_ratios),
        )


class TranslationGuards:
    """The enabled guards with their settings, applied to one output or a batch.

    >>> guards = TranslationGuards(GuardConfig(guards=("copy", "translation_only")))
    >>> guards.check("The cat sleeps on the warm sofa.", src="The cat sleeps on the warm sofa.").reason
    "guard copy: 100% of the output's character 5-grams occur in the source"
    """

    def __init__(self, config: GuardConfig | None = None):
        self.config = config or GuardConfig()

    def check(self, output: str, *, src: Any = None, tgt_lang: Any = None, src_lang: Any = None) -> GuardReport:
        cfg, checks = self.config, []
        for guard in cfg.guards:
            if guard == "language":
                checks.append(language_check(output, tgt_lang, src_lang, src))
            elif guard == "copy":
                checks.append(
                    copy_check(output, src, threshold=cfg.copy_threshold, src_lang=src_lang, tgt_lang=tgt_lang)
                )
            elif guard == "length":
                checks.append(
                    length_check(
                        output,
                        src,
                        src_lang=src_lang,
                        tgt_lang=tgt_lang,
                        tolerance=cfg.length_tolerance,
                        ratios=cfg.length_ratios,
                    )
                )
            else:
                checks.append(translation_only_check(output, src, tgt_lang))
        return GuardReport(tuple(checks))

    def penalties(
        self,
        completions: Sequence[str],
        src: Sequence[Any] | None = None,
        tgt_lang: Sequence[Any] | None = None,
        src_lang: Sequence[Any] | None = None,
    ) -> list[RewardResult | None]:
        """Per sample: the penalty result when a guard fails, None where the metric decides."""
        if not self.config.guards:
            return [None] * len(completions)
        n = len(completions)
        cols = [[None] * n if c is None else list(c) for c in (src, tgt_lang, src_lang)]
        return [
            self.check(text, src=s, tgt_lang=t, src_lang=sl).penalty()
            for text, s, t, sl in zip(completions, *cols, strict=True)
        ]
