"""The Databricks Asset Bundle (`databricks.yml`) against the notebooks it runs.

The bundle CLI cannot run here, so these tests check what it would: notebook paths, parameter names, task order,
the cluster, the targets, and the job and cluster specs against the Python bundle models (`databricks-bundles`).
"""

import ast
import configparser
import re
import zipfile
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

papermill = pytest.importorskip("papermill")  # local tools: a cluster's test run leaves this module out
yaml = pytest.importorskip("yaml")
Cluster = pytest.importorskip("databricks.bundles.clusters").Cluster
Job = pytest.importorskip("databricks.bundles.jobs").Job

from capstone.config import NOTEBOOKS, PATH_FIELDS, STAGES
from capstone.runtime import notebook_config

pytestmark = pytest.mark.local_only  # left out on a cluster (tests/run_suite.py): the bundle's CLI models and a wheel build are deployment tools, not cluster code

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
    known = {
        "workspace.file_path": f"/Workspace/Users/someone/.bundle/{BUNDLE['bundle']['name']}/{target}/files",
        "workspace.current_user.short_name": "someone",
        "bundle.target": target,
    }
    for _ in range(3):  # variables may refer to workspace paths
        value = re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m.group(1)]), value)
        value = re.sub(r"\$\{((?!var\.)[\w.]+)\}", lambda m: known[m.group(1)], value)
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
        needed = {"run_id"} | {
            n
            for n, v in declared.items()
            if n in PATH_FIELDS and v and not re.match(r"^\w+:", v) and not v.startswith("/")
        }
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
        assert (spec["node_type_id"], spec["num_workers"], spec["autotermination_minutes"]) == (
            "Standard_D4ps_v6",
            0,
            30,
        )
        # a single node as the compute API describes one now: Databricks sets its master, profile and tags
        assert (spec["kind"], spec["is_single_node"]) == ("CLASSIC_PREVIEW", True)
        assert not {"spark.databricks.cluster.profile", "spark.master"} & set(spec["spark_conf"])


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_the_pipeline_clusters_run_in_standard_access_mode(target):
    "The interactive cluster and the pipeline's job cluster: USER_ISOLATION (standard), as the product allows."
    specs = [JOB["job_clusters"][0]["new_cluster"], BUNDLE["resources"]["clusters"]["capstone_blob_cluster"]]
    for spec in specs:
        mode = resolve(spec["data_security_mode"], target)
        assert mode == "USER_ISOLATION"
        cluster = Cluster.from_dict({**spec, "data_security_mode": mode, "spark_env_vars": {}})
        assert cluster.data_security_mode.value == "USER_ISOLATION"
    assert "SINGLE_USER" in BUNDLE["variables"]["access_mode"]["description"]  # the dedicated way back is named


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
    def __init__(self, preset):
        self.values = dict(preset)

    def text(self, name, default, label=None):
        self.values.setdefault(name, default)

    def get(self, name):
        return self.values[name]


class _Dbutils:
    "Databricks' `dbutils` as a job task sees it: widgets preset from `base_parameters`, as strings."

    def __init__(self, preset):
        self.widgets = _Widgets(preset)


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


CONSTRAINTS = ROOT / "infrastructure/databricks/runtime-14.3-lts.txt"
RUNTIME_IMPORTS = {
    "pandas",
    "numpy",
    "pyarrow",
    "matplotlib",
    "lxml",
    "requests",
    "urllib3",
    "rapidfuzz",
    "requests-ratelimiter",
    "tqdm",
    "fastcore",
    "fsspec",  # the file stores reach a lake URI through it off Databricks (capstone/filestore.py)
    "isal",  # the dump scan decompresses gzip through ISA-L (capstone/scan.py); not in the runtime, so nothing upgraded
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    "The bundle's build command, run here."
    build = BUNDLE["artifacts"]["capstone_wheel"]["build"].split()
    assert build[:4] == ["python", "-m", "pip", "wheel"]
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, *build[1:]]
    cmd[cmd.index("--wheel-dir") + 1] = str(out)
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    (found,) = out.glob("capstone-*.whl")
    return found


def requires_dist(wheel_path: Path) -> list[Requirement]:
    names = zipfile.ZipFile(wheel_path).namelist()
    meta = zipfile.ZipFile(wheel_path).read(next(n for n in names if n.endswith("METADATA"))).decode()
    return [
        Requirement(line.split(":", 1)[1].strip()) for line in meta.splitlines() if line.startswith("Requires-Dist:")
    ]


def runtime_pins() -> dict[str, Version]:
    "The constraints file: canonical name -> the version Databricks Runtime 14.3 LTS ships."
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec:
            req = Requirement(spec)
            (pin,) = req.specifier
            assert pin.operator == "==", line
            pins[canonicalize_name(req.name)] = Version(pin.version)
    return pins


def test_artifact_build_makes_an_importable_wheel(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    # every module of the source tree, the linkage subpackage and the tools included
    source = {str(p.relative_to(ROOT)) for p in (ROOT / "capstone").rglob("*.py") if "__pycache__" not in p.parts}
    assert {"capstone/schemas.py", "capstone/linkage/blocking.py", "capstone/tools/runner.py"} <= source
    assert source <= set(names), sorted(source - set(names))
    assert "capstone/core.py" not in names


def test_wheel_requirements_upgrade_no_library_of_the_runtime(wheel):
    pins = runtime_pins()
    assert {"pyspark", "pandas", "numpy", "pyarrow", "urllib3", "requests", "lxml", "matplotlib", "ipykernel"} <= set(
        pins
    )
    reqs = requires_dist(wheel)
    for req in reqs:  # extras included: the test job installs `test` on the cluster
        name = canonicalize_name(req.name)
        if name in pins:
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{req} would replace the runtime's {name} {pins[name]}"
            )
    base = {canonicalize_name(r.name) for r in reqs if r.marker is None}
    assert base == {canonicalize_name(n) for n in RUNTIME_IMPORTS}, (
        "the wheel asks a cluster for what its stages import"
    )
    spark = [r for r in reqs if canonicalize_name(r.name) == "pyspark"]
    assert any(r.marker.evaluate({"extra": "spark"}) for r in spark), "local installs take pyspark from the spark extra"
    assert all(r.marker is not None and not r.marker.evaluate({"extra": "run"}) for r in spark), (
        "a cluster brings its own"
    )
    tools = {
        canonicalize_name(r.name) for r in reqs if r.marker is not None and not r.marker.evaluate({"extra": "spark"})
    }
    assert {"papermill", "nbconvert", "ipykernel", "python-pptx", "psutil", "pytest"} <= tools


TESTS_JOB = BUNDLE["resources"]["jobs"]["capstone_tests"]


def test_cluster_test_job_runs_the_suite_with_the_test_extra():
    (task,) = Job.from_dict(TESTS_JOB).tasks
    raw = TESTS_JOB["tasks"][0]
    assert (ROOT / raw["spark_python_task"]["python_file"]).is_file()
    settings = configparser.ConfigParser(delimiters=["="])
    settings.read(ROOT / "settings.ini")
    test_extra = set(settings["DEFAULT"]["test_requirements"].split())
    pypi = {lib["pypi"]["package"] for lib in raw["libraries"] if "pypi" in lib}
    assert pypi <= test_extra and {"pytest>=8,<9", "pytest-cov>=5,<7"} <= pypi
    assert {"whl": "./dist/*.whl"} in raw["libraries"]
    args = raw["spark_python_task"]["parameters"]
    assert resolve(args[args.index("--metrics-root") + 1], "prod").startswith("abfss://metrics@stcapstoneprod.")
    assert args[args.index("--run-id") + 1] == "{{job.run_id}}"
    # the pipeline's cluster, dedicated: the suite's harness sets Hadoop's configuration through the JVM
    tests_cluster = TESTS_JOB["job_clusters"][0]["new_cluster"]
    assert tests_cluster == {**JOB["job_clusters"][0]["new_cluster"], "data_security_mode": "SINGLE_USER"}
    assert "_jsc.hadoopConfiguration()" in (ROOT / "tests/run_suite.py").read_text()


def test_interactive_cluster_sends_repo_outputs_to_the_lake():
    spec = BUNDLE["resources"]["clusters"]["capstone_blob_cluster"]
    for target in ("dev", "prod"):
        lake = resolve(spec["spark_env_vars"]["CAPSTONE_LAKE_ROOT"], target)
        assert lake.startswith("abfss://") or lake.startswith("/Volumes/"), lake
        cfg = notebook_config(
            dict(raw_root="data/out/raw", output_root="data/out", snapshot_root="data/sample/snapshots"),
            _Dbutils({}),
            project_root="/Workspace/Repos/someone/capstone",
            environ={"CAPSTONE_LAKE_ROOT": lake},
        )
        assert (cfg.raw_root, cfg.output_root) == (f"{lake}/raw", lake)
        assert cfg.snapshot_root.startswith("/Workspace/Repos/someone/capstone/")  # read on the driver


def test_prod_never_points_at_the_repo():
    "Every path parameter of every prod task, resolved as the job resolves it, is a lake URI or a /Volumes path."
    checked = 0
    for stage, task in TASKS.items():
        defaults = notebook_defaults(task["notebook_task"]["notebook_path"])
        preset = {k: resolve(str(v), "prod") for k, v in task["notebook_task"]["base_parameters"].items()}
        cfg = notebook_config(
            defaults, _Dbutils(preset), project_root="/Workspace/Shared/.bundle/x/prod/files", environ={}
        )
        for name in PATH_FIELDS:
            if name not in defaults and name not in ("gold_root", "metrics_root"):
                continue  # the notebook does not take it
            value = getattr(cfg, name)
            if name == "labels_path" and value == "":
                continue  # no labels in prod: evaluation is skipped
            assert value.startswith(("abfss://", "/Volumes/")), (stage, name, value)
            checked += 1
    assert checked >= 20


def test_the_pipeline_starts_when_new_inputs_land_in_its_own_raw_zone():
    "The file-arrival trigger (what a blob-triggered Function would do) watches the inputs under the target's raw container."
    trigger = JOB["trigger"]
    raw_root = TASKS["extract_tmdb"]["notebook_task"]["base_parameters"]["raw_root"]
    for target in ("dev", "prod"):
        url = resolve(trigger["file_arrival"]["url"], target)
        container = resolve(raw_root, target).split("/")[2]  # raw@<account>.dfs.core.windows.net
        assert url == f"abfss://{container}/inputs/", (target, url)
    prod = {k: resolve(v, "prod") for k, v in BUNDLE["targets"]["prod"]["variables"].items() if isinstance(v, str)}
    assert all(prod[k].startswith(url) for k in ("tmdb_ids_file", "discogs_releases_dump", "discogs_masters_dump"))


SERVERLESS = BUNDLE["resources"]["jobs"]["capstone_pipeline_serverless"]
SERVERLESS_TASKS = {t["task_key"]: t for t in SERVERLESS["tasks"]}


def test_the_serverless_job_runs_every_stage_from_the_wheel_in_a_job_environment(wheel):
    "No cluster anywhere; each task a Python wheel task of the wheel's `capstone-task`, in an environment holding it."
    job = Job.from_dict(SERVERLESS)
    assert not SERVERLESS.get("job_clusters")
    assert not any(
        {"job_cluster_key", "new_cluster", "existing_cluster_id", "libraries"} & set(t) for t in SERVERLESS["tasks"]
    )
    (env,) = job.environments
    assert env.spec.dependencies == ["./dist/*.whl"] and env.spec.environment_version
    assert [t.task_key for t in job.tasks] == list(TASKS)
    for key, task in SERVERLESS_TASKS.items():
        assert task["environment_key"] == env.environment_key
        assert {d["task_key"] for d in task.get("depends_on", [])} == {
            d["task_key"] for d in TASKS[key].get("depends_on", [])
        }
        wheel_task = task["python_wheel_task"]
        assert (wheel_task["package_name"], wheel_task["entry_point"]) == ("capstone", "capstone-task")
    names = zipfile.ZipFile(wheel).namelist()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "capstone-task = capstone.task:main" in entry_points


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_the_serverless_tasks_pass_their_notebooks_parameters(target):
    "Each task's named_parameters are its notebook task's base_parameters plus the stage, and build its config."
    from capstone.task import task_config, task_params

    for key, task in SERVERLESS_TASKS.items():
        named = task["python_wheel_task"]["named_parameters"]
        assert named == {**TASKS[key]["notebook_task"]["base_parameters"], "stage": key}
        argv = [f"--{name}={resolve(str(value), target)}" for name, value in named.items()]  # as Jobs passes them
        stage, params = task_params(argv)
        cfg = task_config(params)
        assert (stage, cfg.run_id) == (key, "731944017")
        assert cfg.output_root.startswith("abfss://silver@") and cfg.raw_root.startswith("abfss://raw@")
        if "catalog" in named:
            assert (cfg.catalog, cfg.schema) == (
                resolve("${var.catalog}", target),
                resolve("${var.schema}", target),
            )


def test_the_sample_inputs_follow_sample_root_to_a_volume():
    "Where workspace files cannot be read, one variable moves every sample input to a volume holding a copy of data/sample."
    assert BUNDLE["variables"]["sample_root"]["default"] == "${workspace.file_path}/data/sample"
    for name in ("tmdb_ids_file", "snapshot_root", "discogs_releases_dump", "discogs_masters_dump"):
        default = BUNDLE["variables"][name]["default"]
        assert default.startswith("${var.sample_root}/"), name
        assert (ROOT / "data/sample" / default.removeprefix("${var.sample_root}/")).exists(), name
