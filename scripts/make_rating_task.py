"""Writes IMDB's four-class rating task (1-2, 3-4, 7-8, 9-10 stars) in any form train_text.py reads.

The classes come from the star rating in each review's file name (ID_RATING.txt).
Train on it with, for example:

    python scripts/make_rating_task.py --data ../shared/data/aclImdb_v1-labeled.tar.gz --output ratings --form csv
    python scripts/train_text.py --data ratings/train.csv --validation-data ratings/test.csv --seed 0
"""

import argparse
import sys

from attention.data import DatasetError
from attention.data.ratings import FORMS, rating_task, write_task


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", required=True, help="the aclImdb/ folder or the aclImdb_v1.tar.gz archive")
parser.add_argument("--output", required=True, help="folder to write into")
parser.add_argument("--form", choices=FORMS, default="csv",
                    help="class folders, their .tar.gz, or train and test tables (default: csv)")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    try:
        splits = rating_task(args.data)
        written = write_task(splits, args.output, args.form)
    except DatasetError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except OSError as error:
        parser.exit(2, f"{parser.prog}: error: cannot write to {args.output!r}: {error.strerror or error}\n")
    counts = ", ".join(f"{len(r):,} {split}" for split, r in splits.items())
    print(f"Wrote {counts} reviews to {', '.join(map(str, written))}", file=sys.stderr)


if __name__ == "__main__":
    main()
