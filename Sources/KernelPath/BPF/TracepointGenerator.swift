internal import CBPFObjects
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The kernel-path load generator: the embedded tracepoint program (bpf/generator.bpf.c) on
/// `syscalls:sys_enter_getppid`, emitting one raw trace record of `frameCount` frames for every
/// getppid(2) the process `pid` makes. `generate(count:)` makes those calls.
public final class TracepointGenerator {
    private let object: BPFObject
    private let ownBuffers: KernelBuffers?

    /// Loads the program, maps its buffers for `buffers`' readers, and attaches it.
    public convenience init(pid: Int32, frameCount: Int, distinctStacks: Int, output: KernelOutputConfiguration) throws(KernelPathError) {
        try self.init(pid: pid, frameCount: frameCount, distinctStacks: distinctStacks, output: output, mapBuffers: true)
        try attach()
    }

    /// Loads the program for another consumer (the benchmark's libbpf anchor), which reads
    /// `perfEventArrayFD` itself and calls `attach()` once its buffers are in the map.
    public static func forExternalConsumer(
        pid: Int32, frameCount: Int, distinctStacks: Int, output: KernelOutputConfiguration
    ) throws(KernelPathError) -> TracepointGenerator {
        try TracepointGenerator(pid: pid, frameCount: frameCount, distinctStacks: distinctStacks, output: output, mapBuffers: false)
    }

    private init(
        pid: Int32, frameCount: Int, distinctStacks: Int, output: KernelOutputConfiguration, mapBuffers: Bool
    ) throws(KernelPathError) {
        try Tracefs.mountIfNeeded()
        var config = th_program_config()
        config.target_pid = UInt32(pid)
        config.use_ring_buffer = output.kind == .ringBuffer ? 1 : 0
        config.frame_count = UInt32(frameCount)
        config.distinct_stacks = UInt32(distinctStacks)
        object = try BPFObject(.generator, config: config, ringBufferSize: output.ringBufferBytes)
        ownBuffers = mapBuffers ? try KernelBuffers(object: object, configuration: output) : nil
    }

    /// The buffers this generator's records go to, mapped for reading.
    public var buffers: KernelBuffers {
        guard let ownBuffers else { preconditionFailure("a generator for an external consumer maps no buffers") }
        return ownBuffers
    }

    /// The program's perf event array, for an external consumer.
    public var perfEventArrayFD: Int32 { object.mapFD("trace_events") }

    /// Attaches the program to `syscalls:sys_enter_getppid`.
    public func attach() throws(KernelPathError) {
        try object.attach("th_generate", toTracepoint: "syscalls", "sys_enter_getppid")
    }

    /// Makes `count` getppid(2) calls from the calling thread: one record attempt each.
    public static func generate(count: Int) {
        for _ in 0..<count { _ = getppid() }
    }

    /// What the program counted: every attempt is either sent or refused by a full buffer.
    public func counters() -> ProgramCounters { object.counters() }

    /// Detaches the program and closes it; `counters()` keeps its final values. Idempotent.
    public func close() { object.close() }
}

/// tracefs, which libbpf needs to attach tracepoints; not mounted at boot on every machine.
public enum Tracefs {
    static let path = "/sys/kernel/tracing"

    /// Mounts tracefs at /sys/kernel/tracing unless it (or the debugfs copy) is there.
    public static func mountIfNeeded() throws(KernelPathError) {
        if access(path + "/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0 { return }
        if mount("nodev", path, "tracefs", 0, nil) != 0 {
            throw .tracefsUnavailable(SystemError("mount(tracefs, \(path))", errno: errno))
        }
    }
}
