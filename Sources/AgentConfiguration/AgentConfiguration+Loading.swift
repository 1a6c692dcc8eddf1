import Configuration
import LinuxSystem
import SystemPackage
public import TraceModel
import Yams

#if canImport(Glibc)
import Glibc
#endif

extension AgentConfiguration {
    /// Reads the configuration from, highest precedence first: `settings` (`key=value`, from
    /// `--set` flags), the environment (`TRACEHANDLER_<KEY>`), the file (YAML, or JSON, which is
    /// YAML too), then the defaults. Unknown keys, in any of the three, are errors; so is any
    /// value a key does not accept. The result is not yet validated as a whole (`validate`).
    public static func load(
        file: String?, environment: [String: String], settings: [String]
    ) async throws(ConfigurationError) -> AgentConfiguration {
        var providers: [any ConfigProvider] = []

        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for setting in settings {
            guard let equals = setting.firstIndex(of: "=") else {
                throw ConfigurationError(key: "--set", value: setting, allowed: "key=value")
            }
            let name = String(setting[..<equals]).trimmingWhitespace
            guard ConfigurationKeys.named(name) != nil else { throw unknownKey(name, value: String(setting[setting.index(after: equals)...])) }
            flagValues[AbsoluteConfigKey(name.split(separator: ".").map(String.init))] =
                ConfigValue(.string(String(setting[setting.index(after: equals)...])), isSecret: false)
        }
        providers.append(InMemoryProvider(name: "flags", values: flagValues))

        var ours: [String: String] = [:]
        let known = Dictionary(uniqueKeysWithValues: ConfigurationKeys.all.map { ($0.environmentName, $0) })
        for (name, value) in environment where name.hasPrefix("TRACEHANDLER_") {
            guard let key = known[name] else { throw unknownKey(name, value: value) }
            // A value the key refuses is reported under the variable's name: that is what the
            // user set, and the key's name alone would send them looking in the file.
            var scratch = AgentConfiguration()
            do throws(ConfigurationError) {
                try key.apply(value, to: &scratch)
            } catch {
                throw ConfigurationError(key: "\(name) (\(key.name))", value: value, allowed: key.allowed)
            }
            ours[String(name.dropFirst("TRACEHANDLER_".count))] = value
        }
        providers.append(EnvironmentVariablesProvider(environmentVariables: ours))

        if let file, try checkKeys(ofFile: file) {
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
            } catch {
                throw ConfigurationError(key: "--config", value: file, allowed: "a readable YAML or JSON file (\(error))")
            }
        }

        let reader = ConfigReader(providers: providers)
        var configuration = AgentConfiguration()
        for key in ConfigurationKeys.all {
            if let text = reader.string(forKey: ConfigKey(key.name.split(separator: ".").map(String.init))) {
                try key.apply(text, to: &configuration)
            }
        }
        return configuration
    }

    static func unknownKey(_ name: String, value: String) -> ConfigurationError {
        ConfigurationError(key: name, value: value, allowed: "only the keys `tracehandler config --print-defaults` lists")
    }

    /// The largest configuration file read: far above any real one (the documented defaults
    /// file is about 6 KiB), and small enough that `--config /dev/zero` ends at once.
    static let maximumFileBytes = 1 << 20

    /// Every key in the file must be one we read, with a single value (not a list or a mapping).
    /// Returns false when the file sets nothing (empty, or only comments).
    static func checkKeys(ofFile path: String) throws(ConfigurationError) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ConfigurationError(key: "--config", value: path, allowed: "a readable file (\(String(cString: strerror(errno))))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ConfigurationError(key: "--config", value: path, allowed: "a regular file (not a device, a directory or a pipe)")
        }
        guard let bytes = FileContents.bytes(path, limit: maximumFileBytes) else {
            let reason = errno == EFBIG ? "at most \(maximumFileBytes) bytes" : String(cString: strerror(errno))
            throw ConfigurationError(key: "--config", value: path, allowed: "a readable file (\(reason))")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ConfigurationError(key: "--config", value: path, allowed: "YAML or JSON (\(error))")
        }
        guard let root else { return false }  // an empty file sets nothing
        guard case .mapping(let mapping) = root else {
            throw ConfigurationError(key: "--config", value: path, allowed: "a mapping of keys to values at the top")
        }
        var pending: [(prefix: String, mapping: Node.Mapping)] = [("", mapping)]
        while let (prefix, mapping) = pending.popLast() {
            for (keyNode, valueNode) in mapping {
                let name = prefix + (keyNode.string ?? "")
                switch valueNode {
                case .mapping(let nested):
                    pending.append((name + ".", nested))
                case .scalar(let scalar):
                    if ConfigurationKeys.named(name) == nil { throw unknownKey(name, value: scalar.string) }
                default:
                    throw ConfigurationError(key: name, value: "a list", allowed: ConfigurationKeys.named(name)?.allowed ?? "a single value")
                }
            }
        }
        return true
    }
}
