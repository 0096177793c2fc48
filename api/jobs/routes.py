"""HTTP routes for jobs: submit, list, read, logs, cancel, artifacts, evaluations."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import File

from api.error_responses import errors
from api.jobs.evaluations import EvaluationService
from api.jobs.schemas import EvaluateRequest, Job, JobPage, LogPage, Preset, SynthesizeRequest, TrainRequest
from api.jobs.service import JobService
from api.validation import DatasetName, JobId, check_dataset_name, parse_job_id

STATUS_HELP = "queued, running, succeeded, failed or cancelled"


@post("/train", status_code=202, tags=["jobs"], responses=errors(400, 404, 413, 422, 503))
async def train(data: JSONBody[TrainRequest], jobs: NamedDependency[JobService]) -> Job:
    """Queue a training job for a dataset; 202 with the job, which runs on the next free worker."""
    return await jobs.submit(data)


@get("/presets", tags=["jobs"], responses=errors())
async def list_presets(jobs: NamedDependency[JobService]) -> list[Preset]:
    """Every preset POST /train takes (built-in, then WAKE_TRAINING_PRESETS's), with its description and config."""
    return jobs.list_presets()


@post(
    "/datasets/{name:str}/synthesize",
    status_code=202,
    tags=["jobs", "datasets"],
    responses=errors(400, 404, 413, 422, 503),
)
async def synthesize(name: DatasetName, data: JSONBody[SynthesizeRequest], jobs: NamedDependency[JobService]) -> Job:
    """Queue a job that synthesizes clips of the phrase (the dataset's wake phrase when omitted) with espeak-ng, Pico
    and Piper into the dataset (`source=synthetic`); a language or voice the engines lack is 422, and no job."""
    return await jobs.submit_synthesis(name, data)


class JobController(Controller):
    """`/jobs`: list, read, logs, cancel, artifacts, evaluations."""

    path = "/jobs"
    tags = ["jobs"]

    @get("/", responses=errors(422))
    async def list_jobs(
        self,
        jobs: NamedDependency[JobService],
        dataset: FromQuery[str | None] = None,
        status: Annotated[
            str | None, QueryParameter(description="queued, running, succeeded, failed, cancelled")
        ] = None,
        limit: Annotated[int, QueryParameter(description="page size, 1-500")] = 50,
        offset: Annotated[int, QueryParameter(description="jobs to skip")] = 0,
    ) -> JobPage:
        """Jobs, newest first, filtered by dataset and status."""
        if dataset is not None:
            check_dataset_name(dataset)
        return await jobs.list(dataset=dataset, status=status, limit=limit, offset=offset)

    @get("/{job_id:str}", responses=errors(404, 422))
    async def get_job(self, job_id: JobId, jobs: NamedDependency[JobService]) -> Job:
        """One job: status, progress, metrics, artifacts with download links."""
        return await jobs.read(parse_job_id(job_id))

    @get("/{job_id:str}/logs", responses=errors(404, 422))
    async def job_logs(
        self,
        job_id: JobId,
        jobs: NamedDependency[JobService],
        after: Annotated[int, QueryParameter(description="return entries with a sequence number above this")] = 0,
        limit: Annotated[int, QueryParameter(description="page size, 1-1000")] = 200,
    ) -> LogPage:
        """Structured log entries, paged by sequence number."""
        return await jobs.logs(parse_job_id(job_id), after=after, limit=limit)

    @post("/{job_id:str}/cancel", status_code=202, responses=errors(404, 409, 422))
    async def cancel_job(self, job_id: JobId, jobs: NamedDependency[JobService]) -> Job:
        """Cancel: a queued job never starts; a running one stops at its next training step."""
        return await jobs.cancel(parse_job_id(job_id))

    @get("/{job_id:str}/artifacts/{name:str}", responses=errors(404, 422))
    async def get_artifact(self, job_id: JobId, name: FromPath[str], jobs: NamedDependency[JobService]) -> File:
        """Download one exported file of a succeeded job, saved as `<dataset>-<job id's first 8>-<name>`."""
        path, filename = await jobs.artifact_file(parse_job_id(job_id), name)
        return File(path=path, filename=filename)

    @post("/{job_id:str}/evaluate", status_code=202, responses=errors(400, 404, 409, 413, 422, 503))
    async def evaluate(self, job_id: JobId, data: JSONBody[EvaluateRequest], jobs: NamedDependency[JobService]) -> Job:
        """Queue an `evaluate` job: the job's model scored on a dataset's clips (any dataset: a test set); 202."""
        return await EvaluationService(jobs).submit(parse_job_id(job_id), data)

    @get("/{job_id:str}/evaluations", responses=errors(404, 422))
    async def evaluations(
        self,
        job_id: JobId,
        jobs: NamedDependency[JobService],
        limit: Annotated[int, QueryParameter(description="page size, 1-500")] = 50,
        offset: Annotated[int, QueryParameter(description="evaluations to skip")] = 0,
    ) -> JobPage:
        """The model's evaluations (evaluate jobs), newest first; a succeeded one's figures are in `metrics`."""
        return await EvaluationService(jobs).list(parse_job_id(job_id), limit=limit, offset=offset)
