"""IF-MT rules as constraint checks (rewards.instructions.translation_rules): for each rule a
correct translation passes and adversarial ones fail (right format with the wrong value, wrong
arithmetic, the original left in, wrong style). Also the number/quantity parser and argument errors."""

from __future__ import annotations

import pytest

from rewards.instructions import ConstraintError, check_constraints
from rewards.instructions.quantities import METRIC, imperial_lengths, money, number_values, quantities, temperatures
from rewards.instructions.translation_rules import quote_styles, source_dates, source_times
from rewards.registry import get_reward, score

DATE_SRC = "The event is on March 5, 2024 and ends 03/07/2024; registration closed on the 28th of February 2024."
TIME_SRC = "The store opens at 9:30 AM and closes at 6 p.m.; on Fridays it closes at 11pm and on Sundays at 12 PM."
UNIT_SRC = "The trail is 5 miles long, the tent weighs 4 lbs, the river is 30 feet deep and he is 6 ft 2 in tall."
TEMP_SRC = "It was 70°F in the morning and 95 °F at noon; water freezes at 32 degrees Fahrenheit."
PRICE_SRC = "The ticket costs $12.50 and the VIP pass costs $1,200."
QUOTE_SRC = 'He said "hello" and left. The sign read "closed".'
DECIMAL_SRC = "The average rose to 3.5 points from 2.25, and the trail is 1.5 miles long."
HTML_SRC = 'Click <a href="/save" title="Save">Save</a> or <b>cancel</b>.<br/>'

# (rule, arguments, source, a translation that follows it, [(attack, a translation that must fail)])
RULES = [
    (
        "translation:date_format",
        {},
        DATE_SRC,
        "O evento é a 05/03/2024 e termina a 07/03/2024; as inscrições fecharam a 28/02/2024.",
        [
            (
                "right format, wrong day",
                "O evento é a 06/03/2024 e termina a 07/03/2024; as inscrições fecharam a 28/02/2024.",
            ),
            (
                "day and month swapped",
                "O evento é a 03/05/2024 e termina a 03/07/2024; as inscrições fecharam a 02/28/2024.",
            ),
            (
                "month name kept",
                "O evento é a 5 de março de 2024 e termina a 07/03/2024; as inscrições fecharam a 28/02/2024.",
            ),
            ("ISO format", "O evento é a 2024-03-05 e termina a 07/03/2024; as inscrições fecharam a 28/02/2024."),
            ("not zero-padded", "O evento é a 5/3/2024 e termina a 07/03/2024; as inscrições fecharam a 28/02/2024."),
            ("a date dropped", "O evento é a 05/03/2024 e termina a 07/03/2024; as inscrições já fecharam."),
            ("Chinese date", "活动于2024年3月5日举行，07/03/2024结束，报名已于28/02/2024截止。"),
            (
                "candidate dates listed",
                "O evento é a "
                + " ou ".join(f"{d:02d}/03/2024" for d in range(1, 10))
                + " e termina a 07/03/2024; as inscrições fecharam a 28/02/2024.",
            ),
        ],
    ),
    (
        "translation:time_24h",
        {},
        TIME_SRC,
        "A loja abre às 09:30 e fecha às 18h; às sextas fecha às 23:00 e aos domingos às 12h00.",
        [
            (
                "PM not added",
                "A loja abre às 09:30 e fecha às 06:00; às sextas fecha às 23:00 e aos domingos às 12h00.",
            ),
            (
                "marker left",
                "A loja abre às 9:30 da manhã e fecha às 18h; às sextas fecha às 23:00 e aos domingos às 12h00.",
            ),
            ("AM/PM left", "A loja abre às 9:30 AM e fecha às 18h; às sextas fecha às 23:00 e aos domingos às 12h00."),
            (
                "12 PM read as midnight",
                "A loja abre às 09:30 e fecha às 18h; às sextas fecha às 23:00 e aos domingos às 00:00.",
            ),
            ("candidate times listed", "Abre às 09:30, fecha às " + ", ".join(f"{h}:00" for h in range(12, 24)) + "."),
            ("Chinese 12-hour marker", "商店上午9:30开门，18:00关门；周五23点关门，周日12点关门。"),
        ],
    ),
    (
        "translation:metric_units",
        {},
        UNIT_SRC,
        "O trilho tem 8 km, a tenda pesa 1,8 kg, o rio tem 9,1 metros de profundidade e ele mede 1,88 m.",
        [
            (
                "unit changed, number not",
                "O trilho tem 5 km, a tenda pesa 4 kg, o rio tem 30 metros de profundidade e ele mede 1,88 m.",
            ),
            (
                "wrong arithmetic",
                "O trilho tem 8 km, a tenda pesa 2,2 kg, o rio tem 9,1 metros de profundidade e ele mede 1,88 m.",
            ),
            ("original left", "O trilho tem 5 milhas (8 km), a tenda pesa 1,8 kg, o rio tem 9,1 m e ele mede 1,88 m."),
            (
                "quantity dropped",
                "O trilho tem 8 km, a tenda é leve, o rio tem 9,1 metros de profundidade e ele mede 1,88 m.",
            ),
            (
                "wrong dimension",
                "O trilho tem 8 kg, a tenda pesa 1,8 kg, o rio tem 9,1 metros de profundidade e ele mede 1,88 m.",
            ),
            (
                "candidate values listed",
                "O trilho tem " + " ou ".join(f"{k} km" for k in range(1, 10)) + ", a tenda pesa 1,8 kg, "
                "o rio tem 9,1 m e ele mede 1,88 m.",
            ),
            (
                "imperial words translated",
                "O trilho tem 8 km, a tenda pesa 1,8 kg, o rio tem 9,1 metros e ele mede 6 pés e 2 polegadas.",
            ),
        ],
    ),
    (
        "translation:celsius",
        {},
        TEMP_SRC,
        "Estavam 21 °C de manhã e 35 °C ao meio-dia; a água congela a 0 graus Celsius.",
        [
            (
                "unit changed, number not",
                "Estavam 70 °C de manhã e 95 °C ao meio-dia; a água congela a 32 graus Celsius.",
            ),
            (
                "wrong arithmetic (no -32)",
                "Estavam 38,9 °C de manhã e 52,8 °C ao meio-dia; a água congela a 17,8 graus Celsius.",
            ),
            (
                "Fahrenheit left",
                "Estavam 70 °F (21 °C) de manhã e 35 °C ao meio-dia; a água congela a 0 graus Celsius.",
            ),
            ("one dropped", "Estavam 21 °C de manhã e estava calor ao meio-dia; a água congela a 0 graus Celsius."),
            ("candidate values listed", " ".join(f"{t} °C" for t in range(-5, 40, 2)) + "."),
        ],
    ),
    (
        "translation:currency",
        {"rate": 0.92, "target": "EUR"},
        PRICE_SRC,
        "O bilhete custa 11,50 € e o passe VIP custa 1.104,00 €.",
        [
            ("symbol changed, rate not applied", "O bilhete custa 12,50 € e o passe VIP custa 1.200,00 €."),
            ("inverse rate", "O bilhete custa 13,59 € e o passe VIP custa 1.304,35 €."),
            ("source currency left", "O bilhete custa $12.50 (11,50 €) e o passe VIP custa 1.104,00 €."),
            ("amount dropped", "O bilhete custa 11,50 € e o passe VIP é caro."),
            ("right number, wrong currency", "O bilhete custa 11,50 £ e o passe VIP custa 1.104,00 £."),
            (
                "candidate amounts listed",
                "O bilhete custa "
                + ", ".join(f"{c / 2:.2f} €".replace(".", ",") for c in range(20, 26))
                + " e o passe VIP custa 1.104,00 €.",
            ),
        ],
    ),
    (
        "translation:proper_nouns",
        {"names": ["Barack Obama", "iPhone", "Lisbon Marathon"]},
        "Barack Obama used an iPhone at the Lisbon Marathon.",
        "Barack Obama usou um iPhone na Lisbon Marathon.",
        [
            ("name translated", "Barack Obama usou um iPhone na Maratona de Lisboa."),
            ("case changed", "Barack Obama usou um iphone na Lisbon Marathon."),
            ("inside a longer word", "Barack Obama usou vários iPhones na Lisbon Marathon."),
            ("transliterated", "巴拉克·奥巴马在Lisbon Marathon用了iPhone。"),
        ],
    ),
    (
        "translation:quotation_marks",
        {"language": "pt-PT"},
        QUOTE_SRC,
        "Ele disse «olá» e saiu. O letreiro dizia «fechado».",
        [
            ("straight quotes", 'Ele disse "olá" e saiu. O letreiro dizia "fechado".'),
            ("Brazilian style for pt-PT", "Ele disse “olá” e saiu. O letreiro dizia “fechado”."),
            ("a quotation dropped", "Ele disse olá e saiu. O letreiro dizia «fechado»."),
            ("unbalanced", "Ele disse «olá e saiu. O letreiro dizia «fechado»."),
        ],
    ),
    (
        "translation:decimal_comma",
        {},
        DECIMAL_SRC,
        "A média subiu para 3,5 pontos, de 2,25, e o trilho tem 2,4 km.",
        [
            ("decimal point kept", "A média subiu para 3.5 pontos, de 2,25, e o trilho tem 2,4 km."),
            ("comma dropped", "A média subiu para 35 pontos, de 2,25, e o trilho tem 2,4 km."),
            ("wrong value", "A média subiu para 3,6 pontos, de 2,25, e o trilho tem 2,4 km."),
            ("mixed marks", "A média subiu para 3,5 pontos, de 2,25, e o trilho tem 2,414.5 metros."),
            (
                "candidate values listed",
                "A média subiu para " + " ou ".join(f"3,{d}" for d in range(10)) + " pontos, de 2,25, e 2,4 km.",
            ),
        ],
    ),
    (
        "translation:html_tags_kept",
        {},
        HTML_SRC,
        'Clique em <a href="/save" title="Save">Guardar</a> ou <b>cancelar</b>.<br/>',
        [
            ("attribute translated", 'Clique em <a href="/guardar" title="Save">Guardar</a> ou <b>cancelar</b>.<br/>'),
            ("tags reordered", 'Clique em <b>cancelar</b> ou <a href="/save" title="Save">Guardar</a>.<br/>'),
            ("element emptied", 'Clique em <a href="/save" title="Save"></a>Guardar ou <b>cancelar</b>.<br/>'),
            ("tags escaped", 'Clique em &lt;a href="/save"&gt;Guardar&lt;/a&gt; ou <b>cancelar</b>.<br/>'),
            ("tag dropped", 'Clique em <a href="/save" title="Save">Guardar</a> ou cancelar.<br/>'),
            ("tag added", 'Clique em <a href="/save" title="Save">Guardar</a> ou <b>cancelar</b>.<br/><br/>'),
        ],
    ),
    (
        "translation:max_characters",
        {"max_chars": 20},
        "Save your changes now.",
        "Guarde as alterações",
        [("one over", "Guarde as alterações!"), ("padded", "Guarde agora as suas alterações.")],
    ),
]
CASES = [(kind, args, src, good, name, bad) for kind, args, src, good, bads in RULES for name, bad in bads]


@pytest.mark.parametrize(("kind", "args", "src", "good"), [r[:4] for r in RULES], ids=[r[0] for r in RULES])
def test_rule_passes_a_translation_that_follows_it(kind: str, args: dict, src: str, good: str) -> None:
    assert check_constraints(good, [{"type": kind, **args}], src=src) == [True]


@pytest.mark.parametrize(("kind", "args", "src", "good", "name", "bad"), CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES])
def test_rule_fails_an_adversarial_translation(kind: str, args: dict, src: str, good: str, name: str, bad: str) -> None:
    assert check_constraints(bad, [{"type": kind, **args}], src=src) == [False], name


@pytest.mark.parametrize(
    ("kind", "args", "src", "good"),
    [
        (
            "translation:date_format",
            {"format": "YYYY-MM-DD"},
            DATE_SRC,
            "活动于2024-03-05举行，2024-03-07结束，报名已于2024-02-28截止。",
        ),
        ("translation:date_format", {"source_order": "dmy"}, "Due 03/07/2024.", "Prazo: 03/07/2024."),
        ("translation:time_24h", {}, TIME_SRC, "商店9:30开门，18:00关门；周五23点关门，周日12点关门。"),
        ("translation:metric_units", {}, UNIT_SRC, "步道长8.05公里，帐篷重1.81公斤，河深9.14米，他身高1.88米。"),
        ("translation:metric_units", {"keep_original": True}, "A 5-mile walk.", "Uma caminhada de 5 milhas (8 km)."),
        ("translation:metric_units", {"tolerance": 0.2}, "A 5-mile walk.", "Uma caminhada de 7 km."),
        ("translation:celsius", {}, TEMP_SRC, "早上气温为21℃，中午为摄氏35度，水在0摄氏度结冰。"),
        ("translation:currency", {"rate": 7.2, "target": "CNY"}, PRICE_SRC, "门票售价人民币90元，VIP通行证8640元。"),
        (
            "translation:currency",
            {"rate": 17, "target": "MXN"},
            PRICE_SRC,
            "El boleto cuesta $212.50 y el pase VIP $20,400.",
        ),
        (
            "translation:currency",
            {"rate": 0.92, "target": "EUR"},
            "Prices rose to $1.2 million.",
            "Os preços subiram para 1,1 milhões de euros.",
        ),
        ("translation:quotation_marks", {"language": "zh"}, QUOTE_SRC, "他说“你好”然后离开了。牌子上写着“关门”。"),
        (
            "translation:quotation_marks",
            {"language": "zh-Hant"},
            QUOTE_SRC,
            "他說「你好」然後離開了。牌子上寫著「關門」。",
        ),
        (
            "translation:quotation_marks",
            {"language": "es-419"},
            QUOTE_SRC,
            "Dijo “hola” y se fue. El letrero decía “cerrado”.",
        ),
        (
            "translation:quotation_marks",
            {"language": "es"},
            QUOTE_SRC,
            "Dijo «hola» y se fue. El letrero decía «cerrado».",
        ),
        (
            "translation:quotation_marks",
            {"language": "pt-PT"},
            QUOTE_SRC,
            "Ele disse «olá, “amigo”» e saiu. O letreiro dizia «fechado».",
        ),
        (
            "translation:quotation_marks",
            {"language": "de", "style": "curly"},
            QUOTE_SRC,
            "Er sagte “hallo”. Auf dem Schild stand “geschlossen”.",
        ),
        (
            "translation:html_tags_kept",
            {"translatable_attributes": ["title"]},
            HTML_SRC,
            'Clique em <a href="/save" title="Guardar">Guardar</a> ou <b>cancelar</b>.<br/>',
        ),
        (
            "translation:decimal_comma",
            {},
            "It costs $3.50 and weighs 1.5 lbs; pi is 3.14.",
            "Custa 3,22 €, pesa 0,68 kg; pi é 3,14.",
        ),
        (
            "translation:max_characters",
            {"max_chars": 18, "count_spaces": False},
            "Save your changes now.",
            "Guarde as alterações",
        ),
    ],
)
def test_rule_variants(kind: str, args: dict, src: str, good: str) -> None:
    assert check_constraints(good, [{"type": kind, **args}], src=src) == [True]


def test_quotation_style_of_a_tag_comes_from_the_row() -> None:
    constraint = [{"type": "translation:quotation_marks"}]
    out = "Ele disse “olá” e saiu. O letreiro dizia “fechado”."
    assert check_constraints(out, constraint, src=QUOTE_SRC, tgt_lang="pt-BR") == [True]
    assert check_constraints(out, constraint, src=QUOTE_SRC, tgt_lang="pt-PT") == [False]
    assert (
        quote_styles("zh-Hant-TW") == ("corner",)
        and quote_styles("pt") == ("angle", "curly")
        and quote_styles("sw") == ()
    )


def test_rule_with_nothing_to_convert_passes_and_ignores_versions() -> None:
    assert check_constraints("Olá.", [{"type": "translation:metric_units"}], src="Hello.") == [True]
    assert check_constraints(
        "Versão 1.2.3 de 05/03/2024.", [{"type": "translation:date_format"}], src="Version 1.2.3 of March 5, 2024."
    ) == [True]


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({"type": "translation:currency", "rate": 0.9, "target": "XYZ"}, "field 'target': expected one of USD"),
        ({"type": "translation:currency", "target": "EUR"}, "missing field 'rate'"),
        ({"type": "translation:currency", "rate": -1, "target": "EUR"}, "field 'rate'"),
        ({"type": "translation:date_format", "format": "DD/MM/YY"}, "field 'format'"),
        ({"type": "translation:date_format", "source_order": "ymd"}, "field 'source_order'"),
        ({"type": "translation:quotation_marks", "language": "xx"}, "field 'language'"),
        ({"type": "translation:quotation_marks", "language": "pt", "style": "fancy"}, "field 'style'"),
        ({"type": "translation:proper_nouns"}, "missing field 'names'"),
        ({"type": "translation:max_characters", "max_chars": "ten"}, "field 'max_chars'"),
    ],
)
def test_bad_rule_arguments_name_the_field(constraint: dict, message: str) -> None:
    with pytest.raises(ConstraintError, match=message):
        check_constraints("x", [constraint], src="y")


def test_rules_score_through_the_instructions_reward() -> None:
    rows = {
        "constraints": [[{"type": "translation:date_format"}, {"type": "translation:quotation_marks"}]] * 2,
        "src": ['On March 5, 2024 he said "yes".'] * 2,
        "tgt_lang": ["pt-PT"] * 2,
    }
    results = score(
        get_reward("instructions").fn.reward_spec, ["A 05/03/2024 disse «sim».", 'A 5 de março disse "sim".'], rows
    )
    assert [r.score for r in results] == [1.0, 0.0]
    assert results[1].reason == "failed: 0 translation:date_format, 1 translation:quotation_marks"


# ---------------------------------------------------------------- the parsers


def test_number_values_read_every_locale() -> None:
    assert number_values("1,500") == (1500.0, 1.5) and number_values("1.234,5") == (1234.5,)
    assert number_values("1,234.5") == (1234.5,) and number_values("3,25") == (3.25,)
    assert number_values("1 000") == (1000.0,) and number_values("1\u202f000,5") == (1000.5,)
    assert number_values("−4") == (-4.0,) and number_values("١٢") == (12.0,) and number_values("1.2.3") == (123.0,)


def test_source_parsers() -> None:
    assert [str(d) for d in source_dates("Sept. 1st, 2023; 2024-02-30; 12/31/2023; March 5 only")] == [
        "2023-09-01",
        "2023-12-31",
    ]
    assert source_times("at 12 AM, 12:15 pm and 7a.m.; 13 pm is not a time") == [(0, 0), (12, 15), (7, 0)]
    lengths = imperial_lengths("a 10-foot pole, 5-10 miles, 6'2\" tall, 2 sq ft and 3 mph")
    assert [(x.unit, round(x.values[0], 3)) for x in lengths] == [
        ("length", 1.88),
        ("length", 3.048),
        ("length", 8046.72),
        ("length", 16093.44),
        ("area", 0.186),
        ("speed", 4.828),
    ]
    assert [
        round(t.values[0], 1) for t in temperatures("-4 °F, 98.6 ℉ and 华氏212度", ("°F", "℉"), fahrenheit=True)
    ] == [-20.0, 37.0, 100.0]
    assert [m.values for m in money("US$ 5, 7 dollars, R$ 9 and $1.2 million", "USD")] == [(5.0,), (7.0,), (1200000.0,)]
    assert [m.values for m in money("12万元和人民币3,5元", "CNY")] == [(120000.0,), (3.5,)]
    assert [x.values for x in quantities("5 min, 3 m, 2 mil metros, 4 milhas", METRIC)] == [(3.0,), (2000.0,)]
