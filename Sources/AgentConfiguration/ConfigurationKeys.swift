import KernelPath
import ProfileExport
import TraceEngine
import TraceModel
import TraceProfiler

/// One configuration key: its name (dots separate levels: `rings.symbolize.capacity`), what it
/// means, how a text value becomes a setting, and how the current setting reads as text.
public struct ConfigurationKey: Sendable {
    /// The key as the file and `--set` spell it, its levels separated by dots (`kernel.buffer`).
    public let name: String
    /// What the key means, in a sentence: its comment in the defaults file.
    public let help: String
    /// The values it accepts, in words (`1 ... 65536`), as errors and the defaults file quote them.
    public let allowed: String
    let read: @Sendable (AgentConfiguration) -> String
    let write: @Sendable (inout AgentConfiguration, String) -> Bool

    /// The environment variable that sets it: `TRACEHANDLER_` and the name in capitals, with
    /// dots and dashes as underscores (`TRACEHANDLER_RINGS_SYMBOLIZE_CAPACITY`).
    public var environmentName: String {
        "TRACEHANDLER_" + String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// Applies `text`, or throws naming the key, the text and what is allowed.
    func apply(_ text: String, to configuration: inout AgentConfiguration) throws(ConfigurationError) {
        guard write(&configuration, text.trimmingWhitespace) else {
            throw ConfigurationError(key: name, value: text, allowed: allowed)
        }
    }
}

/// Every key the agent reads, in the order the defaults file lists them.
public enum ConfigurationKeys {
    /// Every key: the engine's, the kernel's, the symbolizer's, the unwinder's, then the agent's own.
    public static let all: [ConfigurationKey] = engine + kernel + symbolizer + unwind + agent

    /// The key spelled exactly `name`, or nil.
    public static func named(_ name: String) -> ConfigurationKey? { all.first { $0.name == name } }

    static let engine: [ConfigurationKey] = [
        int("rings.source.capacity", "Slots in the ring from the poll stage to hash/cache.", "a power of two, 1 ... 1048576",
            \.engine.source.capacity),
        policy("rings.source.policy", "When that ring is full: block (the poll stage waits; the kernel counts lost records) or drop.",
               [.block, .drop], \.engine.source.policy),
        int("rings.symbolize.capacity", "Slots in each ring from hash/cache to a symbolize worker.", "a power of two, 1 ... 1048576",
            \.engine.symbolize.capacity),
        policy("rings.symbolize.policy", "When full: block, drop, or degrade (report the trace unsymbolized).",
               [.block, .drop, .degrade], \.engine.symbolize.policy),
        int("rings.report.capacity", "Slots in the rings into the report stage.", "a power of two, 1 ... 1048576",
            \.engine.report.capacity),
        policy("rings.report.policy", "When full: block or drop.", [.block, .drop], \.engine.report.policy),
        int("pool.traces", "Raw-trace slots (3 KiB each) shared by the stages.", "a power of two, 1 ... 1048576", \.engine.rawTraceSlots),
        int("pool.converted", "Converted-trace slots per symbolize worker.", "a power of two, 1 ... 65536", \.engine.convertedTraceSlots),
        int("symbolize.workers", "Symbolize worker threads (fan-out by trace hash).", "1 ... 62", \.engine.symbolizeWorkers),
        int("cache.size", "Entries in each of the two trace caches (BPF hash, user-mode hash).", "1 ... 16777216", \.engine.cacheSize),
        int("batch", "Items a stage moves per batch.", "1 ... 4096", \.engine.batchSize),
        ConfigurationKey(
            name: "hash-cache.thread",
            help: "Where the hash/cache stage runs: own (a thread of its own) or source (on the poll thread: cache hits never leave it).",
            allowed: HashCacheThread.allCases.map(\.rawValue).joined(separator: ", "),
            read: { $0.engine.hashCacheThread.rawValue },
            write: { c, text in
                guard let thread = HashCacheThread(rawValue: text) else { return false }
                c.engine.hashCacheThread = thread
                return true
            }),
        cpus("cpus.source", "CPUs of the poll (source) thread, e.g. 0 or 0,1; empty: not pinned.", \.engine.cpus.source),
        cpus("cpus.hash-cache", "CPUs of the hash/cache thread.", \.engine.cpus.hashCache),
        ConfigurationKey(
            name: "cpus.symbolize", help: "CPUs of the symbolize workers: one list for all, or one per worker separated by ';' (0;1).",
            allowed: "CPU lists such as 0,1 or 0;1 (CPUs this process may run on)",
            read: { c in c.engine.cpus.symbolize.map { $0.map(cpuText).joined(separator: ";") } ?? "" },
            write: { c, text in
                if text.isEmpty { c.engine.cpus.symbolize = nil; return true }
                var lists: [[Int]] = []
                for part in text.split(separator: ";", omittingEmptySubsequences: false) {
                    guard let list = parseCPUs(String(part)), !list.isEmpty else { return false }
                    lists.append(list)
                }
                c.engine.cpus.symbolize = lists
                return true
            }),
        cpus("cpus.report", "CPUs of the report thread.", \.engine.cpus.report),
        cpus("cpus.unwind", "CPUs of the unwind workers (one list for all).", \.engine.cpus.unwind),
        int("rings.unwind.capacity", "Slots in each ring from the poll stage to an unwind worker.", "a power of two, 1 ... 65536",
            \.engine.unwind.edge.capacity),
        policy("rings.unwind.policy", "When the unwind stage is full: block, drop, or degrade (keep the frame-pointer stack).",
               [.block, .drop, .degrade], \.engine.unwind.edge.policy),
        int("pool.snapshots", "Records with stack snapshots in the unwind stage at once (32 KiB each).", "a power of two, 1 ... 16384",
            \.engine.unwind.snapshotSlots),
        int("wait.spins", "Polls of an idle stage before it yields.", "0 or more", \.engine.wait.spins),
        int("wait.yields", "sched_yield calls of an idle stage before it parks.", "0 or more", \.engine.wait.yields),
        milliseconds("wait.park-timeout-ms", "Longest a parked stage sleeps unwoken, in milliseconds.", \.engine.wait.parkTimeout),
    ]

    static let kernel: [ConfigurationKey] = [
        ConfigurationKey(
            name: "kernel.buffer", help: "How the sampler hands records over: perf-buffer (one per CPU) or ring-buffer.",
            allowed: "perf-buffer, ring-buffer", read: { $0.kernel.kind.rawValue },
            write: { c, text in
                guard let kind = KernelOutputConfiguration.Kind(rawValue: text) else { return false }
                c.kernel.kind = kind
                return true
            }),
        int("kernel.per-cpu-buffer-bytes", "Bytes of each CPU's perf buffer.", "a power of two, at least 4096", \.kernel.perCPUBufferBytes),
        int("kernel.ring-buffer-bytes", "Bytes of the BPF ring buffer.", "a power of two, 4096 ... 1073741824 (1 GiB)", \.kernel.ringBufferBytes),
        ConfigurationKey(
            name: "kernel.wakeup-watermark-bytes",
            help: "Wake the poll stage after this many bytes (0: every record, ~2 µs each; empty: a quarter of the buffer).",
            allowed: "0 ... per-cpu-buffer-bytes - 1, or empty", read: { $0.kernel.wakeupWatermarkBytes.map(String.init) ?? "" },
            write: { c, text in
                if text.isEmpty {
                    c.kernel.wakeupWatermarkBytes = nil
                    return true
                }
                guard let value = parseInt(text) else { return false }
                c.kernel.wakeupWatermarkBytes = value
                return true
            }),
        int("kernel.batch-per-buffer", "Records read from one buffer before the next gets its turn.", "1 ... 65536", \.kernel.batchPerBuffer),
        milliseconds("kernel.poll-interval-ms", "Longest wait for a wakeup before every buffer is looked at, in milliseconds.",
                     \.kernel.pollInterval),
        ConfigurationKey(
            name: "kernel.aggregation",
            help: "Where samples are counted: none (a record per sample) or bpf (counted in BPF maps, drained every interval; frame-pointer stacks only).",
            allowed: "none, bpf", read: { $0.kernel.aggregation.rawValue },
            write: { c, text in
                guard let aggregation = KernelOutputConfiguration.Aggregation(rawValue: text) else { return false }
                c.kernel.aggregation = aggregation
                return true
            }),
        int("kernel.aggregation-entries", "Distinct (pid, tid, comm, stacks) keys counted per interval; more go out as records.",
            "64 ... 1048576", \.kernel.aggregationEntries),
        int("kernel.aggregation-stacks", "Stacks each of the two BPF stack maps holds (about 1 KiB each, preallocated).",
            "a power of two, 256 ... 65536", \.kernel.aggregationStacks),
        milliseconds("kernel.aggregation-interval-ms", "How often the counts are drained, in milliseconds.", \.kernel.aggregationInterval),
    ]

    static let symbolizer: [ConfigurationKey] = [
        int("symbolize.symbol-table-bytes", "Memory for ELF symbol tables (least recently used go first).", "at least 1048576",
            \.symbolizer.symbolTableBytes),
        ConfigurationKey(
            name: "symbolize.processes", help: "Processes whose mappings are kept (by the symbolizer, and by each unwind worker).",
            allowed: "1 ... 1000000", read: { String($0.symbolizer.processes) },
            write: { c, text in
                guard let value = parseInt(text) else { return false }
                c.symbolizer.processes = value
                c.unwinder.processes = value
                return true
            }),
        ConfigurationKey(
            name: "symbolize.debug-directories", help: "Where separate debug files are installed (by build id, or by .gnu_debuglink), comma-separated.",
            allowed: "absolute directory paths, comma-separated, at most 16 (or empty)", read: { $0.symbolizer.debugDirectories.joined(separator: ",") },
            write: { c, text in
                let paths = text.split(separator: ",").map { String($0).trimmingWhitespace }
                guard paths.allSatisfy({ $0.hasPrefix("/") }), paths.count <= 16 else { return false }
                c.symbolizer.debugDirectories = paths
                c.unwinder.debugDirectories = paths
                return true
            }),
        milliseconds("symbolize.revalidate-after-ms", "How old a process entry may get before pid reuse is checked, in milliseconds.",
                     \.symbolizer.revalidateAfter),
    ]

    static let unwind: [ConfigurationKey] = [
        ConfigurationKey(
            name: "unwind.mode",
            help: "How user stacks are walked: dwarf (copy a window of the user stack with each sample, walk it with the files' CFI) or frame-pointers.",
            allowed: UnwindMode.allCases.map(\.rawValue).joined(separator: ", "), read: { $0.unwindMode.rawValue },
            write: { c, text in
                guard let mode = UnwindMode(rawValue: text) else { return false }
                c.unwindMode = mode
                return true
            }),
        int("unwind.stack-bytes", "User stack bytes each sample copies for DWARF unwinding.", "a multiple of 8, 512 ... \(Sampler.maximumStackBytes)",
            \.stackBytes),
        int("unwind.workers", "Unwind worker threads (dwarf mode).", "1 ... \(EngineConfiguration.maximumUnwindWorkers)", \.unwindWorkers),
        int("unwind.table-bytes", "Memory for unwind tables (least recently used go first).", "at least 1048576", \.unwinder.tableBytes),
    ]

    static let agent: [ConfigurationKey] = [
        ConfigurationKey(
            name: "sampling.mode",
            help: "What is profiled: cpu (stacks sampled on each CPU), off-cpu (where tasks wait, and how long), or both (a list).",
            allowed: "cpu, off-cpu, cpu,off-cpu", read: { $0.modes.text },
            write: { c, text in
                guard let modes = TraceOrigins(text: text) else { return false }
                c.modes = modes
                return true
            }),
        int("sampling.frequency", "Samples a second on each CPU.", "1 ... 100000", \.frequency),
        ConfigurationKey(
            name: "offcpu.min-duration-us",
            help: "Off-CPU: blocks shorter than this, in microseconds, are counted in the kernel, not sent.",
            allowed: "0 ... 3600000000", read: { String($0.offCPU.minimumNanoseconds / 1000) },
            write: { c, text in
                guard let value = parseInt(text), value >= 0, value <= 3_600_000_000 else { return false }
                c.offCPU.minimumDuration = .microseconds(value)
                return true
            }),
        ConfigurationKey(
            name: "offcpu.probability",
            help: "Off-CPU: the share of switches whose stacks are taken (1: every switch; the others are counted).",
            allowed: "0 < p ≤ 1", read: { String($0.offCPU.probability) },
            write: { c, text in
                guard let value = Double(text), value.isFinite else { return false }
                c.offCPU.probability = value
                return true
            }),
        int("offcpu.tasks", "Off-CPU: blocked tasks the kernel keeps at once (about 3 KiB each, preallocated); more are counted as dropped.",
            "64 ... 65536", \.offCPU.tasks),
        ConfigurationKey(
            name: "offcpu.switches",
            help: "Off-CPU: voluntary (the task blocked) or all (preemptions too: time spent waiting for a CPU).",
            allowed: "voluntary, all", read: { $0.offCPU.switches.rawValue },
            write: { c, text in
                guard let switches = OffCPUConfiguration.Switches(rawValue: text) else { return false }
                c.offCPU.switches = switches
                return true
            }),
        milliseconds("monitor.interval-ms", "How often a running profile or bench prints progress, in milliseconds.", \.monitorInterval),
        ConfigurationKey(
            name: "output.dir", help: "Directory `profile` writes to.", allowed: "a directory path", read: { $0.outputDirectory },
            write: { c, text in c.outputDirectory = text; return !text.isEmpty }),
        ConfigurationKey(
            name: "output.format", help: "What `profile` writes: folded stacks, a pprof profile, an OTLP profile (a list).",
            allowed: OutputFormat.allowed, read: { $0.outputFormat },
            write: { c, text in c.outputFormat = text; return text == "none" || !c.outputFormats.isEmpty }),
        int("output.max-stacks", "The most distinct stacks a profile keeps (memory stays flat under process churn); the rest are one [overflow] entry.",
            "1 ... 16777216", \.maximumStacks),
        duration(
            "report.interval", "How often a continuous profile (`profile` without --duration) ends an interval and writes or exports it.",
            "1s ... 3600s", \.reportInterval),
        ConfigurationKey(
            name: "report.jitter",
            help: "Each interval lasts report.interval times a random factor within 1 ± this fraction (agents started together export apart).",
            allowed: "0 ... 0.5", read: { String($0.reportJitter) },
            write: { c, text in
                guard let fraction = Double(text), fraction.isFinite else { return false }
                c.reportJitter = fraction
                return true
            }),
        ConfigurationKey(
            name: "output.otlp.endpoint",
            help: "Where a continuous profile is exported: otlp://HOST:PORT (plaintext gRPC) or otlps://HOST:PORT (TLS); empty: nowhere.",
            allowed: "otlp://HOST:PORT, otlps://HOST:PORT (port 1 ... 65535) or empty", read: { $0.export.endpoint?.description ?? "" },
            write: { c, text in
                c.export.endpoint = ExportEndpoint(text)
                return text.isEmpty || c.export.endpoint != nil
            }),
        optionalText(
            "output.otlp.ca-file", "A PEM file of the certificates that sign the receiver's (otlps:// only); empty: the system's roots.",
            "a file path or empty", \.export.certificateAuthorityFile),
        int("export.queue-bytes", "Request bytes waiting to be sent; beyond it the oldest interval is dropped (counted).",
            "export.max-message-bytes ... 4294967296", \.export.queueBytes),
        int("export.max-message-bytes", "The largest request (uncompressed); a larger interval is split.", "65536 ... 1073741824",
            \.export.maximumMessageBytes),
        duration("export.timeout", "How long one export request may take.", "100ms ... 600s", \.export.timeout),
        duration("export.retry-initial", "The first wait before retrying a failed request; doubled each retry, with ±20 % jitter.",
            "10ms ... export.retry-maximum", \.export.retryInitial),
        duration("export.retry-maximum", "The longest wait between retries.", "export.retry-initial ... 600s", \.export.retryMaximum),
        ConfigurationKey(
            name: "export.gzip", help: "Whether export requests are gzip-compressed on the wire.", allowed: "true, false",
            read: { String($0.export.gzip) },
            write: { c, text in
                guard let value = Bool(text) else { return false }
                c.export.gzip = value
                return true
            }),
        duration("export.shutdown-timeout", "At SIGTERM, how long the export queue may take to drain.", "0s ... 600s", \.export.shutdownTimeout),
        optionalText(
            "export.spool-dir", "Where requests still queued at shutdown are kept and sent at the next start; empty: they are dropped (counted).",
            "a directory path or empty", \.export.spoolDirectory),
        ConfigurationKey(
            name: "metrics.listen",
            help: "Where `profile` serves its counters in the Prometheus text format, at /metrics: HOST:PORT (port 0: any free port); empty: off.",
            allowed: "HOST:PORT or [IPV6]:PORT (port 0 ... 65535) or empty", read: { $0.metricsListen?.description ?? "" },
            write: { c, text in
                c.metricsListen = ListenAddress(text)
                return text.isEmpty || c.metricsListen != nil
            }),
        ConfigurationKey(
            name: "signals.hangup", help: "What SIGHUP (a closed terminal) does to `profile`: stop (as SIGTERM: write what was sampled) or ignore.",
            allowed: "stop, ignore", read: { $0.hangup.rawValue },
            write: { c, text in
                guard let action = HangupAction(rawValue: text) else { return false }
                c.hangup = action
                return true
            }),
    ]

    // MARK: Key kinds

    static func int(_ name: String, _ help: String, _ allowed: String, _ path: WritableKeyPath<AgentConfiguration, Int> & Sendable) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, allowed: allowed, read: { String($0[keyPath: path]) },
            write: { c, text in
                guard let value = parseInt(text) else { return false }
                c[keyPath: path] = value
                return true
            })
    }

    static func milliseconds(_ name: String, _ help: String, _ path: WritableKeyPath<AgentConfiguration, Duration> & Sendable) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, allowed: "a whole number of milliseconds, 1 ... 86400000 (a day)",
            read: { c in
                let (seconds, attoseconds) = c[keyPath: path].components
                return String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            },
            write: { c, text in
                guard let value = parseInt(text), value > 0, value <= 86_400_000 else { return false }
                c[keyPath: path] = .milliseconds(value)
                return true
            })
    }

    static func policy(_ name: String, _ help: String, _ allowed: [BackpressurePolicy],
                       _ path: WritableKeyPath<AgentConfiguration, BackpressurePolicy> & Sendable) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, allowed: allowed.map(\.rawValue).joined(separator: ", "), read: { $0[keyPath: path].rawValue },
            write: { c, text in
                guard let policy = BackpressurePolicy(rawValue: text), allowed.contains(policy) else { return false }
                c[keyPath: path] = policy
                return true
            })
    }

    static func cpus(_ name: String, _ help: String, _ path: WritableKeyPath<AgentConfiguration, [Int]?> & Sendable) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, allowed: "a CPU list such as 0 or 0,1 or 0-3 (CPUs this process may run on, at most 1023), or empty",
            read: { c in c[keyPath: path].map(cpuText) ?? "" },
            write: { c, text in
                if text.isEmpty { c[keyPath: path] = nil; return true }
                guard let list = parseCPUs(text), !list.isEmpty else { return false }
                c[keyPath: path] = list
                return true
            })
    }

    static func duration(_ name: String, _ help: String, _ allowed: String, _ path: WritableKeyPath<AgentConfiguration, Duration> & Sendable)
        -> ConfigurationKey
    {
        ConfigurationKey(
            name: name, help: help, allowed: allowed + " (whole seconds, or with a unit: 1500ms, 5s, 2m)",
            read: { c in
                let (seconds, attoseconds) = c[keyPath: path].components
                return attoseconds == 0 ? "\(seconds)s" : "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
            },
            write: { c, text in
                guard let value = parseDuration(text) else { return false }
                c[keyPath: path] = value
                return true
            })
    }

    /// A text that may be empty (nil).
    static func optionalText(_ name: String, _ help: String, _ allowed: String, _ path: WritableKeyPath<AgentConfiguration, String?> & Sendable)
        -> ConfigurationKey
    {
        ConfigurationKey(
            name: name, help: help, allowed: allowed, read: { $0[keyPath: path] ?? "" },
            write: { c, text in
                c[keyPath: path] = text.isEmpty ? nil : text
                return true
            })
    }

    /// A duration: whole seconds, or a whole number with the unit `ms`, `s` or `m`; nil when
    /// malformed or beyond a day.
    static func parseDuration(_ text: String) -> Duration? {
        for (unit, milliseconds) in [("ms", 1), ("s", 1000), ("m", 60_000), ("", 1000)] where text.hasSuffix(unit) {
            guard let value = Int(text.dropLast(unit.count)), value >= 0, value <= 86_400_000 / milliseconds else { return nil }
            return .milliseconds(value * milliseconds)
        }
        return nil
    }

    /// An integer, with optional `_` separators and a KiB/MiB/GiB suffix (`1MiB` = 1048576).
    static func parseInt(_ text: String) -> Int? {
        var digits = text.replacingAll("_", with: "")
        var multiplier = 1
        for (suffix, factor) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)] where digits.hasSuffix(suffix) {
            digits = String(digits.dropLast(suffix.count))
            multiplier = factor
        }
        guard let value = Int(digits) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// The highest CPU number a list may name: a `cpu_set_t` (what pinning passes to the kernel)
    /// holds CPUs 0 ..< 1024. Checked before a range is expanded, so `0-9223372036854775806`
    /// is an error at once, not a list of 2^63 numbers.
    static let maximumCPU = 1023

    /// "0,2-3" → [0, 2, 3]; nil when malformed or naming a CPU above `maximumCPU`.
    static func parseCPUs(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingWhitespace) }
            if bounds.count == 1, let cpu = bounds[0], cpu >= 0, cpu <= maximumCPU {
                cpus.append(cpu)
            } else if bounds.count == 2, let first = bounds[0], let last = bounds[1], first >= 0, first <= last, last <= maximumCPU {
                cpus.append(contentsOf: first...last)
            } else {
                return nil
            }
        }
        return cpus
    }

    static func cpuText(_ cpus: [Int]) -> String { cpus.map(String.init).joined(separator: ",") }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    func replacingAll(_ target: Character, with replacement: String) -> String {
        String(flatMap { $0 == target ? Array(replacement) : [$0] })
    }
}
