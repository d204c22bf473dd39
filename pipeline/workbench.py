"""The coding workbench: a local web app over the project database (``policoder serve``).

Coders pick their name (or open a link with ``?coder=NAME``), open a transcript or a policy
document, select a span with the mouse and apply codes from the codebook; their codings are
highlighted, listed beside the text and can be changed or removed (append-only underneath, like
every coding).  Everything goes through the same library API as the CLI (``Project.code_span``,
``recode``, ``uncode``, ``write_memo``), one short connection per request, so several coders can
work at once on one SQLite file (WAL, a busy timeout).

Safety: bound to 127.0.0.1 unless told otherwise, and then a per-project access token is required;
every state-changing request carries the session's CSRF token; text from documents and codebooks
reaches the page only as escaped HTML or through ``textContent``; no request names a file.
Offsets are code points of the document's text, as everywhere in policoder.
"""
from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from . import coding
from .errors import PolicoderError
from .project import open_project

LOOPBACK = ("127.0.0.1", "localhost", "::1")
UNSAFE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# what a failed library call means for the client: the request was wrong, or it lost a race
_CONFLICTS = ("coding-superseded", "coding-conflict", "memo-superseded")
_NOT_FOUND = ("unknown-document", "unknown-coding")


class CodingRequest(BaseModel):
    doc_id: int
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    codes: list[str] = Field(min_length=1, max_length=20)
    memo: str | None = Field(default=None, max_length=20_000)


class CodingChange(BaseModel):
    code: str | None = None
    memo: str | None = Field(default=None, max_length=20_000)


class MemoRequest(BaseModel):
    target_kind: str
    target: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    replaces: int | None = None


def create_app(project_root: str | Path, *, db: str | Path | None = None, token: str | None = None,
               secret: str | None = None) -> FastAPI:
    """The workbench for the project at ``project_root``; with ``token``, every request must carry
    it once (``?token=…``, kept in the session) or in the ``X-Policoder-Token`` header."""
    root = Path(project_root)
    open_project(root, db=db).close()  # a missing or malformed project fails here, not on the first click
    app = FastAPI(title="policoder workbench", version="1",
                  description="Code transcripts and review policy clauses in the browser.")
    templates = Jinja2Templates(directory=str(resources.files("pipeline") / "data" / "templates" / "workbench"))
    app.mount("/static", StaticFiles(directory=str(resources.files("pipeline") / "data" / "static")), name="static")

    @contextmanager
    def opened() -> Iterator:
        project = open_project(root, db=db)
        try:
            yield project
        finally:
            project.close()

    def project_dependency():
        with opened() as project:
            yield project

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Access token (when bound beyond loopback), coder from ``?coder=``, CSRF on writes."""
        session = request.session
        if token is not None:
            offered = request.query_params.get("token") or request.headers.get("x-policoder-token")
            if offered is not None and secrets.compare_digest(offered, token):
                session["token"] = True
            elif not session.get("token"):
                return JSONResponse({"error": "an access token is needed: open the link `policoder serve` printed"},
                                    status_code=401)
        session.setdefault("csrf", secrets.token_urlsafe(24))
        coder = request.query_params.get("coder")
        if coder is not None:
            coder = coder.strip()
            if not _valid_coder(coder):
                return JSONResponse({"error": f"{coder!r} cannot be a coder name"}, status_code=400)
            session["coder"] = coder
        if request.method in UNSAFE_METHODS and request.url.path.startswith("/api/"):
            offered = request.headers.get("x-csrf-token", "")
            if not secrets.compare_digest(offered, session["csrf"]):
                return JSONResponse({"error": "missing or wrong CSRF token (X-CSRF-Token)"}, status_code=403)
        return await call_next(request)

    app.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32),
                       session_cookie="policoder_session", same_site="strict", https_only=False)

    @app.exception_handler(PolicoderError)
    async def library_error(request: Request, error: PolicoderError):
        code = getattr(error, "code", "")
        status = 409 if code in _CONFLICTS else 404 if code in _NOT_FOUND else 400
        return JSONResponse({"error": str(error), "code": code}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems or "invalid request"}, status_code=422)

    def coder_of(request: Request) -> str:
        coder = request.session.get("coder")
        if not coder:
            raise HTTPException(401, "choose a coder name first (open any page with ?coder=NAME)")
        return coder

    # --- pages ------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request, kind: str = "", level: str = "", status: str = "", project=Depends(project_dependency)):
        coder = request.session.get("coder")
        documents = _document_list(project, coder)
        shown = [d for d in documents if (not kind or d["kind"] == kind) and (not level or d["level"] == level)
                 and (not status or d["status_for_me"] == status)]
        return templates.TemplateResponse(request, "index.html", {
            "coder": coder, "documents": shown, "total": len(documents), "csrf": request.session["csrf"],
            "filters": {"kind": kind, "level": level, "status": status},
            "kinds": sorted({d["kind"] for d in documents}), "levels": sorted({d["level"] for d in documents if d["level"]}),
            "project": project.config.project.name})

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: int, project=Depends(project_dependency)):
        coder = request.session.get("coder")
        if not coder:
            return RedirectResponse("/", status_code=303)
        document = project.document(str(doc_id))
        # blind by default while reliability sampling is on: a coder with assigned units sees only their own
        return templates.TemplateResponse(request, "document.html", {
            "coder": coder, "document": document, "csrf": request.session["csrf"],
            "blind": bool(project.assignments(coder)), "project": project.config.project.name})

    # --- the JSON API the pages use -----------------------------------------------------------

    @app.get("/api/session")
    def session_state(request: Request) -> dict:
        return {"coder": request.session.get("coder"), "csrf": request.session["csrf"]}

    @app.get("/api/documents")
    def documents(request: Request, project=Depends(project_dependency)) -> list[dict]:
        return _document_list(project, request.session.get("coder"))

    @app.get("/api/documents/{doc_id}")
    def document(request: Request, doc_id: int, others: bool = False, project=Depends(project_dependency)) -> dict:
        coder = coder_of(request)
        found = project.document(str(doc_id))
        codings = [_coding_view(c) for c in project.codings(machine=False) if c["doc_id"] == doc_id
                   and c["start"] is not None and (c["coder"] == coder or others)]
        memos = project.memos(target_kind="document", target=doc_id)
        return {**{k: found[k] for k in ("id", "path", "title", "kind", "level", "text")},
                "units": _units(project, doc_id), "codings": codings, "memos": memos, "coder": coder}

    @app.get("/api/codebook")
    def codebook(project=Depends(project_dependency)) -> dict:
        book = project.codebook()
        return {"id": book.id, "name": book.name, "version": book.version,
                "codes": [{"id": c.id, "name": c.name, "parent": c.parent, "color": c.color or _color(c.id),
                           "definition": c.definition, "codable": c.codable,
                           "depth": len(book.ancestors(c.id)) - 1} for c in book.codes]}

    @app.post("/api/codings", status_code=201)
    def add_coding(request: Request, body: CodingRequest, project=Depends(project_dependency)) -> dict:
        coder = coder_of(request)
        ids = project.code_span(body.doc_id, body.start, body.end, body.codes, coder, memo=body.memo,
                                source="workbench")
        return {"ids": ids}

    @app.patch("/api/codings/{coding_id}")
    def change_coding(request: Request, coding_id: int, body: CodingChange, project=Depends(project_dependency)) -> dict:
        by = coder_of(request)
        if body.code is None and body.memo is None:
            raise HTTPException(422, "give a new code or a memo")
        return {"id": project.recode(coding_id, by=by, code=body.code, memo=body.memo)}

    @app.delete("/api/codings/{coding_id}")
    def remove_coding(request: Request, coding_id: int, project=Depends(project_dependency)) -> dict:
        return {"id": project.uncode(coding_id, by=coder_of(request))}

    @app.get("/api/codings/{coding_id}/history")
    def coding_history(request: Request, coding_id: int, project=Depends(project_dependency)) -> list[dict]:
        coder_of(request)
        return [{k: row[k] for k in ("id", "code", "start", "end", "coder", "memo", "deleted", "changed_by",
                                     "created_at")} for row in project.coding_history(coding_id)]

    @app.post("/api/memos", status_code=201)
    def add_memo(request: Request, body: MemoRequest, project=Depends(project_dependency)) -> dict:
        return {"id": project.write_memo(body.target_kind, body.target, body.text, coder_of(request),
                                         replaces=body.replaces)}

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own, and the router's (404, 405)
    async def http_error(request: Request, error: StarletteHTTPException):
        return JSONResponse({"error": error.detail}, status_code=error.status_code)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app


def _valid_coder(name: str) -> bool:
    return 0 < len(name) <= 60 and name.isprintable() and not coding.is_machine(name)


def _document_list(project, coder: str | None) -> list[dict]:
    """Every present document with what this coder has coded in it."""
    mine = Counter(c["doc_id"] for c in project.codings(machine=False) if coder and c["coder"] == coder)
    assigned = {a["doc_id"] for a in project.assignments(coder)} if coder else set()
    rows = []
    for d in project.rows("documents"):
        if d["status"] == "missing":
            continue
        rows.append({"id": d["id"], "path": d["path"], "title": d["title"] or Path(d["path"]).stem,
                     "kind": d["kind"], "level": d["level"] or "", "codings_by_me": mine.get(d["id"], 0),
                     "assigned_to_me": d["id"] in assigned,
                     "status_for_me": "coded" if mine.get(d["id"]) else "not coded"})
    return rows


def _units(project, doc_id: int) -> list[dict]:
    return [{"unit_id": u["unit_id"], "start": u["start"], "end": u["end"], "speaker": u["speaker"],
             "role": u["role"]} for u in project.coding_units() if u["doc_id"] == doc_id]


def _coding_view(row: dict) -> dict:
    return {k: row[k] for k in ("id", "code", "code_path", "coder", "start", "end", "unit_id", "memo", "text")}


def _color(code_id: str) -> str:
    """A stable pale colour for a code without one in the codebook."""
    hue = int.from_bytes(code_id.encode("utf-8")[-4:].rjust(4, b"\0"), "big") * 137 % 360
    return f"hsl({hue} 70% 82%)"


def serve(project_root: str | Path, *, host: str = "127.0.0.1", port: int = 8765, db: str | Path | None = None,
          announce=print) -> None:
    """Run the workbench until interrupted; beyond loopback, with a fresh access token."""
    import uvicorn

    token = None if host in LOOPBACK else secrets.token_urlsafe(18)
    app = create_app(project_root, db=db, token=token)
    shown = f"[{host}]" if ":" in host else host
    if token:
        announce(f"policoder workbench on http://{shown}:{port}/?token={token}")
        announce("bound beyond this machine: every coder needs the link above (with its access token)")
    else:
        announce(f"policoder workbench on http://{shown}:{port}/ (this machine only; Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
