import Sync
import ArgumentParser
import CSystem
import Dispatch
import Foundation
import HTTP
import Model
import Inference
import NPY

func env<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
    guard let raw = ProcessInfo.processInfo.environment[name] else { return fallback }
    if let v = T(raw) { return v }
    unreadableEnvironment.withLock { $0[name] = raw }  // refused in `validate()`, never silently replaced
    return fallback
}

/// ECG_* variables that are set but do not read as their option's type (name → value).
let unreadableEnvironment = Locked<[String: String]>([:])

@main
struct ECGServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecg-server",
        abstract: "Serve ECG embeddings and affect scores over HTTP/1.1.",
        discussion: """
            Loads a weights directory once (manifest.json + encoder.npz, as written by
            `ecg-train import` or `ecg-train pretrain`), warms up, then answers:
              GET  /health  /ready  /metrics  /v1/model  /openapi.yaml
              POST /embed   /classify   /features   (application/json or application/x-npy, optionally gzip)
              /classify takes an optional personal baseline: {"ecg": [...], "fs": 500,
                        "baseline": {"ecg": [... >= 60 s of rest ...], "fs": 500}}
              Open Inference Protocol (KServe v2 / Triton): GET /v2, /v2/health/live, /v2/health/ready,
              /v2/models/ssl-ecg, /v2/models/ssl-ecg/ready; POST /v2/models/ssl-ecg/infer
              (the /v2/models routes need the API key when keys are configured)
            Every option has an environment variable, shown in brackets; flags win over it.
            SIGTERM or SIGINT: /ready turns 503, the listener closes, requests in flight are
            answered (for at most --drain-seconds), then the process exits 0.
            SIGHUP: reloads --tls-cert/--tls-key and --api-keys-file (a file that does not read
            keeps what is in force, with a log line); never stops the server.
            Example:
              ecg-server --weights weights --port 8080
              curl -s localhost:8080/embed -H 'Content-Type: application/json' -d '{"ecg": [...\(EncoderGeometry.windowLength) numbers...]}'
            """)

    @Option(help: "Address to bind: an IPv4 or IPv6 literal or a host name; :: is dual-stack. [ECG_HOST]")
    var host: String = env("ECG_HOST", defaults.host)
    @Option(help: "TCP port; 0 picks a free one (logged). [ECG_PORT]") var port: Int = env("ECG_PORT", defaults.port)
    @Option(help: "Weights directory. [ECG_WEIGHTS]") var weights: String = env("ECG_WEIGHTS", "weights")
    @Option(help: "An OpenAPI file to serve at /openapi.yaml instead of the spec built into the binary (the spec of this version). [ECG_OPENAPI]")
    var openapi: String = env("ECG_OPENAPI", defaults.openapi)
    @Option(help: "Inference workers, one core each (default: all cores). [ECG_WORKERS]")
    var workers: Int = env("ECG_WORKERS", defaults.workers)
    @Option(help: "Most windows per encoder batch. [ECG_MAX_BATCH]") var maxBatch: Int = env("ECG_MAX_BATCH", defaults.maxBatch)
    @Option(
        help:
            "Milliseconds a busy server waits for a batch to fill. Default 0: on one core the engine computes a window as fast alone as in a batch (ecg-train bench --threads 1), so waiting only adds latency (p99 at half load 14–16 ms with 2 ms, 10–12 ms with 0). [ECG_BATCH_WAIT_MS]"
    )
    var batchWaitMs: Double = env("ECG_BATCH_WAIT_MS", defaults.batchWaitMs)
    @Option(
        help:
            "Microseconds an idle inference worker keeps polling the queue before it sleeps (0…100000). A window that arrives meanwhile starts at once instead of waking a sleeping thread: lower tail latency at moderate load, paid in CPU time while idle (each worker polls up to this long after each batch). Default 0: never poll. [ECG_SPIN_US]"
    )
    var spinUs: Double = env("ECG_SPIN_US", defaults.spinUs)
    @Option(help: "Windows that may wait in the queue before requests get 503. [ECG_QUEUE_CAPACITY]") var queueCapacity: Int = env(
        "ECG_QUEUE_CAPACITY", defaults.queueCapacity)
    @Option(help: "Most bytes of a request body, before and after gzip (413). [ECG_MAX_BODY_BYTES]") var maxBodyBytes: Int = env(
        "ECG_MAX_BODY_BYTES", defaults.maxBodyBytes)
    @Option(
        help:
            "MiB all inference requests together may hold while being decoded, preprocessed and computed; each reserves an estimate from its sizes before decoding (a request that does not fit beside the others gets 503 memory_busy with Retry-After; one alone is always admitted). Pod memory ≈ 60 MiB + this + --max-connections × --max-body-bytes at worst; see docs/RELIABILITY.md. [ECG_MEMORY_BUDGET_MIB]"
    )
    var memoryBudgetMib: Int = env("ECG_MEMORY_BUDGET_MIB", defaults.memoryBudgetMib)
    @Option(help: "Most bytes of the header section (431). [ECG_MAX_HEADER_BYTES]") var maxHeaderBytes: Int = env(
        "ECG_MAX_HEADER_BYTES", defaults.maxHeaderBytes)
    @Option(help: "Most bytes of the request line (414). [ECG_MAX_REQUEST_LINE]") var maxRequestLine: Int = env("ECG_MAX_REQUEST_LINE", defaults.maxRequestLine)
    @Option(help: "Most 10 s windows in one request (413). [ECG_MAX_WINDOWS]") var maxWindows: Int = env("ECG_MAX_WINDOWS", defaults.maxWindows)
    @Option(help: "Most open connections; more are refused at once with 503. [ECG_MAX_CONNECTIONS]") var maxConnections: Int = env(
        "ECG_MAX_CONNECTIONS", defaults.maxConnections)
    @Option(help: "Seconds to receive a whole request once it has started (408). [ECG_READ_TIMEOUT]") var readTimeout: Double = env(
        "ECG_READ_TIMEOUT", defaults.readTimeout)
    @Option(
        help:
            "Seconds for a request line and headers to arrive: a new connection that sends nothing, or a header section that trickles in, is closed (408) after this. [ECG_HEADER_TIMEOUT]"
    )
    var headerTimeout: Double = env("ECG_HEADER_TIMEOUT", defaults.headerTimeout)
    @Option(help: "Seconds an idle keep-alive connection stays open (at the connection limit the longest-idle one is closed to make room). [ECG_IDLE_TIMEOUT]")
    var idleTimeout: Double = env("ECG_IDLE_TIMEOUT", defaults.idleTimeout)
    @Option(
        help:
            "Connections accepted beyond --max-connections when none is idle, for /health, /ready and /metrics only (probes stay answerable under connection pressure). [ECG_RESERVED_PROBE_CONNECTIONS]"
    )
    var reservedProbeConnections: Int = env("ECG_RESERVED_PROBE_CONNECTIONS", defaults.reservedProbeConnections)
    @Option(
        help:
            "Seconds to keep reading and discarding a client's input after a final response (lingering close, so the response is not lost to a TCP reset). [ECG_LINGER_SECONDS]"
    )
    var lingerSeconds: Double = env("ECG_LINGER_SECONDS", defaults.lingerSeconds)
    @Option(help: "Seconds to finish requests in flight after SIGTERM. [ECG_DRAIN_SECONDS]") var drainSeconds: Double = env(
        "ECG_DRAIN_SECONDS", defaults.drainSeconds)
    @Option(
        help:
            "File of API keys, one per line (or sha256:<hex> of one); when given, /embed, /classify, /features and /v1/model need Authorization: Bearer <key>. Keys are kept hashed and never logged. [ECG_API_KEYS_FILE]"
    )
    var apiKeysFile: String = env("ECG_API_KEYS_FILE", "")
    @Option(
        help:
            "PEM certificate chain (leaf first): serve HTTPS (TLS 1.2+) instead of plain HTTP. Needs --tls-key. SIGHUP reloads both files (and --api-keys-file); open connections keep the old certificate. [ECG_TLS_CERT]"
    )
    var tlsCert: String = env("ECG_TLS_CERT", "")
    @Option(help: "PEM private key (unencrypted) of --tls-cert. [ECG_TLS_KEY]") var tlsKey: String = env("ECG_TLS_KEY", "")
    @Flag(help: "No per-request log lines.") var quiet = false

    /// The defaults of every option (and of its environment variable), written once.
    static let defaults = ServerConfiguration()

    /// The options as the value `assemble` takes.
    var configuration: ServerConfiguration {
        ServerConfiguration(
            host: host, port: port, openapi: openapi, workers: workers, maxBatch: maxBatch, batchWaitMs: batchWaitMs, spinUs: spinUs,
            queueCapacity: queueCapacity, maxBodyBytes: maxBodyBytes, memoryBudgetMib: memoryBudgetMib, maxHeaderBytes: maxHeaderBytes,
            maxRequestLine: maxRequestLine, maxWindows: maxWindows, maxConnections: maxConnections, readTimeout: readTimeout,
            headerTimeout: headerTimeout, idleTimeout: idleTimeout, reservedProbeConnections: reservedProbeConnections,
            lingerSeconds: lingerSeconds, drainSeconds: drainSeconds)
    }

    /// Builds the service from loaded weights and a configuration (shared with the tests).
    /// `inputs[i]` is what `affect[i]` reads (default: the embedding alone). Throws if the
    /// manifest's preprocessing is not one this build knows (before any thread starts).
    static func assemble(
        network: SSLNetwork, manifest: Manifest, affect: [AffectHead], inputs: [HeadInputs] = [], configuration o: ServerConfiguration, logger: Logger,
        apiKeys: APIKeys = APIKeys(), tls: TLSCertificates? = nil
    ) throws
        -> (HTTPServer, ECGService, InferenceQueue)
    {
        let pipeline = try Preprocessing.Pipeline(manifest.input.preprocessing)
        let metrics = Metrics()
        let queue = InferenceQueue(
            encoder: network.encoder, workers: o.workers, capacity: o.queueCapacity, maxBatch: o.maxBatch,
            batchWaitMs: o.batchWaitMs, spinMicroseconds: o.spinUs, metrics: metrics)
        let heads = affect.enumerated().map { k, h in (head: h, inputs: k < inputs.count ? inputs[k] : HeadInputs.embeddingOnly) }
        let engine = InferenceEngine(
            network: network, pipeline: pipeline, affect: heads, queue: queue, maxWindows: o.maxWindows,
            memoryBudgetBytes: o.memoryBudgetMib << 20)
        let limits = HTTPLimits(maxRequestLine: o.maxRequestLine, maxHeaderBytes: o.maxHeaderBytes, maxHeaderCount: 100, maxBodyBytes: o.maxBodyBytes)
        let service = ECGService(
            engine: engine, manifest: manifest, metrics: metrics, logger: logger,
            config: o, apiKeys: apiKeys, limits: limits)
        let router = service.router()
        var connection = Connection.Config(
            limits: limits, readTimeout: o.readTimeout, headerTimeout: o.headerTimeout, idleTimeout: o.idleTimeout,
            maxPipelined: 16, lingerSeconds: o.lingerSeconds)
        connection.probePaths = router.probePaths
        connection.renderError = { .error($0) }
        connection.serverName = o.serverName
        let server = HTTPServer(
            handler: router, observer: AccessLog(metrics: metrics, logger: logger, router: router), config: connection,
            maxConnections: o.maxConnections, reservedProbeSlots: o.reservedProbeConnections, metrics: metrics, tls: tls)
        return (server, service, queue)
    }

    func validate() throws {
        let bad = unreadableEnvironment.withLock { $0 }
        if !bad.isEmpty {
            throw ValidationError(
                bad.keys.sorted().map { "\($0)='\(bad[$0]!)' is not a valid value for its option (see --help)" }
                    .joined(separator: "; "))
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be 1…256") }
        guard (1...1024).contains(maxBatch) else { throw ValidationError("--max-batch must be 1…1024") }
        guard batchWaitMs >= 0 && batchWaitMs <= 1000 else { throw ValidationError("--batch-wait-ms must be 0…1000") }
        guard spinUs >= 0 && spinUs <= 100_000 else { throw ValidationError("--spin-us must be 0…100000") }
        guard memoryBudgetMib >= 1, memoryBudgetMib <= 1 << 20 else { throw ValidationError("--memory-budget-mib must be 1…1048576") }
        guard queueCapacity >= 1, maxBodyBytes >= 1024, maxHeaderBytes >= 1024, maxRequestLine >= 64, maxWindows >= 1, maxConnections >= 1 else {
            throw ValidationError("limits must be positive (body and header at least 1024 bytes, request line at least 64)")
        }
        guard readTimeout > 0, idleTimeout > 0, headerTimeout > 0, drainSeconds >= 0, lingerSeconds >= 0, lingerSeconds <= 60 else {
            throw ValidationError("timeouts must be positive (--linger-seconds 0…60)")
        }
        guard (0...1024).contains(reservedProbeConnections) else { throw ValidationError("--reserved-probe-connections must be 0…1024") }
        guard tlsCert.isEmpty == tlsKey.isEmpty else { throw ValidationError("--tls-cert and --tls-key go together (both PEM files)") }
    }

    func run() throws {
        // glibc gives each thread that contends for malloc an arena of its own (up to 8 per
        // core); under load the Dispatch threads' arenas held 10+ MiB of freed memory
        // (bench/soak.sh: 67.8 MiB at 70 % load vs 58.2 MiB with 2 arenas). MALLOC_ARENA_MAX
        // in the environment wins over this default.
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil { _ = mallopt(M_ARENA_MAX, 2) }
        let logger = Logger(enabled: true)
        let started = Date()
        // Load: fail fast with what is wrong and a hint.
        let manifest: Manifest
        let network: SSLNetwork
        var affect: [AffectHead] = [], inputs: [HeadInputs] = []
        do {
            manifest = try Manifest.load(directory: weights)
            network = try manifest.loadNetwork(directory: weights)
            for h in manifest.heads {
                let bytes = try Manifest.readChecked(directory: weights, .init(file: h.file, sha256: h.sha256))
                let headInputs = h.inputs ?? .embeddingOnly
                try headInputs.validate(head: h.name)
                affect.append(try AffectHead(name: h.name, labels: h.labels, tensors: TensorSet(NPZ.decode(bytes)), inputs: headInputs.count))
                inputs.append(headInputs)
            }
        } catch {
            FileHandle.standardError.write(
                Data(
                    "ecg-server: cannot load weights from '\(weights)': \(error)\nHINT: a weights directory holds manifest.json and the files it names; make one with `ecg-train import --from CHECKPOINT_OR_NPZ --out DIR`.\n"
                        .utf8))
            throw ExitCode(2)
        }
        if !openapi.isEmpty && !FileManager.default.isReadableFile(atPath: openapi) {
            FileHandle.standardError.write(
                Data("ecg-server: cannot read --openapi '\(openapi)'\nHINT: leave --openapi out to serve the spec built into the binary.\n".utf8))
            throw ExitCode(2)
        }
        var keys = APIKeys()
        if !apiKeysFile.isEmpty {
            do { keys = try APIKeys(file: apiKeysFile) } catch {
                FileHandle.standardError.write(Data("ecg-server: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        var tls: TLSCertificates?
        if !tlsCert.isEmpty {
            do { tls = try TLSCertificates(certificate: tlsCert, key: tlsKey) } catch {
                FileHandle.standardError.write(
                    Data(
                        "ecg-server: \(error)\nHINT: a self-signed pair for testing: openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out cert.pem -days 30\n"
                            .utf8))
                throw ExitCode(2)
            }
        }
        let (server, service, queue): (HTTPServer, ECGService, InferenceQueue)
        do {
            (server, service, queue) = try Self.assemble(
                network: network, manifest: manifest, affect: affect, inputs: inputs, configuration: configuration,
                logger: quiet ? Logger(enabled: false) : logger, apiKeys: keys, tls: tls)
        } catch {
            FileHandle.standardError.write(
                Data(
                    "ecg-server: cannot serve the weights in '\(weights)': \(error)\nHINT: manifest.json's input.preprocessing names what every request goes through; this build knows the filters \(Preprocessing.bandFilter), \(Preprocessing.highpassFilter) and none, the normalisations \(Preprocessing.windowNormalization) and none, the polarity rules \(Preprocessing.qrsUp) and \(Preprocessing.qrsUpBeats).\n"
                        .utf8))
            throw ExitCode(2)
        }
        let bound: Int
        do { bound = try server.start(host: host, port: port) } catch {
            FileHandle.standardError.write(Data("ecg-server: cannot listen on \(host):\(port): \(error)\n".utf8))
            throw ExitCode(2)
        }
        logger.log(
            .listening(
                host: host, port: bound, weights: weights, encoderSHA256: manifest.encoder.sha256, kernels: Encoder.kernelName, workers: workers,
                openapi: openapi.isEmpty ? "built-in" : openapi, apiKeys: keys.count, tls: tls != nil, heads: service.heads.map(\.name)))
        // Warm-up: one window through the engine before /ready says yes.
        let warm = InferenceJob(windows: [Float](repeating: 0, count: EncoderGeometry.windowLength), count: 1) { _ in
            service.setReady(true)
            logger.log(.ready(startupSeconds: Date().timeIntervalSince(started)))
        }
        _ = queue.submit(warm)

        signal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN); signal(SIGPIPE, SIG_IGN)
        let sigQueue = DispatchQueue(label: "signals")
        var sources: [DispatchSourceSignal] = []
        let drain = drainSeconds
        for sig in [SIGTERM, SIGINT] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: sigQueue)
            s.setEventHandler {
                // Logged once the drain has begun (/ready answers 503, the listener is closed),
                // with the connections open when the signal came.
                let open = server.connectionCount
                service.setDraining()
                server.beginDrain()
                logger.log(.draining(signal: sig == SIGTERM ? "SIGTERM" : "SIGINT", openConnections: open))
                let deadline = Date().addingTimeInterval(drain)
                while server.connectionCount > 0 && Date() < deadline { usleep(20_000) }
                logger.log(.stopped(openConnections: server.connectionCount))
                Foundation.exit(0)
            }
            s.activate()
            sources.append(s)
        }
        if let tls {
            logger.log(.tls(certificate: tlsCert, sha256: tls.context.fingerprint, notAfter: tls.context.notAfter))
        }
        // SIGHUP reloads what can be reloaded (the TLS pair, the API keys file) and never
        // stops the server; a file that does not read keeps what is in force, with a log line.
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: sigQueue)
        let keysFile = apiKeysFile
        hup.setEventHandler {
            var reloaded: [String] = []
            if let tls {
                do {
                    let c = try tls.reload()
                    logger.log(.tlsReloaded(certificate: tls.certificatePath, sha256: c.fingerprint, notAfter: c.notAfter))
                    reloaded.append("tls")
                } catch {
                    logger.log(.tlsReloadFailed(error: "\(error)", keptSHA256: tls.context.fingerprint))
                }
            }
            if !keysFile.isEmpty {
                do {
                    let k = try APIKeys(file: keysFile)
                    service.keys.replace(k)
                    logger.log(.apiKeysReloaded(file: keysFile, count: k.count))
                    reloaded.append("api_keys")
                } catch {
                    logger.log(.apiKeysReloadFailed(error: "\(error)", kept: service.keys.current.count))
                }
            }
            logger.log(.sighup(reloaded: reloaded))
        }
        hup.activate()
        sources.append(hup)
        // The main thread parks here; the signal handlers above end the process. (Not
        // dispatchMain(): it pthread_exits the main thread, and AddressSanitizer then takes
        // libdispatch's signal mask, written where this frame was, for a stack overflow.)
        withExtendedLifetime((sources, server, service, queue)) {
            while true { pause() }
        }
    }
}
