#!/usr/bin/env python3
"""Build eptvisor, boot it, stream its serial log, and judge the run (used by `make run`
and `make debug`).

  run.py --scenario demo                    # best VMX platform (KVM if usable, else Bochs)
  run.py --scenario selftest --megs 2048 --timeout 180
  run.py --platform qemu-tcg --cmdline "exc-test=on run=none"
  run.py --platform qemu-tcg --kernel-bin   # -kernel build/eptvisor.bin (multiboot1)
  run.py --debug                            # Bochs debugger prompt (type c to continue)
  run.py --debug --platform qemu            # QEMU gdbstub, stopped at the first instruction

Exit status: 0 only if the kernel printed a summary line with 0 failed (and no `not ok`,
no PANIC, a clean shutdown, no timeout); 1 otherwise; 2 if the build or the setup failed.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eptvisor as ev  # noqa: E402


def build_cmdline(args, platform_name):
    cmd = (args.cmdline or "").strip()
    if not re.search(r"(^|\s)run=", cmd):
        cmd = ("run=%s %s" % (args.scenario or "demo", cmd)).strip()
    return ev.with_platform(cmd, platform_name)


def pick_platform(args):
    if args.platform:
        plat = ev.get_platform(args.platform)
    elif args.debug:
        plat = ev.Bochs()
    else:
        plat = ev.best_vmx_platform()
        if not os.environ.get("EPTVISOR_PLATFORM"):
            usable, why = ev.kvm_detect()
            if not usable:
                print("run: nested KVM not usable (%s): using %s" % (why, plat.name),
                      flush=True)
    if args.ips:
        if not isinstance(plat, ev.Bochs):
            sys.exit("run: --ips is a Bochs setting (platform %s)" % plat.name)
        plat.ips = args.ips
    if args.kernel_bin:
        if not isinstance(plat, ev.Qemu):
            sys.exit("run: --kernel-bin needs a QEMU platform (qemu-tcg or kvm)")
        plat.kernel_bin = ev.BIN
    return plat


def debug(plat, iso, cmdline, args):
    if isinstance(plat, ev.Bochs):
        run_dir, rc = plat.prepare(iso, args.cpus, args.megs, debug=True)
        cmd = plat.command(run_dir, rc, debug=True)
        print("run: Bochs debugger: type 'c' to continue, Ctrl-C to break back to the prompt,\n"
              "     'q' to quit; 'xchg %%bx,%%bx' in the kernel is a breakpoint.\n"
              "     serial log: %s   bochs log: %s\n     %s"
              % (run_dir / "serial.log", run_dir / "bochs.log", " ".join(map(str, cmd))),
              flush=True)
        return subprocess.call(cmd, env=plat.env())
    cmd = plat.command(iso, cmdline, args.cpus, args.megs, None, debug=True)
    print("run: QEMU is stopped at the first instruction, gdbstub on :1234. In another "
          "terminal:\n     gdb %s -ex 'target remote :1234'\n     (serial output follows here; "
          "Ctrl-C ends QEMU)\n     %s" % (ev.ELF, " ".join(shlex.quote(str(c)) for c in cmd)),
          flush=True)
    return subprocess.call([str(c) for c in cmd])


def run_console(plat, iso, cmdline, args, name):
    """--console: Bochs with COM1 on a pty (eptvisor.SerialConsole), the terminal in raw mode
    (ctrl-c goes to the guest; ctrl-] ends the run); the Result, or None if not possible."""
    import termios
    import tty
    if not isinstance(plat, ev.Bochs):
        print("run: --console needs Bochs (COM1 on a pty); platform is %s" % plat.name)
        return None
    if not sys.stdin.isatty():
        print("run: --console needs a terminal on stdin")
        return None
    print("run: console: type into the guest's ttyS0; ctrl-] ends the run", flush=True)
    con = ev.SerialConsole(interactive=True)
    saved = termios.tcgetattr(sys.stdin.fileno())
    tty.setraw(sys.stdin.fileno())
    try:
        return plat.run(iso, cmdline, cpus=args.cpus, timeout=args.timeout, megs=args.megs,
                        name=name, serial_input=con)
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", help="scenario list for run= (default demo)")
    ap.add_argument("--platform", help="bochs, qemu-tcg (alias qemu), kvm; default: best VMX")
    ap.add_argument("--cmdline", default="", help="kernel command line (run= here wins over "
                    "--scenario; platform= is added)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--megs", type=int, default=512, help="emulated RAM in MiB")
    ap.add_argument("--timeout", type=float, default=300, help="wall-clock seconds")
    ap.add_argument("--ips", type=int, help="Bochs: emulated instructions per emulated "
                    "second (default Bochs' 4000000; Linux guests: scripts/linux/linux.mk)")
    ap.add_argument("--no-build", action="store_true", help="do not run `make kernel`")
    ap.add_argument("--kernel-bin", action="store_true",
                    help="QEMU: boot build/eptvisor.bin with -kernel/-append (multiboot1)")
    ap.add_argument("--debug", action="store_true",
                    help="interactive: Bochs debugger, or QEMU with -s -S")
    ap.add_argument("--quiet", action="store_true", help="do not stream the serial log")
    ap.add_argument("--console", action="store_true",
                    help="Bochs: an interactive serial console: the terminal's keystrokes go "
                    "to COM1 (eptvisor gives them to its PC guest), its output comes back; "
                    "ctrl-] ends the run")
    ap.add_argument("--guest", help="a multiboot guest kernel to run (a GRUB module; adds "
                    "guest=<its name> to the command line)")
    ap.add_argument("--guest-args", default="", help="its command line (guest_args=)")
    ap.add_argument("--initrd", help="a Linux guest's initrd (a GRUB module; adds "
                    "guest_initrd=<its name>)")
    ap.add_argument("--guest-vcpus", type=int, help="its vCPUs (guest_vcpus=)")
    ap.add_argument("--guest-mem", help="its RAM, e.g. 128M (guest_mem=)")
    ap.add_argument("--module", action="append", default=[],
                    help="a further GRUB module (repeatable); name it in guest_mods=")
    args = ap.parse_args(argv)

    if not (args.no_build or ev.no_build()):
        b = ev.make("kernel")
        if not b.ok:
            sys.stdout.write(b.output)
            print("run: `%s` failed" % " ".join(b.cmd))
            return 2
    if not ev.ELF.exists():
        print("run: %s missing (make kernel)" % ev.ELF)
        return 2

    try:
        plat = pick_platform(args)
    except ValueError as e:
        print("run: %s" % e)
        return 2
    cmdline = build_cmdline(args, plat.name)
    modules = []
    extra = [args.initrd] if args.initrd else []
    for path in ([args.guest] if args.guest else []) + extra + args.module:
        if not Path(path).is_file():
            print("run: no such guest kernel or module: %s" % path)
            return 2
        modules.append((str(Path(path).resolve()), Path(path).name))
    if args.guest:
        cmdline += " guest=%s" % Path(args.guest).name
        if args.guest_args:
            cmdline += ' guest_args="%s"' % args.guest_args.replace('"', "'")
        if args.initrd:
            cmdline += " guest_initrd=%s" % Path(args.initrd).name
        if args.guest_vcpus:
            cmdline += " guest_vcpus=%d" % args.guest_vcpus
        if args.guest_mem:
            cmdline += " guest_mem=%s" % args.guest_mem
        if args.module:
            cmdline += " guest_mods=%s" % ",".join(Path(m).name for m in args.module)
    name = "run-" + re.sub(r"[^A-Za-z0-9_.-]", "_", args.scenario or args.guest and
                           Path(args.guest).name or "cmdline")
    iso = None
    if not (isinstance(plat, ev.Qemu) and plat.kernel_bin):
        try:
            iso = ev.make_iso(cmdline, name, modules=modules)
        except (OSError, RuntimeError, ValueError) as e:
            print("run: %s" % e)
            return 2

    print("run: platform %s, %d CPU(s), %d MiB, cmdline '%s'"
          % (plat.name, args.cpus, args.megs, cmdline), flush=True)
    if args.debug:
        debug(plat, iso, cmdline, args)
        return 0

    echo = None if args.quiet else (lambda line: print(line, flush=True))
    if args.console:
        res = run_console(plat, iso, cmdline, args, name)
        if res is None:
            return 2
    else:
        res = plat.run(iso, cmdline, cpus=args.cpus, timeout=args.timeout, megs=args.megs,
                       name=name, echo=echo)
    probs = res.problems()
    s = res.summary()
    verdict = ("%d passed, %d failed" % s[:2] + (", %d skipped" % s[2] if s[2] else "")) \
        if s else "no summary line"
    if probs:
        if args.quiet:
            print(res.failure_report(why=probs))
        else:
            print("run: problems:\n" + "\n".join("  - " + p for p in probs))
            vmx = res.vmx_failure_lines()
            if vmx:
                print("run: %s VMX / EPT failure lines:" % (res.emu_log_path or "bochs.log"))
                print("\n".join(vmx))
    print("run: platform %s: %s%s (%.1f s; serial log %s)"
          % (res.platform, verdict, "" if not probs else " -- FAILED", res.duration,
             res.log_path), flush=True)
    return 0 if not probs else 1


if __name__ == "__main__":
    sys.exit(main())
