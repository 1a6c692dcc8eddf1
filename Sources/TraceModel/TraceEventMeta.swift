/// What a reporter learns about one sample besides its frames (upstream `samples.TraceEventMeta`).
public struct TraceEventMeta: Hashable, Sendable {
    /// When the sample was taken, on the wall clock (the record's monotonic time, converted).
    public var timestamp: UnixTime64
    /// The sampled thread's command name.
    public var comm: Comm
    /// The sampled process's id.
    public var pid: UInt32
    /// The sampled thread's id.
    public var tid: UInt32
    /// The CPU the sample was taken on.
    public var cpu: UInt32
    /// The service name an APM agent in the process announced; empty when there is none.
    public var apmServiceName: String
    /// What took the sample (upstream `Origin`): the CPU sampler, or a task's return from off
    /// the CPU.
    public var origin: TraceOrigin
    /// Nanoseconds the task was off the CPU (upstream `OffTime`), summed over the samples of a
    /// count; 0 for CPU samples.
    public var offTime: UInt64

    /// Metadata for one sample; `apmServiceName` defaults to none (""), the origin to a CPU sample.
    public init(timestamp: UnixTime64, comm: Comm, pid: UInt32, tid: UInt32, cpu: UInt32,
                apmServiceName: String = "", origin: TraceOrigin = .sampling, offTime: UInt64 = 0) {
        self.timestamp = timestamp
        self.comm = comm
        self.pid = pid
        self.tid = tid
        self.cpu = cpu
        self.apmServiceName = apmServiceName
        self.origin = origin
        self.offTime = offTime
    }
}
