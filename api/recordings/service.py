"""What clip operations mean: ingest uploads, list, relabel, review, soft-delete and restore."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api.datasets.service import DatasetService
from api.errors import Conflict, InvalidInput, NotFound
from api.events.recorder import EventRecorder
from api.recordings import schemas
from api.recordings.ingest import (
    Upload,
    base_filename,
    describe,
    normalize_all,
    refuse_silence,
    remove_all,
    remove_empty_folders,
    write_all,
)
from api.recordings.quality import ALL_FLAGS, all_flags, measure_missing, needs_measuring, summarize
from api.validation import check_page, clean_text, require_label, require_source
from shared.audio import NormalizedClip
from shared.clips import clip_fields, new_clip
from shared.db.base import utcnow
from shared.db.models import UNREVIEWED, Clip, Dataset
from shared.settings import Settings
from shared.storage import Storage, durable_move
from shared.writers import WriterLease

MAX_SPEAKER_LENGTH = 128
MAX_NOTES_LENGTH = 2000
DELETED_FILTERS = ("false", "true", "all")
REVIEW_FILTERS = ("unreviewed", "reviewed")
VERDICTS = ("positive", "negative", "discard")
# A listing's `sort`: a column, `-` first for descending. Ties go newest first (then by id: pages never overlap).
SORT_COLUMNS = {"created_at": Clip.created_at, "duration_s": Clip.duration_s, "label": Clip.label}
SORTS = tuple(f"{sign}{column}" for column in SORT_COLUMNS for sign in ("", "-"))
FLAG_FILTERS = (*ALL_FLAGS, "any")


@dataclass(frozen=True)
class ClipFilter:
    """Which clips a listing shows."""

    label: str | None = None
    speaker: str | None = None
    source: str | None = None
    flag: str | None = None
    deleted: str = "false"
    review: str | None = None
    sort: str = "created_at"
    limit: int = 50
    offset: int = 0


class RecordingService:
    """Clip operations over one database session and the data volume."""

    def __init__(
        self,
        session: AsyncSession,
        storage: Storage,
        settings: Settings,
        events: EventRecorder,
        *,
        writer: WriterLease | None = None,
    ) -> None:
        self.session = session
        self.storage = storage
        self.writer = writer or WriterLease(storage.root)
        self.settings = settings
        self.events = events
        self.datasets = DatasetService(session, storage, settings, events)

    async def add(
        self,
        dataset_name: str,
        uploads: list[Upload],
        *,
        label: str | None,
        speaker: str | None = None,
        notes: str | None = None,
        source: str = "upload",
    ) -> list[schemas.Clip]:
        """Store every uploaded file as a clip, or none of them if any one is refused."""
        dataset = await self.datasets.get(dataset_name)
        if not uploads:
            raise InvalidInput("no audio file in the upload; send one or more files as multipart form fields")
        if label is None:
            raise InvalidInput("the `label` form field is missing; use one of: positive, negative, noise")
        require_label(label)
        require_source(source)
        speaker = clean_text(speaker, "speaker", MAX_SPEAKER_LENGTH)
        notes = clean_text(notes, "notes", MAX_NOTES_LENGTH)

        # Decoding and resampling are CPU work: keep them off the event loop.
        normalized = await anyio.to_thread.run_sync(normalize_all, uploads, self.settings)
        if label != "noise":
            refuse_silence(uploads, normalized)
        await self._refuse_duplicates(dataset, uploads, normalized)

        clips = [
            new_clip(
                dataset.id,
                clip,
                label=label,
                speaker=speaker,
                notes=notes,
                source=source,
                filename=base_filename(upload.filename),
                position=position,
            )
            for position, (upload, clip) in enumerate(zip(uploads, normalized, strict=True))
        ]
        return await self._store(dataset, clips, [c.wav_bytes for c in normalized])

    async def _store(
        self,
        dataset: Dataset,
        clips: list[Clip],
        blobs: list[bytes],
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> list[schemas.Clip]:
        """Write the clips' files, then commit their rows, their events and whatever `before_commit` adds, or none."""
        paths = [self.storage.clip_path(dataset.name, c.id) for c in clips]
        # After a rollback the row's attributes are expired: keep what the error paths need.
        dataset_id, dataset_name = dataset.id, dataset.name
        # Files first, rows second: a crash in between leaves files without rows, which reconcile
        # removes (at once: the intent names them); rows never point at files that were not fully written.
        with self.writer.intent(paths):
            try:
                await anyio.to_thread.run_sync(write_all, paths, blobs)
                self.session.add_all(clips)
                await self.session.flush()
                added = [self._to_schema(c, dataset.name) for c in clips]
                for clip_schema in added:
                    await self._event("dataset.clip_added", clip_schema)
                if before_commit is not None:
                    await before_commit()
                await self.session.commit()
            except IntegrityError:
                await self.session.rollback()
                self.events.discard()
                remove_all(paths)
                if await self.session.get(Dataset, dataset_id) is None:
                    # Deleted (with force) while the files were written: their folders were made again for them.
                    await anyio.to_thread.run_sync(remove_empty_folders, self.storage, dataset_name)
                    raise NotFound(
                        f"dataset {dataset_name!r} was deleted while the upload was being stored; nothing was stored"
                    ) from None
                raise Conflict("a clip with the same audio was stored at the same moment; list the dataset") from None
            except BaseException:
                # With the database gone the rollback fails too; the files must go all the same.
                with contextlib.suppress(SQLAlchemyError):
                    await self.session.rollback()
                self.events.discard()
                remove_all(paths)
                raise
        await self.events.publish()
        return added

    async def list(self, dataset_name: str, query: ClipFilter) -> schemas.ClipPage:
        """A page of a dataset's clips, oldest first unless `sort` says otherwise."""
        dataset = await self.datasets.get(dataset_name)
        if query.deleted not in DELETED_FILTERS:
            raise InvalidInput(f"deleted must be one of: {', '.join(DELETED_FILTERS)}")
        if query.sort not in SORTS:
            raise InvalidInput(f"unknown sort {query.sort!r}; use one of: {', '.join(SORTS)} (- first: descending)")
        if query.flag is not None and query.flag not in FLAG_FILTERS:
            raise InvalidInput(f"unknown flag {query.flag!r}; use one of: {', '.join(FLAG_FILTERS)}")
        check_page(query.limit, query.offset)
        conditions = [Clip.dataset_id == dataset.id]
        if query.deleted == "false":
            conditions.append(Clip.deleted_at.is_(None))
        elif query.deleted == "true":
            conditions.append(Clip.deleted_at.is_not(None))
        if query.flag is not None:
            # Flags are derived (labels change, duplicates come and go): the clips in view are judged now, as
            # /quality judges the active ones, and the listing keeps those with the flag.
            clips, _ = await self._measured(dataset, conditions)
            flags = all_flags(clips)
            wanted = [i for i, found in flags.items() if found and (query.flag == "any" or query.flag in found)]
            conditions.append(Clip.id.in_(wanted))
        if query.label is not None:
            conditions.append(Clip.label == require_label(query.label))
        if query.speaker is not None:
            conditions.append(Clip.speaker == clean_text(query.speaker, "speaker", MAX_SPEAKER_LENGTH))
        if query.source is not None:
            conditions.append(Clip.source == require_source(query.source))
        if query.review is not None:
            if query.review not in REVIEW_FILTERS:
                raise InvalidInput(f"review must be one of: {', '.join(REVIEW_FILTERS)}")
            conditions.append(Clip.review == UNREVIEWED if query.review == "unreviewed" else Clip.review.is_(None))
        total = await self.session.scalar(select(func.count()).select_from(Clip).where(*conditions))
        column = SORT_COLUMNS[query.sort.removeprefix("-")]
        if query.sort == "created_at":
            order = [Clip.created_at, Clip.id]
        elif query.sort == "-created_at":
            order = [Clip.created_at.desc(), Clip.id.desc()]
        else:
            order = [column.desc() if query.sort.startswith("-") else column, Clip.created_at.desc(), Clip.id.desc()]
        rows = await self.session.scalars(
            select(Clip).where(*conditions).order_by(*order).limit(query.limit).offset(query.offset)
        )
        return schemas.ClipPage(
            items=[self._to_schema(c, dataset.name) for c in rows],
            total=total or 0,
            limit=query.limit,
            offset=query.offset,
        )

    async def quality(self, dataset_name: str) -> schemas.DatasetQuality:
        """Dataset QA of the active clips; clips stored before QA are measured from their files now, and kept."""
        dataset = await self.datasets.get(dataset_name)
        clips, missing = await self._measured(dataset, [Clip.dataset_id == dataset.id, Clip.deleted_at.is_(None)])
        return summarize(dataset.name, clips, missing)

    async def _measured(self, dataset: Dataset, conditions: list[ColumnElement[bool]]) -> tuple[list[Clip], int]:
        """The clips that meet the conditions, oldest first, those stored before QA measured from their files now
        (and kept); and how many of those files could not be read."""
        clips = list(await self.session.scalars(select(Clip).where(*conditions).order_by(Clip.created_at, Clip.id)))
        name = dataset.name
        unmeasured = [c for c in clips if needs_measuring(c)]
        if not unmeasured:
            return clips, 0
        missing = await anyio.to_thread.run_sync(
            measure_missing, unmeasured, lambda c: self.storage.clip_path(name, c.id, deleted=c.deleted)
        )
        await self.session.commit()
        return clips, missing

    async def read(self, dataset_name: str, clip_id: uuid.UUID) -> schemas.Clip:
        """One clip."""
        dataset, clip = await self._get(dataset_name, clip_id)
        return self._to_schema(clip, dataset.name)

    async def audio_path(self, dataset_name: str, clip_id: uuid.UUID) -> Path:
        """The stored WAV of a clip (from trash/ when it is deleted)."""
        dataset, clip = await self._get(dataset_name, clip_id)
        path = self.storage.clip_path(dataset.name, clip.id, deleted=clip.deleted)
        if not path.is_file():
            raise NotFound(f"the audio of clip {clip_id} is missing on the data volume")
        return path

    async def update(self, dataset_name: str, clip_id: uuid.UUID, data: schemas.ClipUpdate) -> schemas.Clip:
        """Change a clip's label, speaker or notes; a deleted clip must be restored first."""
        dataset, clip = await self._get(dataset_name, clip_id)
        if clip.deleted:
            raise Conflict(f"clip {clip_id} is deleted; restore it before editing it")
        if isinstance(data.label, str):
            clip.label = require_label(data.label)
        if data.speaker is not UNSET:
            clip.speaker = clean_text(data.speaker, "speaker", MAX_SPEAKER_LENGTH)
        if data.notes is not UNSET:
            clip.notes = clean_text(data.notes, "notes", MAX_NOTES_LENGTH)
        clip.updated_at = utcnow()
        await self.session.flush()
        updated = self._to_schema(clip, dataset.name)
        await self._event("dataset.clip_updated", updated)
        await self.session.commit()
        await self.events.publish()
        return updated

    async def review(self, dataset_name: str, clip_id: uuid.UUID, verdict: str) -> schemas.Clip:
        """A person's verdict on an unreviewed clip: its label (and it may be trained on), or discard (to the trash)."""
        if verdict not in VERDICTS:
            raise InvalidInput(f"unknown verdict {verdict!r}; use one of: {', '.join(VERDICTS)}")
        dataset, clip = await self._get(dataset_name, clip_id)
        if clip.review != UNREVIEWED:
            raise Conflict(f"clip {clip_id} is not waiting for review; change its label with PATCH instead")
        if verdict == "discard":
            return await self.delete(dataset_name, clip_id)
        if clip.deleted:
            raise Conflict(f"clip {clip_id} is deleted; restore it before reviewing it")
        clip.label, clip.review = verdict, None
        clip.updated_at = utcnow()
        await self.session.flush()
        reviewed = self._to_schema(clip, dataset.name)
        await self._event("dataset.clip_updated", reviewed)
        await self.session.commit()
        await self.events.publish()
        return reviewed

    def normalize_report(self, upload: Upload, *, max_seconds: float) -> NormalizedClip:
        """A device's audio as a clip would store it; a file that is not audio, or too short or long, is refused."""
        return normalize_all([upload], self.settings, max_seconds=max_seconds)[0]

    async def existing_clip_id(self, dataset: Dataset, sha256: str) -> uuid.UUID | None:
        """The clip of the dataset (trash included) that holds this audio, if any."""
        return await self.session.scalar(select(Clip.id).where(Clip.dataset_id == dataset.id, Clip.sha256 == sha256))

    async def add_for_review(
        self,
        dataset: Dataset,
        normalized: NormalizedClip,
        *,
        label: str,
        speaker: str,
        notes: str,
        before_commit: Callable[[uuid.UUID], Awaitable[None]],
    ) -> uuid.UUID:
        """Store a device's audio as an unreviewed clip; `before_commit` adds to the same transaction."""
        # No silence refusal here: what a device fired on is worth hearing, and a person decides before any training.
        clip = new_clip(
            dataset.id, normalized, label=label, speaker=speaker, notes=notes, source="device", filename=None
        )
        clip.review = UNREVIEWED
        await self._store(dataset, [clip], [normalized.wav_bytes], lambda: before_commit(clip.id))
        return clip.id

    async def delete(self, dataset_name: str, clip_id: uuid.UUID) -> schemas.Clip:
        """Soft-delete a clip: its row is marked and its file moves to trash/."""
        dataset, clip = await self._get(dataset_name, clip_id)
        if clip.deleted:
            raise Conflict(f"clip {clip_id} is already deleted; restore it with POST .../restore")
        clip.deleted_at = clip.updated_at = utcnow()
        return await self._move_and_commit(dataset.name, clip, to_trash=True)

    async def restore(self, dataset_name: str, clip_id: uuid.UUID) -> schemas.Clip:
        """Bring a soft-deleted clip back from trash/."""
        dataset, clip = await self._get(dataset_name, clip_id)
        if not clip.deleted:
            raise Conflict(f"clip {clip_id} is not deleted; there is nothing to restore")
        clip.deleted_at = None
        clip.updated_at = utcnow()
        return await self._move_and_commit(dataset.name, clip, to_trash=False)

    async def _move_and_commit(self, dataset_name: str, clip: Clip, *, to_trash: bool) -> schemas.Clip:
        src = self.storage.clip_path(dataset_name, clip.id, deleted=not to_trash)
        dst = self.storage.clip_path(dataset_name, clip.id, deleted=to_trash)
        await self.session.flush()
        changed = self._to_schema(clip, dataset_name)
        await self._event("dataset.clip_deleted" if to_trash else "dataset.clip_restored", changed)
        # The move comes before the commit: if the commit fails we move back; if the process dies
        # in between, reconcile moves the file to where the (uncommitted, so unchanged) row says.
        await anyio.to_thread.run_sync(durable_move, src, dst)
        try:
            await self.session.commit()
        except BaseException:
            await self.session.rollback()
            self.events.discard()
            durable_move(dst, src)
            raise
        await self.events.publish()
        return changed

    async def _event(self, type_: str, clip: schemas.Clip) -> None:
        await self.events.add(type_, dataset=clip.dataset, payload={"clip": msgspec.to_builtins(clip)})

    async def _get(self, dataset_name: str, clip_id: uuid.UUID) -> tuple[Dataset, Clip]:
        dataset = await self.datasets.get(dataset_name)
        clip = await self.session.scalar(select(Clip).where(Clip.id == clip_id, Clip.dataset_id == dataset.id))
        if clip is None:
            raise NotFound(f"clip {clip_id} is not in dataset {dataset_name!r}")
        return dataset, clip

    async def _refuse_duplicates(
        self, dataset: Dataset, uploads: list[Upload], normalized: list[NormalizedClip]
    ) -> None:
        seen: dict[str, int] = {}
        for index, clip in enumerate(normalized):
            if clip.sha256 in seen:
                first = seen[clip.sha256]
                raise Conflict(
                    f"{describe(uploads[index], index)} has the same audio as "
                    f"{describe(uploads[first], first)}; send each clip once. Nothing was stored"
                )
            seen[clip.sha256] = index
        existing = (
            await self.session.execute(
                select(Clip.id, Clip.sha256, Clip.deleted_at).where(
                    Clip.dataset_id == dataset.id, Clip.sha256.in_(list(seen))
                )
            )
        ).first()
        if existing is not None:
            clip_id, sha256, deleted_at = existing
            index = seen[sha256]
            where = "in the trash (restore it instead)" if deleted_at else "already"
            raise Conflict(
                f"{describe(uploads[index], index)} is a duplicate: its audio is {where} stored as clip "
                f"{clip_id} in dataset {dataset.name!r}. Nothing was stored",
                existing_clip_id=str(clip_id),
            )

    def _to_schema(self, clip: Clip, dataset_name: str) -> schemas.Clip:
        return schemas.Clip(**clip_fields(clip, dataset_name))
