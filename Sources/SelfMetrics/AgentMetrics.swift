public import ProfileExport
public import TraceProfiler
public import TraceReporters
import KernelPath
import Prometheus
import Symbolization
import Synchronization
import TraceEngine

/// What the agent has counted at one moment: the statistics its run summary prints.
public struct AgentMetricsSnapshot: Sendable {
    /// The profile's sampler, kernel buffers, engine, symbolizer and unwinder; nil before sampling began.
    public var profile: ProfileStatistics?
    /// The exporter's requests, retries, drops and queue; nil without an exporter.
    public var export: ExportStatistics?
    /// A continuous profile's ended intervals; nil for a profile of fixed length.
    public var intervals: IntervalTotals?
    /// The process's peak resident memory so far, in bytes.
    public var peakResidentBytes: Double

    public init(profile: ProfileStatistics?, export: ExportStatistics?, intervals: IntervalTotals?, peakResidentBytes: Double) {
        self.profile = profile
        self.export = export
        self.intervals = intervals
        self.peakResidentBytes = peakResidentBytes
    }
}

/// The agent's own counters in the Prometheus text format (`/metrics`), rendered with
/// swift-prometheus from a snapshot at each scrape. Every number of the run summary has a series
/// here, under `tracehandler_`: counters end in `_total`, sizes in `_bytes`, and every series
/// carries help. Safe to call from any thread; scrapes are serialized.
public final class AgentMetrics: Sendable {
    private let mirror: Mutex<CountersMirror>
    private let registry: PrometheusCollectorRegistry

    public init() {
        registry = PrometheusCollectorRegistry()
        mirror = Mutex(CountersMirror(registry: registry))
    }

    /// The exposition of `snapshot`, in the text format 0.0.4.
    public func exposition(_ snapshot: AgentMetricsSnapshot) -> [UInt8] {
        mirror.withLock { mirror in
            mirror.gauge("tracehandler_peak_resident_memory_bytes", "The agent's peak resident memory so far.", snapshot.peakResidentBytes)
            if let profile = snapshot.profile { Self.record(profile, into: &mirror) }
            if let intervals = snapshot.intervals { Self.record(intervals, into: &mirror) }
            if let export = snapshot.export { Self.record(export, into: &mirror) }
            return registry.emitToBuffer()
        }
    }

    private static func record(_ profile: ProfileStatistics, into mirror: inout CountersMirror) {
        let sampler = profile.sampler
        mirror.count("tracehandler_sampler_samples", "Samples the BPF sampler sent to the kernel buffers.", sampler.records)
        mirror.count("tracehandler_sampler_refused_samples", "Samples a full kernel buffer refused at the sampler's output call.",
                     sampler.outputErrors)
        let stackErrors = "Samples whose stack the sampler could not read; they went on without those frames."
        mirror.count("tracehandler_sampler_stack_errors", stackErrors, [("stack", "kernel")], sampler.kernelStackErrors)
        mirror.count("tracehandler_sampler_stack_errors", stackErrors, [("stack", "user")], sampler.userStackErrors)
        mirror.count("tracehandler_sampler_stack_snapshots", "User stack snapshots copied for DWARF unwinding.", sampler.snapshots)
        mirror.count("tracehandler_sampler_stack_snapshot_bytes", "Stack bytes the snapshots copied.", sampler.snapshotBytes)
        mirror.count("tracehandler_sampler_stack_snapshots_truncated", "Snapshots cut short of the configured window.",
                     sampler.snapshotsTruncated)
        mirror.count("tracehandler_sampler_stack_snapshots_empty", "Snapshots with no readable stack bytes.", sampler.snapshotErrors)
        mirror.count("tracehandler_samples_received", "Samples the kernel buffers delivered to the agent.", profile.received.records)
        mirror.count("tracehandler_samples_reported", "Samples the engine handed to the reporter.", profile.engine.reported)
        mirror.count("tracehandler_samples_lost_in_kernel",
                     "Samples the kernel buffers could not hand over (full buffers), each counted once.", profile.lostInKernel)
        for buffer in profile.buffers {
            let label = [("buffer", buffer.cpu.map { "cpu\($0)" } ?? "ring")]
            mirror.count("tracehandler_kernel_buffer_lost_samples", "Samples a kernel buffer reported lost (LOST records).",
                         label, buffer.statistics.lost)
            mirror.count("tracehandler_kernel_buffer_corrupt_records", "Records a kernel buffer held that could not be read.",
                         label, buffer.statistics.corrupt)
        }
        record(profile.engine, into: &mirror)
        record(profile.symbolizer, into: &mirror)
        if let unwinder = profile.unwinder { record(unwinder, into: &mirror) }
    }

    private static func record(_ engine: EngineStatistics, into mirror: inout CountersMirror) {
        for stage in engine.stages {
            let label = [("stage", "\(stage.stage)")]
            for counter in EngineCounter.allCases {
                mirror.count("tracehandler_engine_\(counter)", "The engine's \(counter) count, by stage (design/engine.md).", label, stage[counter])
            }
            mirror.gauge("tracehandler_engine_ring_high_water", "The most items a stage's output ring has held at once.",
                         label, stage.outputHighWaterMark)
        }
    }

    private static func record(_ symbolizer: SymbolizerStatistics, into mirror: inout CountersMirror) {
        mirror.gauge("tracehandler_symbolizer_processes", "Processes whose mappings the symbolizer keeps.", symbolizer.processes)
        mirror.count("tracehandler_symbolizer_maps_reads", "Reads of a /proc/PID/maps, rereads included.", symbolizer.mapsReads)
        mirror.gauge("tracehandler_symbolizer_symbol_tables", "Symbol tables the symbolizer holds.", symbolizer.symbolTables)
        mirror.gauge("tracehandler_symbolizer_symbol_table_bytes", "The symbol tables' approximate memory.", symbolizer.symbolTableBytes)
        mirror.count("tracehandler_symbolizer_elf_parses", "ELF files parsed into symbol tables.", symbolizer.elfParses)
        mirror.gauge("tracehandler_symbolizer_kernel_symbols", "Function symbols read from /proc/kallsyms.", symbolizer.kernelSymbols)
        mirror.gauge("tracehandler_symbolizer_unreadable_files", "Files that could not be read as ELF, each counted once (at most 1024 remembered).",
                     symbolizer.unreadableFiles)
        mirror.count("tracehandler_symbolizer_debug_files", "Separate debug files that named a stripped file's functions.",
                     symbolizer.debugFiles)
        mirror.count("tracehandler_symbolizer_debug_files_rejected", "Debug file candidates whose build id or CRC did not match.",
                     symbolizer.debugFilesRejected)
        mirror.count("tracehandler_symbolizer_minidebuginfo", "Stripped files named from their .gnu_debugdata.", symbolizer.miniDebugInfo)
        let refused = "The .gnu_debugdata sections refused, by reason."
        mirror.count("tracehandler_symbolizer_minidebuginfo_refused", refused, [("reason", "over_limit")], symbolizer.miniDebugInfoOverLimit)
        mirror.count("tracehandler_symbolizer_minidebuginfo_refused", refused, [("reason", "corrupt")], symbolizer.miniDebugInfoCorrupt)
    }

    private static func record(_ unwinder: UnwinderStatistics, into mirror: inout CountersMirror) {
        mirror.gauge("tracehandler_unwinder_tables", "Files in the unwind table cache.", unwinder.tables)
        mirror.gauge("tracehandler_unwinder_table_bytes", "The unwind tables' memory.", unwinder.tableBytes)
        mirror.count("tracehandler_unwinder_table_builds", "Unwind tables built.", unwinder.tableBuilds)
        mirror.count("tracehandler_unwinder_failed_builds", "Unwind table builds that failed (unreadable ELF, too many rows).",
                     unwinder.unreadableFiles)
        mirror.count("tracehandler_unwinder_debug_frames", ".debug_frame sections read from separate debug files.", unwinder.debugFrames)
    }

    private static func record(_ intervals: IntervalTotals, into mirror: inout CountersMirror) {
        mirror.count("tracehandler_intervals", "Intervals of the continuous profile ended.", intervals.intervals)
        mirror.count("tracehandler_interval_samples", "Samples in the ended intervals.", intervals.samples)
        mirror.count("tracehandler_interval_overflow_samples", "Samples of the ended intervals in their [overflow] stack.",
                     intervals.overflowSamples)
        mirror.count("tracehandler_interval_unknown_trace_samples", "Samples of the ended intervals whose trace's frames were gone.",
                     intervals.unknownTraceSamples)
    }

    private static func record(_ export: ExportStatistics, into mirror: inout CountersMirror) {
        mirror.count("tracehandler_export_intervals", "Intervals handed to the exporter.", export.intervals)
        mirror.count("tracehandler_export_samples", "Samples handed to the exporter.", export.samples)
        mirror.count("tracehandler_export_requests", "Export requests the receiver accepted.", export.requestsSent)
        mirror.count("tracehandler_export_request_bytes", "Bytes of the accepted requests, before compression.", export.bytesSent)
        mirror.count("tracehandler_export_sent_samples", "Samples in the accepted requests.", export.samplesSent)
        mirror.count("tracehandler_export_retries", "Export attempts that failed and were retried.", export.retries)
        mirror.count("tracehandler_export_failed_attempts", "Export attempts that failed.", export.failedAttempts)
        mirror.count("tracehandler_export_profiles_rejected", "Profiles a receiver's partial success refused.",
                     UInt64(clamping: export.profilesRejectedByReceiver))
        let dropped = "Samples the exporter dropped, by reason."
        mirror.count("tracehandler_export_dropped_samples", dropped, [("reason", "queue_full")], export.samplesDroppedQueueFull)
        mirror.count("tracehandler_export_dropped_samples", dropped, [("reason", "refused")], export.samplesDroppedRejected)
        mirror.count("tracehandler_export_dropped_samples", dropped, [("reason", "oversize")], export.samplesDroppedOversize)
        mirror.count("tracehandler_export_dropped_samples", dropped, [("reason", "shutdown")], export.samplesDroppedAtShutdown)
        mirror.count("tracehandler_export_dropped_intervals", "Whole intervals dropped because the queue was full.", export.intervalsDropped)
        mirror.count("tracehandler_export_spooled_samples", "Samples written to the spool at shutdown.", export.samplesSpooled)
        mirror.count("tracehandler_export_spool_loaded_requests", "Requests read back from the spool at start.", export.spooledRequestsLoaded)
        mirror.count("tracehandler_export_spool_loaded_samples", "Samples of the requests read back from the spool.",
                     export.spooledSamplesLoaded)
        mirror.gauge("tracehandler_export_queue_requests", "Requests waiting to be sent.", export.requestsQueued)
        mirror.gauge("tracehandler_export_queue_bytes", "Bytes of the requests waiting to be sent.", export.bytesQueued)
        mirror.gauge("tracehandler_export_queue_samples", "Samples of the requests waiting to be sent.", Double(export.samplesQueued))
        mirror.gauge("tracehandler_export_queue_high_water_bytes", "The most request bytes that waited at once.",
                     export.bytesQueuedHighWater)
    }
}
