"""Writes IMDB's four-class rating task (1-2, 3-4, 7-8, 9-10 stars) in any form train_text.py reads.

The classes come from the star rating in each review's file name (ID_RATING.txt).
Train on it with, for example:

    python scripts/make_rating_task.py --data ../shared/data/aclImdb_v1-labeled.tar.gz --output ratings --form csv
    python scripts/train_text.py --data ratings/train.csv --validation-data ratings/test.csv --seed 0

With --positive-fraction it writes a two-class task with a rare class instead: negative
(1-4 stars) and positive (7-10), of which only that share is kept:

    python scripts/make_rating_task.py --data ../shared/data/aclImdb_v1-labeled.tar.gz --output rare --positive-fraction 0.1
    python scripts/train_text.py --data rare/train.csv --validation-data rare/test.csv --seed 0 --class-weight balanced
"""

import argparse
import sys

from attention.data import DatasetError
from attention.arguments import clean_exit, nonempty_path, seed, share
from attention.data.ratings import FORMS, rare_positive_task, rating_task, write_task


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", required=True, type=nonempty_path, help="the aclImdb/ folder or the aclImdb_v1.tar.gz archive")
parser.add_argument("--output", required=True, type=nonempty_path, help="folder to write into")
parser.add_argument("--form", choices=FORMS, default="csv",
                    help="class folders, their .tar.gz, or train and test tables (default: csv)")
parser.add_argument("--positive-fraction", type=share,
                    help="write the two classes negative and positive instead, with this share of each split's "
                         "positive reviews kept, drawn at random")
parser.add_argument("--seed", type=seed, default=0, help="seed of --positive-fraction's draw (default: 0)")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    with clean_exit(parser):
        try:
            splits = rating_task(args.data)
            if args.positive_fraction is not None:
                splits = rare_positive_task(splits, args.positive_fraction, args.seed)
            written = write_task(splits, args.output, args.form)
        except DatasetError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        except OSError as error:
            parser.exit(2, f"{parser.prog}: error: cannot write to {args.output!r}: {error.strerror or error}\n")
        counts = ", ".join(f"{len(r):,} {split}" for split, r in splits.items())
        print(f"Wrote {counts} reviews to {', '.join(map(str, written))}", file=sys.stderr)


if __name__ == "__main__":
    main()
