"""Rebuild `data/sample/` from the read-only shared data folder.

Usage: python data/build_sample.py [SHARED_DATA_DIR]   (default: ../shared/data)

Everything copied is real and byte-for-byte, except two derived artefacts that are
labelled as such in `data/README.md`:
- `snapshots/tmdb/derived/movie_from_tmdb5000.jsonl.gz`: TMDB `/movie/{id}` bodies rebuilt
  from the TMDB 5000 CSV rows (no credits, no external ids), for films with no recorded response;
- `snapshots/tmdb/movie/550.json`: Fight Club's recorded details, credits and external ids
  responses nested the way `append_to_response=credits,external_ids` nests them;
- `snapshots/tmdb/movie_ids_sample.json.gz`: the film list in TMDB's daily-export format,
  made from the TMDB 5000 ids and the ids of the recorded bodies.
"""
import csv
import gzip
import io
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "sample"
LIST_FIELDS = ("genres", "production_companies", "production_countries", "spoken_languages")
NUM_FIELDS = {"budget": int, "revenue": int, "runtime": float, "popularity": float,
              "vote_average": float, "vote_count": int, "id": int}


def movie_from_csv_row(row: dict) -> dict:
    "A TMDB `/movie/{id}` body rebuilt from one TMDB 5000 CSV row; empty cells are left out."
    body = {}
    for k, v in row.items():
        if k == "keywords" or v == "":
            continue
        if k in LIST_FIELDS:
            body[k] = json.loads(v)
        elif k in NUM_FIELDS:
            num = NUM_FIELDS[k](float(v)) if NUM_FIELDS[k] is int else float(v)
            body[k] = num
        else:
            body[k] = v
    return body


def write_gz_lines(path: Path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the file byte-identical across rebuilds
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for line in lines:
            gz.write((line + "\n").encode("utf-8"))


def main(shared: Path):
    if OUT.exists():
        shutil.rmtree(OUT)
    snap = OUT / "snapshots"
    # TMDB: real recorded append_to_response bodies
    movie_dir = snap / "tmdb" / "movie"
    movie_dir.mkdir(parents=True)
    for f in sorted((shared / "tmdb" / "api").glob("movie-*-credits-external-ids.json")):
        tmdb_id = f.name.split("-")[1]
        shutil.copyfile(f, movie_dir / f"{tmdb_id}.json")
    api = shared / "tmdb" / "api"
    fight_club = json.loads((api / "movie-details.json").read_text())
    credits = json.loads((api / "movie-credits.json").read_text())
    ext = json.loads((api / "movie-external-ids.json").read_text())
    credits.pop("id", None)
    ext.pop("id", None)
    fight_club["credits"], fight_club["external_ids"] = credits, ext
    (movie_dir / "550.json").write_text(json.dumps(fight_club, ensure_ascii=False, indent=1))
    # TMDB: derived bodies and the daily-export-format id list
    with gzip.open(shared / "tmdb" / "tmdb_5000_movies.csv.gz", "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bodies = [movie_from_csv_row(r) for r in rows]
    write_gz_lines(snap / "tmdb" / "derived" / "movie_from_tmdb5000.jsonl.gz",
                   (json.dumps(b, ensure_ascii=False, sort_keys=True) for b in bodies))
    recorded = [json.loads(f.read_text()) for f in sorted(movie_dir.glob("*.json"))]
    listed = {b["id"]: b for b in bodies} | {b["id"]: b for b in recorded}
    write_gz_lines(snap / "tmdb" / "movie_ids_sample.json.gz",
                   (json.dumps({"adult": False, "id": i, "original_title": listed[i].get("original_title"),
                                "popularity": listed[i].get("popularity"), "video": False}, ensure_ascii=False)
                    for i in sorted(listed)))
    # Discogs: real search responses (secrets already redacted upstream)
    search_dir = snap / "discogs" / "search"
    search_dir.mkdir(parents=True)
    for f in sorted((shared / "discogs" / "search").glob("*.json")):
        shutil.copyfile(f, search_dir / f.name)
    # Discogs: real monthly dump slices, unchanged
    dump_dir = OUT / "dump"
    dump_dir.mkdir(parents=True)
    for kind in ("releases", "masters"):
        name = f"discogs_20200806_{kind}.xml.gz"
        shutil.copyfile(shared / "discogs" / "dump" / name, dump_dir / name)
    # Hand labels (real), for evaluation
    labels = HERE / "labels"
    labels.mkdir(exist_ok=True)
    shutil.copyfile(shared / "labels" / "dev_labels.csv", labels / "dev_labels.csv")
    print(f"sample rebuilt in {OUT}: {len(bodies)} derived TMDB bodies, "
          f"{len(list(movie_dir.glob('*.json')))} recorded TMDB bodies, "
          f"{len(list(search_dir.glob('*.json')))} Discogs search responses")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "data")
