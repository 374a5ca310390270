"""The metric: sentence-level chrF of each answer against its held-out reference, and who won.

Why chrF (sacreBLEU's, defaults: character 6-grams, β = 2, no word n-grams):
- It works on characters, so it needs no tokenizer: Korean, Japanese or Chinese score as
  well as English. Word-based BLEU or ROUGE would need a language-specific segmenter, and
  Korean attaches particles to words (학교에 / 학교는), which word matching counts as
  entirely different words while chrF gives the shared stem its credit.
- No word n-grams (chrF, not chrF++): Korean words are spaced phrases (eojeol), so word
  bigrams would mostly measure spacing and particles, the noise chrF avoids.
- It is deterministic and cheap (no model, no GPU), so the gate decides the same way every
  time; β = 2 weighs recall over precision, so an answer that covers the reference scores
  above a short one that is merely not wrong.
- Each question counts once: the score is the mean of sentence-level chrF, not corpus chrF
  (which would let a few long answers decide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

# Two answers within this many chrF points of each other tie: differences that small are
# wording, not quality.
TIE_POINTS = 1.0


@dataclass(frozen=True)
class Scored:
    example: int
    candidate: float
    current: float

    @property
    def outcome(self) -> str:
        """`win`, `tie` or `loss`, for the candidate."""
        diff = self.candidate - self.current
        if abs(diff) < TIE_POINTS:
            return "tie"
        return "win" if diff > 0 else "loss"


@dataclass(frozen=True)
class Summary:
    candidate: float
    current: float
    wins: int
    ties: int
    losses: int


@cache
def _chrf() -> Any:
    # Imported on first use: sacrebleu brings numpy, which the chat bot does not otherwise
    # need in memory until an evaluation runs.
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    # sacreBLEU knows the signature (it counts the references) only once the metric has
    # scored; every score here has one reference, so one scored pair makes signature()
    # work whatever ran before it in this process.
    metric.sentence_score("a", ["a"])
    return metric


def chrf(answer: str, reference: str) -> float:
    """chrF of one answer against one reference, 0 to 100."""
    return float(_chrf().sentence_score(answer, [reference]).score)


def load() -> None:
    """Import the metric now (sacrebleu, numpy), so that timing it times only the scoring."""
    _chrf()


def signature() -> str:
    """sacreBLEU's reproducibility signature: how the figures in a report were computed
    (known once the metric has scored something)."""
    return f"chrF2|{_chrf().get_signature()}"


def score_all(
    rows: Sequence[tuple[int, str, str, str]],
) -> list[Scored]:
    """(example, reference, current answer, candidate answer) -> both scores per example."""
    return [
        Scored(example, chrf(candidate, reference), chrf(current, reference))
        for example, reference, current, candidate in rows
    ]


def summarise(scored: Sequence[Scored]) -> Summary:
    n = len(scored) or 1
    outcomes = [s.outcome for s in scored]
    return Summary(
        candidate=sum(s.candidate for s in scored) / n,
        current=sum(s.current for s in scored) / n,
        wins=outcomes.count("win"),
        ties=outcomes.count("tie"),
        losses=outcomes.count("loss"),
    )


def goes_live(summary: Summary, *, margin: float) -> bool:
    """Not worse than the current model by more than `margin` chrF points."""
    return summary.candidate >= summary.current - margin


def showcase(scored: Sequence[Scored], count: int = 3) -> list[int]:
    """Examples worth showing side by side: the candidate's worst, a middle one, and its best."""
    ordered = sorted(scored, key=lambda s: (s.candidate - s.current, s.example))
    if len(ordered) <= count:
        return [s.example for s in ordered]
    picks = [ordered[0], ordered[len(ordered) // 2], ordered[-1]][:count]
    return [s.example for s in picks]
