"""HTTP routes for datasets."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.datasets.schemas import Dataset, DatasetCreate, DatasetMetrics, DatasetUpdate
from api.datasets.service import DatasetService
from api.error_responses import errors
from api.recordings.prompts import recording_prompts
from api.recordings.schemas import DatasetQuality, RecordingPrompts
from api.recordings.service import RecordingService
from api.validation import DatasetName, refuse_unstorable


class DatasetController(Controller):
    """`/datasets`: create, list, read, update, delete, metrics, quality, recording prompts."""

    path = "/datasets"
    tags = ["datasets"]

    @get("/", responses=errors())
    async def list_datasets(self, datasets: NamedDependency[DatasetService]) -> list[Dataset]:
        """Every dataset with its clip counts and training readiness."""
        return await datasets.list()

    @post("/", responses=errors(400, 409, 413, 422))
    async def create_dataset(self, data: JSONBody[DatasetCreate], datasets: NamedDependency[DatasetService]) -> Dataset:
        """Create a dataset; 409 if the name is taken, 422 if it is not a valid name."""
        return await datasets.create(data)

    @get("/{name:str}", responses=errors(404, 422))
    async def get_dataset(self, name: DatasetName, datasets: NamedDependency[DatasetService]) -> Dataset:
        """One dataset."""
        return await datasets.read(name)

    @patch("/{name:str}", responses=errors(400, 404, 413, 422))
    async def update_dataset(
        self, name: DatasetName, data: JSONBody[DatasetUpdate], datasets: NamedDependency[DatasetService]
    ) -> Dataset:
        """Change `description` or `wake_phrase` (null clears one); 422 for an empty body or an unknown field."""
        return await datasets.update(name, data)

    @delete("/{name:str}", status_code=204, responses=errors(404, 409, 422))
    async def delete_dataset(
        self,
        name: DatasetName,
        datasets: NamedDependency[DatasetService],
        force: Annotated[bool, QueryParameter(description="also delete the dataset's clips")] = False,
    ) -> None:
        """Delete a dataset; one that holds clips needs `?force=true`."""
        await datasets.delete(name, force=force)

    @get("/{name:str}/metrics", responses=errors(404, 422))
    async def dataset_metrics(self, name: DatasetName, datasets: NamedDependency[DatasetService]) -> DatasetMetrics:
        """Clip counts and total seconds by label and by speaker."""
        return await datasets.metrics(name)

    @get("/{name:str}/quality", responses=errors(404, 422))
    async def dataset_quality(self, name: DatasetName, recordings: NamedDependency[RecordingService]) -> DatasetQuality:
        """Dataset QA: duration and level histograms, per-speaker and per-source figures, and the flagged clips."""
        return await recordings.quality(name)

    @get("/{name:str}/prompts", responses=errors(404, 422))
    async def prompts(
        self,
        name: DatasetName,
        datasets: NamedDependency[DatasetService],
        language: Annotated[
            str,
            QueryParameter(
                description="the language of the sentences, e.g. en, de (English where there are none)",
                min_length=1,
                max_length=32,
            ),
        ] = "en",
    ) -> RecordingPrompts:
        """What a guided recording asks for besides the wake phrase: everyday sentences and near misses of it."""
        dataset = await datasets.get(name)
        return recording_prompts(dataset.wake_phrase, refuse_unstorable(language, "language"))
