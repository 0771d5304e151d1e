"nbdev-style setup: every setting comes from settings.ini."

import shutil
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

requirements = cfg.get("requirements", "").split()
# spark: the engine, which a Databricks runtime provides itself; run: the papermill runner and the HTML renderer;
# slides: the deck; bench: the benchmarks' tools; test: the test suite; dev: all of these and the notebook tools.
extras = {name: cfg.get(f"{name}_requirements", "").split() for name in ("spark", "run", "slides", "bench", "test")}
extras["dev"] = sorted({r for reqs in extras.values() for r in reqs} | set(cfg.get("dev_requirements", "").split()))
scripts = [s.strip() for s in cfg.get("console_scripts", "").split(";") if s.strip()]

# setuptools copies the package into build/lib and never removes a module deleted since the last build, so a wheel
# built in a used checkout (a Databricks Repo, a dev tree) would ship it: start that copy afresh (this build's own)
shutil.rmtree(Path(__file__).resolve().parent / "build" / "lib", ignore_errors=True)

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    author=cfg["author"],
    author_email=cfg["author_email"],
    license="Apache-2.0",
    keywords=cfg["keywords"].split(),
    packages=setuptools.find_packages(include=[cfg["lib_path"], cfg["lib_path"] + ".*"]),
    include_package_data=True,
    python_requires=">=" + cfg["min_python"],
    install_requires=requirements,
    extras_require=extras,
    entry_points={"console_scripts": scripts, "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)
