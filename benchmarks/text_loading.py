"""Times reading and tokenising labelled texts from a CSV against the IMDB loader reading its archive.

Writes the archive's 50,000 reviews into one CSV as many times over as --reviews asks
(100,000 by default; fewer are a seeded draw that holds every rating class), then, each in a fresh process so that peak memory is its own:
the IMDB loader on the archive (no cache), ``load_labelled`` on the CSV (no cache),
and ``load_labelled`` again (cached). Prints reviews/s, seconds and peak RSS as JSON.

    python benchmarks/text_loading.py --data ../shared/data/aclImdb_v1-labeled.tar.gz
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import numpy as np

CHILD = """
import json, sys, time
from attention import imdb
from attention.data import load_labelled
from benchmarks.harness import peak_rss_mib
start = time.perf_counter()
if sys.argv[1] == "imdb":
    (x, _), (xt, _) = imdb.load_data(sys.argv[2], cache_dir=sys.argv[3], verbose=False)
    n = len(x) + len(xt)
else:
    data = load_labelled(sys.argv[2], validation_split=0.1, cache_dir=sys.argv[3], verbose=False)
    n = len(data.x_train) + len(data.x_validation)
seconds = time.perf_counter() - start
print(json.dumps({"texts": n, "seconds": round(seconds, 2), "texts_per_s": round(n / seconds),
                  "peak_rss_mib": round(peak_rss_mib())}))
"""
REPO = Path(__file__).resolve().parents[1]


class ChildError(RuntimeError):
    """A child process failed: its last line on stderr, its error."""


def child(kind: str, source: Path, cache: Path) -> dict:
    # Imports (Keras, a backend) are a fresh process's cost, not reading's: the child times after them.
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(source), str(cache)], capture_output=True, text=True,
                         cwd=REPO)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        raise ChildError(f"reading {source} ({kind}) failed: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def drawn(labels: list, count: int, seed: int = 0) -> list[int]:
    """Indices of `count` reviews: all of them in their order as many whole times as fit (as before), then
    a draw that holds every class where it can: each class's reviews in a seeded order, taken in turn.

    The archive's reviews come class by class: its first thousands are all of one class."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(np.asarray(labels) == name)) for name in dict.fromkeys(labels)]
    turns = []
    for turn in range(max(map(len, by_class))):
        turns += [int(members[turn]) for members in by_class if turn < len(members)]
    whole, rest = divmod(count, len(labels))
    return list(range(len(labels))) * whole + turns[:rest]


def main(argv: list[str] | None = None) -> None:
    from attention.arguments import check_writable, clean_exit, nonempty_path, positive_int

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=nonempty_path, help="the aclImdb_v1.tar.gz archive (or aclImdb/ folder)")
    parser.add_argument("--reviews", type=positive_int, default=100_000,
                        help="reviews in the CSV (the archive's, repeated, or a draw of them holding every class)")
    parser.add_argument("--output", type=nonempty_path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    def fail(message: str, status: int = 2) -> NoReturn:
        parser.exit(status, f"{parser.prog}: error: {message}\n")

    if args.output and (problem := check_writable(args.output)):
        fail(f"--output: {problem}")
    with clean_exit(parser):
        from attention.data.errors import DatasetError

        try:
            results = measure(args.data, args.reviews)
        except DatasetError as error:
            fail(f"--data: {error}")
        except ChildError as error:
            fail(str(error), 1)
        text = json.dumps(results, indent=2)
        print(text)
        if args.output:
            from attention.atomic import atomic_path

            with atomic_path(args.output) as tmp:
                tmp.write_text(text + "\n")


def measure(data: str, reviews: int) -> dict:
    """The CSV's size and each reader's results (`child`)."""
    from attention.data.ratings import rating_task
    from attention.data.sources.tables import write_table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        splits = rating_task(data, verbose=False)
        texts = [t for records in splits.values() for t in records.texts]
        labels = [y for records in splits.values() for y in records.labels]
        chosen = drawn(labels, reviews)
        csv = tmp / "reviews.csv"
        write_table(csv, [texts[i] for i in chosen], [labels[i] for i in chosen])
        del texts, labels, splits, chosen
        return {
            "csv_mib": round(csv.stat().st_size / 2**20, 1),
            "imdb_archive_uncached": child("imdb", Path(data), tmp / "cache-imdb"),
            "csv_uncached": child("csv", csv, tmp / "cache-csv"),
            "csv_cached": child("csv", csv, tmp / "cache-csv"),
            "date": time.strftime("%Y-%m-%d"),
        }


if __name__ == "__main__":
    main()
