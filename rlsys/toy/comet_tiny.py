"""Build a tiny, random-weight COMET checkpoint offline, for tests and smoke runs.

Why: the real COMET models (wmt22-comet-da, wmt22-cometkiwi-da) are gigabytes on the Hugging
Face hub, and nothing is downloaded at run time here. This module builds the same kind of
artifact from nothing: a sentencepiece tokenizer trained on a small built-in multilingual
corpus, a tiny XLM-R encoder with random weights, and a COMET metric trained for one epoch on
64 synthetic rows, saved as `OUT/checkpoints/model.ckpt` + `OUT/hparams.yaml`, loadable with
`comet.load_from_checkpoint(..., local_files_only=True)` exactly like a released model.

- kind="qe":  `UnifiedMetric(input_segments=["mt", "src"])`, the CometKiwi architecture.
- kind="ref": `RegressionMetric` (src, mt, ref), the wmt22-comet-da architecture.

Runs only in the QE environment (`.venv-qe`, see scripts/setup_qe_env.sh): it imports
unbabel-comet, transformers<5 and pytorch-lightning.

    .venv-qe/bin/python -m rlsys.toy.comet_tiny /tmp/comet-qe --kind qe

Not covered: the scores mean nothing (random encoder, 64 rows, one epoch); `hparams.yaml`
stores the absolute path of `OUT/encoder`, so after moving OUT edit `pretrained_model` there
(rewards.translation loads with `reload_hparams=True`, so the edited file wins).
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
from pathlib import Path
from typing import Any

# (source in English, target language, reference translation)
CORPUS: tuple[tuple[str, str, str], ...] = (
    ("The cat sleeps on the warm sofa.", "de", "Die Katze schläft auf dem warmen Sofa."),
    ("I would like a cup of coffee, please.", "de", "Ich hätte gern eine Tasse Kaffee, bitte."),
    ("The train to Berlin is late again.", "de", "Der Zug nach Berlin hat wieder Verspätung."),
    ("We are meeting at noon tomorrow.", "de", "Wir treffen uns morgen um zwölf Uhr."),
    ("Please close the window, it is cold.", "de", "Bitte schließ das Fenster, es ist kalt."),
    ("My brother reads a book every week.", "de", "Mein Bruder liest jede Woche ein Buch."),
    ("The weather is nice today.", "pt", "O tempo está bom hoje."),
    ("Where is the nearest train station?", "pt", "Onde fica a estação de comboios mais próxima?"),
    ("She speaks three languages fluently.", "pt", "Ela fala três línguas fluentemente."),
    ("The children are playing in the garden.", "pt", "As crianças estão a brincar no jardim."),
    ("I forgot my umbrella at home.", "es", "Olvidé mi paraguas en casa."),
    ("The museum opens at nine o'clock.", "es", "El museo abre a las nueve."),
    ("Thank you very much for your help.", "fr", "Merci beaucoup pour votre aide."),
    ("The bread in this bakery is excellent.", "fr", "Le pain de cette boulangerie est excellent."),
    ("The book is on the table.", "ru", "Книга лежит на столе."),
    ("I live in a small town.", "ru", "Я живу в маленьком городе."),
    ("Today is a beautiful day.", "ru", "Сегодня прекрасный день."),
    ("I like to drink green tea.", "zh", "我喜欢喝绿茶。"),
    ("The weather is very cold today.", "zh", "今天天气很冷。"),
    ("Where is the library?", "zh", "图书馆在哪里？"),
    ("Good morning, how are you?", "ja", "おはようございます、お元気ですか。"),
    ("This is my new computer.", "ko", "이것은 제 새 컴퓨터입니다."),
    ("Hello, my friend.", "ar", "مرحبا يا صديقي."),
    ("The river flows to the sea.", "hi", "नदी समुद्र की ओर बहती है।"),
)

TINY_ENCODER: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=258,  # 256 tokens + XLM-R's padding offset of 2
    type_vocab_size=1,
)


def synthetic_rows(n: int = 64, seed: int = 0) -> list[dict[str, object]]:
    """`n` (src, mt, ref, score) rows: exact, truncated, unrelated and untranslated outputs."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        src, _, ref = CORPUS[i % len(CORPUS)]
        kind = i % 4
        if kind == 0:
            mt, score = ref, 0.9
        elif kind == 1:
            words = ref.split()
            mt, score = " ".join(words[: max(1, len(words) // 2)]), 0.5
        elif kind == 2:
            mt, score = rng.choice([c[2] for c in CORPUS if c[2] != ref]), 0.1
        else:
            mt, score = src, 0.0
        rows.append({"src": src, "mt": mt, "ref": ref, "score": score + rng.uniform(-0.05, 0.05)})
    return rows


def build_encoder(out_dir: Path, seed: int = 0) -> Path:
    """Train a sentencepiece model on CORPUS and save a tiny random XLM-R + fast tokenizer."""
    import sentencepiece as spm
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast  # type: ignore[attr-defined]  # .venv-qe has transformers 4; 5 keeps it as a runtime alias only

    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [text for row in CORPUS for text in (row[0], row[2])]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(out_dir / "sentencepiece.bpe"),
        vocab_size=400,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        minloglevel=2,
    )
    tokenizer = XLMRobertaTokenizerFast(vocab_file=str(out_dir / "sentencepiece.bpe.model"))
    tokenizer.model_max_length = TINY_ENCODER["max_position_embeddings"] - 2
    tokenizer.save_pretrained(str(out_dir))
    config = XLMRobertaConfig(vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=2, **TINY_ENCODER)
    torch.manual_seed(seed)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(str(out_dir))
    return out_dir


def _metric(kind: str, encoder_dir: Path, train_csv: Path):
    common = dict(
        nr_frozen_epochs=0,
        keep_embeddings_frozen=True,
        encoder_model="XLM-RoBERTa",
        pretrained_model=str(encoder_dir),
        layer_transformation="sparsemax",
        batch_size=8,
        train_data=[str(train_csv)],
        validation_data=[],
        hidden_sizes=[64],
        learning_rate=1e-3,
        encoder_learning_rate=1e-4,
        load_pretrained_weights=True,
        local_files_only=True,
    )
    if kind == "qe":
        from comet.models import UnifiedMetric

        return UnifiedMetric(input_segments=["mt", "src"], sent_layer="mix", word_layer=2, **common)
    if kind == "ref":
        from comet.models import RegressionMetric

        return RegressionMetric(layer="mix", **common)
    raise ValueError(f"kind must be 'qe' or 'ref', got {kind!r}")


def build_tiny_comet(out_dir: str | Path, kind: str = "qe", seed: int = 0) -> Path:
    """Build a loadable COMET checkpoint dir at `out_dir`; returns `out_dir/checkpoints/model.ckpt`."""
    import pytorch_lightning as ptl
    import yaml

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    if kind not in ("qe", "ref"):
        raise ValueError(f"kind must be 'qe' or 'ref', got {kind!r}")
    out = Path(out_dir).resolve()
    encoder_dir = build_encoder(out / "encoder", seed)
    train_csv = out / "train.csv"
    with train_csv.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["src", "mt", "ref", "score"])
        writer.writeheader()
        writer.writerows(synthetic_rows(seed=seed))

    ptl.seed_everything(seed, workers=True, verbose=False)
    model = _metric(kind, encoder_dir, train_csv)
    trainer = ptl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(model)
    ckpt = out / "checkpoints" / "model.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(str(ckpt), weights_only=True)
    (out / "hparams.yaml").write_text(yaml.safe_dump(dict(model.hparams), sort_keys=True), encoding="utf-8")
    return ckpt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rlsys.toy.comet_tiny", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="directory to create (checkpoints/model.ckpt + hparams.yaml + encoder/)")
    parser.add_argument("--kind", choices=("qe", "ref"), default="qe", help="qe: CometKiwi-style; ref: COMET-DA-style")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_comet(args.out_dir, args.kind, args.seed))


if __name__ == "__main__":
    main()
