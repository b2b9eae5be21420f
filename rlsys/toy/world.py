"""A toy multilingual world: every dataset the Tower+ stages need, tiny, seeded and offline.

Why: the quickstart must show translation chrF and task accuracy moving stage by stage
(CPT -> SFT -> WPO -> GRPO) on a tiny model (hidden 128-256, 2-4 layers) in minutes on two CPU
cores, with nothing downloaded. Real corpora are far too large and too hard for that, so this
module invents a world small enough to be learned: a ~50-word English fragment, a ~50-word
invented language ("Toyish") tied to it by a fixed bijection, single-digit arithmetic and a few
checkable instructions.

The language pair:
- English sentences of 3-6 words, all lower case, ending in ".": `det (adj) noun verb
  [det (adj) noun] [adverb]`, e.g. "the big dog sees a ball.".
- Toyish words come from a seeded syllable generator (CV for determiners, CVCV otherwise, verbs
  end in "n"), one per English word. Toyish word order is subject-object-adverb-verb with
  adjectives after the noun, so a translation needs reordering, not only a word lookup: with
  seed 0, "the big dog sees a ball." -> "pe loro sudu go voro razan.".
- Language codes: "en" and "qaa" (ISO 639-2 reserves qaa-qtz for local use). Tools that name
  languages from codes need `LANGUAGE_NAMES` (e.g. `names=` of pretrain_sft.templates).

What `write_toy_world(out_dir, seed)` writes (JSONL, one row per line; sizes in `ToyWorldSizes`):
- `cpt_text.jsonl` {"text"}: monolingual documents in both languages (a few sentences each,
  some with an arithmetic fact "3+4=7.").
- `cpt_parallel.jsonl` {"src","tgt","src_lang","tgt_lang"}: sentence pairs, both directions.
- `sft.jsonl` {"messages"}: translation requests both ways, "What is 3+4?" -> "\\boxed{7}" (asked
  in English or Toyish), and English writing tasks with constraints (capital letters, lower
  case, end with a word, fewer than N words, mention given nouns).
- `preference.jsonl` {"prompt","chosen","rejected"}: chosen = the correct answer; rejected = a
  corrupted one (a word swapped, the source copied, word-by-word order; a wrong number; a broken
  constraint).
- `rl.jsonl` RL rows {"prompt","reward", ...}: `math` rows with `answer`, `chrf` rows with
  `reference` (+ `src`, `src_lang`, `tgt_lang`), `instructions` rows with `constraints`.
- `curate.jsonl`: prompts of the SFT pool with their reward columns (RL row format: translation
  with `chrf`, math, instructions, IF-MT with instructions + chrF), for `rlsys curate`: answered
  n times by a model, ranked by those rewards.
- IF-MT-style items (rlsys/toy/ifmt.py: translation with 2-4 checkable rules, a quarter of them
  multi-turn): `sft_ifmt.jsonl` {"messages"} for SFT, the held-out ones as `eval_ifmt.jsonl`
  (eval rows) and `ifmt.jsonl` (the same items in the IF-MT JSONL schema of
  rewards/instructions/ifmt.py).
- `eval_translation.jsonl`, `eval_math.jsonl`, `eval_instructions.jsonl`, `eval_ifmt.jsonl`:
  held-out rows in the same format as RL rows. Their sentences, arithmetic facts and instruction
  prompts never occur in any training file (the vocabulary does: every word is seen in training).
- `corpus.txt`: the training texts, one per line, for the tokenizer
  (`rlsys.toy.tiny.build_tiny_model(..., corpus=world.corpus)`); `world.json`: seed, sizes, language
  names, lexicon and file list.
Same seed and sizes -> byte-identical files.

Learnability, measured once (2 shared cores): a random 2-layer, hidden-128 Llama with a tokenizer
trained on `corpus.txt` scores chrF ~4, math 0.0, constraint accuracy ~0.15 on the eval sets;
after ~1000 steps of SFT alone on `sft.jsonl` (32 conversations per step, lr 1e-3, ~2.5 min)
it scores chrF 99, math 0.55, constraint accuracy 0.95. Translation saturates first, so stage
budgets should stay short if every stage is to move the numbers.

Not covered: anything linguistically realistic (no morphology, agreement, ambiguity or
multiword expressions); semantics (the tree may eat a song); more than one language pair;
multi-digit arithmetic; instruction types beyond the five listed; IF-MT rules beyond rlsys/toy/ifmt.py's five.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlsys.toy.ifmt import ifmt_item

SRC_LANG, TGT_LANG = "en", "qaa"
LANGUAGE_NAMES = {SRC_LANG: "English", TGT_LANG: "Toyish"}

DETERMINERS = ("the", "a")
NOUNS = (
    "dog",
    "cat",
    "bird",
    "fish",
    "man",
    "woman",
    "child",
    "horse",
    "tree",
    "ball",
    "book",
    "cake",
    "boat",
    "house",
    "river",
    "song",
)
TRANSITIVE = ("sees", "likes", "finds", "takes", "wants", "holds", "makes", "eats")
INTRANSITIVE = ("sleeps", "runs", "sings", "waits", "falls", "swims")
ADJECTIVES = ("big", "small", "red", "green", "cold", "new", "happy", "tall", "dark", "warm")
ADVERBS = ("slowly", "quickly", "today", "again", "here", "now")
QUESTION = "what is"  # the math question word(s); one Toyish word
CATEGORIES = {
    "det": DETERMINERS,
    "noun": NOUNS,
    "verb_t": TRANSITIVE,
    "verb_i": INTRANSITIVE,
    "adj": ADJECTIVES,
    "adv": ADVERBS,
    "question": (QUESTION,),
}
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"

TRANSLATION_PROMPT = "Translate from {src_name} to {tgt_name}:\n{src}"
END_WORDS = ("done", "yes", "okay")
WORD_LIMITS = (6, 7)  # "Use fewer than N words."
FORMATS = ("plain", "capital", "lowercase", *(f"end:{w}" for w in END_WORDS), *(f"words:{n}" for n in WORD_LIMITS))


@dataclasses.dataclass(frozen=True)
class ToyWorldSizes:
    """Rows per file. The defaults train a 2-layer, hidden-128 model visibly in minutes on 2 cores."""

    mono_docs: int = 400  # per language
    sentences_per_doc: int = 3
    parallel: int = 800
    sft_translation: int = 400
    sft_math: int = 200
    sft_instructions: int = 200
    preference: int = 300
    rl: int = 300
    sft_ifmt: int = 120
    curate: int = 160  # a quarter each: translation, math, instructions, IF-MT
    eval_translation: int = 48
    eval_math: int = 40
    eval_instructions: int = 40
    eval_ifmt: int = 32


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One clause: subject and optional object are (det, adj or None, noun)."""

    subj: tuple[str, str | None, str]
    verb: str
    obj: tuple[str, str | None, str] | None = None
    adv: str | None = None

    def english(self) -> str:
        """Subject, verb, object, adverb; adjectives before nouns."""
        obj, adv = _np_en(self.obj) if self.obj else [], [self.adv] if self.adv else []
        return " ".join(_np_en(self.subj) + [self.verb] + obj + adv) + "."

    def toyish(self, lexicon: dict[str, str]) -> str:
        """Subject, object, adverb, verb; adjectives after nouns."""
        obj, adv = _np_toy(self.obj) if self.obj else [], [self.adv] if self.adv else []
        return " ".join(lexicon[w] for w in _np_toy(self.subj) + obj + adv + [self.verb]) + "."


def _np_en(np: tuple[str, str | None, str]) -> list[str]:
    return [w for w in np if w]


def _np_toy(np: tuple[str, str | None, str]) -> list[str]:
    det, adj, noun = np
    return [det, noun] + ([adj] if adj else [])


def make_lexicon(seed: int) -> dict[str, str]:
    """English word -> Toyish word, a bijection fixed by `seed`."""
    rng = random.Random(f"{seed}:lexicon")
    english = {w for words in CATEGORIES.values() for w in words}
    used: set[str] = set()
    lexicon = {}
    for category, words in CATEGORIES.items():
        for word in words:
            while True:
                syllables = 1 if category == "det" else 2
                toy = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
                toy += "n" if category.startswith("verb") else ""
                if toy not in used and toy not in english:
                    break
            used.add(toy)
            lexicon[word] = toy
    return lexicon


# ---------------------------------------------------------------- sentences


def _noun_phrase(rng: random.Random, adj: bool, noun: str | None = None) -> tuple[str, str | None, str]:
    return rng.choice(DETERMINERS), rng.choice(ADJECTIVES) if adj else None, noun or rng.choice(NOUNS)


def random_sentence(
    rng: random.Random, subj: str | None = None, obj: str | None = None, max_words: int = 6
) -> Sentence:
    """A sentence of 3..max_words English words; `subj`/`obj` force those nouns (obj: transitive)."""
    transitive = obj is not None or (max_words >= 5 and rng.random() < 0.6)
    extras = ["adj_s", "adv"] + (["adj_o"] if transitive else [])
    budget = max_words - (5 if transitive else 3)
    chosen = set(rng.sample(extras, k=min(len(extras), rng.randint(0, max(0, budget)))))
    return Sentence(
        subj=_noun_phrase(rng, "adj_s" in chosen, subj),
        verb=rng.choice(TRANSITIVE if transitive else INTRANSITIVE),
        obj=_noun_phrase(rng, "adj_o" in chosen, obj) if transitive else None,
        adv=rng.choice(ADVERBS) if "adv" in chosen else None,
    )


def fresh_sentence(rng: random.Random, avoid: frozenset[str], **kwargs: Any) -> Sentence:
    """`random_sentence` whose English text is not in `avoid` (the held-out eval sentences)."""
    while True:
        s = random_sentence(rng, **kwargs)
        if s.english() not in avoid:
            return s


def sentence_pool(seed: int, count: int) -> list[Sentence]:
    """`count` distinct sentences (distinct English text) in a seeded order."""
    rng = random.Random(f"{seed}:sentences")
    seen: dict[str, Sentence] = {}
    while len(seen) < count:
        s = random_sentence(rng)
        seen.setdefault(s.english(), s)
    return list(seen.values())


# ---------------------------------------------------------------- tasks


def math_facts() -> list[tuple[int, str, int]]:
    """All single-digit a+b and a-b (a >= b): 155 facts."""
    return [(a, "+", b) for a in range(10) for b in range(10)] + [(a, "-", b) for a in range(10) for b in range(a + 1)]


def fact_answer(fact: tuple[int, str, int]) -> int:
    a, op, b = fact
    return a + b if op == "+" else a - b


def math_question(fact: tuple[int, str, int], lang: str, lexicon: dict[str, str]) -> str:
    a, op, b = fact
    if lang == SRC_LANG:
        return f"What is {a}{op}{b}?"
    return f"{lexicon[QUESTION]} {a}{op}{b}?"


def translation_request(sentence: Sentence, direction: str, lexicon: dict[str, str]) -> dict[str, str]:
    """Prompt text, source, reference and languages for one sentence in one direction."""
    en, toy = sentence.english(), sentence.toyish(lexicon)
    forward = direction == "forward"
    src, tgt, src_lang, tgt_lang = (en, toy, SRC_LANG, TGT_LANG) if forward else (toy, en, TGT_LANG, SRC_LANG)
    prompt = TRANSLATION_PROMPT.format(src_name=LANGUAGE_NAMES[src_lang], tgt_name=LANGUAGE_NAMES[tgt_lang], src=src)
    return {"prompt": prompt, "src": src, "reference": tgt, "src_lang": src_lang, "tgt_lang": tgt_lang}


@dataclasses.dataclass(frozen=True)
class InstructionTask:
    """Write an English sentence about `nouns` (1 or 2) in the given format."""

    nouns: tuple[str, ...]
    format: str

    def prompt(self) -> str:
        about = " and ".join(f"the {n}" for n in self.nouns)
        text = f"Write an English sentence about {about}."
        kind, _, arg = self.format.partition(":")
        extra = {
            "plain": "",
            "capital": " Use only capital letters.",
            "lowercase": " Use only lowercase letters.",
            "end": f' End your answer with the word "{arg}".',
            "words": f" Use fewer than {arg} words.",
        }[kind]
        return text + extra

    def constraints(self) -> list[dict[str, Any]]:
        kind, _, arg = self.format.partition(":")
        items: list[dict[str, Any]] = [{"type": "keywords:existence", "keywords": list(self.nouns)}]
        if kind == "capital":
            items.append({"type": "change_case:english_capital"})
        elif kind == "lowercase":
            items.append({"type": "change_case:english_lowercase"})
        elif kind == "end":
            items.append({"type": "startend:end_checker", "end_phrase": arg})
        elif kind == "words":
            items.append({"type": "length_constraints:number_words", "num_words": int(arg), "relation": "less than"})
        return items

    def answer(self, rng: random.Random, avoid: frozenset[str] = frozenset()) -> str:
        """A correct answer whose sentence is not in `avoid`."""
        kind, _, arg = self.format.partition(":")
        max_words = int(arg) - 1 if kind == "words" else 6
        obj = self.nouns[1] if len(self.nouns) > 1 else None
        text = fresh_sentence(rng, avoid, subj=self.nouns[0], obj=obj, max_words=max_words).english()
        if kind == "capital":
            return text.upper()
        if kind == "end":
            return f"{text} {arg}"
        return text

    def wrong_answer(self, rng: random.Random, avoid: frozenset[str] = frozenset()) -> str:
        """A fluent answer that breaks the format constraint (or misses the nouns for `plain`)."""
        kind, _, arg = self.format.partition(":")
        if kind == "plain":
            others = [n for n in NOUNS if n not in self.nouns]
            return fresh_sentence(rng, avoid, subj=rng.choice(others), max_words=4).english()
        obj = self.nouns[1] if len(self.nouns) > 1 else None
        text = fresh_sentence(rng, avoid, subj=self.nouns[0], obj=obj).english()
        if kind == "lowercase":
            return text[0].upper() + text[1:]
        if kind == "words":
            return text[:-1] + " " + " ".join(["again"] * int(arg)) + "."
        return text  # capital, end: a plain lower-case sentence without the end word


def instruction_tasks() -> list[InstructionTask]:
    """Every (topic, format) combination: 16 single nouns + 240 ordered pairs, times 8 formats."""
    topics = [(n,) for n in NOUNS] + [(a, b) for a in NOUNS for b in NOUNS if a != b]
    return [InstructionTask(topic, fmt) for topic in topics for fmt in FORMATS]


# ---------------------------------------------------------------- building the world


@dataclasses.dataclass
class ToyWorld:
    """The generated rows per file name, the lexicon, and the tokenizer corpus."""

    seed: int
    sizes: ToyWorldSizes
    lexicon: dict[str, str]
    files: dict[str, list[dict[str, Any]]]
    corpus: list[str]


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _chat(prompt: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def _split(items: list[Any], held_out: int, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """(train, held-out): a seeded shuffle, the first `held_out` items held out."""
    items = list(items)
    rng.shuffle(items)
    return items[held_out:], items[:held_out]


def _corrupt_translation(req: dict[str, str], lexicon: dict[str, str], rng: random.Random) -> str:
    """A plausible wrong translation: the source copied, word-by-word in the source's order, or one
    word swapped (also when word-by-word happens to be right, as for "the dog sleeps.")."""
    choice = rng.randrange(3)
    if choice == 0:
        return req["src"]
    if choice == 1:
        table = lexicon if req["tgt_lang"] == TGT_LANG else {v: k for k, v in lexicon.items()}
        literal = " ".join(table[w] for w in req["src"][:-1].split()) + "."
        if literal != req["reference"]:
            return literal
    words = req["reference"][:-1].split()
    vocab = sorted(set(lexicon.values()) if req["tgt_lang"] == TGT_LANG else set(lexicon) - {QUESTION})
    i = rng.randrange(len(words))
    words[i] = rng.choice([w for w in vocab if w != words[i]])
    return " ".join(words) + "."


class _Builder:
    def __init__(self, seed: int, sizes: ToyWorldSizes):
        self.seed, self.sizes = seed, sizes
        self.lexicon = make_lexicon(seed)
        pool = sentence_pool(seed, 2000)
        eval_count = sizes.eval_translation
        self.train_sentences, self.eval_sentences = pool[eval_count:], pool[:eval_count]
        self.held_out = frozenset(s.english() for s in self.eval_sentences)
        facts = math_facts()
        self.train_facts, self.eval_facts = _split(facts, min(sizes.eval_math, len(facts) // 4), self.rng("facts"))
        self.train_tasks, self.eval_tasks = _split(instruction_tasks(), sizes.eval_instructions, self.rng("tasks"))
        self.eval_ifmt: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.eval_ifmt = self.ifmt(self.eval_sentences, sizes.eval_ifmt, "eval")

    def rng(self, part: str) -> random.Random:
        return random.Random(f"{self.seed}:{part}")

    def translation_requests(self, sentences: list[Sentence], count: int, part: str) -> Iterator[dict[str, str]]:
        rng = self.rng(part)
        for i in range(count):
            sentence = sentences[i % len(sentences)] if part == "eval" else rng.choice(sentences)
            yield translation_request(sentence, "forward" if i % 2 == 0 else "backward", self.lexicon)

    def math_items(self, facts: list[tuple[int, str, int]], count: int, part: str) -> Iterator[tuple[str, int]]:
        rng = self.rng(part)
        for i in range(count):
            fact = facts[i % len(facts)] if part == "eval" else rng.choice(facts)
            lang = SRC_LANG if i % 2 == 0 else TGT_LANG
            yield math_question(fact, lang, self.lexicon), fact_answer(fact)

    def cpt_text(self) -> list[dict[str, Any]]:
        rng, rows = self.rng("mono"), []
        for lang in (SRC_LANG, TGT_LANG):
            for _ in range(self.sizes.mono_docs):
                parts = []
                for _ in range(self.sizes.sentences_per_doc):
                    if rng.random() < 0.15:
                        fact = rng.choice(self.train_facts)
                        parts.append(f"{fact[0]}{fact[1]}{fact[2]}={fact_answer(fact)}.")
                    else:
                        s = rng.choice(self.train_sentences)
                        parts.append(s.english() if lang == SRC_LANG else s.toyish(self.lexicon))
                rows.append({"text": " ".join(parts)})
        rng.shuffle(rows)
        return rows

    def cpt_parallel(self) -> list[dict[str, Any]]:
        keys = ("src", "tgt", "src_lang", "tgt_lang")
        return [
            dict(zip(keys, (r["src"], r["reference"], r["src_lang"], r["tgt_lang"]), strict=True))
            for r in self.translation_requests(self.train_sentences, self.sizes.parallel, "parallel")
        ]

    def ifmt(self, sentences: list[Sentence], count: int, part: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(IF-MT schema row, eval / RL row) pairs; every fourth item is multi-turn. Training items
        never have the source of a held-out one (a name for the subject can make two sentences equal)."""
        rng = self.rng(f"{part}_ifmt")
        avoid = set() if part == "eval" else {row["src"] for _, row in self.eval_ifmt}
        items: list[tuple[dict[str, Any], dict[str, Any]]] = []
        while len(items) < count:
            i = len(items)
            sentence = sentences[i % len(sentences)] if part == "eval" else rng.choice(sentences)
            item = ifmt_item(
                sentence,
                self.lexicon,
                rng,
                item_id=f"{part}-ifmt-{i}",
                multi_turn=i % 4 == 3,
                prompt_template=TRANSLATION_PROMPT,
                names=LANGUAGE_NAMES,
            )
            if item[1]["src"] not in avoid:
                items.append(item)
        return items

    def sft(self) -> list[dict[str, Any]]:
        s, rng = self.sizes, self.rng("sft_if")
        requests = self.translation_requests(self.train_sentences, s.sft_translation, "sft_tr")
        rows = [_chat(r["prompt"], r["reference"]) for r in requests]
        rows += [_chat(q, f"\\boxed{{{a}}}") for q, a in self.math_items(self.train_facts, s.sft_math, "sft_math")]
        tasks = [rng.choice(self.train_tasks) for _ in range(s.sft_instructions)]
        rows += [_chat(t.prompt(), t.answer(rng, self.held_out)) for t in tasks]
        self.rng("sft").shuffle(rows)
        return rows

    def preference(self) -> list[dict[str, Any]]:
        rng, rows = self.rng("pref"), []
        n = self.sizes.preference
        for r in self.translation_requests(self.train_sentences, n - 2 * (n // 3), "pref_tr"):
            wrong = _corrupt_translation(r, self.lexicon, rng)
            rows.append({"prompt": _user(r["prompt"]), "chosen": r["reference"], "rejected": wrong})
        for q, a in self.math_items(self.train_facts, n // 3, "pref_math"):
            wrong_sum = a + rng.choice([-2, -1, 1, 2]) if a >= 2 else a + rng.choice([1, 2])
            rows.append({"prompt": _user(q), "chosen": f"\\boxed{{{a}}}", "rejected": f"\\boxed{{{wrong_sum}}}"})
        for _ in range(n // 3):
            task = rng.choice(self.train_tasks)
            rows.append(
                {
                    "prompt": _user(task.prompt()),
                    "chosen": task.answer(rng, self.held_out),
                    "rejected": task.wrong_answer(rng, self.held_out),
                }
            )
        rng.shuffle(rows)
        return rows

    def rl_rows(self, part: str, counts: tuple[int, int, int], sentences, facts, tasks) -> list[dict[str, Any]]:
        rows = []
        for r in self.translation_requests(sentences, counts[0], part):
            rows.append({"prompt": _user(r.pop("prompt")), "reward": "chrf", **r})
        for q, a in self.math_items(facts, counts[1], part):
            rows.append({"prompt": _user(q), "reward": "math", "answer": str(a)})
        rng = self.rng(f"{part}_if")
        picked = tasks[: counts[2]] if part == "eval" else [rng.choice(tasks) for _ in range(counts[2])]
        for task in picked:
            rows.append({"prompt": _user(task.prompt()), "reward": "instructions", "constraints": task.constraints()})
        return rows

    def sft_ifmt(self) -> list[dict[str, Any]]:
        """IF-MT conversations (the reference as the last assistant turn), a file of their own so a
        config sets their share of an SFT mix."""
        items = self.ifmt(self.train_sentences, self.sizes.sft_ifmt, "sft")
        return [{"messages": row["prompt"] + [{"role": "assistant", "content": row["reference"]}]} for _, row in items]

    def curate(self) -> list[dict[str, Any]]:
        """Training-pool prompts with reward columns; IF-MT rows are scored on rules and chrF."""
        quarter = self.sizes.curate // 4
        rows = self.rl_rows(
            "curate", (quarter, quarter, quarter), self.train_sentences, self.train_facts, self.train_tasks
        )
        both = [{"name": "instructions", "weight": 0.5}, {"name": "chrf", "weight": 0.5}]
        rows += [
            {**row, "reward": both}
            for _, row in self.ifmt(self.train_sentences, self.sizes.curate - 3 * quarter, "curate")
        ]
        self.rng("curate_order").shuffle(rows)
        return rows

    def build(self) -> ToyWorld:
        s = self.sizes
        n_tr, n_math = int(s.rl * 0.4), int(s.rl * 0.3)
        counts = (n_tr, n_math, s.rl - n_tr - n_math)
        rl = self.rl_rows("rl", counts, self.train_sentences, self.train_facts, self.train_tasks)
        self.rng("rl_order").shuffle(rl)
        eval_ifmt = self.eval_ifmt
        files = {
            "cpt_text": self.cpt_text(),
            "cpt_parallel": self.cpt_parallel(),
            "sft": self.sft(),
            "sft_ifmt": self.sft_ifmt(),
            "preference": self.preference(),
            "rl": rl,
            "curate": self.curate(),
            "ifmt": [schema for schema, _ in eval_ifmt],
            "eval_ifmt": [row for _, row in eval_ifmt],
            "eval_translation": self.rl_rows("eval", (s.eval_translation, 0, 0), self.eval_sentences, [], []),
            "eval_math": self.rl_rows("eval", (0, len(self.eval_facts), 0), [], self.eval_facts, []),
            "eval_instructions": self.rl_rows("eval", (0, 0, len(self.eval_tasks)), [], [], self.eval_tasks),
        }
        return ToyWorld(self.seed, s, self.lexicon, files, corpus_of(files))


def corpus_of(files: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Distinct training texts (no eval rows), in first-seen order."""
    texts: dict[str, None] = {}
    for name in ("cpt_text", "cpt_parallel", "sft", "sft_ifmt", "preference"):
        for row in files[name]:
            for value in (row.get("text"), row.get("src"), row.get("tgt"), row.get("chosen"), row.get("rejected")):
                if isinstance(value, str):
                    texts.setdefault(value)
            for message in row.get("messages") or row.get("prompt") or []:
                texts.setdefault(message["content"])
    return list(texts)


def build_toy_world(seed: int = 0, sizes: ToyWorldSizes | None = None) -> ToyWorld:
    """Generate the world in memory (see the module docstring); deterministic in `seed`."""
    sizes = sizes or ToyWorldSizes()
    if sizes.eval_translation >= 1000 or sizes.eval_instructions >= 1000:
        raise ValueError("eval sets of 1000 rows or more would eat the training pool; the toy world is small")
    return _Builder(seed, sizes).build()


def write_toy_world(out_dir: str | Path, seed: int = 0, sizes: ToyWorldSizes | None = None) -> ToyWorld:
    """Build the world and write it to `out_dir` (`<name>.jsonl`, `corpus.txt`, `world.json`)."""
    world = build_toy_world(seed, sizes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in world.files.items():
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (out / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
    (out / "corpus.txt").write_text("".join(text.replace("\n", " ") + "\n" for text in world.corpus), encoding="utf-8")
    manifest = {
        "seed": seed,
        "sizes": dataclasses.asdict(world.sizes),
        "language_names": LANGUAGE_NAMES,
        "lexicon": world.lexicon,
        "files": {name: {"path": f"{name}.jsonl", "rows": len(rows)} for name, rows in world.files.items()},
    }
    (out / "world.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return world


def read_corpus(world_dir: str | Path) -> list[str]:
    """The tokenizer corpus written by `write_toy_world`, one text per line."""
    return [line for line in Path(world_dir, "corpus.txt").read_text(encoding="utf-8").splitlines() if line]
