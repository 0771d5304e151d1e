"""The Databricks Asset Bundle (`databricks.yml`) against the notebooks it runs.

The bundle CLI cannot run here, so these tests check what it would: notebook paths, parameter names, task order,
the cluster, the targets, and the job and cluster specs against the Python bundle models (`databricks-bundles`).
"""
import ast
import re
import zipfile
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
import yaml
from databricks.bundles.clusters import Cluster
from databricks.bundles.jobs import Job

from capstone.core import NOTEBOOKS, PATH_FIELDS, STAGES, notebook_config

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = yaml.safe_load((ROOT / "databricks.yml").read_text())
JOB = BUNDLE["resources"]["jobs"]["capstone_pipeline"]
TASKS = {t["task_key"]: t for t in JOB["tasks"]}


def notebook_defaults(notebook_path: str) -> dict:
    "The `parameters` cell of a notebook, as name -> Python value."
    found = papermill.inspect_notebook(str(ROOT / notebook_path))
    return {name: ast.literal_eval(p["default"]) for name, p in found.items()}


def resolve(value: str, target: str) -> str:
    "Substitute `${var.*}`, `${workspace.*}`, `${bundle.*}` and `{{job.run_id}}` as the CLI and Jobs would."
    variables = {k: v.get("default") for k, v in BUNDLE["variables"].items()}
    variables |= BUNDLE["targets"][target].get("variables", {})
    known = {"workspace.file_path": f"/Workspace/Users/someone/.bundle/{BUNDLE['bundle']['name']}/{target}/files",
             "workspace.current_user.short_name": "someone", "bundle.target": target}
    for _ in range(3):  # variables may refer to workspace paths
        value = re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m.group(1)]), value)
        value = re.sub(r"\$\{([\w.]+)\}", lambda m: known[m.group(1)], value)
    return value.replace("{{job.run_id}}", "731944017")


def test_one_task_per_stage_with_an_existing_notebook():
    assert sorted(TASKS) == sorted(STAGES)
    for stage, task in TASKS.items():
        path = task["notebook_task"]["notebook_path"]
        assert Path(path).stem == NOTEBOOKS[stage]
        assert (ROOT / path).is_file(), path


def test_base_parameters_are_notebook_parameters():
    for stage, task in TASKS.items():
        declared = notebook_defaults(task["notebook_task"]["notebook_path"])
        given = task["notebook_task"]["base_parameters"]
        assert set(given) <= set(declared), (stage, set(given) - set(declared))


def test_parameters_without_a_usable_default_are_given():
    "On a cluster the run id must be shared and a repo-relative default path means nothing: both must be set."
    for stage, task in TASKS.items():
        declared = notebook_defaults(task["notebook_task"]["notebook_path"])
        needed = {"run_id"} | {n for n, v in declared.items()
                               if n in PATH_FIELDS and v and not re.match(r"^\w+:", v) and not v.startswith("/")}
        given = task["notebook_task"]["base_parameters"]
        assert needed <= set(given), (stage, needed - set(given))
        assert given["run_id"] == "{{job.run_id}}"


def test_dependencies_follow_the_stage_order():
    order = {s: i for i, s in enumerate(STAGES)}
    for stage, task in TASKS.items():
        deps = {d["task_key"] for d in task.get("depends_on", [])}
        assert all(order[d] < order[stage] for d in deps), stage
        if stage in ("extract_tmdb", "extract_discogs"):
            assert not deps  # the two extracts run in parallel
        elif stage == "prepare":
            assert deps == {"extract_tmdb", "extract_discogs"}
        else:
            assert deps == {STAGES[order[stage] - 1]}


def test_cluster_is_the_single_node_blob_cluster():
    (jc,) = JOB["job_clusters"]
    assert jc["job_cluster_key"] == "capstone-blob-cluster"
    assert {t["job_cluster_key"] for t in JOB["tasks"]} == {"capstone-blob-cluster"}
    for spec in (jc["new_cluster"], BUNDLE["resources"]["clusters"]["capstone_blob_cluster"]):
        assert spec["cluster_name"] == "capstone-blob-cluster"
        assert spec["spark_version"].startswith("14.3.")
        assert (spec["node_type_id"], spec["num_workers"], spec["autotermination_minutes"]) == ("Standard_D4ps_v6", 0, 30)
        assert spec["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
        assert spec["custom_tags"]["ResourceClass"] == "SingleNode"


def test_wheel_library_notifications_and_targets():
    assert BUNDLE["artifacts"]["capstone_wheel"]["type"] == "whl"
    assert all(t["libraries"] == [{"whl": "./dist/*.whl"}] for t in JOB["tasks"])
    assert JOB["email_notifications"]["on_failure"]
    targets = BUNDLE["targets"]
    assert set(targets) == {"dev", "prod"}
    roots = {t: resolve(TASKS["match"]["notebook_task"]["base_parameters"]["gold_root"], t) for t in targets}
    assert roots["dev"] != roots["prod"] and all(r.startswith("abfss://gold@") for r in roots.values())
    assert targets["dev"]["workspace"]["root_path"] != targets["prod"]["workspace"]["root_path"]
    for name, var in BUNDLE["variables"].items():  # a variable without a default is set by every target
        if "default" not in var:
            assert all(name in t.get("variables", {}) for t in targets.values()), name


def test_specs_parse_against_the_bundle_models():
    job = Job.from_dict(JOB)
    assert [t.task_key for t in job.tasks] == list(TASKS)
    Cluster.from_dict(BUNDLE["resources"]["clusters"]["capstone_blob_cluster"])
    with pytest.raises(ValueError, match="Unexpected field"):  # the models are strict, so the check means something
        Job.from_dict({**JOB, "taks": []})


class _Widgets:
    def __init__(self, preset): self.values = dict(preset)
    def text(self, name, default, label=None): self.values.setdefault(name, default)
    def get(self, name): return self.values[name]


class _Dbutils:
    "Databricks' `dbutils` as a job task sees it: widgets preset from `base_parameters`, as strings."
    def __init__(self, preset): self.widgets = _Widgets(preset)


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_task_builds_its_config_from_widgets(target):
    for stage, task in TASKS.items():
        defaults = notebook_defaults(task["notebook_task"]["notebook_path"])
        preset = {k: resolve(str(v), target) for k, v in task["notebook_task"]["base_parameters"].items()}
        cfg = notebook_config(defaults, _Dbutils(preset), project_root="/Workspace/repo")
        assert cfg.run_id == "731944017"
        assert cfg.raw_root.startswith("abfss://raw@") and cfg.metrics_root.startswith("abfss://metrics@"), stage
        assert cfg.output_root.startswith("abfss://silver@")
        if stage in ("match", "report"):
            assert cfg.gold_root.startswith("abfss://gold@")
        if target == "prod":
            assert "secret_scope" not in preset or cfg.secret_scope == "capstone-kv"


def test_artifact_build_makes_an_importable_wheel(tmp_path):
    "The bundle's build command, run here: the wheel carries every module and the runtime bounds."
    build = BUNDLE["artifacts"]["capstone_wheel"]["build"].split()
    assert build[:4] == ["python", "-m", "pip", "wheel"]
    cmd = [sys.executable, *build[1:]]
    cmd[cmd.index("--wheel-dir") + 1] = str(tmp_path)
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    (wheel,) = tmp_path.glob("capstone-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"capstone/{m}.py" for m in ("core", "extract_tmdb", "prepare", "validate", "match", "report")} <= set(names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: pyspark<3.6,>=3.5" in meta
