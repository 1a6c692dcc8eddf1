import LinuxSystem
import Synchronization
import Testing
import TraceEngine
import TraceModel

@Suite struct ExecutableQueueTests {
    /// Reports one executable per distinct stack, from whichever symbolize worker converts it.
    struct ExecutableReportingProcessor: TraceProcessor {
        let executables: ExecutableQueue

        func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
            trace.assignUnsymbolized(rawTrace)
            let file = rawTrace.withFrames { $0[0].addressOrLine }
            executables.reportExecutable(ExecutableMetadata(fileID: FileID(high: file, low: 0), fileName: "/bin/\(file)", buildID: nil))
        }
    }

    /// Takes executables and counts, and notes which threads called it.
    final class ThreadNotingReporter: TraceReporter, ExecutableReporter {
        private let state = Mutex<(files: Set<String>, threads: Set<String>, samples: Int)>(([], [], 0))
        var files: Set<String> { state.withLock { $0.files } }
        var threads: Set<String> { state.withLock { $0.threads } }
        var samples: Int { state.withLock { $0.samples } }

        func reportExecutable(_ metadata: ExecutableMetadata) {
            let thread = Self.threadName()
            state.withLock {
                $0.files.insert(metadata.fileName)
                $0.threads.insert(thread)
            }
        }
        func reportFramesForTrace(_ trace: Trace) {
            let thread = Self.threadName()
            _ = state.withLock { $0.threads.insert(thread) }
        }
        func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
            state.withLock { $0.samples += Int(count) }
        }

        static func threadName() -> String {
            (FileContents.text("/proc/thread-self/comm", limit: 64) ?? "?").trimmingSuffix("\n")
        }
    }

    /// Two symbolize workers report files; the reporter hears of every one, on the report thread
    /// only (before, the workers called it directly, concurrently with the report thread).
    @Test func executablesReachTheReporterOnTheReportThread() async throws {
        let executables = ExecutableQueue()
        var configuration = EngineConfiguration()
        configuration.symbolizeWorkers = 2
        configuration.symbolize.policy = .block
        let reporter = ThreadNotingReporter()
        let engine = try StagedEngine(
            configuration: configuration, processor: ExecutableReportingProcessor(executables: executables), reporter: reporter,
            executables: executables)
        let traces = syntheticTraces(count: 4_000, distinct: 400)
        let statistics = try await engine.run(source: SequenceTraceSource(traces))
        #expect(statistics.isConserved && reporter.samples == 4_000)
        let leaves = Set(traces.map { trace in trace.withFrames { "/bin/\($0[0].addressOrLine)" } })
        #expect(reporter.files == leaves)
        #expect(reporter.threads == ["th-report"])
        #expect(executables.dropped == 0)
    }

    @Test func aFullQueueCountsWhatItDrops() {
        let queue = ExecutableQueue(capacity: 2)
        for file in 0..<5 { queue.reportExecutable(ExecutableMetadata(fileID: FileID(high: UInt64(file), low: 0), fileName: "f\(file)", buildID: nil)) }
        #expect(queue.dropped == 3)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: Character) -> String { last == suffix ? String(dropLast()) : self }
}
