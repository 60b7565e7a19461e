"""Runs inside the sandbox process (``python -I -S sandbox_boot.py CONFIG``); stdlib only.

Order matters: read the nonce (stdin) and the program while still privileged; isolate
network, PIDs and the filesystem (a supervisor stays outside the new PID namespace and
enforces the deadline); set resource limits; drop to the sandbox uid (as root) or drop every
capability (otherwise); close ctypes, /proc and, with the guard, destructive calls through an
audit hook; then run. The outcome goes to the private channel (an inherited pipe) as lines
tagged with the nonce, which lives only in ``main``'s frame (the audit hook refuses ctypes and
/proc, the ways to it from outside the interpreter). No line "passed" without the nonce
counts, whatever the program prints, writes to its descriptors or however it exits.
"""

import ctypes
import json
import os
import resource
import sys
import time
import types

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
              "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
PRIVATE_TMP = ("/tmp", "/dev/shm")
TIMEOUT_EXIT = 124
LIBC = ctypes.CDLL(None, use_errno=True)

# With the guard: processes, signals and destructive file operations, whichever module calls them.
GUARDED = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
           "os.kill", "os.killpg", "os.remove", "os.rmdir", "os.rename", "os.truncate", "os.chmod", "os.chown",
           "os.chflags", "os.putenv", "os.unsetenv", "shutil.rmtree", "shutil.chown", "os.setxattr",
           "os.removexattr", "os.chdir")


def unshare(flags, as_root):
    if not as_root:
        flags |= CLONE_NEWUSER  # unprivileged namespaces live inside a user namespace
    if LIBC.unshare(flags) != 0:
        return False
    if not as_root:  # keep our own uid/gid, so that files we create are ours
        uid, gid = os.getuid(), os.getgid()
        for name, text in (("uid_map", "%d %d 1" % (uid, uid)), ("setgroups", "deny"), ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as f:
                f.write(text)
    return True


def mount(source, target, fstype, flags, data):
    args = [None if v is None else v.encode() for v in (source, target, fstype)]
    if LIBC.mount(args[0], args[1], args[2], flags, None if data is None else data.encode()) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), target)


def mount_points():
    """Each mount point with the flags a read-only bind remount must keep (the kernel refuses
    to clear locked flags in a user namespace)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= KEPT_FLAGS.get(opt, 0)
            yield point, flags


def private_filesystem(workdir_name, size_bytes):
    """Every mount read-only, fresh small tmpfs on /tmp and /dev/shm (noexec), and the working
    directory inside the new /tmp. Returns it and the mount points left writable (best effort)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing we do here reaches the host
    writable = []
    for point, flags in mount_points():
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None)
        except OSError:
            writable.append(point)
    tmpfs = "size=%d,nr_inodes=4096,mode=1777" % size_bytes
    for point in PRIVATE_TMP:
        if os.path.isdir(point):
            mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmpfs)
    workdir = os.path.join("/tmp", workdir_name)
    os.mkdir(workdir, 0o700)
    return workdir, [p for p in writable if not p.startswith(PRIVATE_TMP)]


def isolate(cfg, as_root):
    """Namespaces where the kernel allows them. A fresh network namespace has only a down
    loopback; a fresh PID namespace dies whole (reaped by the kernel) with its first process; a
    fresh mount namespace gets the private filesystem above. Returns (network isolation,
    filesystem isolation, working directory, whether a PID namespace was made)."""
    net = CLONE_NEWNET if cfg["network"] == "namespace" else 0
    for flags in (CLONE_NEWNS | CLONE_NEWPID | net, CLONE_NEWNS | net, net):
        if flags and unshare(flags, as_root):
            break
    else:
        flags = 0
    network = "namespace" if flags & CLONE_NEWNET else "in-process"
    workdir, filesystem = os.getcwd(), "shared"
    if flags & CLONE_NEWNS:
        try:
            workdir, writable = private_filesystem(os.path.basename(os.getcwd()), cfg["file_bytes"])
            filesystem = "partial:" + ",".join(writable) if writable else "private"
        except OSError:
            pass
    return network, filesystem, workdir, bool(flags & CLONE_NEWPID)


def supervise(pid, timeout):
    """Wait for the namespace's first process; kill it (and so the namespace) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return TIMEOUT_EXIT
        time.sleep(0.01)


def set_limits(cfg):
    mem = cfg["memory_bytes"]
    limits = {
        resource.RLIMIT_AS: mem,
        resource.RLIMIT_DATA: mem,
        resource.RLIMIT_CPU: cfg["cpu_seconds"],
        resource.RLIMIT_FSIZE: cfg["file_bytes"],
        resource.RLIMIT_NOFILE: 64,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: cfg["max_processes"],
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def drop_privileges(uid):
    """As root: become the sandbox uid. Otherwise: drop the capabilities the user namespace
    gave us (they would let the program remount what we made read-only). Either way the
    process is not dumpable, so /proc/self/mem and friends belong to root."""
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    else:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2: all empty
        if LIBC.capset(header, data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
    LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def audit_hook(guard, network):
    """Always refused: ctypes and /proc, the ways around the interpreter to the harness's
    memory and descriptors. Frames stay open (the stdlib needs them): a program written to walk
    up into this harness could still forge its report; no accident or printed marker can."""
    refused = ("ctypes.",) + (GUARDED if guard else ())

    def hook(event, args):
        if event.startswith(refused):
            raise PermissionError("%s is disabled in the sandbox" % event)
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            if any(p.startswith(("/proc", "/dev/fd")) for p in (os.path.abspath(path), os.path.realpath(path))):
                raise PermissionError("opening %s is disabled in the sandbox" % path)
        if network == "in-process" and event.startswith("socket."):
            raise PermissionError("network access is disabled in the sandbox (%s)" % event)

    return hook


def disable_names():
    """Functions without audit events, removed from every module that exposes them."""
    import _posixsubprocess
    import posix

    for module in (os, posix):
        for name in ("setuid", "setgid", "chroot", "fchdir", "fchmod", "fchown", "lchown"):
            if hasattr(module, name):
                setattr(module, name, None)
    setattr(_posixsubprocess, "fork_exec", None)  # noqa: B010 (mypy refuses None for a typed function)


def main():
    cfg = json.loads(sys.argv[1])
    del sys.argv[1:]
    nonce = b""
    while not nonce.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            break
        nonce += chunk
    nonce = nonce.strip()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    channel, write, exit_now = cfg["channel"], os.write, os._exit
    os.set_inheritable(channel, False)
    with open(cfg["program"], encoding="utf-8") as f:
        source = f.read()
    as_root = os.geteuid() == 0
    network, filesystem, workdir, pid_namespace = isolate(cfg, as_root)
    write(channel, b"%s isolation network=%s filesystem=%s\n" % (nonce, network.encode(), filesystem.encode()))
    if filesystem != "shared":  # same path as before, but in the new /tmp: move there
        with open(os.path.join(workdir, "program.py"), "w", encoding="utf-8") as f:
            f.write(source)
        if cfg["uid"] is not None:
            os.chown(workdir, cfg["uid"], cfg["uid"])
        os.chdir(workdir)
    if pid_namespace:
        child = os.fork()  # the child is process 1 of the new PID namespace
        if child:
            code = supervise(child, cfg["timeout_s"])
            if code == TIMEOUT_EXIT:
                write(channel, b"%s timeout\n" % nonce)
            exit_now(code if code >= 0 else 128 - code)
    set_limits(cfg)
    drop_privileges(cfg["uid"])
    code = compile(source, "<program>", "exec")
    program = types.ModuleType("__main__")  # the program's module, not this one
    sys.modules["__main__"] = program
    if cfg["guard"]:
        disable_names()
    sys.addaudithook(audit_hook(cfg["guard"], network))
    try:
        exec(code, program.__dict__)
    except SystemExit:  # a program that exits early has not passed its tests
        sys.stderr.write("calray-sandbox: program exited before its tests finished\n")
        sys.stderr.flush()
        exit_now(3)
    except BaseException as exc:  # the usual traceback, less this harness's frame
        tb = exc.__traceback__
        exc.__traceback__ = tb.tb_next if tb else None  # drop this harness's frame
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
        sys.stderr.flush()
        exit_now(1)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    write(channel, b"%s passed\n" % nonce)
    exit_now(0)


main()
