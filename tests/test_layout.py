"""The product apart from its tools: what a cluster runs (capstone/) imports nothing of what only a developer or a
batch user runs (capstone/tools/: runner, deck, benchmarks), nor their libraries."""

import ast
import json
import re
from pathlib import Path

import pytest

from capstone.config import STAGES

from conftest import ROOT

PACKAGE = ROOT / "capstone"
# every module a cluster runs, subpackages (linkage/) included; tools/ is the other side
PRODUCT = sorted(
    p for p in PACKAGE.rglob("*.py") if p.name != "_modidx.py" and "tools" not in p.relative_to(PACKAGE).parts
)
TOOL_LIBRARIES = {
    "papermill",
    "nbformat",
    "nbconvert",
    "nbclient",
    "pptx",
    "psutil",
    "pytest",
    "pytest_httpserver",
    "werkzeug",
    "IPython",
    "ipykernel",
    "fastcore",
}


def imported_modules(path: Path) -> set[str]:
    "Every module a file imports, anywhere in it (functions included), relative ones resolved against the package."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, ["capstone" if node.level else "", node.module or ""]))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return found


def test_the_product_is_found():
    assert {str(p.relative_to(PACKAGE).with_suffix("")) for p in PRODUCT} >= {
        "schemas",
        "linkage/titles",
        "linkage/frequencies",
        "linkage/candidates",
        "linkage/blocking",
        "linkage/comparison",
        "linkage/scoring",
        "linkage/selection",
        "linkage/evaluate",
        "config",
        "storage",
        "metrics",
        "fetch",
        "extract_tmdb",
        "extract_discogs",
        "prepare",
        "validate",
        "match",
        "report",
        "keys",
        "raw",
        "dump",
        "lock",
        "runtime",
        "linkage/settings",
        "tmdb_replay",
    }
    assert {p.stem for p in (PACKAGE / "tools").glob("*.py")} >= {
        "runner",
        "slides",
        "bench_extract",
        "bench_ingest",
        "bench_match",
        "bench_pipeline",
    }


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_product_imports_no_tool(path):
    modules = imported_modules(path)
    assert not [m for m in modules if m.startswith("capstone.tools")], f"{path.name} imports a tool"
    assert not {m.split(".")[0] for m in modules} & TOOL_LIBRARIES, f"{path.name} imports a tool's library"


LINKAGE = sorted((PACKAGE / "linkage").glob("*.py"))


@pytest.mark.parametrize("path", LINKAGE, ids=lambda p: p.name)
def test_the_match_steps_import_no_stage(path):
    "The steps of matching share what the stages share (keys, schemas, storage), never a stage itself."
    stages = {f"capstone.{s}" for s in STAGES}
    assert not {m for m in imported_modules(path) for s in stages if m == s or m.startswith(s + ".")}, (
        f"linkage/{path.name} imports a stage"
    )


# the match steps, in the order they run, and the rooms they share; a step builds on shared rooms, never on a step
LINKAGE_STEPS = ["candidates", "blocking", "comparison", "scoring", "selection", "evaluate"]
LINKAGE_SHARED = ["settings", "titles", "frequencies"]


def linkage_imports(path: Path) -> set[str]:
    "The linkage modules a linkage file imports (`from .titles import ...`, `from capstone.linkage.titles import ...`)."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add((node.module or "").split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("capstone.linkage.")
        ):
            found.add(node.module.split(".")[2])
    return found


def test_every_linkage_module_is_a_step_or_a_shared_room():
    assert {p.stem for p in LINKAGE} - {"__init__"} == set(LINKAGE_STEPS) | set(LINKAGE_SHARED)


@pytest.mark.parametrize("path", LINKAGE, ids=lambda p: p.name)
def test_no_match_step_imports_another_step(path):
    "Column helpers, vocabularies and frequencies live in the shared rooms, so that a step can change on its own."
    assert not (linkage_imports(path) - {path.stem}) & set(LINKAGE_STEPS), f"linkage/{path.name} imports a step"


def test_no_function_of_the_match_steps_is_over_40_lines():
    long = [
        f"{p.name}: {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for p in LINKAGE
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 40
    ]
    assert long == []


def test_the_linkage_check_sees_relative_and_absolute_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from .blocking import x\nfrom capstone.linkage.titles import y\nfrom ..keys import z\n")
    assert linkage_imports(f) == {"blocking", "titles"}


NUMBERED = re.compile(r"^(\d\d)([a-z]?)_")


def notebook_of(path: Path) -> str:
    "The notebook a module is exported from, by nbdev's `File to edit:` line: `00b_storage`."
    return re.search(r"File to edit: \S*?nbs/(\S+)\.ipynb", path.read_text()).group(1)


def package_imports(path: Path) -> set[Path]:
    "The package's own modules that a module imports, relative imports resolved against its own package."
    here = path.parent.relative_to(ROOT).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = list(here[: len(here) - node.level + 1]) if node.level else []
        parts = base + (node.module or "").split(".") if node.module else base
        for name in [a.name for a in node.names] + [""]:
            file = ROOT.joinpath(*[p for p in parts + [name] if p]).with_suffix(".py")
            if file.is_file() and file != path:
                found.add(file)
                break
    return found


def may_build_on(notebook: str, other: str) -> bool:
    "A notebook builds on the ones before it; a stage notebook (`05_match`) also on its own lettered parts (`05a_...`)."
    own, theirs = NUMBERED.match(notebook), NUMBERED.match(other)
    return other < notebook or (own.group(2) == "" and theirs.group(1) == own.group(1))


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_notebook_imports_a_module_whose_notebook_comes_later(path):
    if path.name == "__init__.py":
        return
    notebook = notebook_of(path)
    later = [notebook_of(m) for m in package_imports(path) if not may_build_on(notebook, notebook_of(m))]
    assert later == [], f"{notebook} imports {later}"


def test_the_order_check_resolves_imports_and_knows_the_stage_exception(tmp_path):
    assert package_imports(PACKAGE / "linkage" / "blocking.py") >= {PACKAGE / "linkage" / "titles.py"}
    assert package_imports(PACKAGE / "storage.py") >= {PACKAGE / "filestore.py", PACKAGE / "config.py"}
    assert may_build_on("00b_storage", "00a_filestore") and not may_build_on("00a_filestore", "00b_storage")
    assert may_build_on("05_match", "05c_frequencies") and not may_build_on("05b_titles", "05c_frequencies")


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_frame_method_is_taken_from_the_classic_class(path):
    "`reduce(DataFrame.unionByName, frames)` fails on Spark Connect, whose frames are of another class."
    unbound = re.findall(r"\b(?:DataFrame|Column)\.[a-z]\w*\b(?!\()", path.read_text())
    assert unbound == [], f"{path.name}: {unbound}"


def test_the_check_sees_relative_and_nested_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "from .tools.runner import main\ndef g():\n    import papermill\n    from . import tools\nfrom ..prepare import x\n"
    )
    assert {"capstone.tools.runner", "papermill", "capstone.tools", "capstone.prepare"} <= imported_modules(f)


PRODUCT_NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))  # the tools' notebooks (nbs/tools/) aside


def undemonstrated_exports(notebook: Path) -> list[str]:
    "The first line of each export cell (import cells aside) whose next code cell is another directive cell, or none."
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    bare = []
    for cell, after in zip(cells, cells[1:] + [None]):
        source = "".join(cell["source"])
        body = [line for line in source.splitlines()[1:] if line.strip()]
        if not source.startswith("#| export") or all(line.startswith(("from ", "import ", " ", ")")) for line in body):
            continue
        if after is None or "".join(after["source"]).startswith("#|"):
            bare.append(body[0])
    return bare


@pytest.mark.parametrize("notebook", PRODUCT_NOTEBOOKS, ids=lambda p: p.name)
def test_every_export_cell_of_the_product_is_followed_by_its_demo(notebook):
    assert not undemonstrated_exports(notebook), f"{notebook.name}: export cells with no demo after them"


def test_the_demo_check_sees_a_bare_export(tmp_path):
    def cell(source):
        return {"cell_type": "code", "source": source}

    nb = tmp_path / "x.ipynb"
    nb.write_text(
        json.dumps(
            {
                "cells": [
                    cell("#| export\nimport json"),  # an import cell needs no demo
                    cell("#| export\nA = 1"),
                    cell("A"),
                    cell("#| export\ndef f():\n    return 2"),
                    cell("#| hide\nf"),
                    cell("#| export\ndef g():\n    return 3"),
                ]
            }
        )
    )
    assert undemonstrated_exports(nb) == ["def f():", "def g():"]


# Spark Connect (Databricks' standard access mode and serverless compute) has no SparkContext, no JVM gateway and
# no RDD: the product reaches files through its file stores and tables through Spark's reader and writer
JVM_ONLY = {"sparkContext", "SparkContext", "_jvm", "_jsc", "_gateway", "_jdf", "_jsparkSession", "rdd", "RDD"}


def jvm_only_uses(path: Path) -> list[str]:
    "Every use of a name that needs the driver's JVM: attributes, names and imports, with their line."
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if getattr(node, "module", None) else [])
            names = [part for n in names for part in n.split(".")] + [n for n in names if n.startswith("py4j")]
        found += [(node.lineno, n) for n in names if n in JVM_ONLY or n.startswith("py4j")]
    return [f"{path.name}:{line}: {n}" for line, n in sorted(set(found))]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_product_needs_no_spark_context(path):
    assert jvm_only_uses(path) == []


def test_the_spark_context_check_sees_each_way_in(tmp_path):
    code = tmp_path / "m.py"
    code.write_text(
        "from py4j.java_gateway import JavaObject\nfrom pyspark import SparkContext\n"
        "def f(spark, df):\n    spark.sparkContext.setLogLevel('ERROR')\n    jvm = spark._jvm\n"
        "    return df.rdd.map(len)\n"
    )
    assert jvm_only_uses(code) == [
        "m.py:1: py4j",
        "m.py:1: py4j.java_gateway",
        "m.py:2: SparkContext",
        "m.py:4: sparkContext",
        "m.py:5: _jvm",
        "m.py:6: rdd",
    ]


@pytest.mark.parametrize("stage", ["03_prepare", "04_validate", "05_match"])
def test_every_parameter_of_a_stage_notebook_reaches_its_config(stage):
    "A name in the `parameters` cell that the config cell leaves out would be taken and silently ignored."
    nb = json.loads((ROOT / "nbs" / f"{stage}.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    (params,) = ["".join(c["source"]) for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    names = re.findall(r"^(\w+) = ", params, flags=re.M)
    (config,) = [c for c in cells if "notebook_config(" in c]
    assert names and [n for n in names if f"{n}={n}" not in config] == []
