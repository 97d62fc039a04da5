"""Package discovery only; all metadata lives in pyproject.toml.

The architecture's top-level folders (edge/, ingest/, analytics/, reports/) are
installed as sub-packages of `plantstream`, so no generic name such as `analytics` is
ever squatted in a shared site-packages. setuptools' declarative `packages.find` cannot
map several folders under one package, hence this file.
"""

from setuptools import find_packages, setup

PACKAGE_ROOTS = {
    "plantstream": "core",
    "plantstream.edge": "edge",
    "plantstream.ingest": "ingest",
    "plantstream.analytics": "analytics",
    "plantstream.reports": "reports",
    "plantstream.dashboards": "dashboards",
}

packages = []
for package, folder in PACKAGE_ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=PACKAGE_ROOTS)
