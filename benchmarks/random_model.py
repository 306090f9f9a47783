"""Save a random-initialised model of a real architecture (``benchmarks.common.random_models``),
for timing on a machine without the Hub.

    python -m benchmarks.random_model qwen2.5-1.5b --tokenizer TOKENIZER_FOLDER --out /tmp/qwen-random
"""

from __future__ import annotations

import argparse

from benchmarks.common.random_models import SHAPES, make_random_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--tokenizer", required=True, help="a folder with tokenizer files (and a chat template)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    make_random_model(args.shape, args.tokenizer, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
