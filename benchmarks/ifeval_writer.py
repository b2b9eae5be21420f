"""Random English responses for benchmarks/ifeval_agreement.py: a small vocabulary, fragments
that exercise sentence segmentation and tokenization, sentences in 23 languages, and `Writer`,
which builds words, sentences and paragraphs from them with a seeded `random.Random`."""

from __future__ import annotations

import random

NOUNS = (
    "report",
    "team",
    "market",
    "plan",
    "city",
    "river",
    "budget",
    "model",
    "garden",
    "museum",
    "engine",
    "school",
    "policy",
    "letter",
    "network",
    "forest",
    "company",
    "doctor",
    "island",
    "project",
)
VERBS = (
    "shows",
    "needs",
    "improves",
    "describes",
    "changes",
    "supports",
    "follows",
    "reaches",
    "builds",
    "explains",
    "protects",
    "opens",
)
ADJECTIVES = ("strong", "quiet", "early", "simple", "bright", "local", "careful", "modern", "large", "useful")
NAMES = ("Smith", "Jones", "Garcia", "Chen", "Miller", "Novak")
KEYWORDS = ("sunset", "budget", "art", "garden", "river", "policy", "coffee", "engine", "planet", "music")
FRAGMENTS = (  # things models write that exercise segmentation and tokenization
    "Dr. {name} met Mrs. {name2} at 5 p.m. yesterday.",
    "We use tools, e.g. Python and R.",
    "The U.S. economy grew by 3.5 percent.",
    "I work in HR. We hire {noun}s.",
    "Acme Co. is a {adj} firm.",
    "Wait... what happened next?",
    "It was great!",
    "Is the {noun} ready?",
    "I'm sure it's {adj}.",
    "NASA's {noun} didn't fail.",
    'She said "the {noun} is {adj}." Then she left.',
    "**The {noun} is {adj}.**",
    "The {noun} (see Fig. 2) {verb} the {noun2}.",
    "Prices rose in Jan. and fell in Feb.",
    "AI/ML {verb} the {noun}.",
    "It costs $4.50 per unit.",
    "Mr. {name} arrived at 10 a.m.",
    "The {noun} {verb} the {noun2}; it is {adj}.",
    "Call me at 555-0100.",
    "The CEO and the CFO {verb} the {noun}.",
    "It works well (mostly).",
    "The state-of-the-art {noun} {verb} everything.",
    "You can't stop now!",
    "vs. the old {noun}, it is {adj}.",
)
LANGUAGE_SENTENCES = {
    "de": "Das ist eine kurze Antwort auf die Frage, die du gestellt hast.",
    "fr": "Je pense que c'est une bonne idée pour toute l'équipe.",
    "es": "Creo que es una buena idea para el equipo y para la empresa.",
    "it": "Penso che questa sia una buona idea per la nostra squadra.",
    "pt": "Eu acho que esta é uma boa ideia para a nossa equipe.",
    "nl": "Ik denk dat dit een goed idee is voor het hele team.",
    "ru": "Я думаю, что это хорошая идея для всей нашей команды.",
    "uk": "Я думаю, що це гарна ідея для всієї нашої команди.",
    "bg": "Мисля, че това е добра идея за целия ни екип.",
    "zh": "我认为这对整个团队来说是个好主意。",
    "ja": "これはチーム全体にとって良いアイデアだと思います。",
    "ko": "저는 이것이 우리 팀 전체에게 좋은 생각이라고 생각합니다.",
    "ar": "أعتقد أن هذه فكرة جيدة للفريق بأكمله.",
    "hi": "मुझे लगता है कि यह पूरी टीम के लिए एक अच्छा विचार है।",
    "tr": "Bence bu tüm takım için çok iyi bir fikir.",
    "pl": "Myślę, że to jest dobry pomysł dla całego zespołu.",
    "cs": "Myslím, že je to dobrý nápad pro celý tým.",
    "sv": "Jag tror att det är en bra idé för hela laget.",
    "vi": "Tôi nghĩ đây là một ý tưởng hay cho cả đội của chúng ta.",
    "fa": "فکر می کنم این ایده خوبی برای کل تیم ما است.",
    "he": "אני חושב שזה רעיון טוב לכל הצוות שלנו.",
    "el": "Νομίζω ότι αυτή είναι μια καλή ιδέα για όλη την ομάδα.",
    "th": "ฉันคิดว่านี่เป็นความคิดที่ดีสำหรับทั้งทีม",
}


class Writer:
    """Random English text in the shapes chat models produce (markdown, lists, abbreviations)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def fill(self, template: str) -> str:
        r = self.rng
        return template.format(
            noun=r.choice(NOUNS),
            noun2=r.choice(NOUNS),
            verb=r.choice(VERBS),
            adj=r.choice(ADJECTIVES),
            name=r.choice(NAMES),
            name2=r.choice(NAMES),
        )

    def sentence(self) -> str:
        r = self.rng
        if r.random() < 0.3:
            return self.fill(r.choice(FRAGMENTS))
        words = [
            r.choice(("The", "A", "Our", "This", "Every")),
            r.choice(ADJECTIVES),
            r.choice(NOUNS),
            r.choice(VERBS),
            "the",
            r.choice(NOUNS),
        ]
        if r.random() < 0.3:
            words += [
                r.choice(("and", "but", "because", "while")),
                "the",
                r.choice(NOUNS),
                r.choice(VERBS),
                r.choice(("it", "us", "them", "the " + r.choice(NOUNS))),
            ]
        if r.random() < 0.15:
            words.insert(r.randrange(1, len(words)), r.choice(("VERY", "NOT", "ALWAYS", "USA", "OK", "I")))
        text = " ".join(words)
        if r.random() < 0.2:
            text = text.replace(" the ", ", the ", 1)
        return text + r.choice(".........!?")

    def paragraph(self, sentences: int | None = None) -> str:
        r = self.rng
        n = sentences if sentences is not None else r.randint(1, 5)
        shape = r.random()
        if shape < 0.12:  # a bullet list
            mark = r.choice(("*", "-", "1.", "*"))
            items = [f"{mark if mark != '1.' else f'{i + 1}.'} {self.sentence()}" for i in range(n)]
            return "\n".join(([self.sentence().rstrip(".!?") + ":"] if r.random() < 0.5 else []) + items)
        if shape < 0.18:  # a heading then text
            return (
                f"{r.choice(('#', '##', '**'))} {r.choice(NOUNS).title()}{'**' if r.random() < 0.3 else ''}\n"
                + " ".join(self.sentence() for _ in range(n))
            )
        joiner = "\n" if r.random() < 0.1 else " "
        return joiner.join(self.sentence() for _ in range(n))

    def response(self, paragraphs: int | None = None) -> str:
        r = self.rng
        n = paragraphs if paragraphs is not None else r.randint(1, 4)
        text = "\n\n".join(self.paragraph() for _ in range(n))
        case = r.random()
        if case < 0.08:
            text = text.lower()
        elif case < 0.12:
            text = text.upper()
        return text


def _insert(rng: random.Random, text: str, piece: str) -> str:
    words = text.split(" ")
    at = rng.randrange(len(words) + 1)
    return " ".join(words[:at] + [piece] + words[at:])


def _near(rng: random.Random, count: int, low: int = 0) -> int:
    return max(low, count + rng.choice((-2, -1, 0, 0, 1, 1, 2)))


def _relation(rng: random.Random) -> str:
    return rng.choice(("less than", "at least"))


# (type, kwargs, response[, the right verdict where the generator knows it: the language checks])
