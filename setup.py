"""Package discovery only; all metadata lives in pyproject.toml.

The architecture's top-level folders are installed as sub-packages of `plantstream`
(`[tool.plantstream.packages]` in pyproject.toml is the one list), so no generic name
such as `analytics` is ever squatted in a shared site-packages. setuptools' declarative
`packages.find` cannot map several folders under one package, hence this file.

A folder that is absent is left out: the edge image's build context holds only `core/`
and `edge/`, and builds a package without any server part.
"""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
FOLDERS: dict[str, str] = tomllib.loads(
    (HERE / "pyproject.toml").read_text())["tool"]["plantstream"]["packages"]
PACKAGE_ROOTS = {package: folder for folder, package in FOLDERS.items()
                 if (HERE / folder / "__init__.py").is_file()}

packages = []
for package, folder in PACKAGE_ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(str(HERE / folder))]

setup(packages=packages, package_dir=PACKAGE_ROOTS)
