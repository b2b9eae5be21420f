"""Hand-written sentences and short phrases in the 22 Tower+ languages, for benchmarks/langid_compare.py.

Written for this benchmark (not taken from any corpus), so no detector was trained on them.
Per language: five sentences (8-25 words, everyday topics, some with numbers, names or
markdown) and three short texts (one to three words); Bulgarian as an extra language. `langid_compare.py` derives the all-caps
and lowercase variants. Norwegian is Bokmål; Chinese is simplified; Portuguese is European.
"""

from __future__ import annotations

SENTENCES: dict[str, list[str]] = {
    "en": [
        "The meeting has been moved to Thursday afternoon because the manager is travelling.",
        "Could you send me the final version of the report before the end of the week?",
        "Our team won the regional football championship after a very difficult season.",
        "**Note:** the prices listed below include tax and free delivery within 3 days.",
        "She planted tomatoes, beans and a small apple tree in the garden last spring.",
    ],
    "de": [
        "Die Besprechung wurde auf Donnerstagnachmittag verschoben, weil der Chef auf Reisen ist.",
        "Kannst du mir bitte die endgültige Fassung des Berichts bis Freitag schicken?",
        "Unsere Mannschaft hat nach einer sehr schwierigen Saison die Meisterschaft gewonnen.",
        "**Hinweis:** Die unten genannten Preise enthalten die Mehrwertsteuer und den Versand.",
        "Im letzten Frühling pflanzte sie Tomaten, Bohnen und einen kleinen Apfelbaum im Garten.",
    ],
    "es": [
        "La reunión se ha trasladado al jueves por la tarde porque el director está de viaje.",
        "¿Podrías enviarme la versión final del informe antes del fin de semana?",
        "Nuestro equipo ganó el campeonato regional después de una temporada muy difícil.",
        "**Nota:** los precios indicados incluyen impuestos y envío gratuito en 3 días.",
        "La primavera pasada plantó tomates, judías y un pequeño manzano en el jardín.",
    ],
    "fr": [
        "La réunion a été déplacée à jeudi après-midi parce que le directeur est en voyage.",
        "Pourriez-vous m'envoyer la version finale du rapport avant la fin de la semaine ?",
        "Notre équipe a remporté le championnat régional après une saison très difficile.",
        "**Remarque :** les prix indiqués comprennent les taxes et la livraison gratuite.",
        "Le printemps dernier, elle a planté des tomates, des haricots et un petit pommier.",
    ],
    "it": [
        "La riunione è stata spostata a giovedì pomeriggio perché il direttore è in viaggio.",
        "Potresti inviarmi la versione definitiva della relazione entro la fine della settimana?",
        "La nostra squadra ha vinto il campionato regionale dopo una stagione molto difficile.",
        "**Nota:** i prezzi indicati comprendono le tasse e la consegna gratuita in 3 giorni.",
        "La primavera scorsa ha piantato pomodori, fagioli e un piccolo melo nel giardino.",
    ],
    "pt": [
        "A reunião foi adiada para quinta-feira à tarde porque o diretor está em viagem.",
        "Podes enviar-me a versão final do relatório antes do fim da semana?",
        "A nossa equipa ganhou o campeonato regional depois de uma época muito difícil.",
        "**Nota:** os preços indicados incluem impostos e entrega gratuita em 3 dias.",
        "Na primavera passada, ela plantou tomates, feijões e uma pequena macieira no jardim.",
    ],
    "nl": [
        "De vergadering is verplaatst naar donderdagmiddag omdat de directeur op reis is.",
        "Kun je me de definitieve versie van het rapport voor het einde van de week sturen?",
        "Ons team heeft na een heel moeilijk seizoen het regionale kampioenschap gewonnen.",
        "**Let op:** de onderstaande prijzen zijn inclusief btw en gratis bezorging.",
        "Vorig voorjaar plantte ze tomaten, bonen en een kleine appelboom in de tuin.",
    ],
    "ru": [
        "Совещание перенесли на вечер четверга, потому что директор уехал в командировку.",
        "Не могли бы вы прислать мне окончательную версию отчёта до конца недели?",
        "Наша команда выиграла региональный чемпионат после очень трудного сезона.",
        "**Примечание:** указанные ниже цены включают налог и бесплатную доставку.",
        "Прошлой весной она посадила в саду помидоры, фасоль и маленькую яблоню.",
    ],
    "uk": [
        "Нараду перенесли на вечір четверга, бо директор поїхав у відрядження.",
        "Чи не могли б ви надіслати мені остаточну версію звіту до кінця тижня?",
        "Наша команда виграла регіональний чемпіонат після дуже важкого сезону.",
        "**Примітка:** зазначені нижче ціни включають податок і безкоштовну доставку.",
        "Минулої весни вона посадила в саду помідори, квасолю та маленьку яблуню.",
    ],
    "cs": [
        "Schůzka byla přesunuta na čtvrteční odpoledne, protože ředitel je na cestách.",
        "Mohl bys mi poslat konečnou verzi zprávy do konce týdne?",
        "Náš tým vyhrál krajský přebor po velmi náročné sezóně.",
        "**Poznámka:** uvedené ceny zahrnují daň a dopravu zdarma do 3 dnů.",
        "Loni na jaře zasadila na zahradě rajčata, fazole a malou jabloň.",
    ],
    "pl": [
        "Spotkanie przeniesiono na czwartkowe popołudnie, ponieważ dyrektor jest w podróży.",
        "Czy możesz przesłać mi ostateczną wersję raportu przed końcem tygodnia?",
        "Nasza drużyna wygrała mistrzostwa regionu po bardzo trudnym sezonie.",
        "**Uwaga:** podane poniżej ceny obejmują podatek i darmową dostawę.",
        "Zeszłej wiosny posadziła w ogrodzie pomidory, fasolę i małą jabłonkę.",
    ],
    "sv": [
        "Mötet har flyttats till torsdag eftermiddag eftersom chefen är ute och reser.",
        "Kan du skicka den slutliga versionen av rapporten till mig före veckans slut?",
        "Vårt lag vann det regionala mästerskapet efter en mycket svår säsong.",
        "**Obs:** priserna nedan inkluderar moms och fri frakt inom 3 dagar.",
        "Förra våren planterade hon tomater, bönor och ett litet äppelträd i trädgården.",
    ],
    "da": [
        "Mødet er blevet flyttet til torsdag eftermiddag, fordi direktøren er ude at rejse.",
        "Kan du sende mig den endelige udgave af rapporten inden ugens udgang?",
        "Vores hold vandt det regionale mesterskab efter en meget svær sæson.",
        "**Bemærk:** priserne nedenfor er inklusive moms og gratis levering.",
        "Sidste forår plantede hun tomater, bønner og et lille æbletræ i haven.",
    ],
    "no": [
        "Møtet er flyttet til torsdag ettermiddag fordi sjefen er på reise.",
        "Kan du sende meg den endelige versjonen av rapporten før slutten av uken?",
        "Laget vårt vant det regionale mesterskapet etter en veldig vanskelig sesong.",
        "**Merk:** prisene nedenfor inkluderer merverdiavgift og gratis frakt.",
        "I fjor vår plantet hun tomater, bønner og et lite epletre i hagen.",
    ],
    "fi": [
        "Kokous on siirretty torstai-iltapäivään, koska johtaja on matkoilla.",
        "Voisitko lähettää minulle raportin lopullisen version ennen viikon loppua?",
        "Joukkueemme voitti aluemestaruuden erittäin vaikean kauden jälkeen.",
        "**Huomio:** alla olevat hinnat sisältävät veron ja ilmaisen toimituksen.",
        "Viime keväänä hän istutti puutarhaan tomaatteja, papuja ja pienen omenapuun.",
    ],
    "hu": [
        "Az értekezletet csütörtök délutánra tették át, mert az igazgató utazik.",
        "El tudnád küldeni nekem a jelentés végleges változatát a hét végéig?",
        "A csapatunk egy nagyon nehéz szezon után megnyerte a regionális bajnokságot.",
        "**Megjegyzés:** az alábbi árak tartalmazzák az adót és az ingyenes szállítást.",
        "Tavaly tavasszal paradicsomot, babot és egy kis almafát ültetett a kertbe.",
    ],
    "ro": [
        "Ședința a fost mutată joi după-amiază, pentru că directorul este plecat.",
        "Poți să-mi trimiți versiunea finală a raportului până la sfârșitul săptămânii?",
        "Echipa noastră a câștigat campionatul regional după un sezon foarte dificil.",
        "**Notă:** prețurile de mai jos includ taxele și livrarea gratuită.",
        "Primăvara trecută a plantat roșii, fasole și un măr mic în grădină.",
    ],
    "is": [
        "Fundurinn hefur verið færður til fimmtudags síðdegis því að forstjórinn er á ferðalagi.",
        "Gætirðu sent mér lokaútgáfu skýrslunnar fyrir lok vikunnar?",
        "Liðið okkar vann svæðismeistaratitilinn eftir mjög erfitt tímabil.",
        "**Athugið:** verðin hér að neðan eru með virðisaukaskatti og ókeypis sendingu.",
        "Síðasta vor gróðursetti hún tómata, baunir og lítið eplatré í garðinum.",
    ],
    "hi": [
        "बैठक को गुरुवार दोपहर तक के लिए टाल दिया गया है क्योंकि निदेशक यात्रा पर हैं।",
        "क्या आप सप्ताह के अंत से पहले मुझे रिपोर्ट का अंतिम संस्करण भेज सकते हैं?",
        "हमारी टीम ने बहुत कठिन सीज़न के बाद क्षेत्रीय चैंपियनशिप जीत ली।",
        "**ध्यान दें:** नीचे दी गई कीमतों में कर और मुफ़्त डिलीवरी शामिल है।",
        "पिछले वसंत में उसने बगीचे में टमाटर, फलियाँ और एक छोटा सेब का पेड़ लगाया।",
    ],
    "zh": [
        "因为经理正在出差，会议已经改到星期四下午。",
        "你能在本周结束之前把报告的最终版本发给我吗？",
        "经过一个非常艰难的赛季，我们的球队赢得了地区冠军。",
        "**注意：**以下价格包含税费，并在3天内免费送货。",
        "去年春天，她在花园里种了西红柿、豆子和一棵小苹果树。",
    ],
    "ja": [
        "部長が出張中のため、会議は木曜日の午後に変更されました。",
        "週末までに報告書の最終版を送っていただけますか？",
        "とても厳しいシーズンを経て、私たちのチームは地区大会で優勝しました。",
        "**注意：**以下の価格には税金と3日以内の無料配送が含まれています。",
        "去年の春、彼女は庭にトマトと豆と小さなりんごの木を植えました。",
    ],
    "ko": [
        "부장님이 출장 중이셔서 회의가 목요일 오후로 변경되었습니다.",
        "이번 주말까지 보고서 최종본을 보내 주실 수 있나요?",
        "우리 팀은 아주 힘든 시즌을 보낸 뒤 지역 대회에서 우승했습니다.",
        "**참고:** 아래 가격에는 세금과 3일 이내 무료 배송이 포함되어 있습니다.",
        "지난봄에 그녀는 정원에 토마토와 콩과 작은 사과나무를 심었습니다.",
    ],
}

# Bulgarian is not a Tower+ language; it is here because the home-made detector read it as Russian.
EXTRA_SENTENCES: dict[str, list[str]] = {
    "bg": [
        "Срещата беше преместена за четвъртък следобед, защото директорът е в командировка.",
        "Можете ли да ми изпратите окончателния вариант на доклада до края на седмицата?",
        "Нашият отбор спечели регионалното първенство след много труден сезон.",
        "Децата играят в парка след училище.",
        "Вчера валя сняг в планината.",
    ],
}
EXTRA_SHORT: dict[str, list[str]] = {"bg": ["Много благодаря", "Добро утро", "Прогноза за времето"]}

# One to three words: greetings, answers, labels. The hard case for every detector.
SHORT: dict[str, list[str]] = {
    "en": ["Thank you very much", "Good morning", "Weather forecast"],
    "de": ["Vielen Dank", "Guten Morgen", "Wettervorhersage"],
    "es": ["Muchas gracias", "Buenos días", "Pronóstico del tiempo"],
    "fr": ["Merci beaucoup", "Bonjour à tous", "Prévisions météo"],
    "it": ["Grazie mille", "Buongiorno a tutti", "Previsioni meteo"],
    "pt": ["Muito obrigado", "Bom dia", "Previsão do tempo"],
    "nl": ["Hartelijk bedankt", "Goedemorgen", "Weerbericht"],
    "ru": ["Большое спасибо", "Доброе утро", "Прогноз погоды"],
    "uk": ["Щиро дякую", "Доброго ранку", "Прогноз погоди"],
    "cs": ["Děkuji mnohokrát", "Dobré ráno", "Předpověď počasí"],
    "pl": ["Dziękuję bardzo", "Dzień dobry", "Prognoza pogody"],
    "sv": ["Tack så mycket", "God morgon", "Väderprognos"],
    "da": ["Mange tak", "Godmorgen", "Vejrudsigt"],
    "no": ["Tusen takk", "God morgen", "Værmelding"],
    "fi": ["Kiitos paljon", "Hyvää huomenta", "Sääennuste"],
    "hu": ["Köszönöm szépen", "Jó reggelt", "Időjárás-előrejelzés"],
    "ro": ["Mulțumesc mult", "Bună dimineața", "Prognoza meteo"],
    "is": ["Takk kærlega", "Góðan daginn", "Veðurspá"],
    "hi": ["बहुत धन्यवाद", "सुप्रभात", "मौसम पूर्वानुमान"],
    "zh": ["非常感谢", "早上好", "天气预报"],
    "ja": ["ありがとうございます", "おはよう", "天気予報"],
    "ko": ["감사합니다", "좋은 아침", "일기 예보"],
}
