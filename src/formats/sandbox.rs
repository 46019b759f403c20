//! The confinement of decoding children (see `worker`): what a child that
//! reads untrusted bytes may touch once it has been compromised.
//!
//! Applied between `fork` and `exec` (so the exec itself and everything the
//! program does afterwards are confined), in this order:
//! 1. its own network namespace (`unshare(CLONE_NEWNET)`, with a user
//!    namespace when the daemon is not root): no interface but a down
//!    loopback, so no connection can leave the child;
//! 2. `PR_SET_NO_NEW_PRIVS` (no set-uid escalation; required by Landlock);
//! 3. Landlock: the filesystem view is read-only system directories
//!    (`/usr`, `/lib*`, `/bin`, `/sbin`, a few `/etc` entries that dynamic
//!    linking and fontconfig need, `/dev/null`, `/dev/urandom`, the child's own
//!    `/proc/self`) plus read-write on the job's scratch directory and nothing
//!    else: not the state directory, not the homes, not the configuration
//!    (which may hold SMTP credentials), not the rest of `/tmp`. Where the
//!    kernel supports it (Landlock ABI 4+), TCP bind/connect are denied too;
//!    ABI 6+ also scopes abstract UNIX sockets and signals to the sandbox.
//!
//! 4. a seccomp filter: no new processes (`fork`, `vfork`, `clone` without
//!    `CLONE_THREAD`; `clone3` answers ENOSYS so threads fall back to `clone`)
//!    and no sockets at all (a pathname UNIX socket, such as PostgreSQL's,
//!    is outside both the network namespace and Landlock's reach). This is
//!    what `RLIMIT_NPROC` cannot do: it counts every process of the daemon's
//!    user, the daemon's own threads included.
//!
//! Each layer is applied when the kernel has it; [`probe`] says which are in
//! force on this host (logged at start-up; `tests` prove them on this kernel).
//! Everything the closure run after `fork` needs is prepared beforehand: it
//! calls only async-signal-safe system calls and allocates nothing.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

// Landlock ABI (include/uapi/linux/landlock.h).
const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const SYS_LANDLOCK_ADD_RULE: libc::c_long = 445;
const SYS_LANDLOCK_RESTRICT_SELF: libc::c_long = 446;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_REMOVE_DIR: u64 = 1 << 4;
const FS_REMOVE_FILE: u64 = 1 << 5;
const FS_MAKE_DIR: u64 = 1 << 7;
const FS_MAKE_REG: u64 = 1 << 8;
const FS_REFER: u64 = 1 << 13;
const FS_TRUNCATE: u64 = 1 << 14;
const FS_IOCTL_DEV: u64 = 1 << 15;
/// Rights that make sense on a file (not a directory) rule.
const FS_FILE_RIGHTS: u64 = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;

const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel (0 when unsupported).
pub fn landlock_abi() -> i64 {
    // SAFETY: the version query takes no pointers (NULL, 0).
    let r = unsafe {
        libc::syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    r.max(0)
}

fn handled_fs(abi: i64) -> u64 {
    let mut all = (1u64 << 13) - 1; // ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2 {
        all |= FS_REFER;
    }
    if abi >= 3 {
        all |= FS_TRUNCATE;
    }
    if abi >= 5 {
        all |= FS_IOCTL_DEV;
    }
    all
}

/// One path and what the child may do beneath it.
struct Rule {
    path: CString,
    access: u64,
}

/// Everything the post-fork closure needs, prepared before the fork.
pub struct Plan {
    abi: i64,
    rules: Vec<Rule>,
    isolate_network: bool,
    is_root: bool,
}

/// System paths a decoding program needs to start and run (read-only).
const READ_ONLY: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/fonts",
    "/etc/localtime",
    "/etc/alternatives",
    "/dev/urandom",
    "/dev/zero",
    "/proc/self",
    "/sys/devices/system/cpu",
];

impl Plan {
    /// The confinement for a child working in `scratch` and running
    /// `program` (its resolved path is allowed to execute even outside the
    /// system directories, e.g. this very binary in a build tree). `extra_ro`
    /// are further read-only paths (e.g. `TESSDATA_PREFIX`).
    pub fn new(scratch: &Path, program: Option<&Path>, extra_ro: &[PathBuf]) -> Plan {
        let abi = landlock_abi();
        let mut rules = Vec::new();
        let ro = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
        let mut push = |p: &Path, access: u64| {
            if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
                rules.push(Rule { path: c, access });
            }
        };
        for p in READ_ONLY {
            push(Path::new(p), ro);
        }
        for p in extra_ro {
            push(p, ro);
        }
        if let Some(p) = program {
            push(p, FS_EXECUTE | FS_READ_FILE);
        }
        push(Path::new("/dev/null"), FS_READ_FILE | FS_WRITE_FILE);
        push(
            scratch,
            FS_READ_FILE
                | FS_READ_DIR
                | FS_WRITE_FILE
                | FS_REMOVE_DIR
                | FS_REMOVE_FILE
                | FS_MAKE_DIR
                | FS_MAKE_REG
                | FS_REFER
                | FS_TRUNCATE,
        );
        Plan {
            abi,
            rules,
            isolate_network: true,
            // SAFETY: geteuid has no preconditions.
            is_root: unsafe { libc::geteuid() } == 0,
        }
    }

    /// Apply the plan to the calling process. Runs after `fork`, before
    /// `exec`: async-signal-safe system calls only, no allocation.
    pub fn apply(&self) -> std::io::Result<()> {
        if self.isolate_network {
            // A fresh network namespace has only a down loopback. Root can
            // make one directly; others need a user namespace around it.
            // Failure (no user namespaces on this host) leaves Landlock's TCP
            // rules as the network layer.
            let flags = if self.is_root {
                libc::CLONE_NEWNET
            } else {
                libc::CLONE_NEWUSER | libc::CLONE_NEWNET
            };
            // SAFETY: unshare has no memory preconditions.
            unsafe {
                libc::unshare(flags);
            }
        }
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if self.abi >= 1 {
            self.landlock()?;
        }
        seccomp()
    }

    fn landlock(&self) -> std::io::Result<()> {
        let attr = RulesetAttr {
            handled_access_fs: handled_fs(self.abi),
            handled_access_net: if self.abi >= 4 {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if self.abi >= 6 {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            },
        };
        let size = match self.abi {
            1..=3 => 8,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: a pointer to a live, correctly laid out attribute and its size.
        let ruleset = unsafe {
            libc::syscall(
                SYS_LANDLOCK_CREATE_RULESET,
                &attr as *const RulesetAttr,
                size,
                0u32,
            )
        };
        if ruleset < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let ruleset = ruleset as libc::c_int;
        let handled = attr.handled_access_fs;
        for rule in &self.rules {
            // SAFETY: a NUL-terminated path prepared before the fork.
            let fd = unsafe { libc::open(rule.path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                continue; // absent on this host (e.g. /lib32)
            }
            // SAFETY: an all-zero stat is a valid value to be overwritten.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fstat on an fd we own, into a stack value.
            let is_dir = unsafe { libc::fstat(fd, &mut st) } == 0
                && (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
            let mut access = rule.access & handled;
            if !is_dir {
                access &= FS_FILE_RIGHTS;
            }
            let beneath = PathBeneathAttr {
                allowed_access: access,
                parent_fd: fd,
            };
            // SAFETY: a pointer to a live attribute; the fd is ours.
            let r = unsafe {
                libc::syscall(
                    SYS_LANDLOCK_ADD_RULE,
                    ruleset,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &beneath as *const PathBeneathAttr,
                    0u32,
                )
            };
            // SAFETY: closing an fd we opened.
            unsafe {
                libc::close(fd);
            }
            if r < 0 {
                let e = std::io::Error::last_os_error();
                // SAFETY: closing the ruleset fd we created.
                unsafe {
                    libc::close(ruleset);
                }
                return Err(e);
            }
        }
        // SAFETY: plain syscall on the ruleset fd.
        let r = unsafe { libc::syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0u32) };
        let e = std::io::Error::last_os_error();
        // SAFETY: closing the ruleset fd we created.
        unsafe {
            libc::close(ruleset);
        }
        if r < 0 {
            return Err(e);
        }
        Ok(())
    }
}

// seccomp-bpf (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Install the filter: deny new processes and sockets (see the module doc).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn seccomp() -> std::io::Result<()> {
    const NR: u32 = 0; // offsetof(struct seccomp_data, nr)
    const ARCH: u32 = 4; // offsetof(struct seccomp_data, arch)
    const ARG0_LOW: u32 = 16; // args[0], low 32 bits (little-endian)
    let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    #[cfg(target_arch = "x86_64")]
    const FORKS: [u32; 2] = [libc::SYS_fork as u32, libc::SYS_vfork as u32];
    #[cfg(target_arch = "aarch64")]
    const FORKS: [u32; 2] = [u32::MAX, u32::MAX]; // no fork/vfork on aarch64
    let filter = [
        // 0: another architecture's calling convention: refuse it all.
        stmt(BPF_LD_W_ABS, ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, eperm),
        // 3: the system call number.
        stmt(BPF_LD_W_ABS, NR),
        jump(BPF_JEQ_K, FORKS[0], 7, 0),                // -> 12 deny
        jump(BPF_JEQ_K, FORKS[1], 6, 0),                // -> 12 deny
        jump(BPF_JEQ_K, libc::SYS_socket as u32, 5, 0), // -> 12 deny
        jump(BPF_JEQ_K, libc::SYS_clone3 as u32, 5, 0), // -> 13 ENOSYS
        jump(BPF_JEQ_K, libc::SYS_clone as u32, 1, 0),  // -> 10 flags
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
        // 10: clone: a thread is allowed, a process is not.
        stmt(BPF_LD_W_ABS, ARG0_LOW),
        jump(BPF_JSET_K, libc::CLONE_THREAD as u32, 2, 0), // -> 14 allow
        // 12
        stmt(BPF_RET_K, eperm),
        // 13
        stmt(BPF_RET_K, enosys),
        // 14
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a pointer to a live filter program; NO_NEW_PRIVS is already set.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn seccomp() -> std::io::Result<()> {
    Ok(())
}

/// Which layers are in force on this host, for the start-up log and
/// `docs/SECURITY.md`'s verification steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub landlock_abi: i64,
    pub filesystem: bool,
    pub tcp: bool,
    pub scoped: bool,
}

/// What the kernel offers the sandbox.
pub fn probe() -> Probe {
    let abi = landlock_abi();
    Probe {
        landlock_abi: abi,
        filesystem: abi >= 1,
        tcp: abi >= 4,
        scoped: abi >= 6,
    }
}
