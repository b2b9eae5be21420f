"""Write the toy multilingual world (rlsys/toy/world.py) to a folder.

    python scripts/make_toy_world.py runs/toy [--seed 0]

Then build a tiny model whose tokenizer knows the toy words:
    python -c "from rlsys.toy.tiny import build_tiny_model; from rlsys.toy.world import read_corpus; \
build_tiny_model('runs/tiny', corpus=read_corpus('runs/toy'))"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rlsys.toy.world import write_toy_world  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    world = write_toy_world(args.out, seed=args.seed)
    for name, rows in world.files.items():
        print(f"{args.out / (name + '.jsonl')}: {len(rows)} rows")
    print(f"{args.out / 'corpus.txt'}: {len(world.corpus)} texts for the tokenizer")


if __name__ == "__main__":
    main()
