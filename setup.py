"nbdev-style setup: every setting comes from settings.ini."
from configparser import ConfigParser

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
