"""policoder: reproducible coding of policy documents, interview transcripts and surveys."""
from .errors import ConfigError, InputError, PolicoderError, ProjectError
from .ingest import read_document
from .batch import RunOptions, RunReport
from .project import IngestReport, Project, init_project, open_project
from .records import Clause, Document, PageSpan, PolicyMetadata, Problem, SourceText, Turn

__all__ = [
    "Clause", "ConfigError", "Document", "IngestReport", "InputError", "PageSpan", "PolicoderError",
    "PolicyMetadata", "Problem", "Project", "ProjectError", "RunOptions", "RunReport", "SourceText", "Turn",
    "init_project", "open_project", "read_document",
]
