"""Save a random-initialised model of a real architecture (``benchmarks.common.random_models``),
for timing on a machine without the Hub, and for the GPU check (a real model's config, no weights).

    python -m benchmarks.random_model qwen2.5-1.5b --tokenizer TOKENIZER_FOLDER --out /tmp/qwen-random
    python -m benchmarks.random_model .whl/model --tokenizer .whl/model --out /tmp/rand   # that folder's config
"""

from __future__ import annotations

import argparse

from benchmarks.common.random_models import SHAPES, make_random_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", help=f"one of {', '.join(sorted(SHAPES))}, or a model folder to copy the config of")
    parser.add_argument("--tokenizer", required=True, help="a folder with tokenizer files (and a chat template)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        make_random_model(args.shape, args.tokenizer, args.out)
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
