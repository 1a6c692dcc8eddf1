public import TraceModel

/// Where and how a continuous profile is exported over OTLP/gRPC, and how much the exporter may
/// hold while the receiver is slow or away. A plain value with the agent's defaults; `validate`
/// names the key of the first problem.
public struct ExportConfiguration: Hashable, Sendable {
    /// The receiver (`output.otlp.endpoint`, `--export otlp://HOST:PORT`); nil: no export.
    public var endpoint: ExportEndpoint?
    /// A PEM file of the certificates that sign the receiver's (`output.otlp.ca-file`); nil: the
    /// system's trust roots. Only with a TLS endpoint (`otlps://`).
    public var certificateAuthorityFile: String?
    /// The most request bytes (uncompressed) waiting to be sent (`export.queue-bytes`); beyond
    /// it the oldest interval is dropped and counted. Default 16 MiB.
    public var queueBytes = 16 << 20
    /// The largest request (uncompressed; `export.max-message-bytes`): an interval above it is
    /// split into several requests. Default 4 MiB, gRPC's usual receive limit.
    public var maximumMessageBytes = 4 << 20
    /// How long one request may take (`export.timeout`). Default 10 s.
    public var timeout: Duration = .seconds(10)
    /// The first wait before a retry (`export.retry-initial`); each retry doubles it up to
    /// `retryMaximum`, with ±20 % jitter. Defaults 500 ms and 30 s.
    public var retryInitial: Duration = .milliseconds(500)
    public var retryMaximum: Duration = .seconds(30)
    /// Whether requests are gzip-compressed on the wire (`export.gzip`). Default true.
    public var gzip = true
    /// At SIGTERM, how long the queue may take to drain (`export.shutdown-timeout`). Default 5 s.
    public var shutdownTimeout: Duration = .seconds(5)
    /// Where requests still queued at shutdown are kept, to be sent at the next start
    /// (`export.spool-dir`); nil: they are counted as dropped.
    public var spoolDirectory: String?

    /// No endpoint: nothing is exported.
    public init() {}

    /// Checks every field; the first problem is thrown, naming its key, value and allowed range.
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.check(
            (64 << 10...1 << 30).contains(maximumMessageBytes), "export.max-message-bytes", maximumMessageBytes,
            allowed: "65536 ... 1073741824")
        try ConfigurationError.check(
            (maximumMessageBytes...(4 << 30)).contains(queueBytes), "export.queue-bytes", queueBytes,
            allowed: "export.max-message-bytes (\(maximumMessageBytes)) ... 4294967296")
        try ConfigurationError.check(
            timeout >= .milliseconds(100) && timeout <= .seconds(600), "export.timeout", timeout, allowed: "100 ms ... 600 s")
        try ConfigurationError.check(
            retryInitial >= .milliseconds(10) && retryInitial <= retryMaximum, "export.retry-initial", retryInitial,
            allowed: "10 ms ... export.retry-maximum (\(retryMaximum))")
        try ConfigurationError.check(
            retryMaximum <= .seconds(600), "export.retry-maximum", retryMaximum, allowed: "export.retry-initial ... 600 s")
        try ConfigurationError.check(
            shutdownTimeout >= .zero && shutdownTimeout <= .seconds(600), "export.shutdown-timeout", shutdownTimeout,
            allowed: "0 ... 600 s")
        if let certificateAuthorityFile {
            try ConfigurationError.check(
                endpoint?.usesTLS == true, "output.otlp.ca-file", certificateAuthorityFile, allowed: "only with an otlps:// endpoint")
        }
        if let spoolDirectory {
            try ConfigurationError.check(!spoolDirectory.isEmpty, "export.spool-dir", spoolDirectory, allowed: "a directory path")
        }
    }
}

/// An OTLP/gRPC receiver: `otlp://HOST:PORT` (plaintext HTTP/2) or `otlps://HOST:PORT` (TLS).
public struct ExportEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var usesTLS: Bool

    public init(host: String, port: Int, usesTLS: Bool) {
        self.host = host
        self.port = port
        self.usesTLS = usesTLS
    }

    /// Parses `otlp://HOST:PORT` or `otlps://HOST:PORT` (an IPv6 host in brackets); nil when
    /// malformed.
    public init?(_ text: String) {
        let scheme: Bool
        var rest: Substring
        if text.hasPrefix("otlp://") {
            (scheme, rest) = (false, text.dropFirst(7))
        } else if text.hasPrefix("otlps://") {
            (scheme, rest) = (true, text.dropFirst(8))
        } else {
            return nil
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = rest[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:_".contains($0) }) else { return nil }
        self.init(host: String(host), port: port, usesTLS: scheme)
    }

    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(usesTLS ? "otlps" : "otlp")://\(host):\(port)"
    }
}
