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
        "linkage/candidates",
        "linkage/blocking",
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
