import KernelPath
import ProfileExport
import SelfMetrics
import Testing
import TraceEngine
import TraceProfiler
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// An exposition in the Prometheus text format, read back: each series (`name{labels}`) and its
/// value, and each metric's TYPE and HELP.
struct ParsedExposition {
    var values: [String: Double] = [:]
    var types: [String: String] = [:]
    var helps: Set<String> = []

    init(_ bytes: [UInt8]) throws {
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 3)
            if line.hasPrefix("# TYPE "), words.count == 4 {
                types[String(words[2])] = String(words[3])
            } else if line.hasPrefix("# HELP "), words.count == 4 {
                helps.insert(String(words[2]))
            } else if !line.hasPrefix("#") {
                let space = try #require(line.lastIndex(of: " "), "a sample line without a value: \(line)")
                values[String(line[..<space])] = try #require(Double(line[line.index(after: space)...]), "\(line)")
            }
        }
    }

    /// The metric a series belongs to: its name without labels.
    static func metric(_ series: String) -> String { String(series.prefix { $0 != "{" }) }
}

@Suite struct AgentMetricsTests {
    /// Every series has a TYPE and a HELP, every counter's name ends in `_total` and no other
    /// name does: what `promtool check metrics` insists on.
    static func expectConventional(_ exposition: ParsedExposition) {
        #expect(!exposition.values.isEmpty)
        for series in exposition.values.keys {
            let metric = ParsedExposition.metric(series)
            #expect(exposition.helps.contains(metric), "\(metric) has no HELP")
            let type = exposition.types[metric]
            #expect(type == "counter" || type == "gauge", "\(metric): \(type ?? "no TYPE")")
            #expect((type == "counter") == metric.hasSuffix("_total"), "\(metric) is a \(type ?? "?")")
        }
    }

    @Test func exportAndIntervalCountersAreTheStatisticsTotals() throws {
        var export = ExportStatistics()
        export.intervals = 7
        export.samples = 1_000
        export.requestsSent = 9
        export.bytesSent = 123_456
        export.samplesSent = 900
        export.retries = 4
        export.failedAttempts = 5
        export.intervalsDropped = 1
        export.samplesDroppedQueueFull = 60
        export.samplesDroppedRejected = 30
        export.samplesSpooled = 10
        export.bytesQueued = 2_048
        export.bytesQueuedHighWater = 65_536
        var intervals = IntervalTotals()
        intervals.intervals = 7
        intervals.samples = 1_000
        intervals.overflowSamples = 3
        let metrics = AgentMetrics()
        var snapshot = AgentMetricsSnapshot(profile: nil, export: export, intervals: intervals, peakResidentBytes: 50_000_000)
        let first = try ParsedExposition(metrics.exposition(snapshot))
        Self.expectConventional(first)
        #expect(first.values["tracehandler_export_intervals_total"] == 7)
        #expect(first.values["tracehandler_export_samples_total"] == 1_000)
        #expect(first.values["tracehandler_export_requests_total"] == 9)
        #expect(first.values["tracehandler_export_request_bytes_total"] == 123_456)
        #expect(first.values["tracehandler_export_sent_samples_total"] == 900)
        #expect(first.values["tracehandler_export_retries_total"] == 4)
        #expect(first.values["tracehandler_export_failed_attempts_total"] == 5)
        #expect(first.values["tracehandler_export_dropped_intervals_total"] == 1)
        #expect(first.values[#"tracehandler_export_dropped_samples_total{reason="queue_full"}"#] == 60)
        #expect(first.values[#"tracehandler_export_dropped_samples_total{reason="refused"}"#] == 30)
        #expect(first.values[#"tracehandler_export_dropped_samples_total{reason="shutdown"}"#] == 0)
        #expect(first.values["tracehandler_export_spooled_samples_total"] == 10)
        #expect(first.values["tracehandler_export_queue_bytes"] == 2_048)
        #expect(first.values["tracehandler_export_queue_high_water_bytes"] == 65_536)
        #expect(first.values["tracehandler_intervals_total"] == 7)
        #expect(first.values["tracehandler_interval_samples_total"] == 1_000)
        #expect(first.values["tracehandler_interval_overflow_samples_total"] == 3)
        #expect(first.values["tracehandler_peak_resident_memory_bytes"] == 50_000_000)

        // The next scrape: counters follow the totals, gauges the values; a total that went
        // down (never, for a running count) leaves its counter where it was.
        snapshot.export?.samplesSent = 1_500
        snapshot.export?.retries = 2
        snapshot.export?.bytesQueued = 0
        let second = try ParsedExposition(metrics.exposition(snapshot))
        #expect(second.values["tracehandler_export_sent_samples_total"] == 1_500)
        #expect(second.values["tracehandler_export_retries_total"] == 4)
        #expect(second.values["tracehandler_export_queue_bytes"] == 0)
        #expect(second.values.count == first.values.count)
    }

    /// A real profile of this process: the exposition holds every number its statistics (the run
    /// summary) hold, stage by stage.
    @Test(.enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
    func aProfileExposesEveryNumberOfItsSummary() async throws {
        var configuration = ProfilerConfiguration()
        configuration.frequency = 999
        configuration.pid = getpid()
        let profiler = try Profiler(configuration: configuration, reporter: DiscardingReporter())
        let run = Task { try await profiler.profile() }
        var spin: UInt64 = 1
        // This thread's CPU is what is sampled; ten minutes covers the slowest sanitizer run.
        let deadline = ContinuousClock.now + .seconds(600)
        while (profiler.statistics()?.engine.reported ?? 0) < 100 && ContinuousClock.now < deadline {
            for _ in 0..<1_000_000 { spin = spin &* 6364136223846793005 &+ 1 }
            await Task.yield()
        }
        withExtendedLifetime(spin) {}
        run.cancel()
        let statistics = try await run.value
        #expect(statistics.engine.reported >= 100, "the profile reported too little to compare: \(statistics)")
        let metrics = AgentMetrics()
        let exposition = try ParsedExposition(metrics.exposition(
            AgentMetricsSnapshot(profile: statistics, export: nil, intervals: nil, peakResidentBytes: 1)))
        Self.expectConventional(exposition)
        #expect(exposition.values["tracehandler_sampler_samples_total"] == Double(statistics.sampler.records))
        #expect(exposition.values["tracehandler_samples_received_total"] == Double(statistics.received.records))
        #expect(exposition.values["tracehandler_samples_reported_total"] == Double(statistics.engine.reported))
        #expect(exposition.values["tracehandler_samples_lost_in_kernel_total"] == Double(statistics.lostInKernel))
        #expect(exposition.values[#"tracehandler_sampler_stack_errors_total{stack="user"}"#] == Double(statistics.sampler.userStackErrors))
        for buffer in statistics.buffers {
            let name = buffer.cpu.map { "cpu\($0)" } ?? "ring"
            #expect(exposition.values[#"tracehandler_kernel_buffer_lost_samples_total{buffer="\#(name)"}"#] == Double(buffer.statistics.lost))
        }
        for stage in statistics.engine.stages {
            for counter in EngineCounter.allCases {
                #expect(exposition.values[#"tracehandler_engine_\#(counter)_total{stage="\#(stage.stage)"}"#] == Double(stage[counter]),
                        "\(stage.stage) \(counter)")
            }
            #expect(exposition.values[#"tracehandler_engine_ring_high_water{stage="\#(stage.stage)"}"#] == Double(stage.outputHighWaterMark))
        }
        #expect(exposition.values["tracehandler_symbolizer_symbol_table_bytes"] == Double(statistics.symbolizer.symbolTableBytes))
        #expect(exposition.values["tracehandler_symbolizer_maps_reads_total"] == Double(statistics.symbolizer.mapsReads))
        let unwinder = try #require(statistics.unwinder, "the default unwinding is dwarf")
        #expect(exposition.values["tracehandler_unwinder_table_builds_total"] == Double(unwinder.tableBuilds))
    }
}

/// Takes every report and keeps nothing.
final class DiscardingReporter: TraceReporter {
    func reportFramesForTrace(_ trace: Trace) {}
    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {}
}
