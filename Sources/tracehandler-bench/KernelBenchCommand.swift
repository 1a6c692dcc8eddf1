import AgentConfiguration
import ArgumentParser
import CLibbpfBaseline
import CommandLineSupport
import KernelPath
import LinuxSystem
import Synchronization
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// The kernel path under load: the tracepoint generator emits one record per getppid(2) from a
/// generator thread; consumers read the same program's buffers in turn, in the same run:
/// ours into the engine, ours reading only (counting), and libbpf's perf_buffer__poll (the anchor).
struct KernelBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Records/s, lost records and consumer CPU per record through real perf buffers, against libbpf."
    )

    @Option(help: "Records generated per round.") var records = 2_000_000
    @Option(help: "Frames per record (8 frames = 256-byte records).") var frames = 8
    @Option(help: "Distinct stacks the records choose from.") var distinct = 1024
    @Option(help: "Rounds; each runs every consumer once, and medians are printed.") var rounds = 3
    // These set configuration keys (kernel.buffer, kernel.per-cpu-buffer-bytes, kernel.wakeup-watermark-bytes).
    @Option(help: "perf-buffer or ring-buffer (libbpf's anchor reads perf buffers only).") var buffer: String?
    @Option(help: "Bytes of each CPU's perf buffer (power of two).") var perCPUBufferBytes: Int?
    @Option(help: "Wake the consumer after this many bytes (0: every record).") var watermarkBytes: Int?
    @Option(help: "Pin the generator thread to this CPU (default: unpinned).") var generatorCPU: Int?
    @Option(help: "Pin the consumer (poll) thread to this CPU (default: unpinned).") var consumerCPU: Int?
    @Option(help: "Consumers to run, comma-separated: engine, reader, libbpf (default: all that apply).") var consumers: String?
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        if let missing = KernelSupport.missingCapability() { throw CommandFailure("cannot run the kernel benchmark: \(missing)") }
        var settings: [String] = []
        if let buffer { settings.append("kernel.buffer=\(buffer)") }
        if let perCPUBufferBytes { settings.append("kernel.per-cpu-buffer-bytes=\(perCPUBufferBytes)") }
        if let watermarkBytes { settings.append("kernel.wakeup-watermark-bytes=\(watermarkBytes)") }
        let configuration = try await options.load(extra: settings)
        var output = configuration.kernel
        // For the ring buffer, --per-cpu-buffer-bytes sizes the one shared buffer as that many
        // bytes per CPU, so that both kinds hold the same number of records.
        if configuration.kernel.kind == .ringBuffer && perCPUBufferBytes != nil {
            output.ringBufferBytes = output.perCPUBufferBytes * max(1, WorkerThread.allowedCPUs().count)
        }
        let buffer = output.kind
        let perCPUBufferBytes = output.perCPUBufferBytes
        let watermarkBytes = output.effectiveWakeupWatermarkBytes
        var engineConfiguration = configuration.engine
        let placement = try ThreadPlacement(generator: generatorCPU, consumer: consumerCPU)
        if engineConfiguration.cpus.source == nil { engineConfiguration.cpus.source = placement.consumer }

        let consumers = try KernelConsumer.chosen(consumers, buffer: buffer)
        var results: [KernelConsumer: [KernelRound]] = [:]
        print("kernel bench: \(records) records of \(frames) frames (\(64 + 24 * frames) B) per round, \(buffer.rawValue), "
            + "\(perCPUBufferBytes >> 10) KiB per CPU, wakeup every \(watermarkBytes == 0 ? "record" : "\(watermarkBytes >> 10) KiB"), \(placement)")
        for round in 1...rounds {
            for consumer in round % 2 == 1 ? consumers : consumers.reversed() {
                let result = try measure(consumer, output: output, engine: engineConfiguration, placement: placement)
                results[consumer, default: []].append(result)
                print("  round \(round) \(consumer.name): \(result)")
            }
        }
        print("")
        print("consumer                 records/s   lost      consumer CPU ns/record")
        for consumer in consumers {
            let median = KernelRound.median(results[consumer]!)
            print(pad(consumer.name, 24) + " " + pad("\(Int(median.recordsPerSecond))", 11) + " " + pad("\(median.lost)", 9)
                + " \(Int(median.cpuNanosecondsPerRecord))")
        }
        if let ours = results[.readerOnly], let anchor = results[.libbpf] {
            // Each round ran both back to back, so a round's ratio shares that round's conditions.
            let cpu = zip(ours, anchor).map { $0.cpuNanosecondsPerRecord / $1.cpuNanosecondsPerRecord }
            let rate = zip(ours, anchor).map { $0.recordsPerSecond / $1.recordsPerSecond }
            print("per round, reader only ÷ libbpf: CPU per record " + cpu.map { ratio($0, 1) }.joined(separator: " ")
                + ", records/s " + rate.map { ratio($0, 1) }.joined(separator: " "))
            print("median of the rounds' ratios: CPU per record \(ratio(cpu.sorted()[cpu.count / 2], 1)), "
                + "records/s \(ratio(rate.sorted()[rate.count / 2], 1)); lost, ours \(ours.map(\.lost).reduce(0, +)) "
                + "against libbpf's \(anchor.map(\.lost).reduce(0, +)) over all rounds")
        }
        if let ours = results[.readerOnly].map(KernelRound.median), let anchor = results[.libbpf].map(KernelRound.median) {
            print("ours (reader only) ÷ libbpf: records/s \(ratio(ours.recordsPerSecond, anchor.recordsPerSecond)), "
                + "CPU per record \(ratio(ours.cpuNanosecondsPerRecord, anchor.cpuNanosecondsPerRecord))")
        }
        if let ours = results[.engine].map(KernelRound.median), let anchor = results[.libbpf].map(KernelRound.median) {
            print("ours (into the engine) ÷ libbpf: records/s \(ratio(ours.recordsPerSecond, anchor.recordsPerSecond)), "
                + "CPU per record \(ratio(ours.cpuNanosecondsPerRecord, anchor.cpuNanosecondsPerRecord))")
        }
    }

    /// One round: load the generator, start the consumer, generate, stop, count.
    private func measure(
        _ consumer: KernelConsumer, output: KernelOutputConfiguration, engine engineConfiguration: EngineConfiguration,
        placement: ThreadPlacement
    ) throws -> KernelRound {
        let pid = getpid()
        switch consumer {
        case .libbpf:
            let generator = try TracepointGenerator.forExternalConsumer(pid: pid, frameCount: frames, distinctStacks: distinct, output: output)
            defer { generator.close() }
            let stop = StopFlag()
            let mapFD = generator.perfEventArrayFD
            let pages = output.perCPUBufferBytes / 4096
            let watermark = UInt32(output.effectiveWakeupWatermarkBytes)
            let box = ResultBox(th_libbpf_consumer_result())
            let thread = try WorkerThread.spawn(name: "th-libbpf", cpus: placement.consumer) {
                box.result = th_libbpf_consume(mapFD, pages, watermark, stop.pointer)
            }
            try generator.attach()
            let seconds = try placement.generate(records)
            stop.set()
            let wall = seconds + timed { thread.join() }
            let r = box.result
            guard r.error == 0 else { throw CommandFailure("libbpf consumer failed: errno \(-r.error)") }
            return KernelRound(received: r.records, lost: generator.counters().outputErrors, seconds: wall, consumerCPU: r.cpu_seconds)
        case .engine, .readerOnly:
            let generator = try TracepointGenerator(pid: pid, frameCount: frames, distinctStacks: distinct, output: output)
            defer { generator.close() }
            let poll = try KernelPollStage(buffers: generator.buffers, configuration: output)
            var wall = 0.0
            var engineCPU: Double?
            if consumer == .engine {
                let configuration = engineConfiguration
                let engine = try StagedEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: CountingReporter())
                try engine.start()
                try engine.runSource(name: "th-poll") { source, isStopRequested in poll.run(into: source, isStopRequested: isStopRequested) }
                wall = try placement.generate(records)
                wall += timed {
                    poll.wake()
                    engine.stopAndWait()
                }
                guard engine.statistics().isConserved else { throw CommandFailure("engine conservation failed: \(engine.statistics())") }
                engineCPU = engine.threadCPUSeconds().values.reduce(0, +)
            } else {
                let stop = StopFlag()
                let thread = try WorkerThread.spawn(name: "th-poll", cpus: placement.consumer) {
                    poll.run(isStopRequested: { stop.isSet }, flush: {}) { _ in true }
                }
                wall = try placement.generate(records)
                wall += timed {
                    stop.set()
                    poll.wake()
                    thread.join()
                }
            }
            let totals = generator.buffers.totals
            return KernelRound(
                received: totals.records, lost: generator.counters().outputErrors, seconds: wall, consumerCPU: poll.cpuSeconds,
                engineCPU: engineCPU)
        }
    }
}

/// Where the generator and the consumer run: unpinned unless asked. Left to the scheduler, the two
/// sometimes share a CPU for a while, the consumer falls behind and the kernel loses records, so
/// lost counts vary from round to round whichever consumer runs. Pinning them apart did not make
/// the counts steadier here (other work then lands on the consumer's CPU), but it is there to try.
struct ThreadPlacement: CustomStringConvertible {
    let generator: [Int]?
    let consumer: [Int]?

    init(generator: Int?, consumer: Int?) throws {
        let allowed = WorkerThread.allowedCPUs()
        for (cpu, option) in [(generator, "--generator-cpu"), (consumer, "--consumer-cpu")] {
            if let cpu, !allowed.contains(cpu) {
                throw CommandFailure("\(option) \(cpu): not a CPU this process may run on (\(allowed.map(String.init).joined(separator: ",")))")
            }
        }
        self.generator = generator.map { [$0] }
        self.consumer = consumer.map { [$0] }
    }

    var description: String {
        func text(_ cpus: [Int]?) -> String { cpus.map { "CPU \($0[0])" } ?? "unpinned" }
        return "generator on \(text(generator)), consumer on \(text(consumer))"
    }

    /// Makes `count` records from a generator thread placed as configured; returns the seconds it took.
    func generate(_ count: Int) throws -> Double {
        let seconds = Atomic<Double>(0)
        let thread = try WorkerThread.spawn(name: "th-generator", cpus: generator) {
            seconds.store(timed { TracepointGenerator.generate(count: count) }, ordering: .releasing)
        }
        thread.join()
        return seconds.load(ordering: .acquiring)
    }
}

enum KernelConsumer: Hashable {
    case engine, readerOnly, libbpf

    /// The consumers named in `list` (all that apply to `buffer` when nil), in a fixed order.
    static func chosen(_ list: String?, buffer: KernelOutputConfiguration.Kind) throws -> [KernelConsumer] {
        let applicable: [KernelConsumer] = buffer == .perfBuffer ? [.engine, .readerOnly, .libbpf] : [.engine, .readerOnly]
        guard let list else { return applicable }
        let names = list.split(separator: ",").map { String($0.filter { $0 != " " }) }
        for name in names where !applicable.contains(where: { $0.option == name }) {
            throw CommandFailure("--consumers: '\(name)' is not one of \(applicable.map(\.option).joined(separator: ", ")) (for \(buffer.rawValue))")
        }
        return applicable.filter { names.contains($0.option) }
    }

    var option: String {
        switch self {
        case .engine: "engine"
        case .readerOnly: "reader"
        case .libbpf: "libbpf"
        }
    }

    var name: String {
        switch self {
        case .engine: "ours → engine"
        case .readerOnly: "ours, reader only"
        case .libbpf: "libbpf perf_buffer__poll"
        }
    }
}

struct KernelRound: CustomStringConvertible {
    var received: UInt64
    var lost: UInt64
    var seconds: Double
    /// The consumer's thread: the poll thread, or libbpf's.
    var consumerCPU: Double
    /// Every engine thread, the poll thread included (the engine consumer only).
    var engineCPU: Double? = nil

    var recordsPerSecond: Double { Double(received) / seconds }
    var cpuNanosecondsPerRecord: Double { perRecord(consumerCPU) }

    private func perRecord(_ seconds: Double) -> Double { received == 0 ? 0 : seconds * 1e9 / Double(received) }

    var description: String {
        "\(received) received, \(lost) lost, \(Int(recordsPerSecond)) records/s, \(Int(cpuNanosecondsPerRecord)) ns consumer CPU/record"
            + (engineCPU.map { " (all engine threads: \(Int(perRecord($0))) ns)" } ?? "")
    }

    /// The round with the median throughput.
    static func median(_ rounds: [KernelRound]) -> KernelRound {
        rounds.sorted { $0.recordsPerSecond < $1.recordsPerSecond }[rounds.count / 2]
    }
}

/// A stop flag a C loop can poll through a pointer (`volatile int`).
final class StopFlag: @unchecked Sendable {
    // @unchecked: one plain int, written once by the controlling thread, polled by the consumer
    // (the C side reads it as volatile; a late read only delays the stop by one poll timeout).
    let pointer: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    private let flag = Atomic<Bool>(false)
    deinit { pointer.deallocate() }
    func set() {
        flag.store(true, ordering: .releasing)
        pointer.pointee = 1
    }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

final class ResultBox<Result>: @unchecked Sendable {
    // @unchecked: written by the consumer thread before it ends, read after join.
    var result: Result
    init(_ initial: Result) { result = initial }
}

/// Wall-clock seconds `body` takes.
func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }

/// `a ÷ b` with two decimals and a × sign.
func ratio(_ a: Double, _ b: Double) -> String {
    guard b > 0 else { return "n/a" }
    let hundredths = Int((a / b * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)×"
}
