"""Benchmark: ``policoder run`` on a generated corpus — full run, no-op rerun, one changed document,
and the per-document stages on a Dask LocalCluster against local processes, all in one session.

    python bench/run_speed.py [--documents 2000] [--interviews 100] [--workers 2] [--reruns 5]
                              [--out bench/results/run_speed.json]

The corpus is generated here (seeded): policy documents at the four government levels, each with a
title, 发文字号, issuer, date and chapters of numbered clauses built from a phrase bank of incentive,
constraint, capacity-building and hortatory sentences and sentences about the document's industry
(one of eight, each with its own words, for the topic model), saved as TXT, DOCX and PDF in turn; and
interview transcripts with 问/答 turns.  Runs, each in a fresh project folder unless said:

  1. full: a new project, every stage, local executor with ``--workers`` processes;
  2. unchanged: the same project again (every stage up to date; the datasets linked from run 1);
  3. one changed: one clause of one TXT document edited, the project run again; ``--reruns`` times
     (a sentence added, then taken out, …), the median against the full run;
  4. dask: a copy of the corpus in a new project, the per-document stages on a
     ``distributed.LocalCluster`` of ``--workers`` single-threaded worker processes.

Peak memory is the largest resident set of this process and its child processes together,
sampled every 0.2 s with psutil (Dask workers included: they are children of this process).
CPU seconds are this process's and its child processes' that ended within the run (the local
workers and the drawing process; not the Dask workers, which end with the cluster): the work done,
which other jobs on a shared machine do not inflate as they do the wall-clock seconds.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import docx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline import RunOptions, init_project, open_project  # noqa: E402
from tests.conftest import make_pdf  # noqa: E402  (the project's own PDF maker)

LEVELS = {
    "national": (["教育部", "国家发展改革委", "人力资源社会保障部", "财政部"], "教职成"),
    "provincial": (["江苏省教育厅", "浙江省人民政府", "湖北省发展改革委", "山东省人力资源社会保障厅"], "苏教职"),
    "municipal": (["苏州市人民政府", "宁波市教育局", "武汉市财政局", "青岛市人民政府办公厅"], "苏府"),
    "county": (["长兴县人民政府", "慈溪市教育局", "宁阳县人民政府", "太仓市人民政府办公室"], "长政"),
}
SUBJECTS = ["职业院校", "行业企业", "产教融合型企业", "实训基地", "产业学院", "市域产教联合体", "技工院校",
            "双师型教师", "现代学徒制试点单位", "职业教育集团"]
THINGS = ["实习实训", "订单培养", "专业建设", "课程开发", "校企合作项目", "技能等级认定", "教师企业实践",
          "产教融合项目", "人才培养方案", "实训设备购置"]
MONEY = ["专项补助", "财政奖补资金", "税费优惠", "金融支持", "用地保障", "一次性奖励", "贷款贴息"]
SENTENCES = [
    "对认定为{s}的，给予{m}，每年最高不超过{n}万元。",
    "各地应当将{t}纳入年度考核，未按期完成的，扣减相关{m}。",
    "{s}不得以{t}名义收取费用，严禁挤占、挪用{m}。",
    "支持{s}开展{t}，按照实际投入的{p}%给予{m}。",
    "鼓励{s}参与{t}，营造全社会支持职业教育的良好氛围。",
    "加强{s}师资培训，每年组织{n}名骨干教师参加{t}能力提升培训。",
    "建立{t}质量评价制度，定期公布{s}的评估结果。",
    "对违反规定的{s}，责令限期整改；情节严重的，取消其享受{m}的资格。",
    "推动{s}与行业企业共建{t}平台，促进资源共享。",
    "各级人民政府应当保障{t}经费投入，确保{m}按时足额拨付。",
]
# each document serves one industry: its own words give the topic model something to find
# (the phrase bank alone leaves a few terms once the common ones are filtered out)
FIELDS = [
    ["智能制造", "工业机器人", "数控技术", "增材制造", "工业互联网", "机电一体化", "模具设计", "精密加工"],
    ["现代农业", "设施农业", "农产品加工", "畜牧兽医", "园艺技术", "种子生产", "农业机械", "乡村振兴"],
    ["数字经济", "大数据技术", "人工智能", "云计算", "软件开发", "网络安全", "电子商务", "区块链"],
    ["医疗护理", "护理专业", "康复治疗", "老年照护", "药品生产", "医学检验", "中医养生", "婴幼儿托育"],
    ["文化旅游", "旅游管理", "酒店服务", "非遗传承", "烹饪工艺", "会展策划", "导游服务", "民宿经营"],
    ["交通物流", "轨道交通", "港口航运", "冷链物流", "汽车维修", "航空服务", "快递运营", "供应链管理"],
    ["新能源", "光伏发电", "储能技术", "新能源汽车", "氢能利用", "风电运维", "节能环保", "电力系统"],
    ["建筑工程", "装配式建筑", "工程造价", "建筑智能化", "市政工程", "测绘地理信息", "建筑设计", "工程监理"],
]
FIELD_SENTENCES = ["围绕{a}产业发展需要，重点建设{b}、{c}等专业。", "面向{a}领域，共建{b}实训中心和{c}课程。",
                   "开展{b}和{c}岗位技能培训，服务{a}企业用工需求。"]
CHAPTERS = ["总则", "主要任务", "支持政策", "组织保障", "监督管理", "附则"]
QUESTIONS = ["贵单位参与{t}的主要动力是什么？", "{m}对你们有多大帮助？", "在{t}中遇到的最大困难是什么？",
             "政府部门对{s}的支持是否到位？", "你们如何评价{t}的效果？"]
ANSWERS = ["说实话，{m}申请流程比较复杂，我们{t}主要还是靠自己投入。",
           "{s}这几年合作多了，但企业积极性还不够高，成本分担是个问题。",
           "政策是好的，{m}也有，但落实到我们这里时间比较长。",
           "我们和{s}一起做{t}，学生实习期间企业要承担不少管理成本。",
           "考核压力比较大，{t}做不好会影响{m}的拨付。"]


def fill(template: str, rng: random.Random) -> str:
    return template.format(s=rng.choice(SUBJECTS), t=rng.choice(THINGS), m=rng.choice(MONEY),
                           n=rng.choice([5, 10, 20, 50, 100]), p=rng.choice([10, 20, 30, 50]))


def policy_document(index: int, rng: random.Random) -> tuple[str, list[str]]:
    """A policy document's file stem and its paragraphs (title, number, chapters of clauses, date)."""
    level = list(LEVELS)[index % 4]
    issuers, prefix = LEVELS[level]
    issuer = rng.choice(issuers)
    year = 2015 + index % 10
    field = FIELDS[rng.randrange(len(FIELDS))]
    paragraphs = [f"{issuer}关于推进{field[0]}领域深化产教融合的实施意见（第{index}号）",
                  f"{prefix}〔{year}〕{index % 97 + 1}号", "各有关单位："]
    clause = 0
    for number, chapter in enumerate(rng.sample(CHAPTERS[1:5], 3), start=1):
        paragraphs.append(f"第{'一二三四五六'[number - 1]}章　{chapter}")
        for _ in range(rng.randint(3, 5)):
            clause += 1
            text = "".join(fill(rng.choice(SENTENCES), rng) for _ in range(rng.randint(1, 2)))
            if rng.random() < 0.6:
                a, b, c = field[0], *rng.sample(field[1:], 2)
                text += rng.choice(FIELD_SENTENCES).format(a=a, b=b, c=c)
            paragraphs.append(f"第{_chinese(clause)}条　{text}")
    paragraphs += [f"第{_chinese(clause + 1)}条　本意见自印发之日起施行。", issuer,
                   f"{year}年{index % 12 + 1}月{index % 27 + 1}日"]
    return f"{level}_{index:05d}", paragraphs


def _chinese(number: int) -> str:
    digits = "零一二三四五六七八九"
    if number < 10:
        return digits[number]
    tens, ones = divmod(number, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def transcript(index: int, rng: random.Random) -> str:
    turns = []
    for _ in range(10):
        turns.append("问：" + fill(rng.choice(QUESTIONS), rng))
        turns.append("答：" + "".join(fill(rng.choice(ANSWERS), rng) for _ in range(rng.randint(1, 3))))
    return "\n".join(turns) + "\n"


def make_corpus(root: Path, documents: int, interviews: int, seed: int) -> Path:
    rng = random.Random(seed)
    corpus = root / "corpus"
    (corpus / "policy").mkdir(parents=True)
    (corpus / "interviews").mkdir()
    for index in range(documents):
        stem, paragraphs = policy_document(index, rng)
        kind = index % 3
        if kind == 0:
            (corpus / "policy" / f"{stem}.txt").write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
        elif kind == 1:
            document = docx.Document()
            for paragraph in paragraphs:
                document.add_paragraph(paragraph)
            document.save(corpus / "policy" / f"{stem}.docx")
        else:
            make_pdf(corpus / "policy" / f"{stem}.pdf", [paragraphs[:12], paragraphs[12:]], font_size=11)
    for index in range(interviews):
        (corpus / "interviews" / f"interview_{index:04d}.txt").write_text(transcript(index, rng), encoding="utf-8")
    return corpus


class PeakMemory:
    """Largest resident set of this process plus its children, sampled in a thread."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timed_run(root: Path, options: RunOptions) -> dict:
    project = open_project(root)
    with PeakMemory() as memory:
        began, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
        report = project.run(options)
        seconds = time.perf_counter() - began
        cpu_seconds = time.process_time() - cpu + _children_cpu() - children
    project.close()
    counts = report.manifest["counts"]
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "peak_rss_mb": round(memory.peak / 2**20),
            "stages": {s.stage: {"status": s.status, "seconds": s.seconds} for s in report.stages},
            "documents": counts.get("documents"), "clauses": counts.get("clauses"), "turns": counts.get("turns"),
            "codings": counts.get("codings"), "executor": report.manifest["executor"]}


def _children_cpu() -> float:
    """CPU seconds of this process's ended child processes (the run's workers and drawing process)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def new_project(folder: Path, corpus: Path, workers: int) -> Path:
    root = init_project(folder, "benchmark")
    shutil.rmtree(root / "corpus")
    shutil.copytree(corpus, root / "corpus")
    config = root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("workers = 1", f"workers = {workers}"),
                      encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--interviews", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reruns", type=int, default=5, help="runs after one document changed (median reported)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "run_speed.json")
    args = parser.parse_args()
    logging.getLogger("gensim").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="policoder-bench-") as temporary:
        temporary = Path(temporary)
        began = time.perf_counter()
        corpus = make_corpus(temporary / "source", args.documents, args.interviews, args.seed)
        generated = time.perf_counter() - began
        results = {"corpus": {"policy_documents": args.documents, "interviews": args.interviews,
                              "formats": "TXT, DOCX and PDF in turn", "seed": args.seed,
                              "bytes": sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()),
                              "generation_seconds": round(generated, 1)}}
        root = new_project(temporary / "local", corpus, args.workers)
        local = RunOptions(workers=args.workers)
        results["full"] = timed_run(root, local)
        print("full", json.dumps(results["full"], ensure_ascii=False), flush=True)
        results["unchanged"] = timed_run(root, local)
        print("unchanged", results["unchanged"]["seconds"], results["unchanged"]["cpu_seconds"], flush=True)
        changed = root / "corpus" / "policy" / "national_00000.txt"
        original, added = changed.read_text(encoding="utf-8"), "对成效突出的单位给予一次性奖励。"
        reruns = []
        for number in range(args.reruns):  # the sentence added, taken out, added …: one document changed each time
            changed.write_text(original.replace("第一条　", "第一条　" + added, 1) if number % 2 == 0 else original,
                               encoding="utf-8")
            reruns.append(timed_run(root, local))
            print("one changed", json.dumps(reruns[-1], ensure_ascii=False), flush=True)
        results["one_changed"] = reruns[0]
        results["one_changed_reruns"] = {"seconds": [run["seconds"] for run in reruns],
                                         "cpu_seconds": [run["cpu_seconds"] for run in reruns],
                                         "median_seconds": statistics.median(run["seconds"] for run in reruns),
                                         "median_cpu_seconds": statistics.median(run["cpu_seconds"] for run in reruns)}
        from distributed import LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            dask_root = new_project(temporary / "dask", corpus, args.workers)
            results["dask"] = timed_run(dask_root, RunOptions(executor="dask", scheduler=cluster.scheduler_address))
        print("dask", json.dumps(results["dask"], ensure_ascii=False), flush=True)
    full = results["full"]["seconds"]
    results["ratios"] = {"unchanged_to_full": round(results["unchanged"]["seconds"] / full, 4),
                         "one_changed_to_full": round(results["one_changed_reruns"]["median_seconds"] / full, 4),
                         "one_changed_to_full_cpu": round(results["one_changed_reruns"]["median_cpu_seconds"]
                                                          / results["full"]["cpu_seconds"], 4),
                         "dask_to_local": round(results["dask"]["seconds"] / full, 3)}
    results["machine"] = {"python": platform.python_version(), "cpus": psutil.cpu_count(),
                          "memory_gb": round(psutil.virtual_memory().total / 2**30)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["ratios"]))


if __name__ == "__main__":
    main()
