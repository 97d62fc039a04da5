"""Every source folder's sample.toml parses into the edge agent configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantstream.edge.config import load_edge_config
from plantstream.edge.sources import SOURCES, build_source

SOURCES_DIR = Path(__file__).resolve().parents[2] / "edge" / "sources"
SAMPLES = sorted(SOURCES_DIR.glob("*/sample.toml"))
HEADER = '[gateway]\nid = "g"\nsite = "s"\n\n[mqtt]\n\n'


def test_every_source_has_a_sample_and_a_readme() -> None:
    folders = {p.name for p in SOURCES_DIR.iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(SOURCES)
    assert {p.parent.name for p in SAMPLES} == folders
    assert all((SOURCES_DIR / name / "README.md").is_file() for name in folders)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.parent.name)
def test_sample_parses(sample: Path, tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(HEADER + sample.read_text(encoding="utf-8"), encoding="utf-8")
    config = load_edge_config(path)
    assert config.sources
    for source_config in config.sources:
        assert type(source_config).__struct_config__.tag == sample.parent.name
        source = build_source(source_config, start_ms=0)  # builds; connects only on enter
        assert source.name
