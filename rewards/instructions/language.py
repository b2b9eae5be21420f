"""An offline language identifier: script detection, then stopword and letter profiles.

IFEval uses `langdetect` (a downloaded n-gram model); this is a small deterministic stand-in
that needs no data files. How it decides:

1. Count units per script (words for spaced scripts, characters for Han/kana; see
   `segmentation`). The script with the most units wins.
2. A script used by one language in our set names it: Hangul→ko, Thai→th, Greek→el,
   Hebrew→he, Bengali→bn, Tamil→ta, ... Han/kana: ja when kana are at least 10% of those
   characters, else zh.
3. Scripts shared by several languages (Latin, Cyrillic, Arabic, Devanagari) are decided by
   stopword hits (a word listed for k languages adds 1/k to each) plus a small bonus for
   letters typical of a language (ß, ñ, ł, ř, ı, ơ; ы/і/ъ; پ/ة/ے). Ties go to the language
   listed first in `PROFILES` (en first).

Limits (why this is not langdetect):
- Supported: the 49 codes in `LANGUAGES` (all 30 IFEval response languages); 27 of them have
  stopword profiles, 22 are told by their script alone. Anything else is never returned:
  Catalan, Norwegian, Slovak, Serbian, Malay... come out as a neighbour.
- Very short texts (two or three words) are often undecided or wrong; a one-sentence answer is
  usually right (tested on ~25 languages in tests/test_instructions.py).
- Texts with no stopword and no telling letter (e.g. "Paris.", "OK", numbers) are undecided:
  `detect_language` returns None and the checks count that as not satisfied (IFEval counts a
  langdetect failure as satisfied; a near-empty answer should not earn reward).
- Only the dominant language is reported; a 50/50 mixed answer is judged by its majority script.
- Closely related pairs (da/sv, cs/sk, hi/mr/ne, ru/bg/uk on very short input) can be confused
  on one short sentence; accuracy grows with length.
"""
from __future__ import annotations

import unicodedata
from collections import Counter

from rewards.instructions.segmentation import (
    CJK_SCRIPTS,
    UNSPACED_CHARS_PER_WORD,
    UNSPACED_SCRIPTS,
    script_of,
    words,
)
from rewards.languages import LANGUAGE_NAMES, base_code

# The codes this detector can return; names from the shared table in rewards.languages.
LANGUAGES: dict[str, str] = {
    code: LANGUAGE_NAMES[code]
    for code in (
        "en de fr es it pt nl sv da pl cs tr fi hu ro vi id sw ru uk bg ar fa ur hi mr ne zh ja ko "
        "th he el bn pa gu or ta te kn ml si lo my ka hy am km bo"
    ).split()
}

SINGLE_LANGUAGE_SCRIPTS: dict[str, str] = {
    "Hangul": "ko", "Thai": "th", "Greek": "el", "Hebrew": "he", "Bengali": "bn",
    "Gurmukhi": "pa", "Gujarati": "gu", "Oriya": "or", "Tamil": "ta", "Telugu": "te",
    "Kannada": "kn", "Malayalam": "ml", "Sinhala": "si", "Lao": "lo", "Myanmar": "my",
    "Georgian": "ka", "Armenian": "hy", "Ethiopic": "am", "Khmer": "km", "Tibetan": "bo",
}

# Stopwords per language, grouped by the script that the language is written in.
PROFILES: dict[str, dict[str, str]] = {
    "Latin": {
        "en": "the be to of and a in that have i it for not on with he as you do at this but his "
              "by from they we her she or an will my one all would there their what so up out if "
              "about who which me when can like no just him into your some could them than then "
              "now only its over also after how our well even because any these is are was were "
              "has had been did does very here hello yes thank thanks please",
        "de": "der die das und ist nicht ein eine einen einem einer es ich du er sie wir ihr sind "
              "war mit auf für von zu den dem des im in auch sich als an bei nach wie aber oder "
              "wenn dass noch nur so schon sehr hier kann wird werden hat haben diese dieser "
              "dieses mein meine kein keine mehr wo was über unter durch gibt ja nein danke bitte "
              "hallo",
        "fr": "le la les un une des et est sont être avoir de du en dans pour pas ne que qui ce "
              "cette ces il elle ils elles nous vous je tu au aux avec sur par plus mais ou où on "
              "son sa ses leur très bien aussi comme tout fait été c l d qu j n bonjour merci oui "
              "non voici suis ai sommes êtes ça moi toi lui là y",
        "es": "el la los las un una unos unas y es son está están ser de del en que por para con "
              "no se lo le les su sus al como más pero muy ya también hay este esta estos estas "
              "eso esto mi yo tú él ella nosotros ustedes me te sí porque cuando donde qué hola "
              "gracias aquí estoy estás",
        "it": "il lo la i gli le un una uno e è sono di del della dei delle in che per con non si "
              "mi ti ci ma come più anche questo questa quello quella ha ho hanno essere molto al "
              "alla nel nella dal dalla tra fra se io tu lui lei noi voi loro ciao grazie perché "
              "l d qui qua sei siamo",
        "pt": "o a os as um uma uns umas e é são de do da dos das em no na nos nas que por para "
              "com não se ele ela eles elas eu você nós mas mais como muito também já está estão "
              "ser foi tem ao à pelo pela isso isto este esta olá obrigado obrigada sim aqui estou",
        "nl": "de het een en is zijn was waren van in op te dat die dit niet met voor aan als ook "
              "maar om bij er ze zij hij ik je jij wij we u naar uit over door heeft hebben wordt "
              "worden nog geen meer wat hoe waar hallo dank ja nee",
        "sv": "och i att det som en ett är var på av för med till den de inte har jag du han hon "
              "vi ni om men så kan ska från eller när vad här där detta denna mycket också hej "
              "tack ja nej",
        "da": "og i at det som en et er var på af for med til den de ikke har jeg du han hun vi "
              "om men så kan skal fra eller når hvad her der dette denne meget også hej tak ja "
              "nej",
        "pl": "i w na z że się nie to jest do jak co o po ale czy tak od za przez dla są był była "
              "było jego jej ich ten ta te tego który która które tylko już bardzo także ja ty my "
              "wy on ona oni mnie cześć dziękuję",
        "cs": "a v na se je že to s z do o jako ale by byl byla bylo jsem jsou jsi jeho její "
              "jejich ten ta tento tato toto který která které pro od po při také už jen velmi co "
              "jak když nebo ne ano ahoj děkuji kde si mi není jsme jste tam",
        "tr": "ve bir bu da de için ile ne o ben sen biz siz onlar çok daha gibi ama var yok "
              "olarak en her şey mi mı mu mü değil kadar sonra önce ki ya hem şu bunu bunun olan "
              "oldu merhaba teşekkürler evet hayır",
        "fi": "ja on ei se että oli ovat olla mutta kun niin myös tai jos hän me te he minä sinä "
              "tämä tuo nämä ne kuin mitä mikä joka jotka vain vielä jo sekä kanssa hyvin paljon "
              "kiitos hei kyllä en et emme olen olet missä",
        "hu": "a az és egy is nem hogy van volt vagy de meg már csak még mint ez azt ezt el ki be "
              "le fel kell lesz nagyon én te ő mi ti ők igen köszönöm szia",
        "ro": "și în de la cu pe nu este sunt a fost o un una care că ce mai din pentru dar se să "
              "lui ei ea el eu tu noi voi foarte sau acest această acum bună mulțumesc da",
        "vi": "và là của có không một những các được trong cho với này người đã để khi như thì đó "
              "từ về rất cũng tôi bạn chúng ta họ nhưng hay hoặc sẽ đang xin chào cảm ơn vâng",
        "id": "dan yang di ke dari ini itu dengan untuk tidak ada adalah akan pada juga saya anda "
              "kami kita mereka atau tetapi sudah bisa dalam oleh karena seperti sangat lebih "
              "halo terima kasih ya",
        "sw": "na ya wa kwa ni za la katika hii huo hiyo kama lakini au si mimi wewe yeye sisi "
              "ninyi wao sana pia ndiyo hapana habari asante jambo hakuna kuwa alikuwa watu iko wapi nini gani hapa",
    },
    "Cyrillic": {
        "ru": "и в не на что я с он как это по но они к у же вы за бы от так его только мы было "
              "все она для если или меня есть был когда уже да нет очень вот где кто этот эта эти "
              "привет спасибо",
        "uk": "і й в у не на що я з він як це по але вони до ви за б від так його тільки ми було "
              "все вона для якщо або мене є був коли вже ні дуже ось де хто цей ця ці привіт "
              "дякую також",
        "bg": "и в не на че аз с той като това по но те към да за се е са от така само ние беше "
              "всички тя ако или мен има бил когато вече много ето къде кой този тази тези "
              "здравей благодаря ще",
    },
    "Arabic": {
        "ar": "في من على إلى أن التي الذي عن هذا هذه مع كان ما لا هو هي قد كل بين أو ذلك عند لم "
              "إن كما بعد حتى ثم لقد أيضا يا مرحبا شكرا نعم",
        "fa": "و در به از که این را با است برای آن یک تا می هم بود شد نیز ما او من شما خود هر "
              "اما یا اگر کرد شده دارد سلام ممنون بله",
        "ur": "کے کی کا میں ہے اور سے کو نے یہ ہیں پر بھی تھا کہ ایک لیے نہیں ہو جو وہ تھی گا گی "
              "کر آپ ہم شکریہ جی ہاں",
    },
    "Devanagari": {
        "hi": "है और के की में से को का यह एक हैं नहीं पर भी था लिए कि तो ही जो कर हो गया थे इस "
              "वह अपने साथ बहुत कुछ आप मैं हम नमस्ते धन्यवाद हाँ",
        "mr": "आहे आणि हे या ते की मी आम्ही तुम्ही नाही होते होता त्या त्याचे केले आहेत पण एक "
              "म्हणून मध्ये साठी व ही तर काय नमस्कार धन्यवाद हो",
        "ne": "छ र को मा हो यो पनि गर्न भएको छन् थियो हुन्छ गरेको लागि भने तर त्यो मेरो हामी "
              "तपाईं छैन गरी रहेको यस नमस्ते धन्यवाद",
    },
}

# Letters typical of some languages of a script: letter -> the languages that use it.
_LETTER_HINTS: dict[str, str] = {
    "ß": "de", "ñ": "es", "ã": "pt", "õ": "pt", "ç": "fr pt tr", "ğ": "tr", "ş": "tr", "ı": "tr",
    "ł": "pl", "ą": "pl", "ę": "pl", "ś": "pl", "ź": "pl", "ż": "pl", "ń": "pl", "ř": "cs",
    "ě": "cs", "ů": "cs", "ň": "cs", "ť": "cs", "ď": "cs", "å": "sv da", "æ": "da", "ø": "da",
    "ä": "de sv fi", "ö": "de sv fi tr hu", "ü": "de tr hu", "ő": "hu", "ű": "hu", "ș": "ro",
    "ț": "ro", "ă": "ro vi", "ơ": "vi", "ư": "vi", "đ": "vi", "è": "fr it", "ì": "it",
    "ò": "it", "ê": "fr pt vi", "ô": "fr pt vi", "à": "fr it pt",
    "ы": "ru", "э": "ru", "ё": "ru", "і": "uk", "ї": "uk", "є": "uk", "ґ": "uk", "ъ": "bg",
    "ة": "ar", "ي": "ar", "ك": "ar", "ى": "ar", "پ": "fa ur", "چ": "fa ur", "ژ": "fa ur",
    "گ": "fa ur", "ک": "fa ur", "ی": "fa ur", "ٹ": "ur", "ڈ": "ur", "ڑ": "ur", "ں": "ur",
    "ہ": "ur", "ے": "ur", "ھ": "ur",
}
_HINTS = {char: tuple(langs.split()) for char, langs in _LETTER_HINTS.items()}
_LETTER_WEIGHT = 0.25
_VIETNAMESE_BLOCK = (0x1EA0, 0x1EF9)  # precomposed letters with tone marks, used only by vi
_KANA_SHARE_FOR_JA = 0.1


def _stopword_weights() -> dict[str, dict[str, dict[str, float]]]:
    """script -> word -> {language: 1/k} where k is the number of languages listing the word."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for script, langs in PROFILES.items():
        owners: dict[str, list[str]] = {}
        for lang, text in langs.items():
            for word in set(text.split()):
                owners.setdefault(word, []).append(lang)
        table[script] = {w: {lang: 1 / len(ls) for lang in ls} for w, ls in owners.items()}
    return table


_STOPWORDS = _stopword_weights()


def normalize_language(value: str) -> str | None:
    """'de', 'DE', 'de-AT', 'zh_Hant', 'deu', 'German' -> a supported code; None if unsupported."""
    code = base_code(value)
    return code if code in LANGUAGES else None


def script_units(text: str, tokens: list[str] | None = None) -> Counter[str]:
    """How much of `text` each script carries: words for spaced scripts, Han/kana characters.

    A token counts for the script of its first letter (a mixed-script token is rare).
    """
    units: Counter[str] = Counter()
    for token in words(text) if tokens is None else tokens:
        script = next((s for s in map(script_of, token) if s not in (None, "Inherited")), None)
        if script is not None:
            units[script] += len(token) / UNSPACED_CHARS_PER_WORD if script in UNSPACED_SCRIPTS else 1
    return units


def language_scores(text: str, script: str, tokens: list[str] | None = None) -> Counter[str]:
    """Evidence per language of a shared script: stopword hits plus letter hints."""
    scores: Counter[str] = Counter({lang: 0.0 for lang in PROFILES[script]})
    table = _STOPWORDS[script]
    for token in words(text) if tokens is None else tokens:
        for lang, weight in table.get(token, {}).items():
            scores[lang] += weight
    for char in unicodedata.normalize("NFC", text.lower()):
        langs = _HINTS.get(char, ())
        if script == "Latin" and _VIETNAMESE_BLOCK[0] <= ord(char) <= _VIETNAMESE_BLOCK[1]:
            langs = ("vi",)
        for lang in langs:
            if lang in scores:
                scores[lang] += _LETTER_WEIGHT / len(langs)
    return scores


def _resolve_cjk(units: Counter[str]) -> str:
    kana = units["Hiragana"] + units["Katakana"]
    total = kana + units["Han"]
    return "ja" if total and kana / total >= _KANA_SHARE_FOR_JA else "zh"


def detect_language(text: str) -> str | None:
    """The dominant language of `text` as a code from `LANGUAGES`, or None if undecided."""
    tokens = words(text)
    units = script_units(text, tokens)
    cjk = sum(units[s] for s in CJK_SCRIPTS)
    merged = Counter({s: n for s, n in units.items() if s not in CJK_SCRIPTS})
    if cjk:
        merged["CJK"] = cjk
    if not merged:
        return None
    script = merged.most_common(1)[0][0]
    if script == "CJK":
        return _resolve_cjk(units)
    if script in SINGLE_LANGUAGE_SCRIPTS:
        return SINGLE_LANGUAGE_SCRIPTS[script]
    if script not in PROFILES:
        return None
    scores = language_scores(text, script, tokens)
    best = max(scores.values())
    if best <= 0:
        return None
    return next(lang for lang in PROFILES[script] if scores[lang] == best)
