"""The filesystems worth reporting, listed again only every MOUNT_REFRESH_SECONDS."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

# Mounts change rarely and listing them costs more than reading all the host counters.
MOUNT_REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str


def list_mounts() -> list[Mount]:
    """Writable physical filesystems, one mountpoint per device (the shortest path).

    Containers bind-mount the same device at several files (/etc/hosts, ...); reporting
    each would repeat one filesystem's numbers under many names. Read-only images
    (squashfs driver mounts, say) are always full and cannot fill up: left out.
    """
    by_device: dict[str, Mount] = {}
    for part in psutil.disk_partitions(all=False):
        if "ro" in part.opts.split(","):
            continue
        mount = Mount(part.device, part.mountpoint, part.fstype)
        known = by_device.get(part.device)
        if known is None or len(mount.mountpoint) < len(known.mountpoint):
            by_device[part.device] = mount
    return list(by_device.values())
