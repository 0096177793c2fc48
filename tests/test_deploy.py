"""The deployment files stay true to the design and the Settings; they are read and parsed here, never built."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_TEXT = (DEPLOY / "compose.yaml").read_text()
API_DOCKERFILE = DEPLOY / "Dockerfile.api"
WORKER_DOCKERFILE = DEPLOY / "Dockerfile.worker-l4t"
DATA_DIR_IN_CONTAINERS = "/data/wake-training"
# Interpolated into the data volume's host path by compose; never set inside a container.
COMPOSE_ONLY_VARIABLES = {"WAKE_TRAINING_HOST_DATA_DIR"}
DOCKERFILE_INSTRUCTIONS = {
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}
WAKE_TRAINING_NAME = re.compile(r"WAKE_TRAINING_[A-Z0-9_]+")
SHORT_VOLUME = re.compile(r"^(?P<source>.+):(?P<target>/[^:]*)(?::(?P<mode>[a-z,]+))?$")


# --- helpers: read compose.yaml and the Dockerfiles -------------------------------------------------------------------


def compose(text: str = COMPOSE_TEXT) -> dict[str, Any]:
    """compose.yaml as compose sees it before interpolation (YAML anchors and merge keys resolved)."""
    return yaml.safe_load(text)


def service(name: str) -> dict[str, Any]:
    """One service of compose.yaml."""
    return compose()["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment in either compose form; None means passed through from the shell running compose."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return {key: value for key, _, value in (item.partition("=") for item in env)}
    return {key: None if value is None else str(value) for key, value in env.items()}


def command_text(value: str | list[str] | None) -> str:
    """A command or healthcheck test, in list or string form, as one string."""
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(str(part) for part in value)


def mounts(svc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume of a service, in short or long syntax."""
    found = []
    for volume in svc.get("volumes", []):
        if isinstance(volume, dict):
            found.append((str(volume["source"]), volume["target"], bool(volume.get("read_only", False))))
            continue
        match = SHORT_VOLUME.match(volume)
        assert match, f"cannot read volume {volume!r}"
        modes = (match["mode"] or "rw").split(",")
        found.append((match["source"], match["target"], "ro" in modes))
    return found


def settings_variables() -> set[str]:
    """Every variable the Settings object reads."""
    return {f"WAKE_TRAINING_{name.upper()}" for name in Settings.model_fields}


def wake_training_variables(text: str) -> set[str]:
    """Every WAKE_TRAINING_* name a compose file sets in an environment map or an x- extension, or mentions at all."""
    document = compose(text)
    names = set(WAKE_TRAINING_NAME.findall(text))
    for svc in document["services"].values():
        names.update(key for key in environment(svc) if key.startswith("WAKE_TRAINING_"))

    def keys(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).startswith("WAKE_TRAINING_"):
                    names.add(str(key))
                keys(value)
        elif isinstance(node, list):
            for item in node:
                keys(item)

    keys({key: value for key, value in document.items() if str(key).startswith("x-")})
    return names


def unknown_variables(text: str) -> set[str]:
    """WAKE_TRAINING_* names in a deployment file that no Settings field reads (a typo the app would ignore)."""
    return wake_training_variables(text) - settings_variables() - COMPOSE_ONLY_VARIABLES


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continued lines joined, comments and blank lines dropped.

    Raises ValueError on a line that does not start with a known instruction or a file ending mid-continuation.
    """
    instructions = []
    pending = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        # Docker drops comment lines, also inside a continued instruction.
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full, pending = pending + stripped, ""
        word, _, arguments = full.partition(" ")
        if word not in DOCKERFILE_INSTRUCTIONS:
            raise ValueError(f"line {number}: {word!r} is not a Dockerfile instruction")
        instructions.append((word, arguments.strip()))
    if pending:
        raise ValueError("the file ends inside a continued line")
    return instructions


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """The instructions of one of the deploy Dockerfiles."""
    return parse_dockerfile(path.read_text())


def args_before_first_from(instructions: list[tuple[str, str]]) -> dict[str, str | None]:
    """The build ARGs declared before the first FROM (the only ones a FROM line can use), with their defaults."""
    declared: dict[str, str | None] = {}
    for word, arguments in instructions:
        if word == "FROM":
            break
        if word == "ARG":
            name, equals, default = arguments.partition("=")
            declared[name] = default if equals else None
    return declared


def first_from_image(instructions: list[tuple[str, str]]) -> str:
    """The image the first FROM names (flags such as --platform skipped)."""
    arguments = next(arguments for word, arguments in instructions if word == "FROM")
    return next(token for token in arguments.split() if not token.startswith("--"))


def final_from_image(instructions: list[tuple[str, str]]) -> str:
    """The image the last FROM names: what a multi-stage build's image is built on."""
    arguments = [arguments for word, arguments in instructions if word == "FROM"][-1]
    return next(token for token in arguments.split() if not token.startswith("--"))


def build_arg_reference(image: str) -> str | None:
    """The ARG name a FROM image is, when it is exactly `${NAME}` or `$NAME`."""
    match = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", image)
    return (match[1] or match[2]) if match else None


def exec_form(instructions: list[tuple[str, str]], word: str) -> list[str]:
    """The JSON (exec) form of the last CMD, ENTRYPOINT or HEALTHCHECK's CMD."""
    arguments = [arguments for name, arguments in instructions if name == word][-1]
    if word == "HEALTHCHECK":
        arguments = arguments[arguments.index("CMD ") + len("CMD ") :]
    return json.loads(arguments)


def pip_installs(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """The words after `pip install` in each pip command the RUN lines execute."""
    installs = []
    for word, arguments in instructions:
        if word != "RUN":
            continue
        lexer = shlex.shlex(arguments, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        commands: list[list[str]] = [[]]
        for token in lexer:
            if set(token) <= set("();<>|&"):
                commands.append([])
            else:
                commands[-1].append(token)
        for tokens in commands:
            for position in range(len(tokens) - 1):
                if tokens[position].endswith("pip") and tokens[position + 1] == "install":
                    installs.append(tokens[position + 2 :])
    return installs


def dockerignore_patterns() -> list[str]:
    """The exclusion patterns of the build context's .dockerignore, root-relative."""
    lines = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    return [line.strip("/") for line in lines if line and not line.startswith(("#", "!"))]


# --- compose.yaml -----------------------------------------------------------------------------------------------------


def test_compose_runs_postgres_redis_a_migration_the_api_workers_and_flower() -> None:
    assert {"postgres", "redis", "migrate", "api", "worker", "flower"} <= set(compose()["services"])


def test_every_service_built_here_names_a_dockerfile_that_exists() -> None:
    for name, svc in compose()["services"].items():
        if "build" in svc:
            build = svc["build"]
            dockerfile_path = DEPLOY / build["context"] / build["dockerfile"]
            assert dockerfile_path.is_file(), f"{name} builds from {dockerfile_path}, which does not exist"


def test_postgres_and_redis_report_their_health_so_others_can_wait_for_them() -> None:
    assert "pg_isready" in command_text(service("postgres")["healthcheck"]["test"])
    assert "redis-cli ping" in command_text(service("redis")["healthcheck"]["test"])
    for name in ("postgres", "redis"):
        assert service(name).get("volumes"), f"{name} keeps its data in a volume"


def test_redis_keeps_its_queue_across_a_restart_with_append_only_persistence() -> None:
    redis = service("redis")
    command = command_text(redis["command"])
    assert "--appendonly yes" in command
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"]), "the append-only file is in a volume"


def test_migrations_run_once_against_a_healthy_postgres_before_the_api_starts() -> None:
    migrate, api = service("migrate"), service("api")
    assert command_text(migrate["command"]) == "wake-training migrate"
    assert migrate["build"]["dockerfile"].endswith("Dockerfile.api")
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"  # unquoted, YAML reads `no` as false
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_api_listens_on_all_interfaces_at_8080_and_checks_its_health() -> None:
    api = service("api")
    assert environment(api)["WAKE_TRAINING_HOST"] == "0.0.0.0"
    assert "8080:8080" in [str(port) for port in api["ports"]]
    assert "/health" in command_text(api["healthcheck"]["test"])


def test_api_migration_and_workers_share_one_database_and_broker() -> None:
    envs = [environment(service(name)) for name in ("migrate", "api", "worker")]
    assert envs[0]["WAKE_TRAINING_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in envs[0]["WAKE_TRAINING_DATABASE_URL"]
    assert envs[0]["WAKE_TRAINING_BROKER_URL"].startswith("redis://redis:6379")
    for env in envs[1:]:
        assert env["WAKE_TRAINING_DATABASE_URL"] == envs[0]["WAKE_TRAINING_DATABASE_URL"]
        assert env["WAKE_TRAINING_BROKER_URL"] == envs[0]["WAKE_TRAINING_BROKER_URL"]


def test_every_wake_training_variable_in_compose_is_a_setting() -> None:
    assert wake_training_variables(COMPOSE_TEXT) >= {"WAKE_TRAINING_DATA_DIR", "WAKE_TRAINING_BROKER_URL"}
    assert unknown_variables(COMPOSE_TEXT) == set()


def test_a_misspelt_setting_in_compose_is_caught() -> None:
    misspelt = COMPOSE_TEXT.replace("WAKE_TRAINING_BROKER_URL:", "WAKE_TRAINING_BROKER_URI:")
    assert "WAKE_TRAINING_BROKER_URI" in unknown_variables(misspelt)
    in_an_extension = COMPOSE_TEXT.replace(
        "x-app-env: &app-env\n", "x-app-env: &app-env\n  WAKE_TRAINING_DATADIR: /x\n"
    )
    assert "WAKE_TRAINING_DATADIR" in unknown_variables(in_an_extension)


def test_every_wake_training_variable_in_the_dockerfiles_is_a_setting() -> None:
    for path in (API_DOCKERFILE, WORKER_DOCKERFILE):
        names = set(WAKE_TRAINING_NAME.findall(path.read_text()))
        assert names - settings_variables() == set(), path.name


def test_api_and_workers_read_and_write_the_same_data_volume() -> None:
    sources = set()
    for name in ("api", "worker"):
        svc = service(name)
        assert environment(svc)["WAKE_TRAINING_DATA_DIR"] == DATA_DIR_IN_CONTAINERS
        data = [(source, read_only) for source, target, read_only in mounts(svc) if target == DATA_DIR_IN_CONTAINERS]
        assert data, f"{name} does not mount {DATA_DIR_IN_CONTAINERS}"
        source, read_only = data[0]
        assert not read_only, f"{name} mounts the data volume read-only"
        sources.add(source)
    assert len(sources) == 1, f"api and worker mount different host folders: {sources}"
    assert "${WAKE_TRAINING_HOST_DATA_DIR" in sources.pop()


def test_worker_reserves_an_nvidia_gpu_and_can_be_scaled() -> None:
    worker = service("worker")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(device["driver"] == "nvidia" and "gpu" in device["capabilities"] for device in devices)
    # `docker compose up --scale worker=N` refuses a fixed container name or host port; a fixed hostname would give
    # every Celery worker the same node name.
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker sets {key}: it cannot be scaled"
    assert command_text(worker["command"]) == "wake-training worker --concurrency 1"
    assert worker["build"]["dockerfile"].endswith("Dockerfile.worker-l4t")


def test_compose_builds_the_worker_on_the_dockerfiles_default_base_image() -> None:
    compose_arg = service("worker")["build"]["args"]["BASE_IMAGE"]
    match = re.fullmatch(r"\$\{\w+:-(.+)\}", compose_arg)
    assert match, f"BASE_IMAGE {compose_arg!r} should be overridable as ${{VARIABLE:-default}}"
    assert match[1] == args_before_first_from(dockerfile(WORKER_DOCKERFILE))["BASE_IMAGE"]


def test_flower_watches_the_workers_broker_behind_basic_auth_from_the_environment() -> None:
    flower = service("flower")
    env = environment(flower)
    assert env["CELERY_BROKER_URL"] == environment(service("worker"))["WAKE_TRAINING_BROKER_URL"]
    auth = env.get("FLOWER_BASIC_AUTH") or command_text(flower.get("command"))
    assert "${FLOWER_USER" in auth
    assert "${FLOWER_PASSWORD:?" in auth, "Flower must refuse to start without a password from the environment"
    assert "5555:5555" in [str(port) for port in flower["ports"]]


# --- Dockerfiles ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [API_DOCKERFILE, WORKER_DOCKERFILE], ids=lambda path: path.name)
def test_dockerfile_parses_into_known_instructions_with_valid_exec_forms(path: Path) -> None:
    instructions = dockerfile(path)
    words = [word for word, _ in instructions]
    assert "FROM" in words
    assert "CMD" in words
    for word in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
        if word in words:
            assert isinstance(exec_form(instructions, word), list)


def test_dockerfile_parser_rejects_what_docker_would_reject() -> None:
    with pytest.raises(ValueError, match="'RUNN' is not a Dockerfile instruction"):
        parse_dockerfile("FROM python:3.11-slim\nRUNN pip install .\n")
    with pytest.raises(ValueError, match="continued line"):
        parse_dockerfile("FROM python:3.11-slim\nRUN pip install . \\\n")
    assert parse_dockerfile("# c\nFROM x\nRUN a \\\n  # dropped\n  && b\n") == [("FROM", "x"), ("RUN", "a && b")]


@pytest.mark.parametrize("path", [API_DOCKERFILE, WORKER_DOCKERFILE], ids=lambda path: path.name)
def test_dockerfile_copies_only_what_the_build_context_holds(path: Path) -> None:
    patterns = dockerignore_patterns()
    for word, arguments in dockerfile(path):
        if word != "COPY" or "--from" in arguments:
            continue
        *sources, _destination = [token for token in arguments.split() if not token.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"{path.name} copies {source}, which is not in the repository"
            ignored = [pattern for pattern in patterns if fnmatch.fnmatch(source.strip("/"), pattern)]
            assert not ignored, f"{path.name} copies {source}, but .dockerignore leaves it out ({ignored})"


def test_worker_image_is_built_on_the_base_image_build_arg() -> None:
    instructions = dockerfile(WORKER_DOCKERFILE)
    default = args_before_first_from(instructions).get("BASE_IMAGE")
    assert default, "ARG BASE_IMAGE=<an L4T PyTorch image> must come before the first FROM"
    assert build_arg_reference(first_from_image(instructions)) == "BASE_IMAGE"


def test_worker_image_keeps_the_base_images_torch() -> None:
    for words in pip_installs(dockerfile(WORKER_DOCKERFILE)):
        for word in words:
            assert not re.match(r"torch($|[<>=!~\[;])", word), f"pip would install {word} over the base image's torch"
            assert "[worker" not in word, "the worker extra pins a torch wheel that is not built for Jetson"


def test_worker_image_runs_one_training_process() -> None:
    assert exec_form(dockerfile(WORKER_DOCKERFILE), "CMD") == ["wake-training", "worker", "--concurrency", "1"]


def test_api_image_is_built_on_a_slim_python_named_by_a_build_arg() -> None:
    instructions = dockerfile(API_DOCKERFILE)
    # The last stage is the image; an earlier one only fetches the dashboard's onnxruntime-web with npm.
    arg = build_arg_reference(final_from_image(instructions))
    assert arg, "the API image names its base through a build ARG"
    default = args_before_first_from(instructions).get(arg)
    assert default, f"ARG {arg}=python:3.11-slim must come before the first FROM"
    version = re.match(r"python:(\d+)\.(\d+)", default)
    assert version and (int(version[1]), int(version[2])) >= (3, 11), default
    assert "slim" in default


def test_api_image_runs_as_a_non_root_user() -> None:
    users = [arguments for word, arguments in dockerfile(API_DOCKERFILE) if word == "USER"]
    assert users, "the API image sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_api_image_never_installs_torch() -> None:
    instructions = dockerfile(API_DOCKERFILE)
    for word, arguments in instructions:
        if word == "RUN":
            assert "torch" not in arguments.lower(), arguments
            assert "[worker" not in arguments, arguments
    installs = pip_installs(instructions)
    assert ["."] in installs, "the API image installs the project with pip, without extras"
    # It installs every base dependency, so torch must stay in the worker extra.
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [requirement for requirement in dependencies if re.match(r"torch\b", requirement)]


def test_api_image_serves_on_8080() -> None:
    instructions = dockerfile(API_DOCKERFILE)
    assert ("EXPOSE", "8080") in instructions
    assert exec_form(instructions, "CMD") == ["wake-training", "serve"]
    assert "/health" in " ".join(exec_form(instructions, "HEALTHCHECK"))
