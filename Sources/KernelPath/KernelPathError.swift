public import LinuxSystem

/// Why the kernel path could not start, worded for the person running the agent.
public enum KernelPathError: Error, CustomStringConvertible, Sendable {
    /// A call failed for lack of privileges; names what is missing.
    case missingPrivilege(String, SystemError)
    /// libbpf or a system call failed for another reason.
    case system(SystemError)
    /// tracefs is not mounted and could not be mounted.
    case tracefsUnavailable(SystemError)
    /// A combination of settings the kernel path cannot run, and why.
    case unsupported(String)

    /// Wraps a failed call, recognising permission errors.
    static func failed(_ call: String, errno: Int32, needs privilege: String) -> KernelPathError {
        let error = SystemError(call, errno: errno)
        return errno == 1 || errno == 13 ? .missingPrivilege(privilege, error) : .system(error)  // EPERM, EACCES
    }

    public var description: String {
        switch self {
        case .missingPrivilege(let what, let error):
            return "\(error)\nthis needs \(what); run as root or grant the capabilities"
        case .system(let error):
            return "\(error)"
        case .unsupported(let why):
            return why
        case .tracefsUnavailable(let error):
            return "tracefs is not mounted at /sys/kernel/tracing and mounting it failed (\(error)); "
                + "mount it with `mount -t tracefs nodev /sys/kernel/tracing`"
        }
    }

    static let bpfPrivileges = "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
}
