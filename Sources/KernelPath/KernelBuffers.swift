import LinuxSystem

/// The buffers a BPF program writes to, mapped for reading: one perf buffer per online CPU
/// (registered in the program's perf event array), or the program's one ring buffer.
public final class KernelBuffers {
    enum Storage {
        case perf([PerfEventBuffer])
        case ring(BPFRingBuffer)
    }

    let storage: Storage

    init(object: BPFObject, configuration: KernelOutputConfiguration) throws(KernelPathError) {
        switch configuration.kind {
        case .perfBuffer:
            let mapFD = object.mapFD("trace_events")
            let pages = configuration.perCPUBufferBytes / 4096
            let wakeup: PerfEventBuffer.Wakeup =
                configuration.effectiveWakeupWatermarkBytes == 0 ? .everyRecord : .bytes(configuration.effectiveWakeupWatermarkBytes)
            var buffers: [PerfEventBuffer] = []
            for cpu in OnlineCPUs.read() {
                let buffer = try PerfEventBuffer(cpu: cpu, dataPages: pages, wakeup: wakeup)
                var key = UInt32(cpu)
                var value = buffer.fd
                let updated = bpfMapUpdate(mapFD, &key, &value)
                if updated != 0 {
                    throw .failed("bpf_map_update_elem(trace_events, cpu \(cpu))", errno: -updated, needs: KernelPathError.bpfPrivileges)
                }
                buffers.append(buffer)
            }
            storage = .perf(buffers)
        case .ringBuffer:
            storage = .ring(try BPFRingBuffer(mapFD: object.mapFD("trace_ring"), size: configuration.ringBufferBytes))
        }
    }

    /// The fds to poll, in buffer order.
    var pollFDs: [Int32] {
        switch storage {
        case .perf(let buffers): buffers.map(\.fd)
        case .ring(let ring): [ring.fd]
        }
    }

    var count: Int { pollFDs.count }

    /// Drains buffer `index` (perf: one batch; ring buffer: until empty after a fence, or a batch).
    @inline(__always)  // so that the poll stage's `deliver` reaches the reader's loop (KernelPollStage)
    func drain(_ index: Int, maxRecords: Int, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        switch storage {
        case .perf(let buffers): buffers[index].reader.drain(maxRecords: maxRecords, onSample: onSample)
        case .ring(let ring): ring.reader.drainUntilEmpty(maxRecords: maxRecords, onSample: onSample)
        }
    }

    /// What each buffer delivered and lost: per CPU for perf buffers (`cpu` is the CPU), one entry
    /// with `cpu` nil for the ring buffer.
    public func statistics() -> [(cpu: Int?, statistics: KernelBufferStatistics)] {
        switch storage {
        case .perf(let buffers): buffers.map { ($0.cpu, $0.reader.statistics) }
        case .ring(let ring): [(nil, ring.reader.statistics)]
        }
    }

    /// `statistics()` summed over every buffer, saturating.
    public var totals: KernelBufferStatistics { statistics().reduce(KernelBufferStatistics()) { $0 + $1.statistics } }
}
