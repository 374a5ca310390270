"""The eval gate's pure parts: held-out prompts and references, chrF on Korean, the judge's two
orders, and reports that stay within Slack's block limits."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from admin.evaluation import judge, scoring
from admin.evaluation.heldout import Example, load_examples
from admin.evaluation.report import build_report, report_blocks
from bot.config import ConfigError, Settings
from tests.eval_helpers import within_slack_limits


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def test_the_prompt_is_every_turn_before_the_last_answer_and_the_reference_is_that_answer(
    tmp_path: Path,
) -> None:
    conversation = [
        {"role": "system", "content": "팀 도우미"},
        {"role": "user", "content": "안녕하세요"},
        {"role": "assistant", "content": "안녕하세요!", "weight": 0},
        {"role": "user", "content": "배포는 언제 하나요?"},
        {"role": "assistant", "content": "화요일 오후에 합니다.", "weight": 1},
    ]
    path = write(tmp_path / "held.jsonl", [{"messages": conversation}])

    [example] = load_examples(path, limit=50)

    assert example.reference == "화요일 오후에 합니다."
    assert [m["content"] for m in example.messages] == [
        "팀 도우미",
        "안녕하세요",
        "안녕하세요!",
        "배포는 언제 하나요?",
    ]
    assert all("weight" not in m for m in example.messages)  # dataset-only keys stay home
    assert example.question == "배포는 언제 하나요?"


def test_examples_without_an_answer_are_skipped_and_the_limit_keeps_the_first(
    tmp_path: Path,
) -> None:
    records = [
        {"messages": [{"role": "user", "content": "답이 없는 질문"}]},
        *[
            {
                "messages": [
                    {"role": "user", "content": f"질문 {i}"},
                    {"role": "assistant", "content": f"답 {i}"},
                ]
            }
            for i in range(5)
        ],
        {
            "input": {"messages": [{"role": "user", "content": "선호 질문"}]},
            "preferred_output": [{"role": "assistant", "content": "좋은 답"}],
            "non_preferred_output": [{"role": "assistant", "content": "나쁜 답"}],
        },
    ]
    path = write(tmp_path / "held.jsonl", records)

    assert [e.index for e in load_examples(path, limit=3)] == [1, 2, 3]
    everything = load_examples(path, limit=50)
    assert everything[-1].reference == "좋은 답" and everything[-1].question == "선호 질문"


def test_chrf_credits_a_korean_answer_that_shares_stems_and_is_deterministic() -> None:
    reference = "배포는 매주 화요일 오후 세 시에 진행합니다."
    close = "배포는 화요일 오후 세 시에 진행해요."
    unrelated = "잘 모르겠습니다."

    assert scoring.chrf(reference, reference) == 100.0
    assert scoring.chrf(close, reference) > 50 > scoring.chrf(unrelated, reference)
    assert scoring.chrf(close, reference) == scoring.chrf(close, reference)


def test_wins_ties_losses_and_the_margin() -> None:
    scored = [
        scoring.Scored(0, candidate=80.0, current=40.0),
        scoring.Scored(1, candidate=50.0, current=50.5),
        scoring.Scored(2, candidate=30.0, current=60.0),
    ]
    summary = scoring.summarise(scored)
    assert (summary.wins, summary.ties, summary.losses) == (1, 1, 1)
    worse = scoring.Summary(candidate=49.0, current=50.0, wins=0, ties=0, losses=0)
    assert not scoring.goes_live(worse, margin=0)
    assert scoring.goes_live(worse, margin=1.5)
    assert scoring.showcase(scored) == [2, 1, 0]


def test_the_judge_counts_a_win_only_when_both_orders_agree() -> None:
    assert judge.combine("A", "B") == "win"  # candidate first, then second: chosen both times
    assert judge.combine("B", "A") == "loss"
    assert judge.combine("A", "A") == "tie"  # a judge that always picks the first position
    assert judge.combine("TIE", "B") == "tie"
    assert judge.parse_verdict("Answer B is closer.") == "B"
    assert judge.parse_verdict("hmm") == "TIE"
    example = Example(0, ({"role": "user", "content": "질문"},), "참고 답")
    first = judge.judge_messages(example, "후보", "현재", side=judge.FIRST)[-1]["content"]
    second = judge.judge_messages(example, "후보", "현재", side=judge.SECOND)[-1]["content"]
    assert "Answer A:\n후보" in first and "Answer A:\n현재" in second


def test_a_report_of_fifty_long_answers_stays_within_slack_limits() -> None:
    examples = [
        Example(i, ({"role": "user", "content": "질문 " * 400},), "참고 " * 900) for i in range(50)
    ]
    long = "<@U123> 답변 & " * 500
    answers = {
        (i, side): SimpleNamespace(text=long, prompt_tokens=10, completion_tokens=20)
        for i in range(50)
        for side in ("candidate", "current")
    }
    scored = [scoring.Scored(i, candidate=float(i), current=25.0) for i in range(50)]
    row = SimpleNamespace(
        key="gate:1",
        candidate_provider="openai",
        candidate_model="ft:new",
        current_provider="openai",
        current_model="base",
    )
    report = build_report(
        row,  # type: ignore[arg-type]
        examples=examples,
        answers=answers,
        scored=scored,
        judged=None,
        judge_model=None,
        margin=0.0,
        dataset_label="ds-2",
        scoring_seconds=0.01,
        concurrency=16,
    )
    report["seconds"] |= {"answering": 1.5, "elapsed": 2.0}

    for full in (False, True):
        blocks = report_blocks(report, intro="intro", full=full)
        assert within_slack_limits(blocks)
        assert "<@U123>" not in json.dumps(blocks, ensure_ascii=False)  # no mentions from data


def test_the_gate_settings_are_read_and_a_bad_margin_names_its_variable() -> None:
    defaults = Settings.from_env({}, env_file=None)
    assert defaults.eval_enabled and defaults.eval_max_examples == 50
    assert defaults.eval_margin == 0.0 and defaults.judge_model is None
    settings = Settings.from_env(
        {
            "TUNEBOT_EVAL": "off",
            "TUNEBOT_EVAL_MAX_EXAMPLES": "20",
            "TUNEBOT_EVAL_MARGIN": "2.5",
            "TUNEBOT_JUDGE_MODEL": "gpt-4.1-2025-04-14",
        },
        env_file=None,
    )
    assert not settings.eval_enabled and settings.eval_max_examples == 20
    assert settings.eval_margin == 2.5 and settings.judge_model == "gpt-4.1-2025-04-14"
    with pytest.raises(ConfigError, match="TUNEBOT_EVAL_MARGIN must be a number of chrF points"):
        Settings.from_env({"TUNEBOT_EVAL_MARGIN": "a lot"}, env_file=None)
    with pytest.raises(ConfigError, match="TUNEBOT_EVAL must be one of on, off"):
        Settings.from_env({"TUNEBOT_EVAL": "maybe"}, env_file=None)
