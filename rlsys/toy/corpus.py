"""Built-in multilingual text for training the tiny test tokenizer (see rlsys/toy/tiny.py).

Why: tests, demos and CPU-only users need a tokenizer that is built offline, in under a second,
and that splits the languages rlsys targets into real sub-words (not only bytes), so that token
counts, masks and chat templates behave like those of a real model.

What: a few KB of hand-written text in English, Portuguese, German and Spanish, short lines in
other scripts (Cyrillic, Greek, CJK, Arabic, Devanagari), digits and arithmetic, math symbols,
code, and ChatML-rendered conversations. The tokenizer is byte-level, so any text outside this
corpus still encodes (as more, shorter tokens); nothing becomes <unk>.

Not covered: this is not a representative sample of any language; it is not meant for training
a model that says anything sensible.
"""

ENGLISH = """\
The quick brown fox jumps over the lazy dog. A small model can still learn to count.
Reinforcement learning rewards the policy for good answers and not for bad ones.
What is the capital of France? The capital of France is Paris.
Please translate the following sentence into Portuguese, German and Spanish.
The weather is nice today, so we will walk to the river and read a book.
She said that the results were better than expected, but the team wanted more data.
Question: how many apples are left if you eat three of seven? Answer: four apples are left.
"""

PORTUGUESE = """\
O rápido cão castanho salta sobre a raposa preguiçosa. Não há nada de errado nisso.
A aprendizagem por reforço recompensa a política pelas boas respostas.
Qual é a capital de Portugal? A capital de Portugal é Lisboa, e a do Brasil é Brasília.
Por favor, traduza a seguinte frase para inglês. Obrigado pela sua atenção!
Hoje está um dia bonito; vamos passear junto ao rio e ler um livro na esplanada.
Ela disse que os resultados foram melhores do que o esperado, mas a equipa queria mais dados.
Ação, coração, informação, tradução, avaliação: palavras com cedilha e til são comuns.
"""

GERMAN = """\
Der schnelle braune Fuchs springt über den faulen Hund. Größe und Maß sind nicht gleich.
Bestärkendes Lernen belohnt die Strategie für gute Antworten und nicht für schlechte.
Was ist die Hauptstadt von Deutschland? Die Hauptstadt von Deutschland ist Berlin.
Bitte übersetzen Sie den folgenden Satz ins Englische. Vielen Dank für Ihre Hilfe!
Heute ist schönes Wetter, also gehen wir zum Fluss und lesen ein Buch.
Sie sagte, dass die Ergebnisse besser als erwartet waren, aber das Team wollte mehr Daten.
Übung, Prüfung, Straße, Gemütlichkeit, Donaudampfschifffahrtsgesellschaft.
"""

SPANISH = """\
El rápido zorro marrón salta sobre el perro perezoso. ¿Por qué no? ¡Claro que sí!
El aprendizaje por refuerzo recompensa a la política por las buenas respuestas.
¿Cuál es la capital de España? La capital de España es Madrid.
Por favor, traduzca la siguiente frase al inglés. Muchas gracias por su ayuda.
Hoy hace buen tiempo, así que caminaremos hasta el río y leeremos un libro.
Ella dijo que los resultados fueron mejores de lo esperado, pero el equipo quería más datos.
Niño, señor, año, mañana, corazón, canción, información, traducción.
"""

OTHER_SCRIPTS = """\
Быстрая коричневая лиса прыгает через ленивую собаку. Привет, мир!
Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί. Γεια σου κόσμε!
敏捷的棕色狐狸跳过了懒狗。你好，世界！
素早い茶色の狐がのろまな犬を飛び越える。こんにちは世界！
الثعلب البني السريع يقفز فوق الكلب الكسول. مرحبا بالعالم!
तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है। नमस्ते दुनिया!
"""

NUMBERS_AND_MATH = """\
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 50 64 100 128 256 512 1000 1024 2048
3 + 4 = 7; 12 - 5 = 7; 6 * 7 = 42; 84 / 2 = 42; 2^10 = 1024; 17 % 5 = 2; 3.14159; -2.5e-3
The answer is \\boxed{42}. Therefore x = 5 and y = -3, so x + y = 2.
∑ ∫ √ π ∞ ≈ ≠ ≤ ≥ ± × ÷ ∈ ∉ ⊂ ∪ ∩ ∀ ∃ → ⇒ ⇔ α β γ δ ε θ λ μ σ ω ° ² ³ ½ ¼ € £ $ %
Let f(x) = x^2 + 2x + 1. Then f(3) = 16 and f'(x) = 2x + 2.
\\frac{1}{2} + \\frac{1}{3} = \\frac{5}{6}; \\sqrt{16} = 4; (a + b)^2 = a^2 + 2ab + b^2
"""

CODE = """\
def add(a: int, b: int) -> int:
    \"\"\"Return the sum of a and b.\"\"\"
    return a + b


for i in range(10):
    if i % 2 == 0:
        print(f"even: {i}")
    else:
        print("odd", i, sep=", ")

class Counter:
    def __init__(self):
        self.count = 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.count

assert add(2, 3) == 5
data = {"key": [1, 2, 3], "ok": True, "none": None}
x = [v ** 2 for v in data["key"] if v > 1]  # list comprehension
#include <stdio.h>
int main(void) { printf("hello\\n"); return 0; }
const f = (x) => x * 2; let s = `value: ${f(21)}`; if (a && b || !c) { s += ';'; }
SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;
$ pip install rlsys && python -m pytest tests/ -q | grep -E 'passed|failed' > out.txt
"""

CHAT = """\
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Translate to German: Good morning!<|im_end|>
<|im_start|>assistant
Guten Morgen!<|im_end|>
<|im_start|>user
Quanto é 2 + 2?<|im_end|>
<|im_start|>assistant
2 + 2 = 4.<|im_end|>
<|im_start|>user
¿Cómo estás?<|im_end|>
<|im_start|>assistant
¡Estoy bien, gracias!<|im_end|>
<|bos|><|eos|><|pad|>
"""

SECTIONS: tuple[str, ...] = (
    ENGLISH,
    PORTUGUESE,
    GERMAN,
    SPANISH,
    OTHER_SCRIPTS,
    NUMBERS_AND_MATH,
    CODE,
    CHAT,
)


def corpus_texts() -> list[str]:
    """Return the built-in corpus as one string per section (newlines kept), in a fixed order."""
    return list(SECTIONS)
