"""`type: file`: each digest as .html, .md and .json in a folder (the default channel)."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from monitor.notify.base import Channel, ChannelConfig, DeliveryError, Message, register


class FileChannelConfig(ChannelConfig):
    path: str = "digests"  # relative to the configuration file's folder


@register("file")
class FileChannel(Channel):
    options = FileChannelConfig

    async def send(self, message: Message) -> None:
        folder = Path(self.config.path).expanduser()
        folder = folder if folder.is_absolute() else self.base_dir / folder
        stamp = file_stamp(message.payload["generated_at"])
        suffix = f"-part{message.part}" if message.parts > 1 else ""
        # The delivery id in the name makes a retried write replace the file, not add a copy.
        stem = f"{_safe(message.digest)}-{stamp}-{message.delivery_id[:8]}{suffix}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for extension, content in (("html", message.html), ("md", message.markdown),
                                       ("json", json.dumps(message.payload, ensure_ascii=False, indent=2))):
                target = folder / f"{stem}.{extension}"
                temporary = target.with_suffix(f".{extension}.tmp")
                temporary.write_text(content, encoding="utf-8")
                os.replace(temporary, target)  # readers never see half a file
        except OSError as exc:
            raise DeliveryError(f"cannot write digest to {folder}: {exc.strerror or exc}") from exc


def file_stamp(generated_at: str) -> str:
    """`20261125T060000Z`: when the digest was made, in UTC whatever the zone it was written in,
    so the files of every digest (and of `monitor channels test`) sort in the order they were made."""
    try:
        moment = datetime.fromisoformat(generated_at)
    except ValueError:
        return re.sub(r"[^0-9T]", "", generated_at[:19]) or "undated"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "digest"
