import Foundation
import LinuxSystem
import ProfileExport
import Synchronization
import Testing
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// A receiver played by the test: each call takes the next scripted answer (the last one
/// repeats), after an optional delay that cancellation cuts short.
final class ScriptedTransport: ExportTransport {
    private let state: Mutex<(answers: [ExportOutcome], received: [[UInt8]], cancelled: Int, calls: Int)>
    private let delay: Duration

    init(_ answers: [ExportOutcome], delay: Duration = .zero) {
        state = Mutex((answers, [], 0, 0))
        self.delay = delay
    }

    /// The requests the receiver accepted, in order.
    var received: [[UInt8]] { state.withLock { $0.received } }

    /// Calls cancelled while the receiver was taking its time.
    var cancelled: Int { state.withLock { $0.cancelled } }

    /// Calls begun.
    var calls: Int { state.withLock { $0.calls } }

    func export(_ request: [UInt8], timeout: Duration) async -> ExportOutcome {
        state.withLock { $0.calls += 1 }
        if delay > .zero {
            do {
                try await Task.sleep(for: min(delay, timeout))
            } catch {
                state.withLock { $0.cancelled += 1 }
                return .retryable(status: "CANCELLED", message: "cancelled")
            }
            if delay > timeout { return .retryable(status: "DEADLINE_EXCEEDED", message: "slow receiver") }
        }
        return state.withLock { state in
            let answer = state.answers.count > 1 ? state.answers.removeFirst() : state.answers[0]
            if case .accepted = answer { state.received.append(request) }
            return answer
        }
    }
}

@Suite struct ProfileExporterTests {
    static let accept = ExportOutcome.accepted(rejectedProfiles: 0)
    static let unavailable = ExportOutcome.retryable(status: "UNAVAILABLE", message: "receiver down")

    static func configuration(queueBytes: Int = 16 << 20) -> ExportConfiguration {
        var configuration = ExportConfiguration()
        configuration.endpoint = ExportEndpoint("otlp://127.0.0.1:4317")
        configuration.queueBytes = queueBytes
        configuration.retryInitial = .milliseconds(10)
        configuration.retryMaximum = .milliseconds(40)
        // Shutdown drains everything however long a busy test run keeps the sender from running;
        // the tests of the deadline set their own.
        configuration.shutdownTimeout = .seconds(600)
        return configuration
    }

    /// `count` intervals; interval i holds `traces` distinct traces of `frames` frames with
    /// long names, each counted i + 1 times.
    static func intervals(_ count: Int, traces: Int = 3, frames: Int = 4) -> [IntervalProfile] {
        let ended = Mutex<[IntervalProfile]>([])
        let reporter = IntervalProfileReporter(
            samplingPeriod: .milliseconds(10), retainedTraces: 1 << 16, start: UnixTime64(rawValue: 1)
        ) { interval in ended.withLock { $0.append(interval) } }
        let file = FileID(high: 1, low: 2)
        for index in 0..<count {
            for t in 0..<traces {
                var trace = Trace()
                for f in 0..<frames {
                    let address = UInt64(0x400000 + (index * traces + t) * frames + f)
                    trace.append(file: file, lineno: address, type: .native, mappingStart: 0x400000, mappingEnd: 0x9000000,
                                 symbol: "function_with_a_long_descriptive_name_\(index)_\(t)_\(f)")
                }
                trace.updateHash()
                reporter.reportFramesForTrace(trace)
                let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("app"), pid: 7, tid: 7, cpu: 0)
                reporter.reportCountForTrace(trace.hash, count: UInt16(index + 1), meta: meta)
            }
            reporter.endInterval(at: UnixTime64(rawValue: UInt64(index + 2) * 1_000_000_000))
        }
        return ended.withLock { $0 }
    }

    /// Which fixture interval each request holds, by the index its function names carry (each
    /// request has a random profile id, so equal intervals do not encode to equal bytes).
    static func intervalNumbers(_ requests: [[UInt8]]) -> [Int] {
        requests.map { request in
            (0..<100).first { index in
                let name = Array("function_with_a_long_descriptive_name_\(index)_".utf8)
                return (0...(request.count - name.count)).contains { request[$0..<($0 + name.count)].elementsEqual(name) }
            } ?? -1
        }
    }

    /// After `shutdown()`: each interval handed over is settled exactly once, in its own balance
    /// (sent + dropped + spooled = its samples), and the settled intervals add up to the totals.
    /// Returns them by interval number.
    @discardableResult
    static func expectSettled(_ exporter: ProfileExporter, _ statistics: ExportStatistics) -> [Int: IntervalExportOutcome] {
        let settled = exporter.takeSettledIntervals()
        let byNumber = Dictionary(settled.map { ($0.interval, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byNumber.count == settled.count && settled.count == statistics.intervals, "\(settled)")
        #expect(settled.allSatisfy { $0.isConserved }, "\(settled)")
        #expect(settled.reduce(0) { $0 + $1.samples } == statistics.samples)
        #expect(settled.reduce(0) { $0 + $1.sent } == statistics.samplesSent - min(statistics.samplesSent, statistics.spooledSamplesLoaded))
        #expect(settled.reduce(0) { $0 + $1.spooled } == statistics.samplesSpooled)
        #expect(exporter.takeSettledIntervals().isEmpty, "taken once")
        return byNumber
    }

    /// Waits for `condition`, for up to ten minutes (a busy parallel test run, under a sanitizer,
    /// can keep a task from running for minutes).
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    }

    @Test func everyIntervalIsSentInOrder() async throws {
        let transport = ScriptedTransport([Self.accept])
        let exporter = try ProfileExporter(configuration: Self.configuration(), transport: transport)
        let intervals = Self.intervals(3)
        for interval in intervals { exporter.export(interval) }
        let statistics = await exporter.shutdown()
        #expect(statistics.intervals == 3 && statistics.samples == 3 * (1 + 2 + 3))
        #expect(statistics.samplesSent == statistics.samples && statistics.requestsSent == 3 && statistics.samplesDropped == 0)
        #expect(Self.intervalNumbers(transport.received) == [0, 1, 2])
        #expect(statistics.bytesSent == transport.received.reduce(0) { $0 + $1.count })
        #expect(statistics.isConserved && statistics.requestsQueued == 0 && statistics.bytesQueued == 0)
        #expect(Self.expectSettled(exporter, statistics).values.allSatisfy { $0.sent == $0.samples })
    }

    /// UNAVAILABLE (and the other transient statuses) are retried after a growing wait until the
    /// receiver takes the request; INVALID_ARGUMENT is not retried: the request is dropped,
    /// counted, and the next one goes out.
    @Test func transientFailuresAreRetriedAndARefusalIsNot() async throws {
        let invalid = ExportOutcome.rejected(status: "INVALID_ARGUMENT", message: "bad profile")
        let transport = ScriptedTransport([Self.unavailable, Self.unavailable, Self.accept, invalid, Self.accept])
        let exporter = try ProfileExporter(configuration: Self.configuration(), transport: transport)
        let intervals = Self.intervals(3)
        for interval in intervals { exporter.export(interval) }
        let statistics = await exporter.shutdown()
        #expect(statistics.retries == 2 && statistics.failedAttempts == 3)
        #expect(statistics.samplesSent == 3 + 9 && statistics.samplesDroppedRejected == 6)
        #expect(Self.intervalNumbers(transport.received) == [0, 2])
        #expect(statistics.isConserved, "\(statistics)")
        let settled = Self.expectSettled(exporter, statistics)
        let (refused, last) = (settled[intervals[1].number], settled[intervals[2].number])
        #expect(refused?.dropped == 6 && refused?.sent == 0 && last?.sent == 9, "\(settled)")
    }

    /// A receiver that never answers in time: the queue fills and the oldest intervals are
    /// dropped whole — not the one being sent — and counted; sampling's side never waits.
    @Test func aFullQueueDropsTheOldestWholeIntervals() async throws {
        let intervals = Self.intervals(6, traces: 40, frames: 8)
        var configuration = Self.configuration(queueBytes: 1 << 16)
        configuration.maximumMessageBytes = 1 << 16
        let size = intervals[0].encodedOTLP().count
        #expect(size > configuration.queueBytes / 4 && size < configuration.queueBytes / 2, "\(size) bytes an interval")
        let transport = ScriptedTransport([Self.accept], delay: .seconds(60))
        configuration.shutdownTimeout = .milliseconds(100)
        let exporter = try ProfileExporter(configuration: configuration, transport: transport)
        // export(_:) returns while the receiver holds the first request for a minute: it does
        // not wait for the network.
        let clock = ContinuousClock()
        var took = Duration.zero
        for interval in intervals {
            took += clock.measure { exporter.export(interval) }
            try await Self.waitUntil { exporter.statistics.requestsQueued > 0 }
        }
        #expect(took < .seconds(30), "export(_:) must not wait for the receiver")
        let live = exporter.statistics
        #expect(live.intervalsDropped > 0 && live.bytesQueued <= configuration.queueBytes, "\(live)")
        #expect(live.isConserved, "\(live)")
        let statistics = await exporter.shutdown()
        #expect(statistics.samplesSent == 0 && statistics.samplesDroppedQueueFull > 0 && statistics.samplesDroppedAtShutdown > 0)
        #expect(statistics.samplesDroppedQueueFull + statistics.samplesDroppedAtShutdown == statistics.samples)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(Self.expectSettled(exporter, statistics).values.allSatisfy { $0.dropped == $0.samples })
    }

    /// An interval larger than `export.max-message-bytes` goes out as several requests, each
    /// under the limit, that together hold every sample.
    @Test func anOversizeIntervalIsSplitIntoRequestsUnderTheLimit() async throws {
        let interval = try #require(Self.intervals(1, traces: 400, frames: 8).first)
        let whole = interval.encodedOTLP().count
        var configuration = Self.configuration()
        configuration.maximumMessageBytes = 1 << 16
        #expect(whole > 3 * configuration.maximumMessageBytes, "the fixture must need several requests: \(whole) bytes")
        let transport = ScriptedTransport([Self.accept])
        let exporter = try ProfileExporter(configuration: configuration, transport: transport)
        exporter.export(interval)
        let statistics = await exporter.shutdown()
        #expect(transport.received.count >= 4 && transport.received.allSatisfy { $0.count <= configuration.maximumMessageBytes })
        #expect(statistics.requestsSent == transport.received.count && statistics.samplesSent == interval.sampleCount)
        #expect(statistics.isConserved)
        #expect(Self.expectSettled(exporter, statistics)[interval.number]?.sent == interval.sampleCount)
    }

    /// An interval split into requests, one sent and one in flight when a newer interval needs
    /// the room: its waiting requests are dropped, not the one being sent, and its account holds
    /// both — sent + dropped = its samples.
    @Test func anIntervalPartlySentThenDroppedIsSettledWithBoth() async throws {
        let intervals = Self.intervals(2, traces: 400, frames: 8)
        var configuration = Self.configuration()
        configuration.maximumMessageBytes = 1 << 16
        let (whole, _) = intervals[0].otlpRequests(maximumBytes: configuration.maximumMessageBytes)
        #expect(whole.count >= 4, "the fixture must need several requests: \(whole.count)")
        // Room for the first interval and a request more: the second fits only once the
        // first's waiting requests are gone.
        configuration.queueBytes = whole.reduce(0) { $0 + $1.bytes.count } + 70_000
        let transport = ScriptedTransport([Self.accept], delay: .milliseconds(500))
        let exporter = try ProfileExporter(configuration: configuration, transport: transport)
        exporter.export(intervals[0])
        try await Self.waitUntil { transport.received.count >= 1 && transport.calls >= 2 }
        exporter.export(intervals[1])
        let statistics = await exporter.shutdown()
        #expect(statistics.intervalsDropped == 1 && statistics.samplesDroppedQueueFull > 0, "\(statistics)")
        let settled = Self.expectSettled(exporter, statistics)
        let first = try #require(settled[intervals[0].number])
        #expect(first.sent > 0 && first.dropped > 0 && first.sent + first.dropped == first.samples, "\(first)")
        #expect(settled[intervals[1].number]?.sent == intervals[1].sampleCount)
    }

    /// A receiver slower than the shutdown timeout: at the deadline `shutdown()` cancels the call
    /// in flight (the receiver never answers) and counts what was queued. (How soon after the
    /// deadline depends on the cooperative pool, which the rest of a parallel test run can keep
    /// busy for many seconds; scripts/check-export checks the agent's SIGTERM-to-exit bound.)
    @Test func shutdownCancelsTheCallInFlightAtItsDeadline() async throws {
        var configuration = Self.configuration()
        configuration.shutdownTimeout = .milliseconds(300)
        // The call outlasts any delay of the deadline's task: with the default 10 s it could end
        // by its own timeout first, and the deadline fall between two calls.
        configuration.timeout = .seconds(600)
        let transport = ScriptedTransport([Self.accept], delay: .seconds(600))
        let exporter = try ProfileExporter(configuration: configuration, transport: transport)
        for interval in Self.intervals(2) { exporter.export(interval) }
        try await Self.waitUntil { transport.calls > 0 }
        let statistics = await exporter.shutdown()
        #expect(transport.cancelled == 1 && transport.received.isEmpty)
        #expect(statistics.samplesDroppedAtShutdown == statistics.samples && statistics.isConserved, "\(statistics)")
    }

    /// With a spool directory, what is left at shutdown is written there and sent first by the
    /// next exporter; a file that is not one of ours is left alone.
    @Test func whatIsLeftAtShutdownIsSpooledAndSentAtTheNextStart() async throws {
        let directory = "/tmp/tracehandler-spool-test-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Self.configuration()
        configuration.shutdownTimeout = .zero
        configuration.spoolDirectory = directory
        let intervals = Self.intervals(2)
        let down = try ProfileExporter(configuration: configuration, transport: ScriptedTransport([Self.unavailable]))
        for interval in intervals { down.export(interval) }
        let first = await down.shutdown()
        #expect(first.samplesSpooled == first.samples && first.samplesDropped == 0 && first.isConserved, "\(first)")
        #expect(Self.expectSettled(down, first).values.allSatisfy { $0.spooled == $0.samples })
        // Planted beside them: a link to a file of ours, and a file of another user.
        symlink("/etc/hostname", "\(directory)/request-1-0-5.otlp.pb")
        let planted = "\(directory)/request-2-0-5.otlp.pb"
        let fd = open(planted, O_WRONLY | O_CREAT, 0o644)
        close(fd)
        chown(planted, 65534, 65534)

        let transport = ScriptedTransport([Self.accept])
        configuration.shutdownTimeout = .seconds(600)
        let up = try ProfileExporter(configuration: configuration, transport: transport)
        let second = await up.shutdown()
        #expect(second.spooledRequestsLoaded == 2 && second.spooledSamplesLoaded == first.samples)
        #expect(second.samplesSent == first.samples && second.isConserved, "\(second)")
        #expect(Self.expectSettled(up, second).isEmpty, "requests read back belong to no interval of this run")
        #expect(Self.intervalNumbers(transport.received) == [0, 1])
        #expect(access(planted, F_OK) == 0, "a file not ours is left where it is")
    }

    /// A spool directory others can write is refused: what it holds could have been planted, and
    /// the agent (root) would send it.
    @Test func aSpoolDirectoryOthersCanWriteIsRefused() throws {
        let directory = "/tmp/tracehandler-open-spool-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        mkdir(directory, 0o755)
        chmod(directory, 0o777)
        var configuration = Self.configuration()
        configuration.spoolDirectory = directory
        #expect {
            try ProfileExporter(configuration: configuration, transport: ScriptedTransport([Self.accept]))
        } throws: { error in
            guard case ExportError.spool(let problem) = error else { return false }
            return problem.problem.contains("not private")
        }
    }

    @Test func badSettingsNameTheirKey() {
        for (key, change) in [
            ("export.max-message-bytes", { (c: inout ExportConfiguration) in c.maximumMessageBytes = 100 }),
            ("export.queue-bytes", { (c: inout ExportConfiguration) in c.queueBytes = 1 << 20 }),
            ("export.timeout", { (c: inout ExportConfiguration) in c.timeout = .zero }),
            ("export.retry-initial", { (c: inout ExportConfiguration) in c.retryInitial = .seconds(60) }),
            ("output.otlp.ca-file", { (c: inout ExportConfiguration) in c.certificateAuthorityFile = "/ca.pem" }),
        ] as [(String, (inout ExportConfiguration) -> Void)] {
            var configuration = Self.configuration()
            change(&configuration)
            #expect(throws: ExportError.self) { try ProfileExporter(configuration: configuration, transport: ScriptedTransport([Self.accept])) }
            #expect(throws: ConfigurationError.self, "\(key)") { try configuration.validate() }
            do {
                try configuration.validate()
            } catch {
                #expect(error.key == key)
            }
        }
    }

    @Test func endpointsParse() {
        #expect(ExportEndpoint("otlp://collector:4317") == ExportEndpoint(host: "collector", port: 4317, usesTLS: false))
        #expect(ExportEndpoint("otlps://10.0.0.1:443/") == ExportEndpoint(host: "10.0.0.1", port: 443, usesTLS: true))
        #expect(ExportEndpoint("otlp://[::1]:4317")?.description == "otlp://[::1]:4317")
        for bad in ["http://x:1", "otlp://x", "otlp://:4317", "otlp://x:0", "otlp://x:70000", "otlp://a b:1", "otlp://x:1/path"] {
            #expect(ExportEndpoint(bad) == nil, "\(bad)")
        }
    }
}
