"""Translation guards: genuine translations pass, each known hack fails the guard that names it,
settings are validated, and the rewards apply the guards (QE on by default). CPU-only, offline.

The real COMET path with guards is covered in tests/test_translation.py (runs in .venv-qe)."""

from __future__ import annotations

import doctest

import pytest

import rewards.languages
import rewards.translation_guards
from rewards.compose import score_rows
from rewards.registry import score
from rewards.translation import bleu, chrf, comet_qe
from rewards.translation_guards import (
    GUARDS,
    GuardConfig,
    GuardSettingError,
    TranslationGuards,
    copy_check,
    language_check,
    length_band,
    length_check,
    translation_only_check,
)

# (src_lang, tgt_lang, source, a correct translation): names, cognates, URLs, questions, short
# segments and scripts without spaces, so the guards are tried where they are most likely to be wrong.
GENUINE = [
    (
        "en",
        "de",
        "The meeting with the board of directors was postponed until next Tuesday.",
        "Die Sitzung mit dem Vorstand wurde auf nächsten Dienstag verschoben.",
    ),
    (
        "en",
        "de",
        "Barack Obama met Angela Merkel in Berlin on Monday.",
        "Barack Obama traf Angela Merkel am Montag in Berlin.",
    ),
    (
        "en",
        "fr",
        "The information about the new international regulations is available online.",
        "Les informations sur la nouvelle réglementation internationale sont disponibles en ligne.",
    ),
    (
        "en",
        "fr",
        "The conference on artificial intelligence and innovation will take place in Geneva.",
        "La conférence sur l'intelligence artificielle et l'innovation aura lieu à Genève.",
    ),
    (
        "en",
        "es",
        "The national television station broadcast the presidential debate.",
        "La estación de televisión nacional transmitió el debate presidencial.",
    ),
    (
        "en",
        "es",
        "Microsoft and Google announced a partnership in San Francisco.",
        "Microsoft y Google anunciaron una alianza en San Francisco.",
    ),
    (
        "en",
        "es",
        "Do you know what time the pharmacy opens on Sundays?",
        "¿Sabes a qué hora abre la farmacia los domingos?",
    ),
    (
        "en",
        "es",
        "Visit https://example.com/products/catalog-2024 for the full catalog.",
        "Visite https://example.com/products/catalog-2024 para ver el catálogo completo.",
    ),
    (
        "en",
        "pt",
        "Cristiano Ronaldo scored twice for Portugal against Spain in Lisbon.",
        "Cristiano Ronaldo marcou duas vezes por Portugal contra a Espanha em Lisboa.",
    ),
    ("en", "pt-PT", "Where is the nearest train station?", "Onde fica a estação de comboios mais próxima?"),
    (
        "en",
        "pt",
        "The national association of hospitals presented the annual report.",
        "A associação nacional de hospitais apresentou o relatório anual.",
    ),
    (
        "en",
        "it",
        "The University of Bologna is the oldest university in the world.",
        "L'Università di Bologna è la più antica università del mondo.",
    ),
    (
        "en",
        "nl",
        "The children are playing football in the park behind the school.",
        "De kinderen spelen voetbal in het park achter de school.",
    ),
    (
        "en",
        "ru",
        "The library will be closed for renovation during the whole month of August.",
        "Библиотека будет закрыта на ремонт в течение всего августа.",
    ),
    ("en", "uk", "The concert was cancelled because of the heavy rain.", "Концерт скасували через сильний дощ."),
    ("en", "zh", "The weather will be sunny and warm in Beijing tomorrow afternoon.", "明天下午北京天气晴朗温暖。"),
    (
        "en",
        "zh",
        "Apple released the new iPhone at its event in California.",
        "苹果公司在加利福尼亚的发布会上发布了新款iPhone。",
    ),
    (
        "en",
        "ja",
        "I would like to reserve a table for two people at seven o'clock.",
        "7時に2名で席を予約したいのですが。",
    ),
    ("en", "ko", "The museum is open every day except Monday.", "박물관은 월요일을 제외하고 매일 문을 엽니다."),
    (
        "en",
        "ar",
        "The company plans to open three new branches next year.",
        "تخطط الشركة لافتتاح ثلاثة فروع جديدة العام المقبل.",
    ),
    ("en", "hi", "The train to Delhi is running two hours late today.", "दिल्ली जाने वाली ट्रेन आज दो घंटे देरी से चल रही है।"),
    (
        "en",
        "pl",
        "My sister works as a doctor in a large hospital in Warsaw.",
        "Moja siostra pracuje jako lekarka w dużym szpitalu w Warszawie.",
    ),
    (
        "en",
        "tr",
        "The students prepared a presentation about climate change.",
        "Öğrenciler iklim değişikliği hakkında bir sunum hazırladı.",
    ),
    ("en", "el", "Is the museum open on Sundays?", "Είναι ανοιχτό το μουσείο τις Κυριακές;"),
    ("en", "is", "The weather in Reykjavik is cold today.", "Veðrið í Reykjavík er kalt í dag."),
    ("en", "de", "Good morning!", "Guten Morgen!"),
    ("en", "fr", "Thank you.", "Merci."),
    ("de", "en", "Ich habe gestern einen interessanten Film gesehen.", "I watched an interesting film yesterday."),
    ("zh", "en", "我们明天早上八点在学校门口见面。", "We will meet at the school gate at eight tomorrow morning."),
    (
        "en",
        "de",
        "Click <b>Save</b> to keep {count} changes.",
        "Klicken Sie auf <b>Speichern</b>, um {count} Änderungen zu behalten.",
    ),
]


@pytest.mark.parametrize(
    ("src_lang", "tgt_lang", "src", "out"), GENUINE, ids=[f"{g[0]}-{g[1]}-{i}" for i, g in enumerate(GENUINE)]
)
def test_genuine_translations_pass_every_guard(src_lang: str, tgt_lang: str, src: str, out: str) -> None:
    report = TranslationGuards().check(out, src=src, tgt_lang=tgt_lang, src_lang=src_lang)
    assert report.passed, report.reason
    assert [c.guard for c in report.checks] == list(GUARDS)


def test_short_sentences_are_only_checked_against_the_source_language() -> None:
    """The offline detector calls short French and German sentences Portuguese; below 12 words
    only "the output is in the source language" is trusted from it."""
    guards = TranslationGuards(GuardConfig(guards=("language",)))
    for out, src, tgt in [
        (
            "Veuillez appeler Marie Dupont à l'Hôtel Lutetia à Paris.",
            "Please call Marie Dupont at the Hotel Lutetia in Paris.",
            "fr",
        ),
        ("Wir treffen uns morgen um zwölf Uhr.", "We are meeting at noon tomorrow.", "de"),
    ]:
        report = guards.check(out, src=src, tgt_lang=tgt, src_lang="en")
        assert report.passed, report.reason
    # The source language is found by detecting the source when src_lang is not given.
    english = guards.check("We will all meet tomorrow at noon.", src="We are meeting at noon tomorrow.", tgt_lang="fr")
    assert english.reason == "guard language: wrong language: expected fr, detected en (the source language)"


SRC = "The meeting with the board of directors was postponed until next Tuesday because the chairman is ill."
TGT = "Die Sitzung mit dem Vorstand wurde auf nächsten Dienstag verschoben, weil der Vorsitzende krank ist."
QUESTION, QUESTION_DE = (
    "Do you know what time the pharmacy opens on Sundays?",
    "Weißt du, wann die Apotheke sonntags öffnet?",
)
# (name, output, source, guards that must fail: the first reason is checked)
ATTACKS = [
    ("copy of the source", SRC, SRC, {"copy", "language"}),
    ("copy, upper-cased", SRC.upper(), SRC, {"copy", "language"}),
    ("copy with a few words swapped", SRC.replace("meeting", "Sitzung").replace("board", "Vorstand"), SRC, {"copy"}),
    (
        "wrong language (French)",
        "La réunion avec le conseil d'administration a été reportée à mardi prochain car le président est malade.",
        SRC,
        {"language"},
    ),
    (
        "source language, paraphrased",
        "The board meeting has been moved to next Tuesday since the chairman is sick.",
        SRC,
        {"language"},
    ),
    (
        "wrong script",
        "Заседание совета директоров перенесли на следующий вторник, потому что председатель болен.",
        SRC,
        {"language"},
    ),
    ("under-translation", "Die Sitzung wurde verschoben.", SRC, {"length"}),
    (
        "over-translation",
        TGT + " Der Vorstand besteht aus zwölf Mitgliedern, die sich jeden Monat treffen, um über die Strategie "
        "des Unternehmens und die Finanzen zu sprechen, und danach gibt es ein gemeinsames Abendessen im Hotel.",
        SRC,
        {"length"},
    ),
    ("preamble", "Here is the translation:\n" + TGT, SRC, {"translation_only"}),
    ("preamble in the target language", "Hier ist die Übersetzung:\n" + TGT, SRC, {"translation_only"}),
    (
        "trailing note",
        TGT + "\n\nNote: 'board of directors' can also be translated as 'Verwaltungsrat'.",
        SRC,
        {"translation_only"},
    ),
    ("parenthesised note", TGT + " (Note: formal register used.)", SRC, {"translation_only"}),
    (
        "alternatives offered",
        TGT + "\nAlternatively: Die Vorstandssitzung wurde verschoben.",
        SRC,
        {"translation_only"},
    ),
    ("language label", "German: " + TGT, SRC, {"translation_only"}),
    ("bold wrapper", "**" + TGT + "**", SRC, {"translation_only"}),
    ("code fence", "```\n" + TGT + "\n```", SRC, {"translation_only"}),
    ("quotes", "“" + TGT + "”", SRC, {"translation_only"}),
    ("markdown heading", "## Übersetzung\n" + TGT, SRC, {"translation_only"}),
    ("xml wrapper", "<translation>" + TGT + "</translation>", SRC, {"translation_only"}),
    ("empty", "", SRC, {"length", "translation_only"}),
    ("whitespace only", " \n\t ", SRC, {"length", "translation_only"}),
    ("repeated translation", TGT + " " + TGT, SRC, {"translation_only"}),
    (
        "looping word",
        "Die Sitzung Sitzung Sitzung Sitzung Sitzung wurde verschoben, weil der Vorsitzende krank ist, ja.",
        SRC,
        {"translation_only"},
    ),
    ("source, then translation", SRC + "\n" + TGT, SRC, {"copy"}),
    ("translation, then source", TGT + "\n" + SRC, SRC, {"copy"}),
    (
        "answer instead of translation",
        "Die Apotheke hat sonntags von zehn bis vierzehn Uhr geöffnet.",
        QUESTION,
        {"translation_only"},
    ),
]


@pytest.mark.parametrize(("name", "out", "src", "must_fail"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attacks_fail_the_guard_that_names_them(name: str, out: str, src: str, must_fail: set[str]) -> None:
    report = TranslationGuards().check(out, src=src, tgt_lang="de", src_lang="en")
    failed = {c.guard for c in report.failed}
    assert must_fail <= failed, (name, report.reason)
    penalty = report.penalty()
    assert penalty is not None and penalty.status == "ok" and penalty.score == 0.0
    assert all(f"guard {g}:" in penalty.reason for g in failed)


def test_question_guard_reads_the_question_marks_of_the_target_script() -> None:
    assert translation_only_check(QUESTION_DE, QUESTION).status == "pass"
    assert translation_only_check("¿Sabes a qué hora abre la farmacia?", QUESTION).status == "pass"
    assert translation_only_check("你知道药店星期天几点开门吗？", QUESTION).status == "pass"
    assert translation_only_check("هل تعرف متى تفتح الصيدلية يوم الأحد؟", QUESTION).status == "pass"
    greek = "Ξέρεις τι ώρα ανοίγει το φαρμακείο τις Κυριακές;"
    assert translation_only_check(greek, QUESTION, "el").status == "pass"
    assert translation_only_check(greek, QUESTION, "de").status == "fail"  # ';' is a question mark only in Greek


def test_guards_skip_what_they_cannot_judge() -> None:
    assert language_check(TGT, None).status == "skip"
    assert language_check(TGT, "tlh").detail == "unknown language 'tlh'"
    assert language_check("12345 !!!", "de").status == "skip"
    assert copy_check(SRC, None).status == "skip" and length_check(TGT, None).status == "skip"
    assert copy_check(SRC, SRC, src_lang="en", tgt_lang="en-GB").status == "skip"  # same language: a copy may be right
    assert copy_check("Hallo", "Hello").status == "skip"  # too short to judge
    assert copy_check("Paris", "Paris").status == "skip"


def test_language_guard_uses_script_then_detector() -> None:
    assert language_check("今日はいい天気ですね。", "zh").status == "fail"  # kana for Chinese: script
    assert language_check("東京駅", "ja").status == "pass"  # Han is Japanese too; too short for the detector
    chinese = "今天天气很好，我们下午一起去公园散步吧。"  # no kana: Chinese
    assert language_check(chinese, "ja").detail == "wrong language: expected ja, detected zh"
    assert language_check("안녕하세요, 제 iPhone입니다", "ko_KR").status == "pass"
    german = "Das ist ein schöner Tag, und wir gehen heute mit den Kindern in den großen Park."
    assert language_check(german, "fr").detail == "wrong language: expected fr, detected de"
    assert language_check(german, "no").detail == "wrong language: expected no, detected de"  # fastText+lingua know no
    assert language_check(german, "fil").status == "pass"  # Filipino: not in the detector's set, script only
    assert language_check("Das ist ein schöner Tag heute.", "fr").status == "pass"  # short, and not the source
    assert language_check("Das ist ein schöner Tag heute.", "fr", src_lang="de").status == "fail"  # the source


def test_length_band_per_pair_and_overrides() -> None:
    low, high = length_band("en", "zh", 2.0)
    assert low == pytest.approx(0.16) and high == pytest.approx(0.64)
    assert length_band("en", "de", 2.0, {"en-de": (0.9, 1.1)}) == (0.9, 1.1)
    long_src = "word " * 100
    assert length_check("Wort " * 100, long_src, src_lang="en", tgt_lang="de").status == "pass"
    strict = length_check("Wort " * 100, long_src, src_lang="en", tgt_lang="de", ratios={"en-de": (1.5, 2.0)})
    assert strict.status == "fail" and "below 1.50x (en-de)" in strict.detail
    # Chinese output is a third as long as the English source: fine for zh, under-translated for de.
    zh = "明天下午北京天气晴朗温暖，我们一起去公园散步吧。" * 3
    src = "The weather will be sunny and warm in Beijing tomorrow afternoon, so let us go for a walk in the park. " * 3
    assert length_check(zh, src, src_lang="en", tgt_lang="zh").status == "pass"
    assert length_check("Morgen scheint die Sonne.", src, src_lang="en", tgt_lang="de").status == "fail"


def test_settings_are_validated_with_the_setting_named() -> None:
    assert GuardConfig.from_settings("language, copy").guards == ("language", "copy")
    assert GuardConfig.from_settings(True).guards == GUARDS and GuardConfig.from_settings("none").guards == ()
    assert GuardConfig.from_settings(["length"], length_ratios={"eng-deu": [0.5, 2]}).length_ratios == {
        "en-de": (0.5, 2.0)
    }
    bad = [
        ({"guards": ["copy", "lenght"]}, "unknown guard 'lenght'"),
        ({"guards": 3}, "setting 'guards'"),
        ({"copy_threshold": 0}, "setting 'copy_threshold'"),
        ({"copy_threshold": True}, "setting 'copy_threshold'"),
        ({"length_tolerance": 1e9}, "setting 'length_tolerance'"),
        ({"length_ratios": {"en-xx": [0.5, 2]}}, "key 'en-xx'"),
        ({"length_ratios": {"en-de": [2, 1]}}, "length_ratios['en-de'][1]"),
        (
            {"length_ratios": {f"en-{c}": [0.5, 2] for c in ["de"] * 0} | {str(i): [1, 2] for i in range(65)}},
            "at most 64",
        ),
    ]
    for settings, message in bad:
        with pytest.raises(GuardSettingError, match=message.replace("[", r"\[").replace("]", r"\]")):
            GuardConfig.from_settings(**settings)


def test_chrf_and_bleu_apply_guards_only_when_asked() -> None:
    columns = {"reference": [TGT] * 3, "src": [SRC] * 3, "tgt_lang": ["de"] * 3, "src_lang": ["en"] * 3}
    outputs = [TGT, SRC, "Here is the translation:\n" + TGT]
    for spec in (chrf.reward_spec, bleu.reward_spec):
        plain = score(spec, outputs, columns)
        assert [r.reason for r in plain] == ["", "", ""] and plain[2].score > 0.5
        guarded = score(spec, outputs, {**columns, "guards": "all"})
        assert guarded[0].score == pytest.approx(1.0) and guarded[0].reason == ""
        assert guarded[1].score == 0.0 and "guard copy:" in guarded[1].reason
        assert guarded[2].score == 0.0 and guarded[2].reason.startswith("guard translation_only: preamble")
        bad = score(spec, outputs, {**columns, "guards": "everything"})
        assert {r.status for r in bad} == {"error"} and "unknown guard 'everything'" in bad[0].reason


def test_guard_settings_travel_through_compose_like_a_trainer_config() -> None:
    rows = [{"reward": "chrf", "reference": TGT, "src": SRC, "tgt_lang": "de"}, {"reward": "chrf", "reference": TGT}]
    results = score_rows([SRC, SRC], rows, {"chrf": {"guards": ["copy"], "copy_threshold": 0.9}})
    assert results[0].score == 0.0 and results[0].rewards["chrf"].reason.startswith("guard copy:")
    assert results[1].score > 0.0 and results[1].rewards["chrf"].reason == ""  # no src column: copy guard skipped


def test_comet_qe_declares_guard_columns_and_defaults() -> None:
    spec = comet_qe.reward_spec
    assert spec.columns == ("src",) and {"tgt_lang", "src_lang"} <= set(spec.optional_columns)
    import inspect

    assert inspect.signature(comet_qe).parameters["guards"].default == "all"
    assert inspect.signature(chrf).parameters["guards"].default == "none"


def test_docstring_examples() -> None:
    for module in (rewards.languages, rewards.translation_guards):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
