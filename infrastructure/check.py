"""Static checks of the Bicep in infrastructure/, with no Azure and no Bicep CLI (`make infra-check`).

1. Every `.bicep` file parses (pycep-parser, the parser checkov itself uses: checkov skips a file it cannot
   parse without failing, so parsing is checked first and separately).
2. checkov's Bicep policies run over the folder. Passing means zero failed checks; a policy that does not apply
   is skipped inline in the resource (`// checkov:skip=ID: reason`) and its reason is printed here.
3. Self-test: the same two steps on tests/fixtures/bicep must find the broken file and failed policies in the
   insecure one, so a green result cannot come from a scanner that saw nothing.
4. Private networking: main.bicep is rendered as a deployment with `privateNetworking=true` (its modules' parameters
   substituted, their conditions applied) and the result must have storage, Key Vault and workspace public network
   access disabled, the workspace injected into the VNet, and every private endpoint with its DNS zone group (lake
   dfs and blob, vault, workspace UI/API and browser sign-in). No Bicep CLI here (it is a .NET binary that downloads
   itself), so the rendering is done on the parse tree: literals, parameters, `!` and `? :` are evaluated; anything
   else stays an expression, which no check accepts as a value. checkov alone cannot tell: it reads
   `privateNetworking ? 'Disabled' : 'Enabled'` as not 'Enabled', whatever the flag. Rendered with `false` as well,
   the same tree must show the public endpoints, so a green result cannot come from an evaluation that ignored the
   flag.

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


def parse(path: Path) -> dict:
    return BicepParser().parse(text=path.read_text(encoding="utf-8"))


def evaluate(expr, scope: dict):
    """A parse-tree value with `scope`'s names substituted: literals, names, `!` and `? :`; any other expression is
    returned as it is (a dict), which compares equal to no literal. The parser writes a name and a string the same
    way, so a string is a name when `scope` has it."""
    if isinstance(expr, str):
        return scope.get(expr, expr)
    if isinstance(expr, list):
        return [evaluate(x, scope) for x in expr]
    if not isinstance(expr, dict):
        return expr
    op = expr.get("operator")
    if isinstance(op, dict) and op.get("type") in ("conditional", "not"):
        o = op["operands"]
        flag = evaluate(o["condition"] if op["type"] == "conditional" else o["bool_value"], scope)
        if not isinstance(flag, bool):
            return expr
        if op["type"] == "not":
            return not flag
        return evaluate(o["true_value"] if flag else o["false_value"], scope)
    return {k: evaluate(v, scope) for k, v in expr.items()}


def declared(tree: dict, kind: str):
    "The modules or resources of a parse tree that a deployment creates, as (name, body, condition or None)."
    for name, item in tree.get(kind, {}).items():
        conf = item["config"]
        if "condition" in conf and "config" in conf:
            yield name, item, conf["condition"], conf["config"]
        else:
            yield name, item, None, conf


def rendered(main: Path, params: dict) -> list[dict]:
    """The resources a deployment of `main` with `params` creates: per module (and main itself), each resource whose
    condition holds, its configuration evaluated in the module's scope."""
    tree = parse(main)
    scope = {k: v.get("default") for k, v in tree.get("parameters", {}).items()} | params
    out = []

    def resources(module: str, module_tree: dict, module_scope: dict):
        for name, item, cond, conf in declared(module_tree, "resources"):
            if item.get("existing"):
                continue  # a reference to a resource declared elsewhere
            if cond is None or evaluate(cond, module_scope) is True:
                out.append(
                    {"module": module, "name": name, "type": item["type"], "config": evaluate(conf, module_scope)}
                )

    resources("main", tree, scope)
    for name, item, cond, conf in declared(tree, "modules"):
        if cond is not None and evaluate(cond, scope) is not True:
            continue
        sub = parse(main.parent / item["detail"]["path"])
        sub_scope = {k: v.get("default") for k, v in sub.get("parameters", {}).items()}
        sub_scope |= {k: evaluate(v, scope) for k, v in conf.get("params", {}).items()}
        resources(name, sub, sub_scope)
    return out


def network_problems(resources: list[dict], private: bool) -> list[str]:
    "What a deployment rendered with `privateNetworking=private` gets wrong about its network."
    problems = []
    access = "Disabled" if private else "Enabled"
    for r in resources:
        props = r["config"].get("properties", {})
        where = f"{r['module']}.{r['name']} ({r['type']})"
        if r["type"] in (
            "Microsoft.Storage/storageAccounts",
            "Microsoft.KeyVault/vaults",
            "Microsoft.Databricks/workspaces",
        ):
            if props.get("publicNetworkAccess") != access:
                problems.append(f"{where}: publicNetworkAccess is {props.get('publicNetworkAccess')!r}, not {access!r}")
        if r["type"] == "Microsoft.Databricks/workspaces":
            injected = props.get("parameters", {})
            if not all(
                k in injected for k in ("customVirtualNetworkId", "customPublicSubnetName", "customPrivateSubnetName")
            ):
                problems.append(f"{where}: not injected into the VNet")
    endpoints = [r for r in resources if r["type"] == "Microsoft.Network/privateEndpoints"]
    for e in endpoints:
        groups = [
            r
            for r in resources
            if r["module"] == e["module"]
            and r["type"] == "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
            and r["config"].get("parent") == e["name"]
            and r["config"].get("properties", {}).get("privateDnsZoneConfigs")
        ]
        if not groups:
            problems.append(f"{e['module']}.{e['name']}: a private endpoint without a DNS zone group")
    targets = {
        g
        for e in endpoints
        for c in e["config"].get("properties", {}).get("privateLinkServiceConnections", [])
        for g in c.get("properties", {}).get("groupIds", [])
    }
    expected = {"dfs", "blob", "vault"} | ({"databricks_ui_api", "browser_authentication"} if private else set())
    if targets != expected:
        problems.append(f"private endpoints reach {sorted(targets)}, expected {sorted(expected)}")
    return problems


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

    deployment = folder / "main.bicep"
    private = network_problems(rendered(deployment, {"privateNetworking": True}), private=True)
    problems += [f"privateNetworking=true: {p}" for p in private]
    public = network_problems(rendered(deployment, {"privateNetworking": False}), private=False)
    problems += [f"self-test, privateNetworking=false: {p}" for p in public]

    files = sorted(str(p) for p in folder.rglob("*.bicep"))
    summary = {
        "files": files,
        "parse_errors": errors,
        **result,
        "self_test": {"parse_errors": sorted(fixture_errors), "failed": fixture_result["failed"]},
        "private_networking": {"true": private, "false": public},
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
    print(
        f"private networking, rendered from {deployment}: privateNetworking=true problems={len(private)}, "
        f"self-test privateNetworking=false problems={len(public)}"
    )
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
