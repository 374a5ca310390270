"""Dataset engine: read any chat export, convert to chat JSONL, validate, count tokens, price."""

from admin.datasets.api import analyze, list_speakers, prepare
from admin.datasets.detect import FORMATS, detect_format
from admin.datasets.output import PreparedDataset
from admin.datasets.render import render_report_for_slack, render_report_text
from admin.datasets.report import DatasetReport, Issue, TokenStats

__all__ = [
    "FORMATS",
    "DatasetReport",
    "Issue",
    "PreparedDataset",
    "TokenStats",
    "analyze",
    "detect_format",
    "list_speakers",
    "prepare",
    "render_report_for_slack",
    "render_report_text",
]
