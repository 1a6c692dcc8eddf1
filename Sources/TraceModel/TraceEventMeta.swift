/// What a reporter learns about one sample besides its frames (upstream `samples.TraceEventMeta`).
public struct TraceEventMeta: Hashable, Sendable {
    public var timestamp: UnixTime64
    public var comm: Comm
    public var pid: UInt32
    public var tid: UInt32
    public var cpu: UInt32
    /// The service name an APM agent in the process announced; empty when there is none.
    public var apmServiceName: String

    public init(timestamp: UnixTime64, comm: Comm, pid: UInt32, tid: UInt32, cpu: UInt32,
                apmServiceName: String = "") {
        self.timestamp = timestamp
        self.comm = comm
        self.pid = pid
        self.tid = tid
        self.cpu = cpu
        self.apmServiceName = apmServiceName
    }
}
