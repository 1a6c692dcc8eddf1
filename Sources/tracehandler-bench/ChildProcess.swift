import CommandLineSupport
import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// A program the benchmark starts (the agent, CPU hogs): its standard error can be read line by
/// line as it runs, its CPU time read from /proc while it runs. Killed and reaped on `deinit` if
/// not waited for.
final class ChildProcess {
    let pid: pid_t
    /// The read end of the child's standard error, when captured.
    private var errorPipe: Int32?
    private var pending: [UInt8] = []
    private var reaped = false

    /// Starts `arguments[0]` (a path) with `arguments`; standard output goes to `outputPath`
    /// (created or truncated) or /dev/null, standard error to a pipe when `captureErrors`.
    init(_ arguments: [String], outputPath: String? = nil, captureErrors: Bool = false) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var ends: [Int32] = [-1, -1]
        if captureErrors {
            guard pipe(&ends) == 0 else { throw CommandFailure("pipe: \(String(cString: strerror(errno)))") }
            // Neither end may stay open in another child; dup2 clears the flag on the child's copy.
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            posix_spawn_file_actions_adddup2(&actions, ends[1], STDERR_FILENO)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, arguments[0], &actions, nil, &argv, environ)
        if captureErrors { close(ends[1]) }
        guard status == 0 else {
            if captureErrors { close(ends[0]) }
            throw CommandFailure("cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        pid = child
        errorPipe = captureErrors ? ends[0] : nil
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        if let errorPipe { close(errorPipe) }
    }

    /// The next line of standard error, without its newline; nil at its end.
    func nextErrorLine() -> String? {
        guard let errorPipe else { return nil }
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(errorPipe, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                defer { pending.removeAll() }
                return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
            }
            pending += chunk[..<count]
        }
    }

    /// CPU time of all the process's threads so far, in seconds: the sum of each thread's
    /// /proc/PID/task/TID/schedstat run time (nanoseconds, where /proc/PID/stat counts ticks).
    func cpuSeconds() -> Double {
        guard let directory = opendir("/proc/\(pid)/task") else { return 0 }
        defer { closedir(directory) }
        var nanoseconds: UInt64 = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.first?.isNumber == true,
                let text = FileContents.text("/proc/\(pid)/task/\(name)/schedstat", limit: 256),
                let first = text.split(separator: " ").first, let value = UInt64(first)
            else { continue }
            nanoseconds &+= value
        }
        return Double(nanoseconds) * 1e-9
    }

    /// Sends `signal`.
    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the process to exit; its exit status, or 128 + the signal that ended it.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// A directory of its own under /tmp (mkdtemp), removed with everything in it on `deinit`.
final class TemporaryDirectory {
    let path: String

    init(_ prefix: String) throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw CommandFailure("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
