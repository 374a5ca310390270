"""Chat JSONL validation: every error and warning of one example, by line and message index."""

from __future__ import annotations

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import SYSTEM, chat, chat_file, codes, jsonl, with_line
except ImportError:
    from datasets_helpers import SYSTEM, chat, chat_file, codes, jsonl, with_line  # type: ignore[no-redef]

from admin.datasets import analyze
from admin.datasets.report import DatasetReport, Issue


def test_valid_chat_file_has_no_errors() -> None:
    report = analyze(chat_file(12))
    assert report.valid
    assert report.format == "chat"
    assert report.examples == 12


def _issue(report: DatasetReport, code: str) -> Issue:
    return next(i for i in report.errors.listed + report.warnings.listed if i.code == code)


def test_invalid_json_line_is_named() -> None:
    report = analyze(with_line(chat_file(12), '{"messages": [}'))
    issue = _issue(report, "invalid_json")
    assert issue.line == 13
    assert not report.valid


def test_truncated_last_line_is_reported_as_cut_off() -> None:
    report = analyze(chat_file(12) + b'{"messages": [{"role": "user", "con')
    assert _issue(report, "truncated_line").line == 13


def test_blank_line_is_an_error() -> None:
    report = analyze(chat_file(6) + b"\n" + chat_file(6, start=6))
    assert _issue(report, "blank_line").line == 7


def test_line_that_is_not_an_object_is_an_error() -> None:
    report = analyze(with_line(chat_file(12), "[1, 2]"))
    assert _issue(report, "not_an_object").line == 13


def test_missing_messages_list() -> None:
    report = analyze(with_line(chat_file(12), {"conversation": []}))
    assert "missing_messages" in codes(report.errors)


def test_unknown_role_names_message_index() -> None:
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "yo"}]}
    issue = _issue(analyze(with_line(chat_file(12), bad)), "unrecognized_role")
    assert (issue.line, issue.message_index) == (13, 1)
    assert "assistant" in issue.message


def test_unknown_message_key() -> None:
    bad = chat()
    bad["messages"][1]["mood"] = "happy"
    assert "message_unrecognized_key" in codes(analyze(with_line(chat_file(12), bad)).errors)


def test_missing_role() -> None:
    bad = {"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo"}]}
    assert "missing_role" in codes(analyze(with_line(chat_file(12), bad)).errors)


def test_content_of_wrong_type() -> None:
    bad = chat()
    bad["messages"][2]["content"] = 42
    issue = _issue(analyze(with_line(chat_file(12), bad)), "invalid_content_type")
    assert issue.message_index == 2


def test_empty_content_is_missing_content() -> None:
    assert "missing_content" in codes(analyze(with_line(chat_file(12), chat(reply=""))).errors)


def test_content_parts_are_accepted() -> None:
    parts = chat()
    parts["messages"][1]["content"] = [{"type": "text", "text": "안녕"}]
    assert analyze(with_line(chat_file(12), parts)).valid


def test_malformed_content_part() -> None:
    parts = chat()
    parts["messages"][1]["content"] = [{"type": "video", "url": "x"}]
    assert "invalid_content_part" in codes(analyze(with_line(chat_file(12), parts)).errors)


def test_weight_other_than_zero_or_one() -> None:
    bad = chat()
    bad["messages"][2]["weight"] = 0.5
    issue = _issue(analyze(with_line(chat_file(12), bad)), "invalid_weight")
    assert issue.message_index == 2


def test_weight_true_is_not_one() -> None:
    bad = chat()
    bad["messages"][2]["weight"] = True
    assert "invalid_weight" in codes(analyze(with_line(chat_file(12), bad)).errors)


def test_weight_on_user_message() -> None:
    bad = chat()
    bad["messages"][1]["weight"] = 1
    assert "weight_not_on_assistant" in codes(analyze(with_line(chat_file(12), bad)).errors)


def test_example_without_assistant_message() -> None:
    bad = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]}
    assert "missing_assistant_message" in codes(analyze(with_line(chat_file(12), bad)).errors)


def test_all_assistant_messages_weight_zero_trains_nothing() -> None:
    bad = chat()
    bad["messages"][2]["weight"] = 0
    report = analyze(with_line(chat_file(12), bad))
    assert "no_trained_assistant_message" in codes(report.errors)


def test_weight_zero_on_one_of_two_replies_is_valid() -> None:
    multi = chat()
    multi["messages"][2]["weight"] = 0
    multi["messages"] += [
        {"role": "user", "content": "more?"},
        {"role": "assistant", "content": "Sure.", "weight": 1},
    ]
    assert analyze(with_line(chat_file(12), multi)).valid


def test_special_token_in_content_is_an_error() -> None:
    report = analyze(with_line(chat_file(12), chat(reply="done <|endoftext|>")))
    issue = _issue(report, "special_token")
    assert (issue.line, issue.message_index) == (13, 2)


def test_fim_tokens_are_refused_too() -> None:
    report = analyze(with_line(chat_file(12), chat(user="<|fim_prefix|>code")))
    assert "special_token" in codes(report.errors)


def test_tool_calls_without_content_are_valid() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    example = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    }
    assert analyze(with_line(chat_file(12), example)).valid


def test_tool_message_without_call_id() -> None:
    example = chat()
    example["messages"].insert(2, {"role": "tool", "content": "data"})
    assert "missing_tool_call_id" in codes(analyze(with_line(chat_file(12), example)).errors)


def test_malformed_tools_list() -> None:
    report = analyze(with_line(chat_file(12), chat(tools=[{"type": "function"}])))
    assert "invalid_tools" in codes(report.errors)


def test_fewer_than_ten_examples_is_an_error() -> None:
    assert "too_few_examples" in codes(analyze(chat_file(9)).errors)


def test_ten_examples_pass_the_minimum() -> None:
    assert analyze(chat_file(10)).valid


def test_fewer_than_fifty_examples_is_a_warning() -> None:
    assert "few_examples" in codes(analyze(chat_file(49)).warnings)
    assert "few_examples" not in codes(analyze(chat_file(50)).warnings)


def test_duplicate_example_names_the_first_line() -> None:
    report = analyze(chat_file(12) + jsonl([chat("question 3", "answer number 3")]))
    issue = _issue(report, "duplicate_example")
    assert issue.line == 13
    assert "line 4" in issue.message


def test_no_system_prompt_anywhere_is_one_warning() -> None:
    bare = [{"messages": e["messages"][1:]} for e in map(lambda i: chat(f"q{i}"), range(12))]
    report = analyze(jsonl(bare))
    assert report.warnings.counts["missing_system_prompt"] == 1


def test_example_missing_the_system_prompt_others_have() -> None:
    bare = {"messages": chat("odd one")["messages"][1:]}
    issue = _issue(analyze(with_line(chat_file(12), bare)), "missing_system_prompt")
    assert issue.line == 13


def test_differing_system_prompts_warn() -> None:
    other = chat("x")
    other["messages"][0]["content"] = "You are a pirate."
    assert "differing_system_prompts" in codes(analyze(with_line(chat_file(12), other)).warnings)


def test_short_example_warns() -> None:
    tiny = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert "short_example" in codes(analyze(with_line(chat_file(12), tiny)).warnings)


def test_example_over_training_context_is_reported() -> None:
    long_reply = "token " * 70_000
    report = analyze(with_line(chat_file(12), chat(reply=long_reply)))
    issue = _issue(report, "example_too_long")
    assert issue.line == 13
    assert report.tokens.billed_per_epoch < report.tokens.total


def test_gpt35_has_the_smaller_training_context() -> None:
    report = analyze(with_line(chat_file(12), chat(reply="token " * 20_000)), model="gpt-3.5-turbo")
    assert report.training_context == 16_385
    assert "example_too_long" in codes(report.warnings)


def test_many_errors_are_all_counted_but_listing_is_capped() -> None:
    report = analyze(chat_file(12) + b"not json\n" * 500)
    assert report.errors.counts["invalid_json"] == 500
    assert len(report.to_dict()["errors"]) == 100
