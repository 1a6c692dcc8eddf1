import AgentConfiguration
import CommandLineSupport
import LinuxSystem
import ProfileExport
import Synchronization
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// Where each interval of a continuous profile goes: files in the output directory, one per
/// format, named by the interval's start in UTC (`profile-20261129T203005.123Z.pb.gz`: names
/// sort by time, and a restart into the same directory adds files rather than replacing the last
/// run's), and the exporter's queue. A failed write is reported and counted, and profiling goes on.
final class IntervalOutputs: Sendable {
    private struct State {
        let outputs: OutputDirectory?
        var written = 0
        var failures: [String] = []
    }

    private let state: Mutex<State>
    /// Each file of an interval: its format, the origin a folded file holds (pprof and OTLP hold
    /// every origin), and its name after the stem.
    private let files: [(format: OutputFormat, origin: TraceOrigin, suffix: String)]
    private let exporter: ProfileExporter?

    init(outputs: sending OutputDirectory?, formats: [OutputFormat], origins: TraceOrigins, exporter: ProfileExporter?) {
        state = Mutex(State(outputs: outputs))
        files = formats.flatMap { format in
            format != .folded
                ? [(format, TraceOrigin.sampling, "." + format.fileExtension)]
                : origins.origins.map { (format, $0, ($0 == .offCPU ? ".off-cpu." : ".") + format.fileExtension) }
        }
        self.exporter = exporter
    }

    /// Intervals whose every file was written.
    var writtenCount: Int { state.withLock { $0.written } }

    /// One line per file that could not be written.
    var failures: [String] { state.withLock { $0.failures } }

    /// Writes `interval` in every format, hands it to the exporter, and prints what became of it.
    func take(_ interval: IntervalProfile) {
        let stem = "profile-" + Self.utcStamp(interval.start)
        exporter?.export(interval)
        state.withLock { state in
            var names: [String] = []
            for (format, origin, suffix) in files {
                guard let outputs = state.outputs else { break }
                let name = stem + suffix
                do {
                    try write(interval, as: format, origin: origin, to: name, in: outputs)
                    names.append(name)
                } catch {
                    let failure = "interval \(interval.number), \(name): \(error)"
                    state.failures.append(failure)
                    writeStandardError("tracehandler: could not write " + failure + "\n")
                }
            }
            if names.count == files.count { state.written += 1 }
            let seconds = Double(interval.duration.components.seconds) + Double(interval.duration.components.attoseconds) * 1e-18
            var line = "interval \(interval.number): \(rounded(seconds)) s, \(interval.sampleCount) samples "
                + "(\(interval.distinctSampleCount) distinct\(Self.lost(interval)))"
            if !names.isEmpty { line += ", wrote " + names.joined(separator: ", ") }
            if let exporter { line += ", export queue \(exporter.statistics.bytesQueued) bytes" }
            print(line)
            if let exporter { Self.printSettled(exporter) }
            fflush(nil)  // a supervisor (or a test) watching the output sees each interval as it is written
        }
        // What the interval's encoding, and the tables built since the last one, freed.
        HeapTuning.releaseFreePages()
    }

    private func write(
        _ interval: IntervalProfile, as format: OutputFormat, origin: TraceOrigin, to name: String, in outputs: OutputDirectory
    ) throws {
        switch format {
        case .folded:
            let stacks = interval.foldedStacks(origin: origin)
            try outputs.write(name) { (writer: inout OutputWriter) throws(OutputDirectoryError) in
                for (stack, count) in stacks { try writer.append(line: "\(stack) \(count)") }
            }
        case .pprof: try outputs.write(name, bytes: try interval.gzippedPprof())
        case .otlp: try outputs.write(name, bytes: interval.encodedOTLP())
        }
    }

    /// One line per interval whose export is settled: `sent + dropped + spooled = samples`.
    static func printSettled(_ exporter: ProfileExporter) {
        for outcome in exporter.takeSettledIntervals() { print("export: \(outcome)") }
    }

    private static func lost(_ interval: IntervalProfile) -> String {
        var text = ""
        if interval.overflowSamples > 0 { text += ", \(interval.overflowSamples) in [overflow]" }
        if interval.unknownTraceSamples > 0 { text += ", \(interval.unknownTraceSamples) of unknown trace" }
        return text
    }

    /// `20261129T203005.123Z`: the time in UTC to the millisecond.
    static func utcStamp(_ time: UnixTime64) -> String {
        var seconds = time_t(time.rawValue / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(parts.tm_year + 1900, 4) + digits(parts.tm_mon + 1, 2) + digits(parts.tm_mday, 2) + "T"
            + digits(parts.tm_hour, 2) + digits(parts.tm_min, 2) + digits(parts.tm_sec, 2) + "."
            + digits(Int32(time.rawValue / 1_000_000 % 1000), 3) + "Z"
    }
}

extension OutputFormat {
    /// The suffix of this format's files.
    var fileExtension: String {
        switch self {
        case .folded: "folded"
        case .pprof: "pb.gz"
        case .otlp: "otlp.pb"
        }
    }
}
