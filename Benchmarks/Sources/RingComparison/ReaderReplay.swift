import CLibbpfReplay
import KernelPath
import LinuxSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Our perf-buffer reader against libbpf's on the same records. The generator program
/// (bpf/generator.bpf.c, `TracepointGenerator`) writes half a buffer of records into one CPU's
/// perf buffer — this thread, pinned to that CPU, makes the getppid(2) calls — and one reader
/// consumes them, round after round. The kernel's writing costs no user-space instruction, so
/// under callgrind the difference from `.none` (which only moves `data_tail`) is the reader's own
/// cost per record.
///
/// The kernel writes the records, rather than the replay copying captured ones in: user space
/// cannot write a perf buffer's data pages (the kernel faults such writes), so the generator
/// makes the same contents every round instead.
struct ReaderReplay {
    enum Reader: String, CaseIterable { case ours, libbpf, none }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    let reader: Reader
    let rounds: Int
    /// Frames per record: 64 + 24 × frames bytes, plus the 12-byte header, padded to 8.
    let frames: Int
    /// Data pages of each CPU's perf buffer.
    let pages = 8

    /// Runs on a thread pinned to the first allowed CPU; returns a line saying what was read.
    func run() throws(Failure) -> String {
        if let missing = KernelSupport.missingCapability() { throw Failure("cannot replay: \(missing)") }
        guard let cpu = WorkerThread.allowedCPUs().first else { throw Failure("no CPU to run on") }
        let outcome = Mutex<Result<String, Failure>?>(nil)
        let thread: WorkerThread
        do {
            thread = try WorkerThread.spawn(name: "th-replay", cpus: [cpu]) {
                let result = Result { () throws(Failure) in try replay(onCPU: cpu) }
                outcome.withLock { $0 = result }
            }
        } catch {
            throw Failure("cannot start the replay thread: \(error)")
        }
        thread.join()
        guard let result = outcome.withLock({ $0 }) else { throw Failure("the replay thread ended without a result") }
        return try result.get()
    }

    private func replay(onCPU cpu: Int) throws(Failure) -> String {
        var output = KernelOutputConfiguration()
        output.perCPUBufferBytes = pages * 4096
        let generator: TracepointGenerator
        do {
            generator = try TracepointGenerator.forExternalConsumer(pid: getpid(), frameCount: frames, distinctStacks: 64, output: output)
        } catch {
            throw Failure("cannot load the generator: \(error)")
        }
        defer { generator.close() }
        var error: Int32 = 0
        guard let replay = th_libbpf_replay_create(generator.perfEventArrayFD, pages, &error) else {
            throw Failure("perf_buffer__new: \(String(cString: strerror(-error)))")
        }
        defer { th_libbpf_replay_destroy(replay) }
        // libbpf makes one buffer per online CPU, in order.
        guard let index = OnlineCPUs.read().firstIndex(of: cpu) else { throw Failure("CPU \(cpu) is not online") }
        var dataOffset = 0
        var dataSize = 0
        guard let mapping = th_libbpf_replay_mapping(replay, index, &dataOffset, &dataSize) else {
            throw Failure("libbpf has no buffer \(index) for CPU \(cpu)")
        }
        do { try generator.attach() } catch { throw Failure("cannot attach the generator: \(error)") }

        let recordBytes = (12 + 64 + 24 * frames + 7) & ~7
        let perRound = dataSize / 2 / recordBytes
        let ours = PerfRingReader(metadata: mapping, data: UnsafeRawBufferPointer(start: mapping + dataOffset, count: dataSize))
        let head = UnsafePointer((mapping + 1024).assumingMemoryBound(to: UInt64.self))  // perf_event_mmap_page.data_head
        let tail = (mapping + 1032).assumingMemoryBound(to: UInt64.self)  // .data_tail
        // Both readers' callbacks count records and bytes.
        var delivered: UInt64 = 0
        var bytes: UInt64 = 0
        for _ in 0..<rounds {
            TracepointGenerator.generate(count: perRound)
            switch reader {
            case .ours:
                ours.drain(maxRecords: .max) { sample in
                    // Wrapping, as the C callback's unsigned sums: the callbacks cost the same.
                    delivered &+= 1
                    bytes &+= UInt64(truncatingIfNeeded: sample.count)
                    return true
                }
            case .libbpf:
                let result = th_libbpf_replay_consume(replay, index)
                guard result.error == 0 else { throw Failure("perf_buffer__consume_buffer: \(String(cString: strerror(-result.error)))") }
                delivered += result.records
                bytes += result.bytes
            case .none:
                tail.pointee = head.pointee  // the next getppid(2) orders it before the kernel reads it
                delivered += UInt64(perRound)
            }
        }
        let sent = generator.counters().records
        let expected = UInt64(rounds * perRound)
        guard sent == expected, delivered == expected else {
            throw Failure("\(reader): \(delivered) records read, the program sent \(sent), expected \(expected)")
        }
        return "\(reader): \(rounds) rounds of \(perRound) records (\(recordBytes) bytes each, \(bytes) sample bytes read) through \(dataSize) bytes on CPU \(cpu)"
    }
}
