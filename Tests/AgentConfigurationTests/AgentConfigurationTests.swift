import AgentConfiguration
import Foundation
import KernelPath
import LinuxSystem
import Testing
import TraceEngine
import TraceModel

@Suite struct AgentConfigurationTests {
    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("th-config-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefaults() async throws {
        let path = try file("""
            rings:
              symbolize:
                capacity: 256
                policy: drop
            cache.size: 1000
            batch: 32
            """)
        let configuration = try await AgentConfiguration.load(
            file: path,
            environment: ["TRACEHANDLER_RINGS_SYMBOLIZE_CAPACITY": "512", "TRACEHANDLER_CACHE_SIZE": "2000", "PATH": "/bin"],
            settings: ["rings.symbolize.capacity=2048"])
        #expect(configuration.engine.symbolize.capacity == 2048)  // flag over environment over file
        #expect(configuration.engine.cacheSize == 2000)  // environment over file
        #expect(configuration.engine.symbolize.policy == .drop)  // file over default
        #expect(configuration.engine.batchSize == 32)  // file (a dotted key at the top works too)
        #expect(configuration.engine.report.capacity == EngineConfiguration().report.capacity)  // default
    }

    @Test func theWakeupWatermarkDefaultsToAQuarterOfTheBufferItWasGiven() async throws {
        let small = try await AgentConfiguration.load(file: nil, environment: [:], settings: ["kernel.per-cpu-buffer-bytes=65536"])
        #expect(small.kernel.wakeupWatermarkBytes == nil)
        #expect(small.kernel.effectiveWakeupWatermarkBytes == 16384, "a smaller buffer needs no watermark setting of its own")
        #expect(AgentConfiguration().kernel.effectiveWakeupWatermarkBytes == 262144)
        let set = try await AgentConfiguration.load(file: nil, environment: [:], settings: ["kernel.wakeup-watermark-bytes=0"])
        #expect(set.kernel.effectiveWakeupWatermarkBytes == 0)
        let cleared = try await AgentConfiguration.load(
            file: nil, environment: [:], settings: ["kernel.wakeup-watermark-bytes=4096", "kernel.wakeup-watermark-bytes="])
        #expect(cleared.kernel.wakeupWatermarkBytes == nil)
        try small.kernel.validate()
        let tooLarge = try await AgentConfiguration.load(
            file: nil, environment: [:], settings: ["kernel.per-cpu-buffer-bytes=65536", "kernel.wakeup-watermark-bytes=65536"])
        #expect(throws: ConfigurationError.self) { try tooLarge.kernel.validate() }
    }

    @Test func theDefaultsFileLoadsBackToTheDefaults() async throws {
        let defaults = AgentConfiguration()
        let path = try file(defaults.yamlFile())
        let loaded = try await AgentConfiguration.load(file: path, environment: [:], settings: [])
        #expect(loaded == defaults)
        try loaded.validate(allowedCPUs: WorkerThread.allowedCPUs())
        for key in ConfigurationKeys.all { #expect(defaults.yamlFile().contains("\n\(key.name): "), "\(key.name) is documented") }
    }

    @Test func offCPUKeysSetTheSampler() async throws {
        let configuration = try await AgentConfiguration.load(
            file: nil, environment: ["TRACEHANDLER_OFFCPU_PROBABILITY": "0.25"],
            settings: ["sampling.mode=cpu,off-cpu", "offcpu.min-duration-us=1500", "offcpu.tasks=4096", "offcpu.switches=all"])
        #expect(configuration.modes == [.cpu, .offCPU])
        #expect(configuration.offCPU.minimumDuration == .microseconds(1500))
        #expect(configuration.offCPU.minimumNanoseconds == 1_500_000)
        #expect(configuration.offCPU.probability == 0.25)
        #expect(configuration.offCPU.tasks == 4096)
        #expect(configuration.offCPU.switches == .all)
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
        #expect(try await AgentConfiguration.load(file: nil, environment: [:], settings: ["sampling.mode=off-cpu"]).modes == .offCPU)
        #expect(ConfigurationKeys.named("sampling.mode")?.allowed.contains("off-cpu") == true)
    }

    @Test func sizesTakeSuffixesAndCPUListsRanges() async throws {
        let configuration = try await AgentConfiguration.load(
            file: nil, environment: [:],
            settings: ["kernel.per-cpu-buffer-bytes=2MiB", "cpus.source=0-1", "cpus.symbolize=0;1", "wait.park-timeout-ms=5",
                       "hash-cache.thread=source"])
        #expect(configuration.kernel.perCPUBufferBytes == 2 << 20)
        #expect(configuration.engine.cpus.source == [0, 1])
        #expect(configuration.engine.cpus.symbolize == [[0], [1]])
        #expect(configuration.engine.wait.parkTimeout == .milliseconds(5))
        #expect(configuration.engine.hashCacheThread == .source)
    }

    /// Unknown keys in each source, and values a key cannot take, name the key and the value.
    @Test(arguments: [
        (["rings.symbolise.capacity=8"], [String: String](), "rings.symbolise.capacity"),
        ([], ["TRACEHANDLER_RINGS_SIZE": "8"], "TRACEHANDLER_RINGS_SIZE"),
        (["batch=many"], [:], "batch"),
        (["rings.report.policy=degrade"], [:], "rings.report.policy"),
        (["cpus.source=a-b"], [:], "cpus.source"),
        (["kernel.buffer=pipe"], [:], "kernel.buffer"),
        (["kernel.aggregation=kernel"], [:], "kernel.aggregation"),
        (["sampling.mode=wall"], [:], "sampling.mode"),
        (["sampling.mode=cpu,"], [:], "sampling.mode"),
        (["sampling.mode="], [:], "sampling.mode"),
        (["offcpu.switches=some"], [:], "offcpu.switches"),
        (["offcpu.min-duration-us=-1"], [:], "offcpu.min-duration-us"),
        (["offcpu.min-duration-us=3600000001"], [:], "offcpu.min-duration-us"),
        (["offcpu.probability=half"], [:], "offcpu.probability"),
        (["offcpu.probability=nan"], [:], "offcpu.probability"),
        (["hash-cache.thread=report"], [:], "hash-cache.thread"),
        (["wait.park-timeout-ms=0"], [:], "wait.park-timeout-ms"),
        (["no-equals-sign"], [:], "--set"),
        (["output.format=svg"], [:], "output.format"),
        (["output.format=folded,folded"], [:], "output.format"),
        (["output.format=folded,"], [:], "output.format"),
        // Values that once passed the loader and then crashed the agent.
        (["cpus.source=0-9223372036854775806"], [:], "cpus.source"),
        (["cpus.source=0-100000000"], [:], "cpus.source"),
        (["wait.park-timeout-ms=10000000000000"], [:], "wait.park-timeout-ms"),
        (["signals.hangup=sometimes"], [:], "signals.hangup"),
        // An environment variable's bad value is named by the variable the user set.
        ([], ["TRACEHANDLER_BATCH": "many"], "TRACEHANDLER_BATCH (batch)"),
    ])
    func badInputNamesItsKey(settings: [String], environment: [String: String], key: String) async throws {
        await #expect { _ = try await AgentConfiguration.load(file: nil, environment: environment, settings: settings) } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }

    @Test(arguments: [
        ("folded", [OutputFormat.folded]), ("pprof", [.pprof]), ("otlp", [.otlp]), ("folded,pprof", [.folded, .pprof]),
        ("pprof,folded", [.pprof, .folded]), ("folded,pprof,otlp", [.folded, .pprof, .otlp]),
    ])
    func outputFormatsAreAListOfKnownFormats(text: String, formats: [OutputFormat]) async throws {
        let configuration = try await AgentConfiguration.load(file: nil, environment: [:], settings: ["output.format=\(text)"])
        #expect(configuration.outputFormats == formats)
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
    }

    @Test func anUnknownKeyInTheFileIsNamed() async throws {
        let path = try file("rings:\n  source:\n    capacty: 8\n")
        await #expect { _ = try await AgentConfiguration.load(file: path, environment: [:], settings: []) } throws: { error in
            (error as? ConfigurationError)?.key == "rings.source.capacty"
        }
        let missing = "/nonexistent/th.yaml"
        await #expect { _ = try await AgentConfiguration.load(file: missing, environment: [:], settings: []) } throws: { error in
            (error as? ConfigurationError)?.key == "--config"
        }
    }

    /// Every range check of every part, through the loader: the error names key, value and range.
    @Test(arguments: [
        ("rings.source.capacity=1000", "rings.source.capacity"),
        ("rings.symbolize.capacity=0", "rings.symbolize.capacity"),
        ("rings.report.capacity=3", "rings.report.capacity"),
        ("pool.traces=100", "pool.traces"),
        ("pool.converted=131072", "pool.converted"),
        ("symbolize.workers=0", "symbolize.workers"),
        ("cache.size=0", "cache.size"),
        ("batch=5000", "batch"),
        ("wait.spins=-1", "wait.spins"),
        ("cpus.source=1000", "cpus.source"),
        ("cpus.hash-cache=1000", "cpus.hash-cache"),
        ("cpus.report=1000", "cpus.report"),
        ("cpus.symbolize=1000", "cpus.symbolize"),
        ("symbolize.workers=63", "symbolize.workers"),
        ("wait.yields=-1", "wait.yields"),
        ("wait.park-timeout-ms=3600000", "wait.park-timeout-ms"),
        ("kernel.ring-buffer-bytes=4GiB", "kernel.ring-buffer-bytes"),
        ("kernel.per-cpu-buffer-bytes=2GiB", "kernel.per-cpu-buffer-bytes"),
        ("kernel.per-cpu-buffer-bytes=5000", "kernel.per-cpu-buffer-bytes"),
        ("kernel.ring-buffer-bytes=1024", "kernel.ring-buffer-bytes"),
        ("kernel.wakeup-watermark-bytes=2MiB", "kernel.wakeup-watermark-bytes"),
        ("kernel.batch-per-buffer=0", "kernel.batch-per-buffer"),
        ("kernel.poll-interval-ms=20000", "kernel.poll-interval-ms"),
        ("kernel.aggregation=bpf", "kernel.aggregation"),  // with the default unwind.mode = dwarf
        ("kernel.aggregation-entries=10", "kernel.aggregation-entries"),
        ("kernel.aggregation-stacks=1000", "kernel.aggregation-stacks"),
        ("kernel.aggregation-stacks=131072", "kernel.aggregation-stacks"),
        ("kernel.aggregation-interval-ms=5", "kernel.aggregation-interval-ms"),
        ("offcpu.probability=0", "offcpu.probability"),
        ("offcpu.probability=1.5", "offcpu.probability"),
        ("offcpu.tasks=10", "offcpu.tasks"),
        ("offcpu.tasks=70000", "offcpu.tasks"),
        ("symbolize.symbol-table-bytes=1000", "symbolize.symbol-table-bytes"),
        ("symbolize.processes=0", "symbolize.processes"),
        ("symbolize.revalidate-after-ms=4000000", "symbolize.revalidate-after-ms"),
        ("sampling.frequency=0", "sampling.frequency"),
        ("monitor.interval-ms=10", "monitor.interval-ms"),
    ])
    func validationNamesTheKeyTheValueAndTheRange(setting: String, key: String) async throws {
        let configuration = try await AgentConfiguration.load(file: nil, environment: [:], settings: [setting])
        #expect { try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs()) } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.key == key && !error.allowed.isEmpty && error.description.contains(key)
        }
    }

    @Test(arguments: ["", "# only a comment\n", "\n\n"])
    func aFileThatSetsNothingLoadsTheDefaults(text: String) async throws {
        let loaded = try await AgentConfiguration.load(file: try file(text), environment: [:], settings: [])
        #expect(loaded == AgentConfiguration())
    }

    /// A device that never ends, a pipe, a directory: refused at once, without reading them.
    @Test(arguments: ["/dev/zero", "/dev/urandom", "/tmp"])
    func aConfigurationFileThatIsNotARegularFileIsRefused(path: String) async throws {
        await #expect { _ = try await AgentConfiguration.load(file: path, environment: [:], settings: []) } throws: { error in
            (error as? ConfigurationError)?.key == "--config"
        }
    }

    @Test func aConfigurationFileOfMoreThanAMebibyteIsRefused() async throws {
        let path = try file("# " + String(repeating: "x", count: 2 << 20) + "\n")
        await #expect { _ = try await AgentConfiguration.load(file: path, environment: [:], settings: []) } throws: { error in
            (error as? ConfigurationError).map { $0.key == "--config" && $0.allowed.contains("bytes") } ?? false
        }
    }

    /// `metrics.listen`: HOST:PORT or [IPV6]:PORT, port 0 for any; anything else names the key.
    @Test func aMetricsAddressIsAHostAndAPort() async throws {
        #expect(ListenAddress("127.0.0.1:9464") == ListenAddress(host: "127.0.0.1", port: 9464))
        #expect(ListenAddress("[::1]:0") == ListenAddress(host: "::1", port: 0))
        #expect(ListenAddress("[::1]:0")?.description == "[::1]:0")
        #expect(ListenAddress("localhost:80")?.host == "localhost")
        for bad in ["", "127.0.0.1", ":9464", "::1:9464", "host:65536", "host:-1", "ho st:80", "host:80/metrics", "[]:80"] {
            #expect(ListenAddress(bad) == nil, "\(bad)")
        }
        let loaded = try await AgentConfiguration.load(file: nil, environment: [:], settings: ["metrics.listen=0.0.0.0:9464"])
        #expect(loaded.metricsListen == ListenAddress(host: "0.0.0.0", port: 9464))
        #expect(try await AgentConfiguration.load(file: nil, environment: [:], settings: []).metricsListen == nil)
        await #expect { _ = try await AgentConfiguration.load(file: nil, environment: [:], settings: ["metrics.listen=9464"]) } throws: { error in
            (error as? ConfigurationError)?.key == "metrics.listen"
        }
    }
}
