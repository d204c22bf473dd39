import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError


def write(tmp_path, body):
    (tmp_path / "policoder.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_config_defaults_and_values(tmp_path):
    config = load_config(write(tmp_path, '[project]\ncorpus = "docs"\nseed = 7\n[ingest]\nunit = "sentence"\n'))
    assert config.project.corpus == ("docs",) and config.project.seed == 7
    assert config.ingest.unit == "sentence" and config.ingest.kind == "auto"
    assert config.as_dict()["project"]["corpus"] == ["docs"]


@pytest.mark.parametrize("body, key", [
    ("[project]\ncorpse = ['x']\n", "project.corpse"),
    ("[ingest]\nworkers = 'two'\n", "ingest.workers"),
    ("[ingest]\nworkers = 0\n", "ingest.workers"),
    ("[ingest]\nunit = 'paragraph'\n", "ingest.unit"),
    ("[project]\nseed = true\n", "project.seed"),
    ("[topicz]\nk = 3\n", "topicz"),
    ("[project]\ndatabase = 'outputs/p.db'\n", "project.database"),
    ("[topics]\nsweep = '8..3'\n", "topics.sweep"),
    ("[topics]\nk = 1\n", "topics.k"),
    ("[topics]\nno_above = 1.5\n", "topics.no_above"),
    ("[topics]\nmethod = 'bertopic'\n", "topics.method"),
    ("[instruments]\nscheme = 3\n", "instruments.scheme"),
])
def test_config_errors_name_section_and_key(tmp_path, body, key):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, body))
    message = str(raised.value)
    assert f": {key}: " in message and "policoder.toml" in message and "\n" not in message


def test_config_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="policoder init"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[project\n"))
