import LinuxSystem
import TraceModel

/// The directory (`export.spool-dir`) where requests still queued at shutdown wait for the next
/// start. Each is one file, `request-NANOSECONDS-INDEX-SAMPLES.otlp.pb`, written atomically
/// (`OutputDirectory`); at start the files are read back — only regular files of this user that
/// nobody else can write, no larger than a request may be — queued first, and removed.
final class ExportSpool {
    private let directory: OutputDirectory

    init(path: String) throws(OutputDirectoryError) {
        directory = try OutputDirectory(path: path)
    }

    var path: String { directory.path }

    /// Writes `requests`; returns how many were written (a failure stops at the first).
    func store(_ requests: [ExportQueue.Request]) -> (stored: Int, failure: OutputDirectoryError?) {
        let stamp = UnixTime64.now().rawValue
        for (index, request) in requests.enumerated() {
            do {
                try directory.write("request-\(stamp)-\(index)-\(request.samples).otlp.pb", bytes: request.bytes)
            } catch {
                return (index, error)
            }
        }
        return (requests.count, nil)
    }

    /// The spooled requests, oldest first, removed from the directory as they are read. A file
    /// that is not one of ours (a name that does not parse, another owner, too large) is left
    /// where it is and named in `skipped`.
    func load(maximumBytes: Int) -> (requests: [ExportQueue.Request], skipped: [String]) {
        guard let names = try? directory.names(where: { $0.hasPrefix("request-") && $0.hasSuffix(".otlp.pb") }) else {
            return ([], [directory.path])
        }
        var requests: [(order: (UInt64, Int), request: ExportQueue.Request)] = []
        var skipped: [String] = []
        for name in names {
            let fields = name.dropFirst("request-".count).dropLast(".otlp.pb".count).split(separator: "-")
            guard fields.count == 3, let stamp = UInt64(fields[0]), let index = Int(fields[1]), let samples = UInt64(fields[2]),
                let bytes = try? directory.readOwnFile(name, limit: maximumBytes)
            else {
                skipped.append(name)
                continue
            }
            directory.remove(name)
            requests.append(((stamp, index), ExportQueue.Request(interval: -1 - requests.count, bytes: bytes, samples: samples)))
        }
        return (requests.sorted { $0.order < $1.order }.map(\.request), skipped)
    }
}
