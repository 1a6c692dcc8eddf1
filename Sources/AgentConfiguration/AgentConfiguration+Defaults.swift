extension AgentConfiguration {
    /// The configuration as a documented YAML file: every key, what it means, what it allows, and
    /// its value here (the defaults, for `AgentConfiguration()`). `tracehandler config
    /// --print-defaults` prints it; it loads back to the same configuration.
    public func yamlFile() -> String {
        var lines = [
            "# swift-tracehandler configuration. Precedence, highest first: --set key=value flags,",
            "# TRACEHANDLER_<KEY> environment variables (dots and dashes as underscores), this file,",
            "# the defaults. Unknown keys are errors. Sizes take KiB/MiB/GiB suffixes.",
        ]
        for key in ConfigurationKeys.all {
            lines.append("")
            lines.append("# \(key.help)")
            lines.append("# Allowed: \(key.allowed). Environment: \(key.environmentName).")
            let value = key.read(self)
            lines.append("\(key.name): \(value.isEmpty ? "\"\"" : quotedIfNeeded(value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func quotedIfNeeded(_ value: String) -> String {
        value.contains(where: { ",;:#".contains($0) }) ? "\"\(value)\"" : value
    }
}
