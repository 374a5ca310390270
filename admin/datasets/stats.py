"""Dataset-wide findings: tokens, duplicates, system prompts, sizes, train/validation overlap."""

from __future__ import annotations

from array import array
from itertools import pairwise

from admin.datasets.render import counted
from admin.datasets.report import DatasetReport

# Memory stays flat however large the file: a duplicate check keeps an 8-byte hash and a line
# number per example in arrays, not the examples; system prompts are tallied up to a bound.

MIN_EXAMPLES = 10  # the fine-tuning service refuses fewer
RECOMMENDED_EXAMPLES = 50  # the guide's advice before judging results
SHORT_EXAMPLE_TOKENS = 20  # less than a short question and a one-word reply
LONG_EXAMPLE_SHARE = 0.5  # of the training context: slow and costly, rarely what was meant
_MAX_SYSTEM_PROMPTS = 1000
_BUCKETS = 16


class DatasetStats:
    def __init__(self, report: DatasetReport, training_context: int) -> None:
        self.report = report
        self.limit = training_context
        self.hashes = array("q")
        self.lines = array("q")
        self.system_prompts: dict[str, list[int]] = {}  # prompt -> [count, first line]
        self.without_system: list[int] = []

    def add_example(self, line: int, key: bytes, system: str | None, chat: bool = True) -> None:
        """Record an example that passed its checks (its tokens come later, in `add_tokens`)."""
        self.hashes.append(hash(key))
        self.lines.append(line)
        if not chat:
            return
        if system is None:
            if len(self.without_system) < 10_000:
                self.without_system.append(line)
        elif system in self.system_prompts:
            self.system_prompts[system][0] += 1
        elif len(self.system_prompts) < _MAX_SYSTEM_PROMPTS:
            self.system_prompts[system] = [1, line]

    def add_tokens(self, line: int, total: int, assistant: int) -> None:
        tokens, report = self.report.tokens, self.report
        tokens.total += total
        tokens.assistant += assistant
        tokens.billed_per_epoch += min(total, self.limit)
        tokens.max_example = max(tokens.max_example, total)
        if total > self.limit:
            report.warn("example_too_long", _TOO_LONG.format(n=total, limit=self.limit), line)
        elif total > self.limit * LONG_EXAMPLE_SHARE:
            report.warn("long_example", _LONG.format(n=total, limit=self.limit), line)
        elif total < SHORT_EXAMPLE_TOKENS:
            report.warn("short_example", _SHORT.format(n=total), line)

    def finish(self, require_minimum: bool = True) -> None:
        report = self.report
        count = report.examples
        if not require_minimum or (count == 0 and report.errors):
            pass  # nothing was read: the error that stopped reading says why
        elif count < MIN_EXAMPLES:
            report.error(
                "too_few_examples", _TOO_FEW.format(n=counted(count, "example"), min=MIN_EXAMPLES)
            )
        elif count < RECOMMENDED_EXAMPLES:
            report.warn(
                "few_examples", _FEW.format(n=counted(count, "example"), rec=RECOMMENDED_EXAMPLES)
            )
        self._system_prompt_warnings()
        for line, first in self.duplicates():
            report.warn("duplicate_example", f"Same example as line {first}.", line)

    def _system_prompt_warnings(self) -> None:
        report, prompts = self.report, self.system_prompts
        if not prompts and self.without_system:
            report.warn("missing_system_prompt", _NO_SYSTEM)
            return
        for line in self.without_system:
            report.warn("missing_system_prompt", _SOME_SYSTEM, line)
        if len(prompts) > 1:
            top = sorted(prompts.items(), key=lambda p: -p[1][0])[:3]
            shown = "; ".join(f"{p[:40]!r} x{c} (from line {first})" for p, (c, first) in top)
            more = "+" if len(prompts) >= _MAX_SYSTEM_PROMPTS else ""
            report.warn(
                "differing_system_prompts", _DIFFER.format(n=len(prompts), more=more, top=shown)
            )

    def duplicates(self) -> list[tuple[int, int]]:
        """(line, line of its first occurrence) for every repeated example."""
        # Sorting all hashes at once would cost ~80 bytes per example; a sixteenth at a
        # time keeps a 500 MB file's check within a few MB.
        buckets = [array("q") for _ in range(_BUCKETS)]
        for h in self.hashes:
            buckets[h % _BUCKETS].append(h)
        repeated: set[int] = set()
        for bucket in buckets:
            ordered = sorted(bucket)
            repeated.update(a for a, b in pairwise(ordered) if a == b)
            del ordered
        first: dict[int, int] = {}
        found: list[tuple[int, int]] = []
        for h, line in zip(self.hashes, self.lines, strict=True):
            if h in repeated:
                if h in first:
                    found.append((line, first[h]))
                else:
                    first[h] = line
        return found

    def overlap(self, validation: DatasetStats) -> list[int]:
        """Lines of the validation set that also appear in the training set."""
        train = set(self.hashes)
        return [
            line for h, line in zip(validation.hashes, validation.lines, strict=True) if h in train
        ]


_TOO_LONG = (
    "{n:,} tokens: over the {limit:,}-token training context; the end is cut off in training."
)
_LONG = "{n:,} tokens: more than half the {limit:,}-token training context. Is it one example?"
_SHORT = "Only {n} tokens: is this example complete?"


_TOO_FEW = "{n}: fine-tuning needs at least {min}. Add more examples."
_FEW = "{n}: {rec} or more well-chosen examples usually train noticeably better."
_NO_SYSTEM = (
    "No example has a system prompt: add the one the bot will use, so training matches use."
)
_SOME_SYSTEM = "This example has no system prompt, unlike others: give every example the same one."
_DIFFER = "{n}{more} different system prompts: {top}. Use the one the bot will run with."
