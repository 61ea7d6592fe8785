"""eptvisor test rig: build ISOs, boot them on an emulator, read what the kernel printed.

Stdlib only. Every run is judged by the kernel's serial log (the protocol in docs/design.md),
never by the emulator's exit status: Bochs exits 1 after the Shutdown port, QEMU exits 99
after isa-debug-exit.

    iso = make_iso("run=demo platform=bochs", "demo-bochs")
    res = Bochs().run(iso, "run=demo platform=bochs", cpus=2, timeout=60)
    res.summary()        # (passed, failed, skipped) or None
    res.failure_report() # serial tail + Bochs VMX failure lines, for assertion messages

or, in one call: boot(platform, cmdline, name, cpus=..., megs=..., timeout=...).

Environment knobs (all optional):
  EPTVISOR_PLATFORM       force the VMX platform (bochs, kvm) that best_vmx_platform() picks
  EPTVISOR_TIMEOUT_SCALE  multiply every boot timeout (slow or loaded machines)
  EPTVISOR_NO_BUILD=1     do not call make; use what is already in build/
  EPTVISOR_ELF, EPTVISOR_BIN  boot these images instead of build/eptvisor.{elf,bin}
  EPTVISOR_JOBS           how many boots the pytest pool runs at once (default 2)
"""

import codecs
import hashlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
RUNS = BUILD / "runs"
# EPTVISOR_ELF / EPTVISOR_BIN: boot other images (e.g. a stand-in kernel to test the rig).
ELF = Path(os.environ.get("EPTVISOR_ELF") or BUILD / "eptvisor.elf")
BIN = Path(os.environ.get("EPTVISOR_BIN") or BUILD / "eptvisor.bin")
PLATFORM_CACHE = BUILD / "platform.json"

BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"
BOCHS_VGABIOS = "/usr/share/vgabios/vgabios.bin"

BANNER_RE = re.compile(r"^eptvisor: booting")
SHUTDOWN_LINE = "eptvisor: shutdown"
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$")
TAP_RE = re.compile(r"^(ok|not ok)\s+(\d+)\s*(?:-\s*)?(.*?)(?:\s+#\s*(.*?))?\s*$")
# Lines of bochs.log that explain a failed VMX instruction or an EPT fault (docs/design.md, "Platforms").
BOCHS_VMX_RE = re.compile(r"VMFAIL:|VMENTER FAIL:|VMXON:|EPT violation|VMABORT|>>PANIC<<|"
                          r"exception with no resolution")


def timeout_scale():
    try:
        return max(0.1, float(os.environ.get("EPTVISOR_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def no_build():
    return os.environ.get("EPTVISOR_NO_BUILD", "") not in ("", "0")


# ---------------------------------------------------------------------------------------------
# building

BuildResult = namedtuple("BuildResult", "ok output cmd")
_build_lock = threading.Lock()
_build_done = {}


def make(*targets, quiet=True, cached=True):
    """Run `make TARGETS` in the repo once per process (cached). Returns BuildResult."""
    key = tuple(targets)
    with _build_lock:
        if cached and key in _build_done:
            return _build_done[key]
        cmd = ["make", "-C", str(REPO), "-j%d" % max(1, os.cpu_count() or 1)] + list(targets)
        if no_build():
            res = BuildResult(True, "(EPTVISOR_NO_BUILD set: not building)", cmd)
        else:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace")
            res = BuildResult(p.returncode == 0, p.stdout, cmd)
            if not quiet:
                sys.stdout.write(p.stdout)
        _build_done[key] = res
        return res


# ---------------------------------------------------------------------------------------------
# ISO images

def _sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h


def grub_words(cmdline):
    """Split CMDLINE into the words GRUB's script lexer makes of it (so the kernel gets what
    this rig always gave it): blanks separate words; "..." groups blanks, where a backslash
    escapes only $ " \\ (GRUB's rule); '...' is literal; an unquoted backslash escapes the
    next character. Unlike GRUB, $ and ; | & < > { } are never special: each word is then
    written single-quoted (grub_quote). Raises ValueError, naming the place, for an
    unbalanced quote or a trailing backslash, which would stop GRUB before the kernel runs."""
    words, cur, have, i, n = [], [], False, 0, len(cmdline)
    while i < n:
        c = cmdline[i]
        if c in " \t\n":
            if have:
                words.append("".join(cur))
            cur, have, i = [], False, i + 1
            continue
        have = True
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("command line ends in a backslash: %r" % cmdline)
            cur.append(cmdline[i + 1])
            i += 2
        elif c == "'":
            j = cmdline.find("'", i + 1)
            if j < 0:
                raise ValueError("unbalanced single quote at column %d of the command line "
                                 "%r: GRUB would not start the kernel" % (i, cmdline))
            cur.append(cmdline[i + 1:j])
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n and cmdline[j] != '"':
                if cmdline[j] == "\\" and j + 1 < n and cmdline[j + 1] in '$"\\':
                    j += 1
                cur.append(cmdline[j])
                j += 1
            if j >= n:
                raise ValueError("unbalanced double quote at column %d of the command line "
                                 "%r: GRUB would not start the kernel" % (i, cmdline))
            i = j + 1
        else:
            cur.append(c)
            i += 1
    if have:
        words.append("".join(cur))
    return words


def grub_quote(word):
    """WORD as one literal GRUB script word: single quotes, a ' written as '\\''."""
    return "'" + word.replace("'", "'\\''") + "'"


def grub_args(cmdline):
    """CMDLINE as GRUB script arguments that reach the kernel as grub_words() splits it."""
    return " ".join(grub_quote(w) for w in grub_words(cmdline))


def grub_cfg(cmdline, modules=()):
    """grub.cfg booting eptvisor with CMDLINE (see grub_words: ValueError when GRUB could not
    parse it) and the MODULES, (path, module string) pairs."""
    lines = [
        "set timeout=0",
        "set default=0",
        # GRUB's own terminal stays on the (invisible) console: COM1 carries only the kernel.
        'menuentry "eptvisor" {',
        ("  multiboot2 /boot/eptvisor.elf %s" % grub_args(cmdline)).rstrip(),
    ]
    for src, modname in modules:
        lines.append("  module2 /boot/%s %s" % (Path(src).name, grub_args(modname)))
    lines += ["  boot", "}", ""]
    return "\n".join(lines)


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:120] or "run"


ISO_CACHE_KEEP = 48


def _prune_iso_cache(cache, keep=ISO_CACHE_KEEP):
    try:
        isos = sorted(cache.glob("*.iso"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in isos[keep:]:
            old.unlink()
    except OSError:
        pass  # another process pruned at the same time


def make_iso(cmdline, name, elf=None, modules=()):
    """Make build/runs/<name>/eptvisor.iso booting ELF (default build/eptvisor.elf) with
    CMDLINE. modules: (path, module name) pairs passed with module2. Cached by content in
    build/iso-cache/, so re-running with the same kernel and command line costs a copy."""
    elf = Path(elf or ELF)
    if not elf.exists():
        raise FileNotFoundError("%s does not exist: run `make kernel` first" % elf)
    name = _safe_name(name)
    run_dir = RUNS / name
    cfg = grub_cfg(cmdline, modules)
    h = hashlib.sha256(cfg.encode())
    _sha256_file(elf, h)
    for src, _ in modules:
        _sha256_file(src, h)
    key = h.hexdigest()[:32]
    cache = BUILD / "iso-cache"
    cached = cache / ("%s.iso" % key)
    iso = run_dir / "eptvisor.iso"

    if not cached.exists():
        isodir = run_dir / "iso"
        if isodir.exists():
            shutil.rmtree(isodir)
        (isodir / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(elf, isodir / "boot" / "eptvisor.elf")
        for src, _ in modules:
            shutil.copyfile(src, isodir / "boot" / Path(src).name)
        (isodir / "boot" / "grub" / "grub.cfg").write_text(cfg)
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".iso.tmp")
        os.close(fd)
        p = subprocess.run(["grub-mkrescue", "-o", tmp, str(isodir)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                           errors="replace")
        if p.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError("grub-mkrescue failed for %s (exit %d):\n%s"
                               % (name, p.returncode, p.stdout))
        os.replace(tmp, cached)
        _prune_iso_cache(cache)
    else:
        os.utime(cached)  # least recently used goes first when pruning
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "grub.cfg").write_text(cfg)
    tmp = run_dir / "eptvisor.iso.tmp"
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(cached, tmp)
    except OSError:
        shutil.copyfile(cached, tmp)
    os.replace(tmp, iso)
    return iso


# ---------------------------------------------------------------------------------------------
# results

class TapLine(namedtuple("TapLine", "ok num name detail")):
    """One TAP result line. Unpacks as (ok, num, name, detail)."""

    @property
    def skip(self):
        return bool(self.detail) and self.detail.upper().startswith("SKIP")

    @property
    def passed(self):
        return self.ok and not self.skip

    def __str__(self):
        s = "%s %d - %s" % ("ok" if self.ok else "not ok", self.num, self.name)
        return s + (" # " + self.detail if self.detail else "")


class Result:
    """What one boot printed, and how it ended."""

    def __init__(self, platform, serial, log_path, emu_log=(), timed_out=False,
                 cmdline="", run_dir=None, returncode=None, duration=0.0, stopped_early=None,
                 emu_log_path=None, command=None):
        self.platform = platform
        self.serial = serial
        self.log_path = Path(log_path) if log_path else None
        self.emu_log = list(emu_log)
        self.emu_log_path = emu_log_path
        self.timed_out = timed_out
        self.cmdline = cmdline
        self.run_dir = run_dir
        self.returncode = returncode
        self.duration = duration
        self.stopped_early = stopped_early  # why the harness ended the run itself, if it did
        self.command = command
        self.emu_exit_message = []  # Bochs: "Bochs is exiting with the following message"

    # -- parsing --------------------------------------------------------------------------
    def lines(self):
        return self.serial.splitlines()

    def lines_matching(self, regex, flags=0):
        r = re.compile(regex, flags) if isinstance(regex, str) else regex
        return [l for l in self.lines() if r.search(l)]

    def tap(self):
        out = []
        for l in self.lines():
            m = TAP_RE.match(l)
            if m:
                out.append(TapLine(m.group(1) == "ok", int(m.group(2)), m.group(3).strip(),
                                   m.group(4) or ""))
        return out

    def tap_by_name(self):
        return {t.name: t for t in self.tap()}

    def not_ok(self):
        return [t for t in self.tap() if not t.ok]

    def summary(self):
        """(passed, failed, skipped) from the last plain summary line, or None."""
        found = None
        for l in self.lines():
            m = SUMMARY_RE.match(l)
            if m:
                found = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        return found

    def json(self):
        out = []
        for l in self.lines():
            if l.startswith("@json "):
                try:
                    v = json.loads(l[6:])
                except ValueError:
                    continue
                if isinstance(v, dict):
                    out.append(v)
        return out

    def json_errors(self):
        """@json lines that are not one valid JSON object with unique keys (at any depth)."""
        def no_dups(pairs):
            keys = [k for k, _ in pairs]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError("duplicate key(s) %s" % ", ".join(dup))
            return dict(pairs)

        bad = []
        for l in self.lines():
            if l.startswith("@json "):
                try:
                    v = json.loads(l[6:], object_pairs_hook=no_dups)
                    if not isinstance(v, dict):
                        bad.append("not an object: " + l)
                except ValueError as e:
                    bad.append("%s: %s" % (e, l))
        return bad

    def booted(self):
        return any(BANNER_RE.match(l) for l in self.lines())

    def reached_shutdown(self):
        return any(l.strip() == SHUTDOWN_LINE for l in self.lines())

    def panics(self):
        return self.lines_matching(r"^PANIC")

    def vmx_failure_lines(self, limit=200, ept_tail=20):
        """Bochs' explanations for failed VMX instructions (every VMFAIL: / VMENTER FAIL: /
        VMXON: line, and Bochs panics other than the normal Shutdown-port one), then the last
        EPT_TAIL EPT-violation lines (populate-on-touch makes thousands of normal ones)."""
        fails, ept = [], []
        for l in self.emu_log:
            if "EPT violation" in l:
                ept.append(l)
            elif BOCHS_VMX_RE.search(l) and "Shutdown port" not in l:
                fails.append(l)
        if len(fails) > limit:
            fails = fails[:limit // 2] + ["... (%d lines left out) ..." % (len(fails) - limit)] \
                + fails[-limit // 2:]
        if ept:
            if len(ept) > ept_tail:
                fails.append("... %d EPT-violation lines in all, the last %d:"
                             % (len(ept), ept_tail))
            fails += ept[-ept_tail:]
        return fails

    # -- judging --------------------------------------------------------------------------
    def problems(self, expect_summary=True):
        """Everything that makes this run a failure, as short sentences (empty: clean)."""
        p = []
        if self.timed_out:
            p.append("timed out after %.0f s" % self.duration)
        if self.stopped_early:
            p.append("stopped by the harness: %s" % self.stopped_early)
        if not self.booted():
            p.append("no 'eptvisor: booting' banner on the serial log")
        for l in self.panics():
            p.append("kernel panic: %s" % l.strip())
        for t in self.not_ok():
            p.append("TAP failure: %s" % (t,))
        if expect_summary:
            s = self.summary()
            if s is None:
                p.append("no final 'N passed, N failed' summary line")
            elif s[1] != 0:
                p.append("summary line reports %d failed" % s[1])
        if not self.reached_shutdown():
            p.append("no '%s' line" % SHUTDOWN_LINE)
        return p

    @property
    def ok(self):
        return not self.problems()

    def failure_report(self, tail=60, why=None):
        out = []
        if why:
            out.append(why if isinstance(why, str) else "\n".join("  - " + w for w in why))
        out.append("platform: %s   cmdline: %s" % (self.platform, self.cmdline))
        out.append("ran %.1f s, timed out: %s, emulator exit status: %s (not used to judge)"
                   % (self.duration, self.timed_out, self.returncode))
        if self.command:
            out.append("command: %s" % " ".join(shlex.quote(str(c)) for c in self.command))
        lines = self.lines()
        out.append("--- serial log %s: last %d of %d lines ---"
                   % (self.log_path, min(tail, len(lines)), len(lines)))
        out += lines[-tail:]
        vmx = self.vmx_failure_lines()
        if self.emu_exit_message:
            out.append("--- emulator exit message ---")
            out += self.emu_exit_message
        if self.platform == "bochs":
            out.append("--- %s: VMX / EPT failure lines (%d) ---"
                       % (self.emu_log_path or "bochs.log", len(vmx)))
            out += vmx or ["(none)"]
        elif self.emu_log:
            out.append("--- emulator output %s (last 20 lines) ---" % (self.emu_log_path or ""))
            out += self.emu_log[-20:]
        return "\n".join(out)

    def __repr__(self):
        return "<Result %s %s summary=%s timed_out=%s>" % (
            self.platform, self.cmdline, self.summary(), self.timed_out)


# ---------------------------------------------------------------------------------------------
# running an emulator

def _read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


_abort = threading.Event()


def abort_all():
    """Make every running and future boot of this process stop at once (stopped_early)."""
    _abort.set()


def _kill_group(proc, grace=2.0):
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def _supervise(cmd, serial_path, timeout, env=None, stdout_path=None, echo=None,
               shutdown_grace=10.0, panic_idle=15.0, stop_when=None, poll=None):
    """Run CMD in its own process group with stdin from /dev/null, until it exits or TIMEOUT
    (wall clock) passes. Watches the serial log: ends the run itself when the kernel printed
    its shutdown line but the emulator lingers, when it boots a second time (reset after a
    triple fault), or when it printed PANIC and then nothing for PANIC_IDLE seconds.
    ECHO: a callable given each new serial line as it appears (for streaming).
    STOP_WHEN: a callable given each new line; a true answer ends the run (its reason), for
    a guest that runs without eptvisor and has no shutdown line of its own.
    POLL: a callable asked every 0.1 s; a true answer ends the run (its reason).
    Returns (returncode, timed_out, stopped_early, duration)."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.monotonic()
    try:
        proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    finally:
        if stdout_path:
            out.close()
    timed_out = False
    stopped = None
    seen_len = 0
    pending = ""
    last_growth = start
    shutdown_at = None
    panic_seen = False
    banners = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while True:
            try:
                proc.wait(timeout=0.1)
                exited = True
            except subprocess.TimeoutExpired:
                exited = False
            now = time.monotonic()
            try:
                size = os.path.getsize(serial_path)
            except OSError:
                size = 0
            if size > seen_len:
                with open(serial_path, "rb") as f:
                    f.seek(seen_len)
                    chunk = f.read(size - seen_len)
                seen_len += len(chunk)
                last_growth = now
                text = pending + decoder.decode(chunk).replace("\r", "")
                *complete, pending = text.split("\n")
                for line in complete:
                    if echo:
                        echo(line)
                    if BANNER_RE.match(line):
                        banners += 1
                    if line.strip() == SHUTDOWN_LINE and shutdown_at is None:
                        shutdown_at = now
                    if line.startswith("PANIC"):
                        panic_seen = True
                    if stop_when and not stopped:
                        stopped = stop_when(line) or None
            if poll and not stopped:
                stopped = poll() or None
            if exited or stopped:
                break
            if _abort.is_set():
                stopped = "aborted (the test session was interrupted)"
                break
            if banners > 1:
                stopped = "the machine booted a second time (reset, e.g. after a triple fault)"
                break
            if shutdown_at is not None and now - shutdown_at > shutdown_grace:
                stopped = ("the kernel printed its shutdown line but the emulator was still "
                           "running %.0f s later" % shutdown_grace)
                break
            if panic_seen and now - last_growth > panic_idle:
                stopped = "PANIC, then no output for %.0f s" % panic_idle
                break
            if now - start > timeout:
                timed_out = True
                break
    finally:
        _kill_group(proc)
        if echo and pending:
            echo(pending)
    return proc.returncode, timed_out, stopped, time.monotonic() - start


class SerialConsole:
    """COM1 with input, for one run (Bochs.run's and Qemu.run's serial_input): Bochs' com1 in
    mode=term, or QEMU's tty chardev, on a pseudo-terminal of ours (os.openpty, raw), where the
    emulator both writes the machine's serial output and reads its input (select + read, one
    byte per character time under Bochs). A thread copies what the machine writes to
    serial.log, so the supervisor and every check read the log as with mode=file, and:
      RESPOND: a callable given each complete line (no "\\r\\n"); what it returns (str or
               bytes, or None) is sent, e.g. "uname -a\\n" when the shell's line appears;
      INTERACTIVE: the terminal's keystrokes go to the machine (the caller puts stdin in
               raw mode) and its output to stdout a line at a time (eptvisor relays a
               guest's output by lines, "[guest NAME] " dropped here); ctrl-] (0x1d) ends
               the run.
    Bytes are sent PACE seconds apart: the UART's 16-byte FIFOs (Bochs', eptvisor's host side
    and the guest's model) are not overrun by a guest that reads them every few ms.
    Other runs keep mode=file (nothing reads input then)."""

    QUIT = 0x1d  # ctrl-]

    def __init__(self, respond=None, interactive=False, pace=0.01):
        self.respond = respond
        self.interactive = interactive
        self.pace = pace
        self.quit = False  # ctrl-] was typed
        self.sent = bytearray()
        self._out = queue.Queue()
        self._stop = threading.Event()
        self._threads = []
        self.master = self.slave = None
        self.dev = None

    def open(self, serial_path):
        """Make the pty (its slave's name is .dev, for the bochsrc) and start copying."""
        import tty
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.dev = os.ttyname(self.slave)
        self._log = open(serial_path, "wb")
        self._threads = [threading.Thread(target=self._pump, daemon=True),
                         threading.Thread(target=self._sender, daemon=True)]
        for t in self._threads:
            t.start()

    def send(self, data):
        """Queue bytes (or a str, UTF-8) for the machine's COM1."""
        if isinstance(data, str):
            data = data.encode()
        for b in data:
            self._out.put(b)

    def _sender(self):
        while not self._stop.is_set():
            try:
                b = self._out.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                os.write(self.master, bytes([b]))
            except OSError:
                return
            self.sent.append(b)
            time.sleep(self.pace)

    def _line(self, line):
        if self.respond:
            reply = self.respond(line)
            if reply:
                self.send(reply)

    def _pump(self):
        import select
        pending = b""
        fds = [self.master] + ([sys.stdin.fileno()] if self.interactive else [])
        while not self._stop.is_set():
            r, _, _ = select.select(fds, [], [], 0.1)
            if self.interactive and sys.stdin.fileno() in r:
                keys = os.read(sys.stdin.fileno(), 64)
                if self.QUIT in keys:
                    self.quit = True
                    keys = keys[:keys.index(self.QUIT)]
                self.send(keys)
            if self.master not in r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            self._log.write(data)
            self._log.flush()
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if self.interactive:  # eptvisor relays the guest's output a line at a time
                    os.write(sys.stdout.fileno(), re.sub(rb"^\[guest [^\]]*\] ", b"", line)
                             + b"\n")
                self._line(line.decode("utf-8", errors="replace").rstrip("\r"))

    def stopped(self):
        """Why the run should end now (ctrl-] typed), or None."""
        return "ctrl-] typed on the console" if self.quit else None

    def close(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self._log.close()


class Platform:
    name = "?"
    has_vmx = False

    def run_dir_for(self, iso, name=None, sub=None):
        """build/runs/<name>/<platform>/, or next to the ISO when no name is given."""
        if name is None and iso is None:
            raise ValueError("need an ISO or a run name")
        base = RUNS / _safe_name(name) if name else Path(iso).resolve().parent
        d = base / (sub or self.name)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def run(self, iso, cmdline, cpus=2, timeout=60, megs=512, name=None, echo=None):
        raise NotImplementedError

    def __repr__(self):
        return "<platform %s>" % self.name


class Bochs(Platform):
    """Bochs 2.7 with VMX+EPT (cpu model tigerlake), headless, as docs/design.md says."""
    name = "bochs"
    has_vmx = True

    def __init__(self, model="tigerlake", extra_rc="", ips=None):
        self.model = model
        self.extra_rc = extra_rc
        # Emulated instructions per emulated second (Bochs' default 4,000,000). With
        # sync=none, emulated time is instructions / ips: the guest's TSC, PIT and APIC timer
        # run at that rate, so a guest with timeouts and a 250 Hz tick (Linux) sees a 4 MIPS
        # machine by default, and about wall-clock time with ips near Bochs' real speed.
        self.ips = ips

    def bochsrc(self, iso, run_dir, cpus, megs, debug=False, com1_term=None):
        lines = [
            "# generated by tests/harness/eptvisor.py",
            "display_library: sdl2",
            "sound: driver=dummy",
            "clock: sync=none, time0=946684800",
            "cpu: model=%s, count=%d" % (self.model, cpus)
            + (", ips=%d" % self.ips if self.ips else ""),
            # Bochs 2.7 allocates at most 2048 MiB of host memory; above that the guest's
            # RAM is larger than what Bochs keeps in host memory (it swaps blocks itself).
            ("megs: %d" % megs) if megs <= 2048 else "memory: guest=%d, host=2048" % megs,
            "romimage: file=%s" % BOCHS_BIOS,
            "vgaromimage: file=%s" % BOCHS_VGABIOS,
            "ata0-master: type=cdrom, path=%s, status=inserted" % Path(iso).resolve(),
            "boot: cdrom",
            # com1_term: a pty (SerialConsole) for a run with serial input; else a file.
            ("com1: enabled=1, mode=term, dev=%s" % com1_term) if com1_term else
            "com1: enabled=1, mode=file, dev=%s" % (run_dir / "serial.log"),
            "log: %s" % (run_dir / "bochs.log"),
            "error: action=report",
            "panic: action=fatal",
        ]
        if debug:
            lines.append("magic_break: enabled=1")
        if self.extra_rc:
            lines.append(self.extra_rc)
        path = run_dir / "bochsrc"
        path.write_text("\n".join(lines) + "\n")
        return path

    @staticmethod
    def env():
        env = dict(os.environ)
        env["SDL_VIDEODRIVER"] = "dummy"
        env.pop("DISPLAY", None)
        return env

    def prepare(self, iso, cpus, megs, name=None, debug=False, serial_input=None):
        run_dir = self.run_dir_for(iso, name)
        for f in ("serial.log", "bochs.log", "bochs.out"):
            try:
                (run_dir / f).unlink()
            except FileNotFoundError:
                pass
        if serial_input:
            serial_input.open(run_dir / "serial.log")
        rc = self.bochsrc(iso, run_dir, cpus, megs, debug=debug,
                          com1_term=serial_input.dev if serial_input else None)
        (run_dir / "cont.rc").write_text("c\n")
        return run_dir, rc

    def command(self, run_dir, rc, debug=False):
        cmd = ["bochs", "-q", "-f", str(rc)]
        if not debug:
            cmd += ["-rc", str(run_dir / "cont.rc")]
        return cmd

    def run(self, iso, cmdline, cpus=2, timeout=60, megs=512, name=None, echo=None,
            stop_when=None, serial_input=None):
        """serial_input: a SerialConsole (COM1 with input), else COM1 writes serial.log."""
        run_dir, rc = self.prepare(iso, cpus, megs, name, serial_input=serial_input)
        cmd = self.command(run_dir, rc)
        serial = run_dir / "serial.log"
        try:
            code, to, stopped, dur = _supervise(cmd, serial, timeout, env=self.env(),
                                                stdout_path=run_dir / "bochs.out", echo=echo,
                                                stop_when=stop_when,
                                                poll=serial_input and serial_input.stopped)
        finally:
            if serial_input:
                serial_input.close()
        emu = _read_text(run_dir / "bochs.log").splitlines()
        out = _read_text(run_dir / "bochs.out").splitlines()
        exit_msg = [out[i + 1].strip() for i, l in enumerate(out[:-1])
                    if "Bochs is exiting with the following message" in l]
        # Startup failures (bad bochsrc, missing ROM, plugin trouble) go to stdout/stderr.
        if not emu or (not _read_text(serial) and out):
            emu = emu + ["--- bochs stdout/stderr ---"] + out
        res = Result(self.name, _read_text(serial), serial, emu, to, cmdline, run_dir, code,
                     dur, stopped, run_dir / "bochs.log", cmd)
        res.emu_exit_message = exit_msg
        return res


class Qemu(Platform):
    """QEMU system emulator; TCG by default (no VMX under TCG)."""
    name = "qemu-tcg"
    has_vmx = False
    accel_args = ["-accel", "tcg"]

    def __init__(self, kernel_bin=None):
        # kernel_bin: boot this multiboot1 flat image with -kernel/-append instead of the ISO.
        self.kernel_bin = kernel_bin

    def command(self, iso, cmdline, cpus, megs, serial, debug=False, com1_tty=None):
        cmd = ["qemu-system-x86_64"] + self.accel_args + [
            "-m", str(megs), "-smp", str(cpus), "-display", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-no-reboot", "-monitor", "none"]
        # com1_tty: a pty (SerialConsole) for a run with serial input: QEMU's tty chardev
        # both writes the machine's output there and reads its input.
        cmd += ["-serial", com1_tty if com1_tty else
                "stdio" if debug and serial is None else "file:%s" % serial]
        if self.kernel_bin:
            cmd += ["-kernel", str(self.kernel_bin), "-append", cmdline]
        else:
            cmd += ["-cdrom", str(Path(iso).resolve()), "-boot", "d"]
        if debug:
            cmd += ["-s", "-S"]
        return cmd

    def run(self, iso, cmdline, cpus=2, timeout=60, megs=512, name=None, echo=None,
            serial_input=None):
        """serial_input: a SerialConsole (COM1 with input, as for Bochs), else COM1 writes
        serial.log."""
        run_dir = self.run_dir_for(iso, name,
                                   self.name + ("-kernel" if self.kernel_bin else ""))
        serial = run_dir / "serial.log"
        for f in (serial, run_dir / "qemu.log"):
            try:
                f.unlink()
            except FileNotFoundError:
                pass
        if serial_input:
            serial_input.open(serial)
        cmd = self.command(iso, cmdline, cpus, megs, serial,
                           com1_tty=serial_input.dev if serial_input else None)
        try:
            code, to, stopped, dur = _supervise(cmd, serial, timeout,
                                                stdout_path=run_dir / "qemu.log", echo=echo,
                                                poll=serial_input and serial_input.stopped)
        finally:
            if serial_input:
                serial_input.close()
        return Result(self.name, _read_text(serial), serial,
                      _read_text(run_dir / "qemu.log").splitlines(), to, cmdline, run_dir,
                      code, dur, stopped, run_dir / "qemu.log", cmd)


class QemuTcg(Qemu):
    name = "qemu-tcg"


class Kvm(Qemu):
    """Nested VMX under KVM: only where /dev/kvm really runs bare-metal guests with VMX."""
    name = "kvm"
    has_vmx = True
    accel_args = ["-accel", "kvm", "-cpu", "host,+vmx"]


PLATFORMS = {"bochs": Bochs, "qemu-tcg": QemuTcg, "qemu": QemuTcg, "tcg": QemuTcg, "kvm": Kvm}


def get_platform(name):
    try:
        return PLATFORMS[name]()
    except KeyError:
        raise ValueError("unknown platform %r (known: bochs, qemu-tcg, kvm)" % name) from None


# ---------------------------------------------------------------------------------------------
# KVM detection

_kvm_lock = threading.Lock()
_kvm_memo = None


def _cpu_has_vmx():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags") and " vmx" in " " + line.split(":", 1)[-1] + " ":
                    return True
    except OSError:
        pass
    return False


def kvm_detect(elf=None, probe_timeout=20, use_cache=True):
    """(usable, reason). Quick checks first (/dev/kvm usable, vmx in /proc/cpuinfo); only if
    both pass, boot the kernel with run=none under KVM and wait up to PROBE_TIMEOUT s for
    'vmx: cpu 0: VMXON ok'. The answer is cached in build/platform.json (keyed by the host
    facts and, for a probe, by the kernel's hash)."""
    global _kvm_memo
    with _kvm_lock:
        if _kvm_memo is not None:
            return _kvm_memo
        facts = {
            "uname": " ".join(os.uname()),
            "dev_kvm": os.path.exists("/dev/kvm"),
            "dev_kvm_rw": os.access("/dev/kvm", os.R_OK | os.W_OK),
            "cpu_vmx": _cpu_has_vmx(),
            "qemu": shutil.which("qemu-system-x86_64") is not None,
        }
        quick_no = None
        if not facts["dev_kvm"]:
            quick_no = "no /dev/kvm"
        elif not facts["dev_kvm_rw"]:
            quick_no = "/dev/kvm is not readable and writable by this user"
        elif not facts["cpu_vmx"]:
            quick_no = "no vmx flag in /proc/cpuinfo (no nested VMX)"
        elif not facts["qemu"]:
            quick_no = "qemu-system-x86_64 not installed"
        elf = Path(elf or ELF)
        if quick_no is None:
            if not elf.exists():
                # Cannot probe without a kernel; do not cache this answer.
                return (False, "probe not possible: %s missing" % elf)
            facts["kernel"] = _sha256_file(elf).hexdigest()
        if use_cache:
            try:
                cached = json.loads(PLATFORM_CACHE.read_text())
                if cached.get("facts") == facts:
                    _kvm_memo = (bool(cached["kvm_usable"]), cached["reason"])
                    return _kvm_memo
            except (OSError, ValueError, KeyError):
                pass
        if quick_no:
            usable, reason = False, quick_no
        else:
            usable, reason = _kvm_probe(elf, probe_timeout)
        BUILD.mkdir(parents=True, exist_ok=True)
        tmp = PLATFORM_CACHE.with_suffix(".tmp")
        tmp.write_text(json.dumps({"facts": facts, "kvm_usable": usable, "reason": reason,
                                   "checked": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
        os.replace(tmp, PLATFORM_CACHE)
        _kvm_memo = (usable, reason)
        return _kvm_memo


def _kvm_probe(elf, timeout):
    cmdline = "run=none platform=kvm"
    try:
        iso = make_iso(cmdline, "kvm-probe", elf=elf)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot tell": not usable
        return False, "probe ISO could not be made: %s" % e
    res = Kvm().run(iso, cmdline, cpus=1, timeout=timeout, megs=256)
    if res.lines_matching(r"^vmx: cpu 0: VMXON ok"):
        return True, "probe boot reached 'vmx: cpu 0: VMXON ok' in %.1f s" % res.duration
    if res.timed_out:
        return False, "probe boot under -accel kvm printed no VMXON ok within %d s" % timeout
    why = (res.lines_matching(r"^vmx: unavailable") or res.emu_log[-1:] or
           ["no VMXON ok line"])
    return False, "probe boot under -accel kvm: %s" % why[0].strip()


def best_vmx_platform():
    """KVM if it really works here, else Bochs. EPTVISOR_PLATFORM overrides."""
    forced = os.environ.get("EPTVISOR_PLATFORM")
    if forced:
        return get_platform(forced)
    usable, _ = kvm_detect()
    return Kvm() if usable else Bochs()


def best_vmx_platform_name_quick():
    """The name best_vmx_platform() will give, without booting anything when that can be
    decided from cheap facts or the cache; 'vmx' if only a probe boot can tell."""
    forced = os.environ.get("EPTVISOR_PLATFORM")
    if forced:
        return get_platform(forced).name
    if _kvm_memo is not None:
        return "kvm" if _kvm_memo[0] else "bochs"
    if not (os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
            and _cpu_has_vmx()):
        return "bochs"
    return "vmx"


# ---------------------------------------------------------------------------------------------
# one-call boot

def with_platform(cmdline, platform_name):
    """Append platform=NAME unless the command line already names one."""
    if re.search(r"(^|\s)platform=", cmdline):
        return cmdline
    return (cmdline + " platform=%s" % platform_name).strip()


def boot(platform, cmdline, name, cpus=2, megs=512, timeout=60, elf=None, echo=None,
         modules=(), serial_input=None):
    """Make the ISO for CMDLINE (+ platform=<name>) and boot it on PLATFORM (an object or a
    name). TIMEOUT is scaled by EPTVISOR_TIMEOUT_SCALE. modules: (path, module string) pairs
    GRUB loads beside the kernel (the guest kernels of guest= and the pc scenarios).
    serial_input: a SerialConsole for COM1's input (Bochs and QEMU's ISO boots).
    Returns a Result."""
    if isinstance(platform, str):
        platform = get_platform(platform)
    cmdline = with_platform(cmdline, platform.name)
    timeout = timeout * timeout_scale()
    name = "%s-%s" % (_safe_name(name), platform.name)
    if isinstance(platform, Qemu) and platform.kernel_bin:
        return platform.run(None, cmdline, cpus=cpus, timeout=timeout, megs=megs, name=name,
                            echo=echo)
    iso = make_iso(cmdline, name, elf=elf, modules=modules)
    if serial_input:
        return platform.run(iso, cmdline, cpus=cpus, timeout=timeout, megs=megs, echo=echo,
                            serial_input=serial_input)
    return platform.run(iso, cmdline, cpus=cpus, timeout=timeout, megs=megs, echo=echo)


# ---------------------------------------------------------------------------------------------
# what tests ask for

class BootSpec:
    """One boot that a test judges. platform: 'qemu-tcg', 'qemu-tcg-kernel' (multiboot1
    -kernel image), 'bochs', 'kvm', or 'vmx' (best_vmx_platform(), decided at run time)."""

    def __init__(self, name, cmdline, platform="vmx", cpus=2, megs=512, timeout=60, label=None,
                 modules=(), serial_input=None):
        self.label = label
        # serial_input: a callable making the SerialConsole of each boot (COM1 input)
        self.serial_input = serial_input
        self.modules = tuple(modules)  # (path, module string): GRUB modules (guest kernels)
        self.name = name
        self.cmdline = cmdline
        self.platform = platform
        self.cpus = cpus
        self.megs = megs
        self.timeout = timeout

    @property
    def key(self):
        return (self.name, self.cmdline, self.platform, self.cpus, self.megs, self.modules)

    def platform_object(self):
        if self.platform == "vmx":
            return best_vmx_platform()
        if self.platform == "qemu-tcg-kernel":
            return QemuTcg(kernel_bin=BIN)
        return get_platform(self.platform)

    def boot(self):
        plat = self.platform_object()
        if isinstance(plat, Qemu) and plat.kernel_bin and not Path(plat.kernel_bin).exists():
            raise FileNotFoundError("%s does not exist (make kernel builds it)" % plat.kernel_bin)
        for path, _ in self.modules:
            if not Path(path).exists():
                raise FileNotFoundError("%s does not exist (make pcguests builds it)" % path)
        return boot(plat, self.cmdline, self.name, cpus=self.cpus, megs=self.megs,
                    timeout=self.timeout, modules=self.modules,
                    serial_input=self.serial_input and self.serial_input())

    @property
    def platform_label(self):
        """The platform name for test ids: 'vmx' resolved when that needs no probe boot."""
        if self.platform == "vmx":
            return best_vmx_platform_name_quick()
        return self.platform

    def __str__(self):
        """Test id: [<label>@]<platform>, e.g. 'qemu-tcg', 'selftest@bochs'."""
        label = getattr(self, "label", None)
        return ("%s@%s" % (label, self.platform_label)) if label else self.platform_label

    def __repr__(self):
        return "BootSpec(%s on %s)" % (self.name, self.platform)


def json_platform_problems(res):
    """Every @json line must be one JSON object, and every one that carries 'platform' must
    carry this run's platform name."""
    probs = ["malformed @json line: %s" % l for l in res.json_errors()]
    for obj in res.json():
        if "platform" in obj and obj["platform"] != res.platform:
            probs.append("@json line names platform %r, this run is %r: %s"
                         % (obj["platform"], res.platform, obj))
    return probs
