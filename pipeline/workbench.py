"""The coding workbench: a local web app over the project database (``policoder serve``).

Coders pick their name (or open a link with ``?coder=NAME``), open a transcript or a policy
document, select a span with the mouse and apply codes from the codebook; their codings are
highlighted, listed beside the text and can be changed or removed (append-only underneath, like
every coding).  In a policy document each clause shows the machine's instruments and cues, which
the coder accepts or corrects as a human instrument label; the agreement view lists the units
coders disagree on and records a consensus; memos go on documents, units and codes.  Everything
goes through the same library API as the CLI (``Project.code_span``, ``recode``, ``uncode``,
``write_memo``, ``label_instruments``, ``agreement``, ``disagreements``, ``reconcile``), one short
connection per request, so several coders can work at once on one SQLite file (WAL, a busy timeout).

Safety: bound to 127.0.0.1 unless told otherwise, and then a per-project access token is required;
every state-changing request carries the session's CSRF token; text from documents and codebooks
reaches the page only as escaped HTML or through ``textContent``; no request names a file.
Offsets are code points of the document's text, as everywhere in policoder.
"""
from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from . import coding, export
from .errors import PolicoderError, ProjectError
from .project import open_project

LOOPBACK = ("127.0.0.1", "localhost", "::1")
UNSAFE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# what a failed library call means for the client: the request was wrong, or it lost a race
_CONFLICTS = ("coding-superseded", "coding-conflict", "memo-superseded", "duplicate-coding")
_NOT_FOUND = ("unknown-document", "unknown-coding", "unknown-unit", "unknown-memo")
_FORBIDDEN = ("blind-assignment", "not-your-coding")
# ids as JSON numbers hold them exactly (2**53): a larger one is a 422, not an overflow in the database driver
RowId = Annotated[int, PathParam(ge=0, le=2**53)]
MAX_DEPTH = 20  # codes rolled up to a deeper level than any codebook has are the codes themselves
IdList = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)]


class ErrorBody(BaseModel):
    """What every 4xx answer holds."""
    error: str
    code: str | None = None


class CodingRequest(BaseModel):
    doc_id: int = Field(ge=0, le=2**53)
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    codes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=20)
    memo: str | None = Field(default=None, max_length=20_000)


class CodingChange(BaseModel):
    """A new code, a new memo, or both."""
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["code"]}, {"required": ["memo"]}]})
    # not nullable in the spec: a field left out is kept as it is
    code: str = Field(default=None, min_length=1, max_length=200)
    memo: str = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _code_or_memo(self):
        if self.code is None and self.memo is None:
            raise ValueError("give a new code or a memo")
        return self


class MemoRequest(BaseModel):
    target_kind: str
    target: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    replaces: int | None = Field(default=None, ge=0, le=2**53)


class InstrumentLabel(BaseModel):
    """A coder's instruments of one policy clause: ``labels`` besides ``primary`` (which counts too)."""
    unit_id: str = Field(min_length=1, max_length=200)
    labels: IdList = []
    primary: str = Field(min_length=1, max_length=200)
    confidence: str | None = Field(default=None, max_length=20)
    memo: str | None = Field(default=None, max_length=20_000)


class Consensus(BaseModel):
    """The consensus codes of one unit (empty: the unit gets no code)."""
    unit_id: str = Field(min_length=1, max_length=200)
    codes: IdList


def create_app(project_root: str | Path, *, db: str | Path | None = None, token: str | None = None,
               secret: str | None = None) -> FastAPI:
    """The workbench for the project at ``project_root``; with ``token``, every request must carry
    it once (``?token=…``, kept in the session) or in the ``X-Policoder-Token`` header."""
    root = Path(project_root)
    open_project(root, db=db).close()  # a missing or malformed project fails here, not on the first click
    app = FastAPI(title="policoder workbench", version="1",
                  description="Code transcripts and review policy clauses in the browser.",
                  responses={"4XX": {"model": ErrorBody, "description": "a bad request, with its reason"}})
    templates = Jinja2Templates(directory=str(resources.files("pipeline") / "data" / "templates" / "workbench"))
    app.mount("/static", StaticFiles(directory=str(resources.files("pipeline") / "data" / "static")), name="static")

    def project_dependency() -> Iterator:
        """One connection per request.  FastAPI runs this setup, the handler and this teardown in
        threadpool threads that need not be the same, one after another: hence ``any_thread``."""
        project = open_project(root, db=db, any_thread=True)
        try:
            yield project
        finally:
            project.close()

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
        status = 409 if code in _CONFLICTS else 404 if code in _NOT_FOUND else 403 if code in _FORBIDDEN else 400
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
    def index(request: Request, kind: str = "", level: str = "", group: str = "", status: str = "",
              assigned: bool = False, project=Depends(project_dependency)):
        coder = request.session.get("coder")
        documents = _document_list(project, coder)
        shown = [d for d in documents if (not kind or d["kind"] == kind) and (not level or d["level"] == level)
                 and (not group or d["group"] == group) and (not status or d["status_for_me"] == status)
                 and (not assigned or d["assigned_to_me"])]
        return templates.TemplateResponse(request, "index.html", {
            "coder": coder, "documents": shown, "total": len(documents), "csrf": request.session["csrf"],
            "filters": {"kind": kind, "level": level, "group": group, "status": status, "assigned": assigned},
            "kinds": sorted({d["kind"] for d in documents}), "levels": sorted({d["level"] for d in documents if d["level"]}),
            "groups": sorted({d["group"] for d in documents if d["group"]}), "project": project.config.project.name})

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: RowId, project=Depends(project_dependency)):
        coder = request.session.get("coder")
        if not coder:
            return RedirectResponse("/", status_code=303)
        document = project.document(str(doc_id))
        # a coder with blind assignments sees only their own codings (``Project.codes_blind``)
        return templates.TemplateResponse(request, "document.html", {
            "coder": coder, "document": document, "name": _display_name(document), "csrf": request.session["csrf"],
            "blind": project.codes_blind(coder), "project": project.config.project.name})

    @app.get("/agreement", response_class=HTMLResponse, include_in_schema=False)
    def agreement_page(request: Request, unit: str = "", depth: str = "", project=Depends(project_dependency)):
        coder = request.session.get("coder")
        if not coder:
            return RedirectResponse("/", status_code=303)
        # a coder still coding blind sees the coefficients, never the others' codes behind them
        hidden = project.codes_blind(coder)
        consensus = project.config.coding.consensus_coder
        found = problem = depth_level = None
        disagreements, decided = [], {}
        status = 200
        try:  # a bad choice in the form (a 400), fewer than two coders or no codebook: said on the page
            depth_level = _form_depth(depth)
            codings = project.codings()  # once, for the coefficients, the disagreements and the consensus
            found = export.json_ready(project.agreement(unit=unit or None, depth=depth_level, codings=codings))
            if not hidden:
                disagreements = project.disagreements(coders=found["coders"], depth=depth_level, codings=codings)
                for row in codings:
                    if row["coder"] == consensus:
                        decided.setdefault(row["unit_id"], set()).add(row["code"])
        except PolicoderError as error:
            problem = str(error)
            status = 400 if error.code in ("bad-unit", "bad-depth") else 200
        names = {c.id: c.name for c in project.codebook().codes} if project.config.coding.codebook else {}
        return templates.TemplateResponse(request, "agreement.html", {
            "coder": coder, "csrf": request.session["csrf"], "project": project.config.project.name,
            "result": found, "problem": problem, "disagreements": disagreements, "hidden": hidden, "names": names,
            "consensus": consensus, "decided": decided, "unit": unit, "depth": depth_level}, status_code=status)

    # --- the JSON API the pages use -----------------------------------------------------------

    @app.get("/api/session")
    def session_state(request: Request) -> dict:
        return {"coder": request.session.get("coder"), "csrf": request.session["csrf"]}

    @app.get("/api/documents")
    def documents(request: Request, project=Depends(project_dependency)) -> list[dict]:
        return _document_list(project, request.session.get("coder"))

    @app.get("/api/documents/{doc_id}")
    def document(request: Request, doc_id: RowId, others: bool = False, project=Depends(project_dependency)) -> dict:
        coder = coder_of(request)
        if others:
            project.check_sees_others(coder)
        found = project.document(str(doc_id))
        codings = [_coding_view(c) for c in project.codings(machine=False, doc_ids=[doc_id])
                   if c["start"] is not None and (c["coder"] == coder or others)]
        units = _units(project, doc_id)
        unit_ids = {u["unit_id"] for u in units}
        memos = [m for m in project.memos() if (m["target_kind"], m["target"]) == ("document", str(doc_id))
                 or (m["target_kind"] == "unit" and m["target"] in unit_ids)]
        return {**{k: found[k] for k in ("id", "path", "title", "kind", "level", "text")},
                "units": units, "codings": codings, "memos": memos, "coder": coder}

    @app.get("/api/documents/{doc_id}/instruments")
    def instruments(request: Request, doc_id: RowId, project=Depends(project_dependency)) -> dict:
        """A policy document's clauses with the machine's instruments and cues and the coder's own label."""
        return project.instrument_review(doc_id, coder_of(request))

    @app.post("/api/instruments", status_code=201)
    def label_instruments(request: Request, body: InstrumentLabel, project=Depends(project_dependency)) -> dict:
        """Accept or correct the machine's instruments of a clause: a human label the classifier trains on."""
        return project.label_instruments(body.unit_id, body.labels, body.primary, coder_of(request),
                                         confidence=body.confidence, memo=body.memo)

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
    def change_coding(request: Request, coding_id: RowId, body: CodingChange, project=Depends(project_dependency)) -> dict:
        by = coder_of(request)
        return {"id": project.recode(coding_id, by=by, code=body.code, memo=body.memo)}

    @app.delete("/api/codings/{coding_id}")
    def remove_coding(request: Request, coding_id: RowId, project=Depends(project_dependency)) -> dict:
        return {"id": project.uncode(coding_id, by=coder_of(request))}

    @app.get("/api/codings/{coding_id}/history")
    def coding_history(request: Request, coding_id: RowId, project=Depends(project_dependency)) -> list[dict]:
        coder_of(request)
        return [{k: row[k] for k in ("id", "code", "start", "end", "coder", "memo", "deleted", "changed_by",
                                     "created_at")} for row in project.coding_history(coding_id)]

    @app.get("/api/memos")
    def memos(request: Request, target_kind: str | None = None,
              target: Annotated[str | None, Query(max_length=200)] = None, project=Depends(project_dependency)) -> list[dict]:
        coder_of(request)
        return project.memos(target_kind=target_kind, target=target)

    @app.get("/api/agreement")
    def agreement(request: Request, unit: str | None = None,
                  depth: Annotated[int | None, Query(ge=0, le=MAX_DEPTH)] = None,
                  project=Depends(project_dependency)) -> dict:
        """Agreement per code, overall, per coder pair and per document, as `policoder agreement` reports it."""
        coder_of(request)
        return export.json_ready(project.agreement(unit=unit, depth=depth))

    @app.get("/api/disagreements")
    def disagreements(request: Request, project=Depends(project_dependency)) -> list[dict]:
        project.check_sees_others(coder_of(request))
        return project.disagreements()

    @app.post("/api/consensus", status_code=201)
    def consensus(request: Request, body: Consensus, project=Depends(project_dependency)) -> dict:
        """Record the consensus codes of a unit (as the consensus coder; the decision is the coder's)."""
        project.check_sees_others(coder_of(request))
        return project.reconcile(decisions={body.unit_id: body.codes}, agreed=False, by=coder_of(request))

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


def _form_depth(text: str) -> int | None:
    """The agreement form's depth: empty for "not rolled up", else 0 to ``MAX_DEPTH`` as in the API."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_DEPTH):
        raise ProjectError(f"depth must be a whole number from 0 to {MAX_DEPTH}, got {text[:40]!r}", code="bad-depth")
    return int(text)


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
        rows.append({"id": d["id"], "path": d["path"], "title": _display_name(d),
                     "kind": d["kind"], "level": d["level"] or "",
                     "group": json.loads(d["attributes"] or "{}").get("group", ""), "codings_by_me": mine.get(d["id"], 0),
                     "assigned_to_me": d["id"] in assigned,
                     "status_for_me": "coded" if mine.get(d["id"]) else "not coded"})
    return rows


def _display_name(document: dict) -> str:
    """A document's title, else its file's stem (a transcript has no title)."""
    return document["title"] or Path(document["path"]).stem


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
