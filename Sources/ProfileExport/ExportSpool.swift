import LinuxSystem
import TraceModel

/// The directory (`export.spool-dir`) where requests still queued at shutdown wait for the next
/// start. Each is one file, `request-NANOSECONDS-INDEX-SAMPLES.otlp.pb`, written atomically and
/// readable by this user only (`OutputDirectory`, 0600).
///
/// The agent runs as root and sends what it reads back, so the directory must be private: owned by
/// this user and writable by nobody else (else someone could plant requests, or rename this user's
/// own files into request names). Even then only regular files of this user with one link, that
/// nobody else can write, no larger than a request may be, whose names parse as ours and whose
/// sample count is plausible for their size, are read back — newest first, as many as the queue
/// holds — and removed; anything else is left where it is.
final class ExportSpool {
    private let directory: OutputDirectory

    /// - Throws: when the directory cannot be made, opened or locked, or is not private.
    init(path: String) throws(OutputDirectoryError) {
        directory = try OutputDirectory(path: path)
        guard directory.isPrivate else {
            throw OutputDirectoryError(
                path: path, "not private (owned by this user and writable by nobody else): spooled requests could be planted there",
                errno: 0)
        }
    }

    var path: String { directory.path }

    /// Writes `requests`; returns how many were written (a failure stops at the first).
    func store(_ requests: [ExportQueue.Request]) -> (stored: Int, failure: OutputDirectoryError?) {
        let stamp = UnixTime64.now().rawValue
        for (index, request) in requests.enumerated() {
            do {
                let name = SpooledRequestName(stamp: stamp, index: index, samples: request.samples)
                try directory.write(name.fileName, bytes: request.bytes, permissions: 0o600)
            } catch {
                return (index, error)
            }
        }
        return (requests.count, nil)
    }

    /// The spooled requests, oldest first: the newest whose bytes add up to at most `budget`,
    /// each removed as it is read. Those beyond the budget are removed unread and returned in
    /// `discarded` (their samples, from their names, to be counted); files that are not ours are
    /// named in `skipped`.
    func load(maximumBytes: Int, budget: Int) -> (requests: [ExportQueue.Request], discarded: UInt64, skipped: [String]) {
        guard let names = try? directory.names(where: { $0.hasPrefix("request-") && $0.hasSuffix(".otlp.pb") }) else {
            return ([], 0, [directory.path])
        }
        var spooled: [(order: (UInt64, Int), name: String, samples: UInt64)] = []
        var skipped: [String] = []
        for name in names {
            guard let parsed = SpooledRequestName(name) else {
                skipped.append(name)
                continue
            }
            spooled.append(((parsed.stamp, parsed.index), name, parsed.samples))
        }
        var requests: [ExportQueue.Request] = []
        var discarded: UInt64 = 0
        var bytes = 0
        for entry in spooled.sorted(by: { $0.order > $1.order }) {
            guard bytes < budget else {
                if directory.remove(entry.name) { discarded = discarded.addingClamped(entry.samples) } else { skipped.append(entry.name) }
                continue
            }
            // A sample takes more than a byte of a request: a larger count is not one we wrote.
            guard let content = try? directory.readOwnFile(entry.name, limit: maximumBytes), entry.samples <= UInt64(content.count),
                bytes + content.count <= budget, directory.remove(entry.name)
            else {
                skipped.append(entry.name)
                continue
            }
            bytes += content.count
            requests.append(ExportQueue.Request(interval: -1 - requests.count, bytes: content, samples: entry.samples))
        }
        return (requests.reversed(), discarded, skipped)
    }
}

/// A spooled request's file name, `request-NANOSECONDS-INDEX-SAMPLES.otlp.pb`: when the run that
/// wrote it stopped, its place in that run's queue, and its samples (counted if it is discarded
/// unread). Parsed from names anyone able to write the directory could choose.
struct SpooledRequestName: Hashable {
    var stamp: UInt64
    var index: Int
    var samples: UInt64

    init(stamp: UInt64, index: Int, samples: UInt64) {
        self.stamp = stamp
        self.index = index
        self.samples = samples
    }

    /// Nil unless `name` is exactly the form `fileName` writes: decimal fields, nothing else.
    init?(_ name: String) {
        let prefix = "request-", suffix = ".otlp.pb"
        guard name.hasPrefix(prefix) && name.hasSuffix(suffix), name.utf8.count > prefix.utf8.count + suffix.utf8.count else { return nil }
        let fields = name.dropFirst(prefix.count).dropLast(suffix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count == 3, fields.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let stamp = UInt64(fields[0]), let index = Int(fields[1]), let samples = UInt64(fields[2])
        else { return nil }
        self.init(stamp: stamp, index: index, samples: samples)
    }

    var fileName: String { "request-\(stamp)-\(index)-\(samples).otlp.pb" }
}

extension UInt64 {
    /// The sum, or `.max` where it would overflow.
    func addingClamped(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
