#if canImport(Glibc)
import Glibc
#endif

/// A progress line on standard error every `monitor.interval-ms` while something runs: rewritten
/// in place on a terminal, one line per update otherwise (logs, CI). Standard output stays for
/// results (`--json`).
public struct ProgressLine {
    private let interval: Duration
    private let label: String
    private let started = ContinuousClock.now
    private var next: ContinuousClock.Instant
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var wroteInPlace = false

    public init(_ label: String, every interval: Duration) {
        self.label = label
        self.interval = interval
        next = started + interval
    }

    /// Whether the next `update` prints: callers whose status is costly to gather (a profiler's
    /// statistics read kernel maps) gather it only then.
    public var isDue: Bool { ContinuousClock.now >= next }

    /// Prints `status()` if an interval has passed since the last line.
    public mutating func update(_ status: () -> String) {
        let now = ContinuousClock.now
        guard now >= next else { return }
        while next <= now { next += interval }
        let (seconds, attoseconds) = (now - started).components
        let elapsed = Double(seconds) + Double(attoseconds) * 1e-18
        let line = "\(label) \(rounded(elapsed)) s: \(status())"
        if isTerminal {
            writeStandardError("\r\u{1B}[K" + line)
            wroteInPlace = true
        } else {
            writeStandardError(line + "\n")
        }
    }

    /// Polls `finished` every 50 ms, updating the line, until it returns true; then ends the line.
    public mutating func run(until finished: () -> Bool, _ status: () -> String) {
        while !finished() {
            usleep(50_000)
            update(status)
        }
        end()
    }

    /// Ends an in-place line with a newline, so what follows starts on a line of its own.
    public mutating func end() {
        if wroteInPlace { writeStandardError("\n") }
        wroteInPlace = false
    }
}

/// Writes `text` to file descriptor 2 (unbuffered, so a line appears when written).
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// `value` with two decimals ("1.05", "-0.50"), without Foundation's formatter.
public func rounded(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let magnitude = hundredths.magnitude
    let fraction = magnitude % 100
    return "\(hundredths < 0 ? "-" : "")\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
