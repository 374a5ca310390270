"""The report's JSON shape and its Slack rendering (grouped, escaped, bounded)."""

from __future__ import annotations

import json

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat, chat_file, with_line
except ImportError:
    from datasets_helpers import chat, chat_file, with_line  # type: ignore[no-redef]

from admin.datasets import analyze, render_report_for_slack, render_report_text


def test_to_dict_has_the_documented_keys() -> None:
    data = analyze(chat_file(12)).to_dict()
    for key in ("format", "examples", "valid", "errors", "warnings", "tokens", "epochs"):
        assert key in data
    assert set(data["tokens"]) == {"total", "billed_per_epoch", "max_example", "assistant"}
    assert "estimated_cost_usd" in data
    json.dumps(data)  # what the database stores must serialise


def test_issue_entries_have_line_code_message() -> None:
    data = analyze(with_line(chat_file(12), "oops")).to_dict()
    assert data["errors"][0] == {
        "line": 13,
        "code": "invalid_json",
        "message": data["errors"][0]["message"],
    }


def test_slack_rendering_groups_errors_by_code_with_counts_and_lines() -> None:
    report = analyze(chat_file(12) + b"nope\n" * 40)
    text = render_report_for_slack(report)
    assert "`invalid_json` ×40" in text
    assert "lines 13, 14, 15, 16, 17…" in text


def test_slack_rendering_respects_the_limit() -> None:
    lines = [chat(reply=f"r {i}", **{f"extra{i}": "1"}) for i in range(12)]
    data = chat_file(12) + b"x\n" * 30 + b"\n" * 3
    for example in lines:
        data = with_line(data, example)
    data = with_line(data, {"messages": [{"role": "bot", "content": 1}]})
    report = analyze(data)
    text = render_report_for_slack(report, limit_chars=400)
    assert len(text) <= 400
    assert "more" in text


def test_slack_rendering_escapes_markup_from_user_data() -> None:
    report = analyze(with_line(chat_file(12), chat(reply="<|endoftext|>")))
    text = render_report_for_slack(report)
    assert "&lt;|endoftext|&gt;" in text
    assert "<|" not in text


def test_slack_rendering_states_the_price_used() -> None:
    text = render_report_for_slack(analyze(chat_file(12)))
    assert "$3/1M training tokens" in text
    assert "gpt-4o-mini-2024-07-18" in text


def test_text_rendering_of_a_valid_report() -> None:
    text = render_report_text(analyze(chat_file(60)))
    assert text.startswith("Dataset is valid (chat, 60 examples)")
