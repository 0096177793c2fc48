"""The one settings object, read from WAKE_TRAINING_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.training_config import PresetDefinition, load_presets

DEFAULT_CORS_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"]


class Settings(BaseSettings):
    """Everything the API, the worker and the CLI can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="WAKE_TRAINING_",
        use_attribute_docstrings=True,
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Path("./data/wake-training")
    """Root of the data volume: clips, trash, job artifacts and the embedded SQLite database."""

    cache_dir: Path | None = None
    """Where training keeps what it makes once and reuses (room responses, speech banks); unset: data dir's `cache/`."""

    piper_voices_dir: Path | None = None
    """Piper voices (`<name>.onnx` + `<name>.onnx.json`) that synthesis speaks with; unset: data dir's `voices/`."""

    database_url: str | None = None
    """SQLAlchemy URL, e.g. `postgresql+psycopg://user@host/db`. Unset: SQLite `wake-training.db` in the data dir."""

    broker_url: str | None = None
    """Redis URL of the job broker, e.g. `redis://127.0.0.1:6379/0`. Unset: embedded (in-process worker)."""

    host: str = "127.0.0.1"
    """Address `wake-training serve` listens on (`0.0.0.0` in containers)."""

    port: int = Field(default=8080, ge=1, le=65535)
    """Port `wake-training serve` listens on."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))
    """Origins allowed to call the API from a browser, comma separated."""

    api_token: str | None = None
    """When set, every endpoint but `/health` and the schema needs `Authorization: Bearer <token>`."""

    max_upload_mb: float = Field(default=50.0, gt=0)
    """Largest request body accepted, in MiB (uploads are the large ones); larger bodies get 413."""

    min_clip_seconds: float = Field(default=0.2, gt=0)
    """Shortest clip accepted, in seconds; shorter clips get 422."""

    max_clip_seconds: float = Field(default=30.0, gt=0)
    """Longest clip accepted, in seconds; longer clips get 422."""

    min_positive_clips: int = Field(default=10, ge=1)
    """Active positive clips a dataset needs before it can be trained."""

    min_negative_clips: int = Field(default=10, ge=1)
    """Active negative plus noise clips a dataset needs before it can be trained."""

    reaper_interval_s: float = Field(default=15.0, gt=0)
    """How often the API looks for running jobs whose worker stopped sending heartbeats."""

    heartbeat_timeout_s: float = Field(default=60.0, gt=0)
    """A running job with no worker heartbeat for this long is retried or failed."""

    resend_queued_after_s: float = Field(default=300.0, gt=0)
    """A queued job not started this long after its message was sent is sent again (the broker may have lost it)."""

    event_poll_s: float = Field(default=2.0, gt=0)
    """How often the API reads events that no live publish brought (Redis was down) from the database."""

    max_attempts: int = Field(default=3, ge=1)
    """How many times a job is started before a lost worker marks it failed."""

    job_time_limit_s: float = Field(default=6 * 3600.0, gt=0)
    """Time limit of one job, embedded or distributed: past it the job stops and fails (broker timeout above it)."""

    max_batch_audio_s: float = Field(default=256.0, gt=0)
    """Most audio one training batch may hold (batch_size x window_s, seconds): memory grows with it; more is 422."""

    max_training_audio_h: float = Field(default=200.0, gt=0)
    """Most audio one training job may go through (epochs x steps x batch x window, hours); more is 422."""

    max_synthesis_clips: int = Field(default=6000, ge=1)
    """Most clips one synthesize job may make (positives + negatives + noise); more is 422."""

    device_near_misses_per_hour: int = Field(default=30, ge=1)
    """Near misses one device may report in an hour; more get 429 with Retry-After (detections are not limited)."""

    worker_threads: int = Field(default=0, ge=0)
    """Torch intra-op threads per worker process; 0 means the machine's cores divided by the concurrency."""

    presets: str | None = None
    """More training presets, or built-ins replaced: a JSON object `{"name": {"description": "...", "config": {...}}}`
    or the path of a .json or .toml file of that shape; checked at start."""

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Workers and the API may start in different folders; they must agree on one volume.
        return value.expanduser().resolve()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_cache_dir(self) -> Path:
        """The configured cache folder, or `cache/` under the data dir."""
        return (self.cache_dir or self.data_dir / "cache").expanduser().resolve()

    @property
    def resolved_piper_voices_dir(self) -> Path:
        """The configured Piper voices folder, or `voices/` under the data dir."""
        return (self.piper_voices_dir or self.data_dir / "voices").expanduser().resolve()

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'wake-training.db'}"

    def training_presets(self) -> dict[str, PresetDefinition]:
        """The built-in presets with WAKE_TRAINING_PRESETS's over them; PresetError names what is wrong."""
        return load_presets(
            self.presets, max_batch_audio_s=self.max_batch_audio_s, max_training_audio_h=self.max_training_audio_h
        )

    @property
    def embedded(self) -> bool:
        """True when no broker is configured and jobs run inside the serving process."""
        return not self.broker_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()


def settings_table() -> str:
    """The README's settings table, generated from the Settings fields."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Path):
            default = default.as_posix()
        if isinstance(default, list):
            default = ",".join(default)
        shown = "(unset)" if default is None else f"`{default}`"
        meaning = " ".join((field.description or "").split())  # a docstring over several lines is one table row
        rows.append(f"| `WAKE_TRAINING_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
