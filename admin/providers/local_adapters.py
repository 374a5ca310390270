"""The `local` provider's upkeep of trained adapters, on each scheduler tick: an adapter served
nowhere any more (not active, not a rollback target, no job on its way) is unloaded from the
vLLM replicas that list it, and its folder and checkpoints are removed once it has been
unserved for TUNEBOT_ADAPTER_RETENTION_DAYS, so vLLM's model list and the disk show what
tunebot serves. vLLM's own LRU caches (`--max-loras`, `--max-cpu-loras`) decide which
adapters hold GPU and CPU memory; tunebot does not manage slots.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from admin.providers.vllm_api import Unreachable, VllmRefusal, VllmServer
from storage import adapter_repo
from storage.adapter_repo import Retired
from storage.db import SessionFactory

log = logging.getLogger(__name__)

# Replicas visited per tick (a connection each) while the last one still listed an adapter to
# unload: enough for a few replicas behind a round-robin balancer; the next tick goes on.
MAX_VISITS = 8
# A removal claimed this long ago whose folder is still there was cut short (a crash): redone.
REMOVAL_GRACE = timedelta(hours=1)


class AdapterUpkeep:
    """Mixed into the `local` provider, which sets these in its `__init__`."""

    _vllm: VllmServer
    _model_dir: Path
    _sessions: SessionFactory
    _retention: timedelta

    def retire_unserved(self, serving: frozenset[str], *, now: datetime) -> None:
        with self._sessions.begin() as session:
            adapter_repo.note_serving(session, serving=serving, now=now)
            gone = adapter_repo.retired(session)
        self._unload({adapter.adapter for adapter in gone})
        for adapter in gone:
            self._remove_in_time(adapter, now=now)

    def _unload(self, names: set[str]) -> None:
        """Unload `names` from each replica that lists them, one connection per replica."""
        if not names:
            return
        for _ in range(MAX_VISITS):
            with self._vllm.replica() as replica:
                try:
                    listed = {str(card.get("id")) for card in replica.models()}
                except (Unreachable, VllmRefusal) as failure:
                    log.info("vLLM's model list is unavailable (%s); unloading later", failure)
                    return
                found = sorted(names & listed)
                if not found:
                    return
                for name in found:
                    if not _unloaded(replica, name):
                        return

    def _remove_in_time(self, adapter: Retired, *, now: datetime) -> None:
        if adapter.removed_at is not None:
            if now - adapter.removed_at >= REMOVAL_GRACE and self._folders(adapter.adapter):
                log.warning("removing %s again: its removal was cut short", adapter.adapter)
                self._delete(adapter.adapter)
            return
        cutoff = now - self._retention
        if adapter.retired_at > cutoff:
            return
        with self._sessions.begin() as session:
            won = adapter_repo.claim_removal(
                session, run_id=adapter.run_id, retired_before=cutoff, now=now
            )
        if won:
            self._delete(adapter.adapter)
            log.info(
                "removed the adapter %s, served nowhere since %s",
                adapter.adapter,
                adapter.retired_at.isoformat(timespec="minutes"),
            )

    def _folders(self, name: str) -> list[Path]:
        """The adapter's folder and its run's checkpoints, where they exist."""
        if Path(name).name != name or name.startswith("."):
            return []  # never a path outside the model folder
        found = (self._model_dir / name, self._model_dir / ".runs" / name)
        return [path for path in found if path.exists()]

    def _delete(self, name: str) -> None:
        for path in self._folders(name):
            shutil.rmtree(path, ignore_errors=True)


def _unloaded(replica: VllmServer, name: str) -> bool:
    """Unload `name` from this replica; False when this replica cannot be asked (so stop)."""
    try:
        replica.unload_adapter(name)
    except Unreachable as failure:
        log.info("vLLM went away while unloading %s (%s)", name, failure)
        return False
    except VllmRefusal as refusal:
        if refusal.no_such_route:
            log.warning(
                "vLLM lists %s but cannot unload it: it runs without "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True",
                name,
            )
            return False
        if refusal.status != 404:  # 404: gone already (another scheduler)
            log.warning("vLLM refused to unload %s: %s", name, refusal.message)
        return True
    log.info("unloaded %s from a vLLM replica: tunebot serves it nowhere", name)
    return True
