"""wake-training-edge installs on its own, small: no torch, web framework, database or queue; compose serves Wyoming."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_deploy import DEPLOY, dockerfile, dockerignore_patterns, exec_form, pip_installs, service
from tests.test_detect import loudness_model, quiet_noise, with_burst, write_wav

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
EDGE = ROOT / "edge"
EDGE_DOCKERFILE = DEPLOY / "Dockerfile.edge"
SERVICE_ONLY = {"torch", "litestar", "sqlalchemy", "celery", "alembic", "redis", "uvicorn", "psycopg"}
DEPENDENCIES = {"onnxruntime", "numpy", "soundfile", "httpx", "wyoming"}


def canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def test_the_edge_distribution_depends_on_its_five_packages_only() -> None:
    project = tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]

    names = {canonical(re.split(r"[<>=!~\[; ]", requirement)[0]) for requirement in project["dependencies"]}

    assert project["name"] == "wake-training-edge"
    assert names == DEPENDENCIES
    assert [r.split(">")[0] for r in project["optional-dependencies"]["mic"]] == ["sounddevice"]
    assert project["scripts"] == {"wake-edge": "wake_edge.cli:main"}


def test_a_fresh_environment_installs_it_without_the_service_and_detects_a_wake_word(tmp_path: Path) -> None:
    # A copy, so that the build leaves nothing (egg-info, build/) in the checkout.
    source = shutil.copytree(EDGE, tmp_path / "edge", ignore=shutil.ignore_patterns("*.egg-info", "build"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {canonical(item["name"]) for item in json.loads(listed.stdout)}

    assert installed & SERVICE_ONLY == set(), f"the edge install pulled in {installed & SERVICE_ONLY}"
    assert {"wake-training-edge", *DEPENDENCIES} <= installed
    assert "wake-training" not in installed

    model = loudness_model(tmp_path / "export" / "model.onnx")
    wav = write_wav(tmp_path / "wake.wav", with_burst(quiet_noise(10)))
    # Run from an empty folder so that nothing of this checkout can be imported.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    detected = subprocess.run(
        [str(venv / "bin" / "wake-edge"), "detect", str(model), str(wav)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert detected.returncode == 0, detected.stderr
    assert "1 detection in 10.0s of audio" in detected.stdout
    imports = subprocess.run(
        [
            str(python),
            "-c",
            "import json, sys, wake_edge.cli, wake_edge.wyoming_server\n"
            "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert set(json.loads(imports.stdout)) & SERVICE_ONLY == set()


def test_compose_serves_every_deployment_to_home_assistant_on_10400() -> None:
    wyoming = service("wyoming")

    command = wyoming["command"]
    assert command[:2] == ["wake-edge", "wyoming"] and "--all" in command
    assert command[command.index("--uri") + 1] == "tcp://0.0.0.0:10400"
    assert command[command.index("--server") + 1] == "http://api:8080"
    assert "10400:10400" in [str(port) for port in wyoming["ports"]]
    assert wyoming["build"]["dockerfile"].endswith("Dockerfile.edge")
    assert wyoming["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_edge_image_installs_only_the_edge_distribution() -> None:
    instructions = dockerfile(EDGE_DOCKERFILE)
    copies = [arguments.split()[0] for word, arguments in instructions if word == "COPY"]

    assert copies == ["edge"]
    assert not [pattern for pattern in dockerignore_patterns() if pattern.strip("/") in {"edge", "edge/*"}]
    assert pip_installs(instructions) == [["./edge"]]
    assert exec_form(instructions, "CMD")[:2] == ["wake-edge", "wyoming"]
    assert any(word == "USER" and arguments not in {"root", "0"} for word, arguments in instructions)
