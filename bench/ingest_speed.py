"""Benchmark: PDF ingestion speed, policoder against raw extractors, in one run.

    python bench/ingest_speed.py [--pages 240] [--out bench/results/ingest_speed.json]

Generates a corpus of Chinese policy PDFs (running headers, page-number footers, paragraphs
broken by the page width) and times, on the same files in the same process session:
  - pypdfium2 raw text (``get_text_range`` per page): the fastest raw extractor here;
  - ``pdftotext -layout`` (poppler), when installed;
  - pdfplumber ``extract_text()``;
  - policoder's PDF reader (extraction + cleaning: headers, page numbers, re-joined lines);
  - policoder's whole ``read_document`` (reader + metadata + clause segmentation),
each policoder figure with 1 and 2 worker processes.  Each figure is the best of three runs.
Every extractor's output is checked for lost Chinese characters against the text that was printed.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CJK = re.compile(r"[\u4e00-\u9fff]")
PARAGRAPHS = [
    "为深入贯彻落实职业教育法，推动产教融合、校企合作向纵深发展，现就加快建设市域产教联合体提出如下意见。",
    "（一）健全激励机制。对认定为产教融合型企业的，按其当年实际投入给予最高不超过50万元的一次性奖励，所需经费从职业教育专项资金中列支。",
    "（二）落实税收优惠。企业投资或捐赠职业教育的，按规定享受教育费附加和地方教育附加抵免政策。",
    "（三）强化监督考核。各地不得挪用、截留专项资金；对未按期完成整改的院校，取消其当年评优评先资格，并予以通报批评。",
    "（四）加强师资建设。实施双师型教师培养计划，每年选派专业教师到企业实践不少于一个月，建设一批高水平实训基地。",
    "（五）深化办学体制改革。支持职业院校与行业龙头企业共建产业学院，探索混合所有制办学，完善理事会治理结构。",
]


def make_corpus(folder: Path, pages: int, pages_per_file: int = 8) -> tuple[list[Path], Counter]:
    """PDFs totalling ``pages`` pages; returns them and the Chinese characters printed in bodies."""
    from tests.conftest import make_pdf

    files, printed = [], Counter()
    for index in range(0, pages, pages_per_file):
        count = min(pages_per_file, pages - index)
        body = [[f"{n}、{PARAGRAPHS[(n + i) % len(PARAGRAPHS)]}" for i in range(1, 7)]
                for n in range(index + 1, index + count + 1)]
        for page in body:
            for paragraph in page:
                printed.update(CJK.findall(paragraph))
        files.append(make_pdf(folder / f"policy_{index // pages_per_file:03d}.pdf", body,
                              header="浙江省教育厅文件", footer="— {n} —"))
    return files, printed


def pdfium_raw(path: Path) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    document.close()
    return text


def pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")


def pdfplumber_text(path: Path) -> str:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def policoder_reader(path: Path) -> str:
    from pipeline.ingest import read_source

    return read_source(path).text


def policoder_document(path: Path) -> str:
    from pipeline.ingest import read_document

    document = read_document(path, kind="policy")
    return "\n".join(clause.text for clause in document.clauses)


def _warm() -> None:
    # import cost is paid once per worker process, before the clock starts
    from pipeline.ingest import read_document  # noqa: F401


def _timed(function, files, workers):
    if workers == 1:
        started = time.perf_counter()
        return [function(path) for path in files], time.perf_counter() - started
    with ProcessPoolExecutor(workers, initializer=_warm) as pool:
        list(pool.map(function, files[:workers]))  # start the workers and load their data first
        started = time.perf_counter()
        texts = list(pool.map(function, files))
        return texts, time.perf_counter() - started


def measure(name, function, files, pages, printed, workers=1, repeat=3):
    """Best of ``repeat`` runs: the least disturbed by other load on the machine."""
    seconds = float("inf")
    for _ in range(repeat):
        texts, elapsed = _timed(function, files, workers)
        seconds = min(seconds, elapsed)
    got = Counter()
    for text in texts:
        got.update(CJK.findall(text))
    lost = sum((printed - got).values())
    return {"extractor": name, "workers": workers, "seconds": round(seconds, 3),
            "pages_per_second": round(pages / seconds, 1), "chinese_characters_lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=240)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest_speed.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files, printed = make_corpus(Path(tmp), args.pages)
        policoder_document(files[0])  # load division data and segmenter once, as a real batch does
        runs = [measure("pypdfium2 raw text", pdfium_raw, files, args.pages, printed)]
        if shutil.which("pdftotext"):
            runs.append(measure("pdftotext -layout (poppler)", pdftotext, files, args.pages, printed))
        runs.append(measure("pdfplumber extract_text()", pdfplumber_text, files, args.pages, printed))
        for workers in (1, 2):
            runs.append(measure("policoder PDF reader (extract + clean)", policoder_reader, files, args.pages,
                                printed, workers))
            runs.append(measure("policoder read_document (+ metadata, clauses)", policoder_document, files,
                                args.pages, printed, workers))
    fastest_raw = max(r["pages_per_second"] for r in runs if not r["extractor"].startswith("policoder"))
    print(f"{args.pages} pages in {len(files)} PDFs; Python {platform.python_version()}, {platform.machine()}")
    print(f"{'extractor':48} {'workers':>7} {'pages/s':>9} {'vs fastest raw':>15} {'CJK lost':>9}")
    for run in runs:
        print(f"{run['extractor']:48} {run['workers']:>7} {run['pages_per_second']:>9.1f} "
              f"{run['pages_per_second'] / fastest_raw:>14.0%} {run['chinese_characters_lost']:>9}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pages": args.pages, "files": len(files), "runs": runs}, indent=2),
                        encoding="utf-8")


if __name__ == "__main__":
    main()
