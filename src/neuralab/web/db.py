"""The service's database: analyses and the questions asked about them (SQLAlchemy 2).

SQLite file in the data directory by default (`sqlite:///DATA_DIR/neuralab.db`), PostgreSQL with
`--db postgresql://...`. A `meta` row records the schema version; a database written by a newer schema is
refused instead of being misread.

Life of an analysis row: `queued` (upload stored) -> `running` (a worker took it) -> `done` (result stored, in
the same transaction as the status) or `failed` (with the error message). On start-up, rows left `queued` or
`running` by a crash are re-queued (`recover_interrupted`): never "running" forever, never half-written,
because a result and its `done` status are committed together.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from neuralab.errors import ConfigError

SCHEMA_VERSION = 1
STATUSES = ("queued", "running", "done", "failed")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Analysis(Base):
    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    filename: Mapped[str] = mapped_column(String(512))  # as the user named it: shown (escaped), never a path
    stored_name: Mapped[str] = mapped_column(String(64))  # server-generated name of the upload on disk
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    counts_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    questions: Mapped[list[Question]] = relationship(back_populates="analysis", cascade="all, delete-orphan",
                                                     order_by="Question.id")

    def summary(self) -> dict[str, Any]:
        """The row as the API's list and status answers show it (without the full result)."""
        out: dict[str, Any] = {"id": self.id, "filename": self.filename, "status": self.status,
                               "size_bytes": self.size_bytes, "created_at": _iso(self.created_at),
                               "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
                               "label": self.label,
                               "counts": json.loads(self.counts_json) if self.counts_json else None}
        if self.status == "failed":
            out["error"] = self.error
        return out

    def result(self) -> dict[str, Any] | None:
        return json.loads(self.result_json) if self.result_json else None


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    analysis: Mapped[Analysis] = relationship(back_populates="questions")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "answer": self.answer,
                "created_at": _iso(self.created_at)}


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds") + "Z"


def new_id() -> str:
    return uuid.uuid4().hex


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL mode and foreign keys, and may be used from worker threads."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy's plain postgresql:// means psycopg2; neuralab[postgres] installs psycopg 3
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        kwargs["pool_pre_ping"] = True
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    try:
        engine = create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--db {url.split('@')[-1]!r}: the database driver is missing ({exc}); for PostgreSQL "
                          "install neuralab[postgres]") from None
    except Exception as exc:  # noqa: BLE001  (SQLAlchemy raises several types for a bad URL)
        raise ConfigError(f"--db {url.split('@')[-1]!r} is not a usable database URL ({exc})") from None
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def init_db(engine: Engine) -> sessionmaker[Session]:
    """Create the tables if needed, check/record the schema version; returns a session factory."""
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as s:
        row = s.get(Meta, "schema_version")
        if row is None:
            s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
        elif int(row.value) > SCHEMA_VERSION:
            raise ConfigError(f"the database has schema version {row.value}, newer than this neuralab's "
                              f"{SCHEMA_VERSION}; upgrade neuralab or use another --db")
    return factory


def schema_version(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        row = s.get(Meta, "schema_version")
        return int(row.value) if row else 0


def recover_interrupted(factory: sessionmaker[Session]) -> list[str]:
    """Re-queue analyses a crash or restart left `queued` or `running`; returns their ids (oldest first)."""
    with factory.begin() as s:
        rows = s.scalars(select(Analysis).where(Analysis.status.in_(("queued", "running")))
                         .order_by(Analysis.created_at)).all()
        for row in rows:
            if row.status == "running":
                row.started_at = None
            row.status = "queued"
        return [r.id for r in rows]
