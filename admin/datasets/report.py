"""The result of analysing a dataset: what the CLI prints, Slack shows and the database stores."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Every issue of a code is counted, but only this many are listed one by one: a 500 MB file
# with a broken line in every example must not produce a 500 MB report.
LISTED_PER_CODE = 100


@dataclass(frozen=True)
class Issue:
    """One finding. `line` is 1-based in the source file (None for file-wide findings)."""

    code: str
    message: str
    line: int | None = None
    message_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "code": self.code, "message": self.message}
        if self.message_index is not None:
            out["message_index"] = self.message_index
        return out


@dataclass
class IssueLog:
    """Collects issues of one severity: exact counts per code, the first few listed."""

    counts: Counter[str] = field(default_factory=Counter)
    listed: list[Issue] = field(default_factory=list)

    def add(self, issue: Issue) -> None:
        self.counts[issue.code] += 1
        if self.counts[issue.code] <= LISTED_PER_CODE:
            self.listed.append(issue)

    def extend(self, issues: list[Issue]) -> None:
        for issue in issues:
            self.add(issue)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return bool(self.counts)

    def sorted(self) -> list[Issue]:
        return sorted(self.listed, key=lambda i: (i.line is not None, i.line or 0))


@dataclass
class TokenStats:
    total: int = 0
    billed_per_epoch: int = 0
    max_example: int = 0
    assistant: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "billed_per_epoch": self.billed_per_epoch,
            "max_example": self.max_example,
            "assistant": self.assistant,
        }


@dataclass
class DatasetReport:
    """Everything known about one dataset file.

    `errors` and `warnings` hold `Issue`s (same shape: line, code, message, and
    message_index when one message is at fault). `error_counts` / `warning_counts` are
    exact even when a code has more than LISTED_PER_CODE issues and only the first are listed.
    """

    format: str
    model: str
    examples: int = 0
    valid_examples: int = 0
    errors: IssueLog = field(default_factory=IssueLog)
    warnings: IssueLog = field(default_factory=IssueLog)
    tokens: TokenStats = field(default_factory=TokenStats)
    epochs: int | None = None
    epochs_source: str = "default"
    estimated_cost_usd: float | None = None
    price: dict[str, Any] | None = None
    encoding: str | None = None
    training_context: int | None = None
    output_format: str | None = None
    speakers: list[tuple[str, int]] | None = None
    conversion: dict[str, int] = field(default_factory=dict)
    source_bytes: int = 0
    source_sha256: str | None = None
    sha256: str | None = None
    validation: DatasetReport | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(
        self, code: str, message: str, line: int | None = None, index: int | None = None
    ) -> None:
        self.errors.add(Issue(code, message, line, index))

    def warn(
        self, code: str, message: str, line: int | None = None, index: int | None = None
    ) -> None:
        self.warnings.add(Issue(code, message, line, index))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "examples": self.examples,
            "valid": self.valid,
            "errors": [i.to_dict() for i in self.errors.sorted()],
            "warnings": [i.to_dict() for i in self.warnings.sorted()],
            "tokens": self.tokens.to_dict(),
            "epochs": self.epochs,
            "estimated_cost_usd": self.estimated_cost_usd,
            "error_counts": dict(self.errors.counts),
            "warning_counts": dict(self.warnings.counts),
            "valid_examples": self.valid_examples,
            "epochs_source": self.epochs_source,
            "model": self.model,
            "price": self.price,
            "encoding": self.encoding,
            "training_context": self.training_context,
            "output_format": self.output_format,
            "source_bytes": self.source_bytes,
            "source_sha256": self.source_sha256,
            "sha256": self.sha256,
        }
        if self.speakers is not None:
            out["speakers"] = [{"name": n, "messages": c} for n, c in self.speakers]
        if self.conversion:
            out["conversion"] = dict(self.conversion)
        if self.validation is not None:
            out["validation"] = self.validation.to_dict()
        return out
