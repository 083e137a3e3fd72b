"""The vital-sign analysis service: upload a recording, watch it being analysed, see the result, ask about it.

    create_app(Settings(...)) -> FastAPI

Pages (server-rendered, every user string escaped by Jinja2's autoescape): `/` upload, `/analyses/{id}` the
analysis, `/history` past analyses. API (OpenAPI at `/docs`): `POST /api/analyses` (multipart field `file`),
`GET /api/analyses`, `GET|DELETE /api/analyses/{id}`, `POST /api/analyses/{id}/questions`. Downloads:
`/analyses/{id}/analysis.json`, `/analyses/{id}/report.html`; the chart `/analyses/{id}/chart.svg` is drawn by
the server (no CDN: the machine may be offline).

Safety: uploads are stored under server-generated names (the user's file name is only ever displayed); the
size limit is enforced while the body streams in (413 before it is all read); only text formats are accepted
(415), an empty or non-UTF-8 file is refused (422); with a token configured (`NEURALAB_TOKEN`) every API call
and page needs `Authorization: Bearer TOKEN` (or the cookie the /login page sets); errors are JSON
`{"detail": ...}` and never carry a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neuralab import __version__
from neuralab.web.db import Analysis, Question, init_db, make_engine, new_id, recover_interrupted, schema_version
from neuralab.web.jobs import AnalyzeFn, JobRunner, analyze_in_worker

log = logging.getLogger("neuralab.web")

ACCEPTED_SUFFIXES = (".csv", ".txt", ".tsv")
TOKEN_COOKIE = "neuralab_token"
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
AskFn = Callable[[dict[str, Any], str], str]


@dataclass
class Settings:
    """What `neuralab serve` configures.

    Attributes:
        data_dir: uploads, results and (by default) the SQLite database live here.
        db_url: SQLAlchemy URL (default `sqlite:///DATA_DIR/neuralab.db`).
        max_upload_bytes: larger uploads get 413 (default 100 MB).
        token: when set, required as a bearer token on every API call and page.
        workers: analysis worker threads.
        analyze: `analyze(upload_path, out_dir) -> analysis dict`; default: `neuralab vitals analyze`'s engine.
        ask: `ask(analysis, question) -> answer`; default: `neuralab vitals ask`'s engine.
        processes: run analyses in worker processes (`neuralab serve` does), keeping the web process responsive.
    """

    data_dir: Path = Path("neuralab-data")
    db_url: str | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    token: str | None = field(default_factory=lambda: os.environ.get("NEURALAB_TOKEN") or None)
    workers: int = 1
    analyze: AnalyzeFn | None = None
    ask: AskFn | None = None
    processes: bool = False


def _default_analyze() -> AnalyzeFn:
    from neuralab.anomaly.analysis import analyze_for_service  # issue 6's engine, imported when first needed

    return analyze_for_service


def _default_ask() -> AskFn:
    from neuralab.anomaly.questions import answer_question

    return answer_question


# ------------------------------------------------------------------------------------------ upload size limit
class UploadLimit:
    """ASGI middleware: refuse a request body over `limit` bytes with 413, deciding from Content-Length when
    given and otherwise while the body streams in, so an oversized upload is never read whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _json_error(send, 413, f"upload too large: {int(length):,} bytes; the limit is {self.limit:,}")
            return
        seen = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    # Answer 413 now and tell the app the client went away: the rest is never read.
                    refused = True
                    if not started:
                        await _json_error(send, 413, f"upload too large: over the limit of {self.limit:,} bytes")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app answers to the "disconnect" is dropped
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise


async def _json_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------------------------- the app
def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    data_dir = Path(settings.data_dir)
    (data_dir / "uploads").mkdir(parents=True, exist_ok=True)
    (data_dir / "analyses").mkdir(parents=True, exist_ok=True)
    db_url = settings.db_url or f"sqlite:///{(data_dir / 'neuralab.db').resolve()}"
    factory = init_db(make_engine(db_url))
    if settings.analyze is not None:
        analyze = settings.analyze
    else:
        analyze = analyze_in_worker if settings.processes else _lazy(_default_analyze)
    ask = settings.ask or _lazy(_default_ask)
    runner = JobRunner(factory, data_dir, analyze, workers=settings.workers, processes=settings.processes)
    templates = Environment(loader=PackageLoader("neuralab.web", "templates"),
                            autoescape=select_autoescape(("html",)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        for analysis_id in recover_interrupted(factory):
            runner.submit(analysis_id)
        runner.start()
        yield
        runner.stop()

    app = FastAPI(title="neuralab vital-sign analysis", version=__version__, lifespan=lifespan)
    app.state.settings, app.state.factory, app.state.runner = settings, factory, runner
    app.add_middleware(UploadLimit, limit=settings.max_upload_bytes)

    @app.exception_handler(Exception)
    async def _no_tracebacks(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    def authorize(request: Request) -> None:
        if not settings.token:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE, "")
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})

    def page(name: str, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(version=__version__, **ctx))

    def get_row(s: Any, analysis_id: str) -> Analysis:
        row = s.get(Analysis, analysis_id) if _ID_RE.match(analysis_id) else None
        if row is None:
            raise HTTPException(404, f"no analysis with id {analysis_id!r}")
        return row

    # ------------------------------------------------------------------------------------------------ API
    @app.post("/api/analyses", status_code=202, dependencies=[Depends(authorize)])
    async def create_analysis(file: UploadFile) -> dict[str, str]:
        """Store the uploaded recording and queue its analysis; answers at once with the id."""
        name = file.filename or ""  # displayed (escaped) only; the stored file gets a server-made name
        if not name.lower().endswith(ACCEPTED_SUFFIXES):
            raise HTTPException(415, f"file {name!r}: only {', '.join(ACCEPTED_SUFFIXES)} recordings are accepted")
        analysis_id = new_id()
        stored = f"{analysis_id}{Path(name).suffix.lower()}"
        target = data_dir / "uploads" / stored
        tmp = target.with_name(f".{stored}.part")
        size = 0
        head = b""
        try:
            with open(tmp, "wb") as out:
                while chunk := await file.read(1 << 20):
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    size += len(chunk)
                    out.write(chunk)
            problem = _sniff(head, size)
            if problem:
                raise HTTPException(415 if "binary" in problem else 422, f"file {name!r}: {problem}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        def insert() -> None:
            with factory.begin() as s:
                s.add(Analysis(id=analysis_id, filename=name[:512], stored_name=stored, size_bytes=size,
                               status="queued"))

        await run_in_threadpool(insert)  # a database wait must not stall the event loop (other uploads)
        runner.submit(analysis_id)
        return {"id": analysis_id, "status": "queued"}

    @app.get("/api/analyses", dependencies=[Depends(authorize)])
    def list_analyses(limit: int = 100, offset: int = 0) -> dict[str, Any]:
        limit = max(1, min(limit, 1000))
        with factory() as s:
            rows = s.scalars(select(Analysis).order_by(Analysis.created_at.desc()).limit(limit).offset(offset)).all()
            return {"analyses": [r.summary() for r in rows]}

    @app.get("/api/analyses/{analysis_id}", dependencies=[Depends(authorize)])
    def get_analysis(analysis_id: str) -> dict[str, Any]:
        with factory() as s:
            row = get_row(s, analysis_id)
            out = row.summary()
            if row.status == "done":
                out["analysis"] = row.result()
            out["questions"] = [q.as_dict() for q in row.questions]
            return out

    @app.delete("/api/analyses/{analysis_id}", dependencies=[Depends(authorize)])
    def delete_analysis(analysis_id: str) -> dict[str, str]:
        with factory.begin() as s:
            row = get_row(s, analysis_id)
            stored = row.stored_name
            s.delete(row)
        (data_dir / "uploads" / stored).unlink(missing_ok=True)
        shutil.rmtree(runner.result_dir(analysis_id), ignore_errors=True)
        return {"id": analysis_id, "status": "deleted"}

    @app.post("/api/analyses/{analysis_id}/questions", dependencies=[Depends(authorize)])
    async def ask_question(analysis_id: str, request: Request) -> dict[str, Any]:
        question = await _question_from(request)
        with factory() as s:
            row = get_row(s, analysis_id)
            if row.status != "done":
                raise HTTPException(409, f"analysis {analysis_id} is {row.status}; ask when it is done")
            result = row.result() or {}
        answer = ask(result, question)
        with factory.begin() as s:
            q = Question(analysis_id=analysis_id, question=question, answer=answer)
            s.add(q)
            s.flush()
            return q.as_dict()

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "schema_version": schema_version(factory)}

    # ---------------------------------------------------------------------------------------------- pages
    def page_auth(request: Request) -> Response | None:
        try:
            authorize(request)
        except HTTPException:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def upload_page(request: Request) -> Response:
        return page_auth(request) or page("upload.html", max_mb=settings.max_upload_bytes / 2**20,
                                          suffixes=ACCEPTED_SUFFIXES)

    @app.get("/history", response_class=HTMLResponse, include_in_schema=False)
    def history_page(request: Request) -> Response:
        if (redirect := page_auth(request)) is not None:
            return redirect
        with factory() as s:
            rows = [r.summary() for r in s.scalars(select(Analysis).order_by(Analysis.created_at.desc())).all()]
        return page("history.html", rows=rows)

    @app.get("/analyses/{analysis_id}", response_class=HTMLResponse, include_in_schema=False)
    def analysis_page(analysis_id: str, request: Request) -> Response:
        if (redirect := page_auth(request)) is not None:
            return redirect
        with factory() as s:
            row = get_row(s, analysis_id)
            return page("analysis.html", row=row.summary(), result=row.result(),
                        questions=[q.as_dict() for q in row.questions])

    @app.get("/analyses/{analysis_id}/{name}", include_in_schema=False)
    def analysis_file(analysis_id: str, name: str, request: Request) -> Response:
        if (redirect := page_auth(request)) is not None:
            return redirect
        allowed = {"analysis.json": "application/json", "report.html": "text/html", "chart.svg": "image/svg+xml"}
        if name not in allowed:
            raise HTTPException(404, f"no file {name!r}; available: {', '.join(allowed)}")
        with factory() as s:
            row = get_row(s, analysis_id)
            if row.status != "done":
                raise HTTPException(409, f"analysis {analysis_id} is {row.status}")
        path = runner.result_dir(analysis_id) / name  # `name` is one of three fixed names, never user text
        if not path.is_file():
            raise HTTPException(404, f"analysis {analysis_id} has no {name}")
        headers = {} if name == "chart.svg" else {"Content-Disposition": f'attachment; filename="{analysis_id}-{name}"'}
        return FileResponse(path, media_type=allowed[name], headers=headers)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(next: str = "/") -> HTMLResponse:  # noqa: A002
        return page("login.html", next=next if next.startswith("/") and not next.startswith("//") else "/")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        token, target = str(form.get("token", "")), str(form.get("next", "/"))
        if not settings.token or not hmac.compare_digest(token.encode(), settings.token.encode()):
            return page("login.html", next=target, error="wrong token")
        resp = RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/", 303)
        resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return resp

    return app


def _lazy(get: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """Resolve a default engine on first use (so the service starts without importing torch models)."""
    cache: list[Callable[..., Any]] = []

    def call(*args: Any) -> Any:
        if not cache:
            cache.append(get())
        return cache[0](*args)

    return call


def _sniff(head: bytes, size: int) -> str | None:
    if size == 0:
        return "the file is empty"
    if b"\x00" in head:
        return "binary content (NUL bytes); upload a CSV or text recording"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the 8 KiB boundary
            return f"not UTF-8 text (byte {exc.start}: 0x{head[exc.start]:02x}); save the file as UTF-8"
    return None


async def _question_from(request: Request) -> str:
    ctype = request.headers.get("content-type", "")
    try:
        if "application/json" in ctype:
            body = await request.json()
            question = body.get("question") if isinstance(body, dict) else None
        else:
            question = (await request.form()).get("question")
    except (ValueError, json.JSONDecodeError):
        raise HTTPException(422, 'send JSON {"question": "..."} or a form field "question"') from None
    if not isinstance(question, str) or not question.strip():
        raise HTTPException(422, 'a non-empty "question" is required')
    if len(question) > 2000:
        raise HTTPException(422, f"question too long ({len(question)} characters; at most 2000)")
    return question.strip()

