"""What dataset operations mean: create, list, update, delete, and the clip statistics of a dataset."""

from __future__ import annotations

import uuid
from collections import defaultdict

import anyio.to_thread
from msgspec import UNSET, to_builtins
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.datasets import schemas
from api.errors import Conflict, InvalidInput, NotFound
from api.events.recorder import EventRecorder
from api.validation import check_dataset_name, clean_text
from shared.db.base import utcnow
from shared.db.models import LABELS, UNREVIEWED, USER_SOURCES, Clip, Dataset, Job
from shared.settings import Settings
from shared.storage import Storage, remove_tree

NEGATIVE_LABELS = ("negative", "noise")
MAX_DESCRIPTION_LENGTH = 2000
MAX_WAKE_PHRASE_LENGTH = 200


class DatasetService:
    """Dataset operations over one database session and the data volume."""

    def __init__(self, session: AsyncSession, storage: Storage, settings: Settings, events: EventRecorder) -> None:
        self.session = session
        self.storage = storage
        self.settings = settings
        self.events = events

    async def get(self, name: str) -> Dataset:
        """The dataset called `name`, or NotFound."""
        check_dataset_name(name)
        dataset = await self.session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None:
            raise NotFound(f"dataset {name!r} does not exist; create it with POST /datasets")
        return dataset

    async def list(self) -> list[schemas.Dataset]:
        """Every dataset, by name, with its clip counts."""
        datasets = (await self.session.scalars(select(Dataset).order_by(Dataset.name))).all()
        stats = await self._label_stats([d.id for d in datasets])
        return [self._to_schema(d, stats.get(d.id, {})) for d in datasets]

    async def read(self, name: str) -> schemas.Dataset:
        """One dataset with its clip counts."""
        dataset = await self.get(name)
        stats = await self._label_stats([dataset.id])
        return self._to_schema(dataset, stats.get(dataset.id, {}))

    async def create(self, data: schemas.DatasetCreate) -> schemas.Dataset:
        """Create a dataset; Conflict if the name is taken."""
        check_dataset_name(data.name)
        if await self.session.scalar(select(Dataset.id).where(Dataset.name == data.name)) is not None:
            raise Conflict(f"dataset {data.name!r} already exists; choose another name or use it")
        # Files left by a dataset of this name whose deletion was cut short have no rows: drop them.
        await anyio.to_thread.run_sync(remove_tree, self.storage.dataset_dir(data.name))
        dataset = Dataset(
            name=data.name,
            description=clean_text(data.description, "description", MAX_DESCRIPTION_LENGTH),
            wake_phrase=clean_text(data.wake_phrase, "wake_phrase", MAX_WAKE_PHRASE_LENGTH),
        )
        self.session.add(dataset)
        try:
            await self.session.flush()
            created = self._to_schema(dataset, {})
            await self.events.add("dataset.created", dataset=dataset.name, payload={"dataset": to_builtins(created)})
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            self.events.discard()
            raise Conflict(f"dataset {data.name!r} already exists; choose another name or use it") from None
        await self.events.publish()
        self.storage.clips_dir(dataset.name).mkdir(parents=True, exist_ok=True)
        return created

    async def update(self, name: str, data: schemas.DatasetUpdate) -> schemas.Dataset:
        """Change a dataset's description or wake phrase; a body that names neither is refused."""
        dataset = await self.get(name)
        if data.description is UNSET and data.wake_phrase is UNSET:
            raise InvalidInput("nothing to change: give description, wake_phrase or both (null clears one)")
        # Both are checked before either is set: a refused request changes nothing.
        description = (
            dataset.description
            if data.description is UNSET
            else clean_text(data.description, "description", MAX_DESCRIPTION_LENGTH)
        )
        wake_phrase = (
            dataset.wake_phrase
            if data.wake_phrase is UNSET
            else clean_text(data.wake_phrase, "wake_phrase", MAX_WAKE_PHRASE_LENGTH)
        )
        dataset.description, dataset.wake_phrase = description, wake_phrase
        dataset.updated_at = utcnow()
        await self.session.flush()
        stats = await self._label_stats([dataset.id])
        updated = self._to_schema(dataset, stats.get(dataset.id, {}))
        await self.events.add("dataset.updated", dataset=dataset.name, payload={"dataset": to_builtins(updated)})
        await self.session.commit()
        await self.events.publish()
        return updated

    async def delete(self, name: str, *, force: bool) -> None:
        """Delete a dataset and its clips; a dataset that holds clips needs `force`."""
        dataset = await self.get(name)
        clip_count = await self.session.scalar(
            select(func.count()).select_from(Clip).where(Clip.dataset_id == dataset.id)
        )
        if clip_count and not force:
            raise Conflict(
                f"dataset {name!r} holds {clip_count} clips (trash included); "
                "delete it with ?force=true to remove them too"
            )
        active_jobs = await self.session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.dataset_id == dataset.id, Job.status.in_(("queued", "running")))
        )
        if active_jobs:
            raise Conflict(f"dataset {name!r} has {active_jobs} queued or running training jobs; cancel them first")
        await self.session.execute(delete(Clip).where(Clip.dataset_id == dataset.id))
        await self.session.execute(delete(Dataset).where(Dataset.id == dataset.id))
        await self.events.add("dataset.deleted", dataset=name, payload={"clips": clip_count or 0})
        await self.session.commit()
        await self.events.publish()
        # The rows are gone first: a crash here leaves only files without rows, which reconcile removes.
        await anyio.to_thread.run_sync(remove_tree, self.storage.dataset_dir(name))

    async def metrics(self, name: str) -> schemas.DatasetMetrics:
        """Counts and seconds of active clips in total, by label and by speaker, plus the trash."""
        dataset = await self.get(name)
        rows = (
            await self.session.execute(
                select(
                    Clip.speaker,
                    Clip.label,
                    Clip.deleted_at.is_(None),
                    Clip.review.is_(None),
                    func.count(),
                    func.coalesce(func.sum(Clip.duration_s), 0.0),
                )
                .where(Clip.dataset_id == dataset.id)
                .group_by(Clip.speaker, Clip.label, Clip.deleted_at.is_(None), Clip.review.is_(None))
            )
        ).all()
        total = schemas.LabelStats()
        deleted = schemas.LabelStats()
        unreviewed = schemas.LabelStats()
        by_label = {label: schemas.LabelStats() for label in LABELS}
        by_speaker: dict[str | None, dict[str, schemas.LabelStats]] = defaultdict(dict)
        for speaker, label, active, reviewed, count, seconds in rows:
            if not active:
                _add(deleted, count, seconds)
                continue
            if not reviewed:
                # A device's guess until a person gives a verdict: not training material, so not counted as such.
                _add(unreviewed, count, seconds)
                continue
            _add(total, count, seconds)
            _add(by_label[label], count, seconds)
            _add(by_speaker[speaker].setdefault(label, schemas.LabelStats()), count, seconds)
        speakers = [
            schemas.SpeakerStats(
                speaker=speaker,
                clips=sum(s.clips for s in labels.values()),
                seconds=round(sum(s.seconds for s in labels.values()), 3),
                by_label=labels,
            )
            for speaker, labels in sorted(by_speaker.items(), key=lambda item: (item[0] is None, item[0] or ""))
        ]
        counts = {label: stats.clips for label, stats in by_label.items()}
        return schemas.DatasetMetrics(
            dataset=dataset.name,
            total=total,
            by_label=by_label,
            by_speaker=speakers,
            deleted=deleted,
            training=self._readiness(counts),
            unreviewed=unreviewed,
        )

    async def _label_stats(self, dataset_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, tuple[int, float]]]:
        if not dataset_ids:
            return {}
        rows = await self.session.execute(
            select(
                Clip.dataset_id,
                Clip.deleted_at.is_(None),
                Clip.review.is_(None),
                Clip.label,
                Clip.source,
                func.count(),
                func.coalesce(func.sum(Clip.duration_s), 0.0),
            )
            .where(Clip.dataset_id.in_(dataset_ids))
            .group_by(Clip.dataset_id, Clip.deleted_at.is_(None), Clip.review.is_(None), Clip.label, Clip.source)
        )
        stats: dict[uuid.UUID, dict[str, tuple[int, float]]] = defaultdict(dict)
        for dataset_id, active, reviewed, label, source, count, seconds in rows:
            if not active:
                keys = [f"deleted:{label}"]
            elif not reviewed:
                keys = [UNREVIEWED]
            else:
                keys = [label, f"source:{label}:{source}"]
            for key in keys:
                before = stats[dataset_id].get(key, (0, 0.0))
                stats[dataset_id][key] = (before[0] + count, before[1] + float(seconds))
        return stats

    def _readiness(self, counts: dict[str, int]) -> schemas.Readiness:
        positives = counts.get("positive", 0)
        negatives = sum(counts.get(label, 0) for label in NEGATIVE_LABELS)
        need_pos, need_neg = self.settings.min_positive_clips, self.settings.min_negative_clips
        missing = []
        if positives < need_pos:
            missing.append(f"{need_pos - positives} more positive clips")
        if negatives < need_neg:
            missing.append(f"{need_neg - negatives} more negative or noise clips")
        return schemas.Readiness(
            ready=not missing,
            positive_clips=positives,
            negative_clips=negatives,
            min_positive_clips=need_pos,
            min_negative_clips=need_neg,
            missing=missing,
        )

    def _to_schema(self, dataset: Dataset, stats: dict[str, tuple[int, float]]) -> schemas.Dataset:
        counts = {label: stats.get(label, (0, 0.0))[0] for label in LABELS}
        return schemas.Dataset(
            id=dataset.id,
            name=dataset.name,
            description=dataset.description,
            wake_phrase=dataset.wake_phrase,
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
            clip_counts=counts,
            deleted_clips=sum(count for key, (count, _) in stats.items() if key.startswith("deleted:")),
            unreviewed_clips=stats.get(UNREVIEWED, (0, 0.0))[0],
            total_seconds=round(sum(stats.get(label, (0, 0.0))[1] for label in LABELS), 3),
            training=self._readiness(counts),
            warnings=_source_warnings(stats),
        )


def _source_warnings(stats: dict[str, tuple[int, float]]) -> list[str]:
    """The shortcut a model learns when the user's own audio sits on one side only: their voice, not the phrase."""

    def clips(labels: tuple[str, ...], sources: tuple[str, ...]) -> int:
        return sum(stats.get(f"source:{label}:{source}", (0, 0.0))[0] for label in labels for source in sources)

    own_positives = clips(("positive",), USER_SOURCES)
    own_negatives = clips(("negative", "noise"), USER_SOURCES)
    synthetic_negatives = clips(("negative", "noise"), ("synthetic",))
    if own_positives and not own_negatives and synthetic_negatives:
        return [
            f"all negatives are synthetic and your {own_positives} recordings are all positive: the model may learn "
            "your voice or your microphone instead of the phrase. Record yourself saying other things (label "
            "negative) and a minute of your room (label noise)"
        ]
    return []


def _add(stats: schemas.LabelStats, count: int, seconds: float) -> None:
    stats.clips += count
    stats.seconds = round(stats.seconds + float(seconds), 3)
