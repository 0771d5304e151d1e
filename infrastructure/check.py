"""Static checks of the Bicep in infrastructure/, with no Azure and no Bicep CLI (`make infra-check`).

1. Every `.bicep` file parses (pycep-parser, the parser checkov itself uses: checkov skips a file it cannot
   parse without failing, so parsing is checked first and separately).
2. checkov's Bicep policies run over the folder. Passing means zero failed checks; a policy that does not apply
   is skipped inline in the resource (`// checkov:skip=ID: reason`) and its reason is printed here.
3. Self-test: the same two steps on tests/fixtures/bicep must find the broken file and failed policies in the
   insecure one, so a green result cannot come from a scanner that saw nothing.

Writes the summary to metrics/checkov.json; exits 1 on any parse error, failed check or self-test miss.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pycep import BicepParser


def parse_errors(folder: Path) -> dict[str, str]:
    "Bicep files under `folder` that do not parse, with the parser's message."
    errors = {}
    for path in sorted(folder.rglob("*.bicep")):
        try:
            BicepParser().parse(text=path.read_text(encoding="utf-8"))
        except Exception as e:  # pycep raises lark's many error types
            errors[str(path)] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return errors


def checkov(folder: Path) -> dict:
    "checkov's Bicep results for `folder`: counts, and every failed and skipped check with its file and reason."
    out = subprocess.run(
        [
            str(Path(sys.executable).with_name("checkov")),
            "-d",
            str(folder),
            "--framework",
            "bicep",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode not in (0, 1) or not out.stdout.strip():
        raise RuntimeError(f"checkov did not run (exit {out.returncode}): {out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    report = report[0] if isinstance(report, list) else report
    if "results" not in report:  # checkov's empty-report shape: nothing was scanned
        return {"passed": 0, "failed": 0, "skipped": 0, "resource_count": 0, "failed_checks": [], "skipped_checks": []}
    res = report["results"]
    row = lambda r: {
        "check": r["check_id"],
        "name": r["check_name"],
        "file": r["file_path"],
        "resource": r["resource"],
        "reason": r["check_result"].get("suppress_comment", ""),
    }
    return {
        "passed": len(res["passed_checks"]),
        "failed": len(res["failed_checks"]),
        "skipped": len(res["skipped_checks"]),
        "resource_count": report["summary"].get("resource_count", 0),
        "failed_checks": [row(r) for r in res["failed_checks"]],
        "skipped_checks": [row(r) for r in res["skipped_checks"]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default="infrastructure")
    ap.add_argument("--fixtures", default="tests/fixtures/bicep")
    ap.add_argument("--out", default="metrics/checkov.json")
    args = ap.parse_args(argv)
    folder, fixtures = Path(args.folder), Path(args.fixtures)

    problems = []
    errors = parse_errors(folder)
    problems += [f"does not parse: {f}: {msg}" for f, msg in errors.items()]
    result = checkov(folder)
    problems += [f"{c['check']} failed: {c['name']} ({c['file']}, {c['resource']})" for c in result["failed_checks"]]
    if result["passed"] == 0:
        problems.append("checkov passed no check at all: it did not see the Bicep files")

    fixture_errors = parse_errors(fixtures)
    fixture_result = checkov(fixtures)
    if not any(f.endswith("broken.bicep") for f in fixture_errors):
        problems.append("self-test: the parse check did not catch tests/fixtures/bicep/broken.bicep")
    if fixture_result["failed"] == 0:
        problems.append("self-test: checkov found no failure in tests/fixtures/bicep/insecure_storage.bicep")

    files = sorted(str(p) for p in folder.rglob("*.bicep"))
    summary = {
        "files": files,
        "parse_errors": errors,
        **result,
        "self_test": {"parse_errors": sorted(fixture_errors), "failed": fixture_result["failed"]},
        "problems": problems,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))

    print(f"bicep files parsed: {len(files) - len(errors)}/{len(files)}")
    print(f"checkov (bicep): passed={result['passed']} failed={result['failed']} skipped={result['skipped']}")
    for c in result["skipped_checks"]:
        print(f"  skipped {c['check']} in {c['file']} ({c['resource']}): {c['reason']}")
    print(
        f"self-test: broken file caught={not any('broken' in p for p in problems)}, "
        f"insecure fixture failed checks={fixture_result['failed']}"
    )
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
