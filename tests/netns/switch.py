"""Hosts in Linux network namespaces joined by a userspace Ethernet switch that injects faults.

This kernel has no netem (`tc qdisc add ... netem` fails: "Specified qdisc kind is unknown"), so
loss, delay, jitter and silent partitions are made here: each namespace gets a TAP interface
whose file descriptor stays with this process, and `ImpairedSwitch` moves Ethernet frames
between them (MAC learning; unknown and broadcast destinations flooded) after applying the
current impairment. TAP rather than veth + AF_PACKET because the kernel hands a TAP reader
finished, checksummed, MTU-sized frames (veth passes offloaded super-frames with partial
checksums, which a raw socket cannot re-inject). Needs root (CAP_NET_ADMIN).
"""

from __future__ import annotations

import fcntl
import heapq
import os
import random
import select
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class NamespaceError(RuntimeError):
    pass


def can_make_namespaces() -> str | None:
    """None when namespaces can be made here; else the reason (a sentence)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN); run the suite as root to include this test"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: no TAP devices for the userspace switch"
    name = f"rptprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


@dataclass
class Impairment:
    loss: float = 0.0  # probability a frame is dropped (each direction, each frame)
    delay: float = 0.0  # seconds, one way
    jitter: float = 0.0  # seconds, standard deviation (frames may reorder, as on a real path)
    cut: set[int] = field(default_factory=set)  # ports silently partitioned (frames vanish)


class ImpairedSwitch:
    """N hosts, each in namespace `<prefix><i>` with address 10.<net>.0.<i+1>/24 on interface eth0."""

    def __init__(self, hosts: int, prefix: str, net: int = 210, seed: int = 7) -> None:
        self.prefix = prefix
        self.net = net
        self.names = [f"{prefix}{i}" for i in range(hosts)]
        self.fds: list[int] = []
        self.mac_port: dict[bytes, int] = {}
        self.impair = Impairment()
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.pending: list[tuple[float, int, int, bytes]] = []  # (due, seq, port, frame)
        self.seq = 0
        self.stats = {"frames": 0, "dropped_loss": 0, "dropped_cut": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def address(self, i: int) -> str:
        return f"10.{self.net}.0.{i + 1}"

    def __enter__(self) -> ImpairedSwitch:
        try:
            for i, ns in enumerate(self.names):
                _ip("netns", "add", ns)
                tap = f"rpt{os.getpid() % 100000}t{i}"
                fd = _open_tap(tap)
                self.fds.append(fd)
                _ip("link", "set", tap, "netns", ns)
                _ip("-n", ns, "link", "set", tap, "name", "eth0")
                _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            self._thread = threading.Thread(target=self._run, name="impaired-switch", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[i]]

    def set(self, loss: float = 0.0, delay: float = 0.0, jitter: float = 0.0) -> None:
        with self.lock:
            self.impair.loss, self.impair.delay, self.impair.jitter = loss, delay, jitter

    def cut(self, port: int) -> None:
        """Silent partition: every frame to or from `port` vanishes (no RST, no ICMP)."""
        with self.lock:
            self.impair.cut.add(port)

    def heal(self, port: int) -> None:
        with self.lock:
            self.impair.cut.discard(port)

    # ------------------------------------------------------------------ forwarding
    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            timeout = 0.05
            with self.lock:
                while self.pending and self.pending[0][0] <= now:
                    _, _, port, frame = heapq.heappop(self.pending)
                    self._write(port, frame)
                if self.pending:
                    timeout = max(0.0, min(timeout, self.pending[0][0] - now))
            try:
                ready, _, _ = select.select(self.fds, [], [], timeout)
            except (OSError, ValueError):
                return
            for fd in ready:
                port = self.fds.index(fd)
                for _ in range(64):
                    try:
                        frame = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        return
                    self._switch(port, frame)

    def _switch(self, src: int, frame: bytes) -> None:
        if len(frame) < 14:
            return
        dst_mac, src_mac = frame[0:6], frame[6:12]
        with self.lock:
            self.stats["frames"] += 1
            self.mac_port[src_mac] = src
            dst = self.mac_port.get(dst_mac)
            ports = (
                [dst]
                if dst is not None and not dst_mac[0] & 1
                else [p for p in range(len(self.fds)) if p != src]
            )
            imp = self.impair
            for port in ports:
                if port == src:
                    continue
                if src in imp.cut or port in imp.cut:
                    self.stats["dropped_cut"] += 1
                    continue
                if imp.loss and self.rng.random() < imp.loss:
                    self.stats["dropped_loss"] += 1
                    continue
                delay = max(0.0, self.rng.gauss(imp.delay, imp.jitter)) if imp.delay or imp.jitter else 0.0
                if delay <= 0:
                    self._write(port, frame)
                else:
                    self.seq += 1
                    heapq.heappush(self.pending, (time.monotonic() + delay, self.seq, port, frame))

    def _write(self, port: int, frame: bytes) -> None:
        try:
            os.write(self.fds[port], frame)
        except OSError:
            pass  # the namespace's queue is full or it is gone: the frame is lost, like on a wire
