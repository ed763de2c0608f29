"""Times reading and tokenising labelled texts from a CSV against the IMDB loader reading its archive.

Writes the archive's 50,000 reviews into one CSV as many times over as --reviews asks
(100,000 by default), then, each in a fresh process so that peak memory is its own:
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


def child(kind: str, source: Path, cache: Path) -> dict:
    # Imports (Keras, a backend) are a fresh process's cost, not reading's: the child times after them.
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(source), str(cache)], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from attention.arguments import positive_int

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the aclImdb_v1.tar.gz archive (or aclImdb/ folder)")
    parser.add_argument("--reviews", type=positive_int, default=100_000, help="reviews in the CSV (the archive's, repeated)")
    parser.add_argument("--output", help="also write the results to this JSON file")
    args = parser.parse_args()

    from attention.data.ratings import rating_task
    from attention.data.sources.tables import write_table

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        splits = rating_task(args.data, verbose=False)
        texts = [t for records in splits.values() for t in records.texts]
        labels = [y for records in splits.values() for y in records.labels]
        repeat = -(-args.reviews // len(texts))
        csv = tmp / "reviews.csv"
        write_table(csv, (texts * repeat)[: args.reviews], (labels * repeat)[: args.reviews])
        del texts, labels, splits
        results = {
            "csv_mib": round(csv.stat().st_size / 2**20, 1),
            "imdb_archive_uncached": child("imdb", Path(args.data), tmp / "cache-imdb"),
            "csv_uncached": child("csv", csv, tmp / "cache-csv"),
            "csv_cached": child("csv", csv, tmp / "cache-csv"),
            "date": time.strftime("%Y-%m-%d"),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
