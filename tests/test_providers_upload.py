"""Uploads: the Files API up to its limit, the multipart Uploads API above it, with progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from admin.providers.builtin import OpenAI
from admin.providers.plugin import ProviderContext
from emulators.openai import OpenAIEmulator


def _provider(emulator: OpenAIEmulator, limit: int, part: int) -> OpenAI:
    class SmallParts(OpenAI):
        files_api_limit, part_size = limit, part

    settings = SmallParts.Settings(api_key=emulator.api_key, base_url=emulator.base_url)
    return SmallParts(settings, ProviderContext(today=date.today))


def test_a_file_above_the_files_api_limit_goes_up_in_parts(
    emulator: OpenAIEmulator, tmp_path: Path
) -> None:
    data = b"".join(b'{"messages": [{"role": "user", "content": "%d"}]}\n' % i for i in range(60))
    path = tmp_path / "big.jsonl"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []

    file_id = _provider(emulator, limit=1000, part=700).upload_training_file(
        path, filename="big.jsonl", progress=lambda done, total: seen.append((done, total))
    )

    assert len(emulator._uploads.uploads) == 1
    meta, content = emulator.files[file_id]
    assert content == data and meta["purpose"] == "fine-tune"
    assert len(seen) == -(-len(data) // 700) and seen[-1] == (len(data), len(data))


def test_a_small_file_uses_the_files_api(emulator: OpenAIEmulator, tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    path.write_bytes(b'{"messages": []}\n')
    file_id = _provider(emulator, limit=1000, part=700).upload_training_file(
        path, filename="small.jsonl"
    )
    assert emulator.files[file_id][1] == b'{"messages": []}\n'
    assert emulator._uploads.uploads == {}  # no multipart upload was opened
