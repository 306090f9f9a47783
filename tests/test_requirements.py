"""environment.yml, binder/ and the requirements files describe one CPU environment."""

from pathlib import Path

import yaml

from grpo_helpers.install import read_pins

ROOT = Path(__file__).resolve().parents[1]


def pip_pins(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    return sorted(line for line in pip if not line.startswith("-"))


def test_environment_yml_matches_cpu_requirements():
    assert pip_pins(ROOT / "environment.yml") == sorted(str(p) for p in read_pins("cpu.txt"))
    assert "python=3.11" in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]


def test_binder_uses_the_same_environment():
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "--no-deps -r grpo_helpers/requirements/no-deps.txt" in post_build and "-e ." in post_build
