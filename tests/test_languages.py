"""The one language table (rewards.languages) and the Tower+ translation prompt.

Checks that the templates, the detector's code list, the constraint specs and the translation
guards all read the same table, and that the released Tower+ request is rendered exactly."""

from __future__ import annotations

import pytest

import pretrain_sft.templates as templates
from rewards import languages
from rewards.instructions import check_constraints
from rewards.instructions.language import LANGUAGES, normalize_language
from rewards.languages import (
    LANGUAGE_NAMES,
    SCRIPTS,
    TOWERPLUS_TEMPLATE,
    base_code,
    language_name,
    language_scripts,
    towerplus_prompt,
)


def test_every_user_reads_the_same_table() -> None:
    assert templates.LANGUAGE_NAMES is LANGUAGE_NAMES and templates.language_name is language_name
    assert all(LANGUAGE_NAMES[code] == name for code, name in LANGUAGES.items())  # detector codes, shared names
    assert set(LANGUAGES) <= set(LANGUAGE_NAMES) and set(SCRIPTS) <= set(LANGUAGE_NAMES)
    # The 22 Tower+ languages (2B card) all have a name and a script.
    tower = "en de fr es it pt nl ru zh ja ko ar hi cs pl uk is ro sv da no hu".split()
    assert all(code in LANGUAGE_NAMES and code in SCRIPTS for code in tower)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("pt-BR", "pt"),
        ("pt_br", "pt"),
        ("PT", "pt"),
        ("por", "pt"),
        ("zho", "zh"),
        ("cmn", "zh"),
        ("zh-Hant", "zh"),
        ("German", "de"),
        ("german", "de"),
        ("Portuguese (Brazil)", "pt"),
        ("iw", "he"),
        ("xx", None),
        ("", None),
        (None, None),
        (3, None),
        ("Klingon", None),
    ],
)
def test_base_code(value: object, code: str | None) -> None:
    assert base_code(value) == code


def test_names_scripts_and_detector_codes() -> None:
    assert language_name("pt-PT") == "Portuguese (Portugal)" and language_name("es-419") == "Spanish (Latin America)"
    assert language_name("zh-Hans") == "Chinese (Simplified)" and language_name("deu") == "German"
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        language_name("xx")
    assert language_scripts("ja") == {"Han", "Hiragana", "Katakana"} and language_scripts("sr-Latn") == {
        "Latin",
        "Cyrillic",
    }
    assert language_scripts("xx") is None
    assert normalize_language("deu") == "de" and normalize_language("is") == "is" and normalize_language("nb") == "no"
    assert normalize_language("eo") is None  # a language the detector does not report
    assert check_constraints(
        "Das ist eine kurze Antwort auf Deutsch.", [{"type": "language:response_language", "language": "deu"}]
    ) == [True]


def test_towerplus_prompt_is_the_released_format() -> None:
    expected = "Translate the following English source text to Portuguese (Portugal):\nEnglish: Hello world!\nPortuguese (Portugal): "
    assert towerplus_prompt("Hello world!", "en", "pt-PT") == expected
    assert templates.TRANSLATION_TEMPLATES[0] is TOWERPLUS_TEMPLATE
    prompt = templates.translation_prompt("Hello world!", "en", "pt-PT", templates=[TOWERPLUS_TEMPLATE])
    assert prompt == expected
    # As one CPT document the target follows the label after one space, like the other "Label:" templates.
    head, tail = templates.translation_text(prompt, "Olá mundo!")
    assert head + tail == expected + "Olá mundo!" and tail == " Olá mundo!"
    assert templates.translation_text("English: Hi\nGerman:", "Hallo") == ("English: Hi\nGerman:", " Hallo")
    assert templates.translation_text("Render this.\n\nHi", "Hallo") == ("Render this.\n\nHi", "\nHallo")
    assert languages.TOWERPLUS_TEMPLATE.count("{src_lang}") == 2
