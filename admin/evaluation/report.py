"""An evaluation's report: the stored dict, its Slack text, and Block Kit within Slack's limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from admin.datasets.render import counted
from admin.evaluation import scoring
from admin.evaluation.heldout import Example
from storage.models import Evaluation

# Slack's limits: 50 blocks a message, 3,000 characters a section, 2,000 a field.
MAX_BLOCKS = 50
SECTION_CHARS = 3000
FIELD_CHARS = 2000
SHOWN_CHARS = 600  # of each text in a side-by-side example


def build_report(
    row: Evaluation,
    *,
    examples: Sequence[Example],
    answers: Mapping[tuple[int, str], Any],
    scored: Sequence[scoring.Scored],
    judged: Mapping[int, str] | None,
    judge_model: tuple[str, str] | None,
    margin: float,
    dataset_label: str,
    scoring_seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    summary = scoring.summarise(scored)
    by_index = {s.example: s for s in scored}

    def usage(side: str) -> dict[str, int]:
        rows = [a for (_, s), a in answers.items() if s == side or s.startswith(side)]
        return {
            "prompt_tokens": sum(a.prompt_tokens or 0 for a in rows),
            "completion_tokens": sum(a.completion_tokens or 0 for a in rows),
        }

    items = []
    for example in examples:
        s = by_index[example.index]
        items.append(
            {
                "example": example.index,
                "question": example.question,
                "reference": example.reference,
                "current": answers[(example.index, "current")].text,
                "candidate": answers[(example.index, "candidate")].text,
                "current_score": round(s.current, 2),
                "candidate_score": round(s.candidate, 2),
                "outcome": s.outcome,
                "judge": judged.get(example.index) if judged else None,
            }
        )
    judge = None
    if judged is not None and judge_model is not None:
        outcomes = list(judged.values())
        judge = {
            "provider": judge_model[0],
            "model": judge_model[1],
            "wins": outcomes.count("win"),
            "ties": outcomes.count("tie"),
            "losses": outcomes.count("loss"),
            **usage("judge"),
        }
    return {
        # The gate compares with the model answering in Slack; on demand, with any model.
        "on_demand": not row.key.startswith("gate:"),
        "dataset": dataset_label,
        "examples": len(items),
        "metric": scoring.signature(),
        "margin": margin,
        "candidate": {
            "provider": row.candidate_provider,
            "model": row.candidate_model,
            "score": round(summary.candidate, 2),
            **usage("candidate"),
        },
        "current": {
            "provider": row.current_provider,
            "model": row.current_model,
            "score": round(summary.current, 2),
            **usage("current"),
        },
        "wins": summary.wins,
        "ties": summary.ties,
        "losses": summary.losses,
        "passed": scoring.goes_live(summary, margin=margin),
        "judge": judge,
        "concurrency": concurrency,
        "seconds": {"scoring": round(scoring_seconds, 3)},
        "showcase": scoring.showcase(scored),
        "items": items,
    }


def headline(report: Mapping[str, Any]) -> str:
    c, k = report["candidate"], report["current"]
    other = f"`{k['model']}`" if report.get("on_demand") else "the current one"
    line = (
        f"chrF *{c['score']:.1f}* for the new model vs *{k['score']:.1f}* for {other} "
        f"on {counted(report['examples'], 'held-out example')} ({report['dataset']}): "
        f"{report['wins']} better, {report['ties']} tied, {report['losses']} worse"
    )
    if report.get("judge"):
        j = report["judge"]
        line += f". Judge `{j['model']}`: {j['wins']} better, {j['ties']} tied, {j['losses']} worse"
    return line


def footer(report: Mapping[str, Any]) -> str:
    seconds = report.get("seconds") or {}
    tokens = sum(
        report[side]["prompt_tokens"] + report[side]["completion_tokens"]
        for side in ("candidate", "current")
    ) + sum((report.get("judge") or {}).get(k, 0) for k in ("prompt_tokens", "completion_tokens"))
    took = f"{seconds['answering']:.1f} s answering" if "answering" in seconds else "time unknown"
    return (
        f"{report['metric']} · margin {report['margin']:g} · {tokens:,} tokens · {took}, "
        f"{seconds.get('scoring', 0):.2f} s scoring · {report['concurrency']} at a time"
    )


def report_blocks(report: Mapping[str, Any], *, intro: str, full: bool = False) -> list[Any]:
    """Block Kit: the intro, both scores, the tally, three side-by-side examples (and with
    `full`, one line per example), never more than Slack takes."""
    c, k = report["candidate"], report["current"]
    other, theirs = ("Current model", "Current answer")
    if report.get("on_demand"):
        other, theirs = ("Compared with", "Its answer")
    blocks: list[Any] = [
        _section(intro),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*New model* `{_clip(c['model'], 200)}`\nchrF *{c['score']:.1f}*"),
                _mrkdwn(f"*{other}* `{_clip(k['model'], 200)}`\nchrF *{k['score']:.1f}*"),
                _mrkdwn(f"*Held-out examples*\n{report['examples']} ({report['dataset']})"),
                _mrkdwn(
                    f"*Better / tied / worse*\n{report['wins']} / {report['ties']} / "
                    f"{report['losses']}"
                ),
            ],
        },
        {"type": "context", "elements": [_mrkdwn(_clip(footer(report), 2000))]},
    ]
    items = {item["example"]: item for item in report["items"]}
    for number, index in enumerate(report.get("showcase") or [], start=1):
        item = items[index]
        blocks += [
            {"type": "divider"},
            _section(
                f"*Example {number}* (chrF new {item['candidate_score']:.1f} · current "
                f"{item['current_score']:.1f})\n*Prompt:* {_quote(item['question'])}\n"
                f"*Reference:* {_quote(item['reference'])}"
            ),
            {
                "type": "section",
                "fields": [
                    _mrkdwn(f"*{theirs}*\n{_quote(item['current'])}"),
                    _mrkdwn(f"*New answer*\n{_quote(item['candidate'])}"),
                ],
            },
        ]
    if full:
        lines = [
            f"{i['example']}: new {i['candidate_score']:.1f} · current {i['current_score']:.1f} "
            f"· {i['outcome']}{' · judge: ' + i['judge'] if i.get('judge') else ''} · "
            f"{_escape(_clip(' '.join(i['question'].split()), 80))}"
            for i in report["items"]
        ]
        blocks += [{"type": "divider"}] + [_section(chunk) for chunk in _chunks(lines)]
    return blocks[:MAX_BLOCKS]


def _chunks(lines: Sequence[str]) -> list[str]:
    chunks, current = [], ""
    for line in lines:
        if current and len(current) + len(line) + 1 > SECTION_CHARS - 10:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [*chunks, current] if current else chunks


def _quote(text: str) -> str:
    return _escape(_clip(" ".join(text.split()), SHOWN_CHARS)) or "_(empty)_"


def _escape(text: str) -> str:
    # Text from datasets and models must not become mentions or links in Slack.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text, FIELD_CHARS)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_CHARS)}}
