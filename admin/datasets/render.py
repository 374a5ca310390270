"""A DatasetReport as people read it: Slack mrkdwn (bounded length) or plain terminal text."""

from __future__ import annotations

from collections import defaultdict

from admin.datasets.report import DatasetReport, Issue, IssueLog

_LINES_SHOWN = 5


def counted(n: int, noun: str) -> str:
    """`1 example`, `2 examples`, `1,200 examples`: every count tunebot prints of a noun."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def render_report_for_slack(report: DatasetReport, *, limit_chars: int = 3000) -> str:
    """Summary, then errors and warnings grouped by code (count, first lines, one example).

    Groups that do not fit in `limit_chars` are replaced by "… and N more".
    """
    head = [_headline(report, slack=True), *_facts(report)]
    groups = [("*Errors*", g) for g in _groups(report.errors)]
    groups += [("*Warnings*", g) for g in _groups(report.warnings)]
    return _fit(head, groups, limit_chars, slack=True)


def render_report_text(report: DatasetReport, *, limit_chars: int = 20_000) -> str:
    """The same report for a terminal."""
    head = [_headline(report, slack=False), *_facts(report)]
    groups = [("Errors", g) for g in _groups(report.errors)]
    groups += [("Warnings", g) for g in _groups(report.warnings)]
    return _fit(head, groups, limit_chars, slack=False)


def _headline(report: DatasetReport, *, slack: bool) -> str:
    what = f"{report.format}, {counted(report.examples, 'example')}"
    if report.valid:
        mark = ":white_check_mark: " if slack else ""
        state = "Dataset is valid"
    else:
        mark = ":x: " if slack else ""
        state = f"Dataset has {counted(len(report.errors), 'error')}"
    return f"{mark}{'*' if slack else ''}{state}{'*' if slack else ''} ({what})"


def _facts(report: DatasetReport) -> list[str]:
    facts = []
    if report.valid_examples:  # nothing counted, nothing to price: the errors say why
        t = report.tokens
        facts.append(
            f"Tokens: {t.total:,} total, {t.billed_per_epoch:,} billed per epoch, "
            f"{t.assistant:,} in assistant replies, largest example {t.max_example:,}"
        )
        facts.append(
            f"Model {report.model}, {report.epochs} epochs ({report.epochs_source}): "
            + _cost(report)
        )
    if report.speakers:
        shown = ", ".join(f"{name} ({n:,})" for name, n in report.speakers[:8])
        facts.append(f"Speakers: {shown}")
    if report.validation is not None:
        v = report.validation
        facts.append(
            f"Validation: {counted(v.examples, 'example')}, {counted(len(v.errors), 'error')}"
        )
    return facts


def _cost(report: DatasetReport) -> str:
    price, usd = report.price, report.estimated_cost_usd
    if usd is None or not price:
        return "cost unknown (no training price for this model)"
    amount = f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.4f}"
    return (
        f"about {amount} at ${price['per_1m_training_tokens_usd']:g}/1M training tokens "
        f"({price['model']}, prices of {price['as_of']})"
    )


def _groups(log: IssueLog) -> list[str]:
    listed: dict[str, list[Issue]] = defaultdict(list)
    for issue in log.sorted():
        listed[issue.code].append(issue)
    out = []
    for code, count in log.counts.most_common():
        issues = listed.get(code, [])
        lines = [str(i.line) for i in issues if i.line is not None][:_LINES_SHOWN]
        where = ""
        if lines:
            more = "…" if count > len(lines) else ""
            where = f" — line{'s' if len(lines) > 1 else ''} {', '.join(lines)}{more}"
        messages = {i.message for i in issues}
        if len(messages) > 1:  # each line has its own finding (JSON errors): show them all
            out.append(f"`{code}` ×{count:,}:{_per_line(issues, count)}")
            continue
        example = issues[0].message if issues else ""
        out.append(f"`{code}` ×{count:,}{where}: {example}")
    return out


def _per_line(issues: list[Issue], count: int) -> str:
    shown = issues[:_LINES_SHOWN]
    lines = [f"\n    line {i.line}: {i.message}" if i.line else f"\n    {i.message}" for i in shown]
    more = f"\n    … and {count - len(shown):,} more" if count > len(shown) else ""
    return "".join(lines) + more


def _fit(head: list[str], groups: list[tuple[str, str]], limit: int, *, slack: bool) -> str:
    lines = [_escape(h) if slack else h for h in head]
    used = sum(len(x) + 1 for x in lines)
    section = None
    for shown, (title, text) in enumerate(groups):
        entry = f"• {_escape(text) if slack else text}"
        cost = len(entry) + 1 + (len(title) + 1 if title != section else 0)
        if used + cost > limit - 40:
            lines.append(f"… and {len(groups) - shown} more")
            break
        if title != section:
            lines.append(title)
            section = title
        lines.append(entry)
        used += cost
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _escape(text: str) -> str:
    # Slack treats &, < and > as markup; user data must not turn into links or mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
