internal import CBPFObjects
internal import CTraceRecord
internal import CLinuxShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The stack sampler (bpf/sampler.bpf.c): the perf_event program attached to a cpu-clock
/// software event on every online CPU at `frequency` samples a second, and, when off-CPU time is
/// asked for, the sched_switch program, which sends a record each time a task it saw block runs
/// again. Both write raw trace records into `buffers`. `close()` (or deinit) detaches everything.
public final class Sampler {
    private let object: BPFObject
    private let ownBuffers: KernelBuffers?
    /// The buffers the program writes its records to, mapped for reading.
    public var buffers: KernelBuffers {
        guard let ownBuffers else { preconditionFailure("a sampler loaded for an external consumer maps no buffers") }
        return ownBuffers
    }
    /// The CPUs online at start (`/sys/devices/system/cpu/online`), one cpu-clock event each.
    public let cpus: [Int]
    /// The counts to drain when the sampler aggregates in the kernel (`output.aggregation` is
    /// `bpf`); nil otherwise.
    public let aggregation: KernelAggregation?

    /// The largest user stack window a sample can carry (the sampler builds each record in one
    /// per-CPU value of at most 32 KiB).
    public static let maximumStackBytes = Int(TH_USER_SNAPSHOT_MAX_BYTES)

    /// - Parameters:
    ///   - frequency: samples a second per CPU.
    ///   - pid: only this process (its threads included); nil: every process.
    ///   - stackBytes: the user stack window copied with each sample of a user task, for DWARF
    ///     unwinding (0 ... `maximumStackBytes`); 0: the frame-pointer stack only.
    public convenience init(frequency: Int, pid: Int32?, output: KernelOutputConfiguration, stackBytes: Int = 0) throws(KernelPathError) {
        try self.init(frequency: frequency, offCPU: nil, pid: pid, output: output, stackBytes: stackBytes)
    }

    /// - Parameters:
    ///   - frequency: CPU samples a second per CPU; nil: no CPU sampling.
    ///   - offCPU: what to track of tasks leaving a CPU; nil: no off-CPU records. With `stackBytes`,
    ///     an off-CPU record carries a snapshot of the user stack the task blocked on, taken in its
    ///     own context: at the exit of the system call it blocked in.
    public convenience init(
        frequency: Int?, offCPU: OffCPUConfiguration?, pid: Int32?, output: KernelOutputConfiguration, stackBytes: Int = 0
    ) throws(KernelPathError) {
        precondition(frequency != nil || offCPU != nil, "a sampler samples something")
        try self.init(pid: pid, output: output, stackBytes: stackBytes, offCPU: offCPU, mapBuffers: true)
        if offCPU != nil { try attachOffCPU(snapshots: stackBytes > 0) }
        if let frequency { try attach(frequency: frequency) }
    }

    /// Loads the program for another consumer (the benchmark's C anchor), which puts its own
    /// buffers in `perfEventArrayFD` and then calls `attach(frequency:)`.
    public static func forExternalConsumer(
        pid: Int32?, output: KernelOutputConfiguration
    ) throws(KernelPathError) -> Sampler {
        try Sampler(pid: pid, output: output, stackBytes: 0, offCPU: nil, mapBuffers: false)
    }

    private init(
        pid: Int32?, output: KernelOutputConfiguration, stackBytes: Int, offCPU: OffCPUConfiguration?, mapBuffers: Bool
    ) throws(KernelPathError) {
        precondition((0...Self.maximumStackBytes).contains(stackBytes), "stack window out of range")
        var config = th_program_config()
        config.target_pid = UInt32(pid ?? 0)
        config.use_ring_buffer = output.kind == .ringBuffer ? 1 : 0
        config.stack_bytes = UInt32(stackBytes)
        let aggregates = output.aggregation == .bpf
        if aggregates && (stackBytes != 0 || !mapBuffers) {
            throw .unsupported("kernel.aggregation = bpf counts frame-pointer stacks only, and drains them itself: "
                + "no stack snapshots (unwind.mode = frame-pointers), no external consumer")
        }
        config.aggregate = aggregates ? 1 : 0
        if let offCPU {
            config.off_cpu_voluntary_only = offCPU.switches == .voluntary ? 1 : 0
            config.off_cpu_threshold = offCPU.threshold
            config.off_cpu_sample_all = offCPU.probability >= 1 ? 1 : 0
            config.off_cpu_min_ns = offCPU.minimumNanoseconds
        }
        // Stack maps preallocate every entry, and the kernel refuses a value deeper than
        // kernel.perf_event_max_stack: unused, one entry of one address each.
        let depth = aggregates ? Self.stackDepth() : 1
        let counts = aggregates ? output.aggregationEntries : 1
        let stacks = aggregates ? output.aggregationStacks : 1
        object = try BPFObject(
            .sampler, config: config, ringBufferSize: output.ringBufferBytes,
            mapEntries: [
                "aggregation_counts_0": counts, "aggregation_counts_1": counts,
                "aggregation_stacks_0": stacks, "aggregation_stacks_1": stacks,
                "blocked_tasks": offCPU?.tasks ?? 1,
            ],
            mapValueSizes: ["aggregation_stacks_0": depth * 8, "aggregation_stacks_1": depth * 8],
            skippedPrograms: (offCPU == nil ? ["th_off_cpu"] : []) + (offCPU == nil || stackBytes == 0 ? ["th_off_cpu_return"] : []))
        ownBuffers = mapBuffers ? try KernelBuffers(object: object, configuration: output) : nil
        aggregation = aggregates ? try KernelAggregation(object: object, configuration: output, stackDepth: depth) : nil
        cpus = OnlineCPUs.read()
    }

    /// The addresses a stack id holds: 127 (`TH_AGGREGATION_STACK_DEPTH`, the kernel's default
    /// `kernel.perf_event_max_stack`), or that sysctl where it is set lower.
    private static func stackDepth() -> Int {
        let limit = FileContents.text("/proc/sys/kernel/perf_event_max_stack")
            .flatMap { Int($0.filter { !$0.isWhitespace }) } ?? Int(TH_AGGREGATION_STACK_DEPTH)
        return max(1, min(limit, Int(TH_AGGREGATION_STACK_DEPTH)))
    }

    /// The perf event array the program writes to (perf-buffer output), for an external consumer.
    public var perfEventArrayFD: Int32 { object.mapFD("trace_events") }

    /// Attaches the program to a cpu-clock event of `frequency` samples a second on every CPU.
    /// On failure the program is closed.
    public func attach(frequency: Int) throws(KernelPathError) {
        for cpu in cpus {
            var attr = perf_event_attr()
            attr.type = UInt32(PERF_TYPE_SOFTWARE.rawValue)
            attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
            attr.config = UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue)
            attr.freq = 1
            attr.sample_freq = UInt64(frequency)
            let fd = th_perf_event_open(&attr, -1, Int32(cpu), -1, UInt(PERF_FLAG_FD_CLOEXEC))
            guard fd >= 0 else {
                object.close()
                throw .failed("perf_event_open(cpu-clock, cpu \(cpu), \(frequency) Hz)", errno: -fd, needs: "CAP_PERFMON (or CAP_SYS_ADMIN)")
            }
            do {
                try object.attach("th_sample", toPerfEvent: fd)  // the link owns and closes the fd
            } catch {
                Glibc.close(fd)
                object.close()
                throw error
            }
        }
    }

    /// Attaches the off-CPU program to the `sched_switch` raw tracepoint and, for `snapshots`, its
    /// second half to `sys_exit`'s. On failure the program is closed.
    private func attachOffCPU(snapshots: Bool) throws(KernelPathError) {
        do {
            if snapshots { try object.attach("th_off_cpu_return", toRawTracepoint: "sys_exit") }
            try object.attach("th_off_cpu", toRawTracepoint: "sched_switch")
        } catch {
            object.close()
            throw error
        }
    }

    /// What the program counted: records sent, refused by a full buffer, stack errors.
    public func counters() -> ProgramCounters { object.counters() }

    /// Detaches the program from every CPU and closes it. The buffers stay readable.
    public func close() { object.close() }
}
