import Sync
import Dispatch
import Foundation
import HTTP
import Model
import NPY

/// A classification head as served: the affect heads of the manifest, and the
/// pre-training transformation-recognition head when the weights carry it.
struct ServedHead: Sendable {
    let name: String
    let labels: [String]
    /// Softmax over labels (affect heads) or independent sigmoids (the pretext heads).
    let multiLabel: Bool
    /// What an affect head reads (nil: the pretext head, which reads the embedding).
    let inputs: HeadInputs?
    let run: @Sendable ([Float]) -> [Float]

    var needsBaseline: Bool { inputs?.needsBaseline ?? false }
}

struct ServiceConfig: Sendable {
    var maxWindows = 1024
    var maxRecordings = 1024
    /// Bytes all inference requests together may hold (MemoryBudget).
    var memoryBudgetBytes = 256 << 20
    /// Bearer tokens for the model routes (empty: no authentication).
    var apiKeys = APIKeys()
    /// An OpenAPI file to serve instead of the built-in spec ("" = built-in).
    var openapiPath = ""
}

/// The application: routes, request decoding, preprocessing, inference, answers.
///
/// Every stored property is a `let` of a Sendable type set in `init`; the lifecycle flags
/// (`ready`, `warmed`, `draining`) live behind one mutex.
final class ECGService: RequestHandler, RequestObserver, Sendable {
    let network: SSLNetwork
    let manifest: Manifest
    /// The manifest's preprocessing, checked when the weights were loaded.
    let pipeline: Preprocessing.Pipeline
    let queue: InferenceQueue
    let metrics: Metrics
    let logger: Logger
    let config: ServiceConfig
    let limits: HTTPLimits
    let heads: [ServedHead]
    /// The API keys in force (SIGHUP reloads them from --api-keys-file).
    let keys: KeyStore
    /// Request working sets, reserved before decoding (503 when full).
    let memory: MemoryBudget
    let openapi: [UInt8]?
    let modelJSON: [UInt8]
    private struct Lifecycle { var ready = false, warmed = false, draining = false }
    private let lifecycle = Locked(Lifecycle())

    static var transformationLabels: [String] { EncoderGeometry.transformations }

    init(network: SSLNetwork, manifest: Manifest, pipeline: Preprocessing.Pipeline, affect: [(head: AffectHead, inputs: HeadInputs)], queue: InferenceQueue, metrics: Metrics,
         logger: Logger, config: ServiceConfig, limits: HTTPLimits) {
        self.network = network; self.manifest = manifest; self.pipeline = pipeline; self.queue = queue; self.metrics = metrics
        self.logger = logger; self.config = config; self.limits = limits
        keys = KeyStore(config.apiKeys)
        memory = MemoryBudget(bytes: config.memoryBudgetBytes)
        var hs: [ServedHead] = affect.map { h, i in ServedHead(name: h.name, labels: h.labels, multiLabel: false, inputs: i) { h.probabilities($0) } }
        if !network.tasks.isEmpty {
            let net = network
            hs.append(ServedHead(name: "ssl_transformations", labels: Self.transformationLabels, multiLabel: true, inputs: nil) { e in
                net.taskLogits(e).map { 1 / (1 + exp(-$0)) }
            })
        }
        heads = hs
        openapi = config.openapiPath.isEmpty ? PackageResources.openapi_yaml : FileManager.default.contents(atPath: config.openapiPath).map { [UInt8]($0) }
        var m = (try? JSONSerialization.jsonObject(with: manifest.encoded())) as? [String: Any] ?? [:]
        m["runtime"] = ["kernels": Encoder.kernelName, "r_peak_detector": RPeaks.name, "conv_algorithms": network.encoder.algorithms.map(\.description),
                        "served_heads": hs.map { ["name": $0.name, "labels": $0.labels, "multi_label": $0.multiLabel, "needs_baseline": $0.needsBaseline] as [String: Any] }]
        modelJSON = [UInt8]((try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    func setReady(_ r: Bool) { lifecycle.withLock { $0.ready = r; $0.warmed = $0.warmed || r } }
    /// Warmed up: inference is served, also while draining (requests already on open
    /// connections are in flight and get answered).
    var isWarmed: Bool { lifecycle.withLock { $0.warmed && ($0.ready || $0.draining) } }
    func setDraining() { lifecycle.withLock { $0.draining = true; $0.ready = false } }
    var isReady: Bool { lifecycle.withLock { $0.ready } }
    var isDraining: Bool { lifecycle.withLock { $0.draining } }

    static let routes: [String: [String]] = [
        "/health": ["GET", "HEAD"], "/ready": ["GET", "HEAD"], "/metrics": ["GET", "HEAD"], "/v1/model": ["GET", "HEAD"],
        "/openapi.yaml": ["GET", "HEAD"], "/embed": ["POST"], "/classify": ["POST"], "/features": ["POST"],
    ]

    /// What a connection admitted on a reserved probe slot may ask (orchestrator probes).
    static let probePaths: Set<String> = ["/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"]

    /// The Open Inference Protocol's routes, as metrics and logs label them.
    static let v2Routes: Set<String> = ["/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/\(kserveModel)",
                                        "/v2/models/\(kserveModel)/ready", "/v2/models/\(kserveModel)/infer"]
    /// A v2 path without its "/versions/1" (the same route).
    static func v2Path(_ p: String) -> String {
        let m = "/v2/models/\(kserveModel)/versions/1"
        return p.hasPrefix(m) ? "/v2/models/\(kserveModel)" + p.dropFirst(m.count) : p
    }

    func refused(_ e: HTTPError, requestID: String, bytesIn: Int) {
        metrics.request(route: "(parser)", status: e.status, seconds: 0)
        logger.log([("level", "info"), ("msg", "request refused"), ("request_id", requestID), ("status", e.status), ("code", e.code), ("reason", e.message)])
    }

    func log(_ r: HTTPRequest, requestID: String, response: HTTPResponse, bytesOut: Int, started: DispatchTime) {
        let secs = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let route = Self.routes[r.path] != nil || Self.v2Routes.contains(Self.v2Path(r.path)) ? Self.v2Path(r.path) : "(unknown)"
        metrics.request(route: route, status: response.status, seconds: secs)
        logger.log([("request_id", requestID), ("method", r.method), ("path", route), ("status", response.status),
                    ("bytes_in", r.body.count), ("bytes_out", bytesOut), ("windows", response.windows), ("duration_ms", secs * 1000)])
    }

    func handle(_ r: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let apiKeys = keys.current
        if r.headers.filter({ $0.name == "authorization" }).count > 1 {
            respond(.error(HTTPError(.badRequest, "more than one Authorization header")))
            return nil
        }
        if r.path == "/v2" || r.path.hasPrefix("/v2/") {
            if !apiKeys.isEmpty && r.path.hasPrefix("/v2/models") && !apiKeys.accepts(r.header("authorization")) {
                var e = Self.v2Error(401, "this route needs an API key: Authorization: Bearer <key>")
                e.headers.append(("WWW-Authenticate", #"Bearer realm="ecg-affect""#))
                respond(e); return nil
            }
            return kserve(r, respond: respond)
        }
        guard let allowed = Self.routes[r.path] else {
            respond(.error(HTTPError(.notFound, "no route \(r.path)")))
            return nil
        }
        if !apiKeys.isEmpty && APIKeys.protectedPaths.contains(r.path) && !apiKeys.accepts(r.header("authorization")) {
            let given = r.header("authorization") != nil
            respond(.error(HTTPError(.unauthorized,
                                     given ? "the bearer token is not valid" : "this route needs an API key: Authorization: Bearer <key>",
                                     headers: [("WWW-Authenticate", given ? #"Bearer realm="ecg-affect", error="invalid_token""# : #"Bearer realm="ecg-affect""#)])))
            return nil
        }
        guard allowed.contains(r.method) else {
            respond(.error(HTTPError(.methodNotAllowed, "\(r.method) is not allowed on \(r.path)",
                                     headers: [("Allow", allowed.joined(separator: ", "))])))
            return nil
        }
        var resp: HTTPResponse
        switch r.path {
        case "/health": resp = .json(200, Array(#"{"status":"ok"}"#.utf8))
        case "/ready":
            let (isReady, draining) = (self.isReady, self.isDraining)
            resp = isReady ? .json(200, Array(#"{"status":"ready"}"#.utf8))
                : .error(HTTPError(draining ? .draining : .notReady,
                                   draining ? "shutting down" : "weights loading or warm-up not done", headers: [("Retry-After", "1")]))
        case "/metrics":
            resp = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(metrics.render().utf8))
        case "/v1/model": resp = .json(200, modelJSON)
        case "/openapi.yaml":
            if let o = openapi { resp = HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: o) } else {
                resp = .error(HTTPError(.notFound, "the server was started without its openapi.yaml (see --openapi)"))
            }
        case "/features":
            return features(r, respond: respond)
        default:
            return infer(r, classify: r.path == "/classify", respond: respond)
        }
        if r.method == "HEAD" { resp.omitBody = true }
        respond(resp)
        return nil
    }

    // MARK: inference requests

    struct Input {
        var recordings: [[Double]]; var fs: Double; var preprocessed: Bool
        /// A resting recording of the same person (issue #17 item 4; /classify and v2 infer).
        var baseline: BaselineInput? = nil
    }
    struct BaselineInput { var samples: [Double]; var fs: Double }

    /// The heads a request is answered with: per head name the variant that reads a personal
    /// baseline when one is given (else the one without); heads that need a baseline are
    /// left out of requests without one.
    func servedHeads(baseline: Bool) -> [ServedHead] {
        var out: [ServedHead] = []
        for h in heads where !out.contains(where: { $0.name == h.name }) {
            let variants = heads.filter { $0.name == h.name }
            if let pick = variants.first(where: { $0.needsBaseline == baseline }) ?? (baseline ? variants.first { !$0.needsBaseline } : nil) {
                out.append(pick)
            }
        }
        return out
    }


    /// 503 memory_busy: the request's working set does not fit beside the others'.
    static func memoryBusy() -> HTTPError {
        HTTPError(.memoryBusy, "the server's memory budget is held by other requests; retry shortly", headers: [("Retry-After", "1")])
    }

    /// The samples an input becomes at 256 Hz (recordings and baseline), from sizes alone.
    static func samplesAt256(_ i: Input) -> Int {
        func at256(_ n: Int, _ fs: Double) -> Int {
            guard let (up, down) = Preprocessing.ratio(from: fs) else { return n }
            let (m, o) = n.multipliedReportingOverflow(by: up)
            return o ? Int.max / 256 : m / down + 1
        }
        return i.recordings.reduce(0) { $0 + at256($1.count, i.fs) } + (i.baseline.map { at256($0.samples.count, $0.fs) } ?? 0)
    }

    func infer(_ r: HTTPRequest, classify: Bool, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let input: Input
        var reservation: [Reservation] = []
        do {
            if !isWarmed { throw HTTPError(.notReady, "not ready", headers: [("Retry-After", "1")]) }
            if classify && heads.isEmpty {
                throw HTTPError(.noHeads, "these weights have no classification heads (see GET /v1/model)")
            }
            let body = try decodeBody(r)
            let json = (r.header("content-type") ?? "").lowercased().hasPrefix("application/json")
            guard let first = memory.reserve(MemoryBudget.estimate(bodyBytes: body.count, json: json, samplesAt256: 0)) else { throw Self.memoryBusy() }
            input = try decodeInput(r, body)
            guard memory.grow(first, by: MemoryBudget.estimate(bodyBytes: 0, json: json, samplesAt256: Self.samplesAt256(input))) else { throw Self.memoryBusy() }
            reservation = [first]
            if !classify && input.baseline != nil {
                throw HTTPError(.badRequest, "'baseline' is for /classify (a personal baseline changes affect scores, not embeddings)")
            }
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch {
            respond(.error(HTTPError(.`internal`, "\(error)"))); return nil
        }
        let wantsNPY = Self.prefersNPY(r.header("accept"))
        let held = reservation
        return run(input, respond: respond) { service, c in
            withExtendedLifetime(held) {
                classify ? service.classifyResponse(c) : service.embedResponse(c.embeddings, spans: c.spans, prepared: c.prepared, npy: wantsNPY)
            }
        }
    }

    /// What a request's windows gave: embeddings, spans (quality and heart-rate features),
    /// what each recording became, and the personal baseline's windows when one was sent.
    struct Computed: Sendable {
        var embeddings: [Float]
        var spans: [Span]
        var prepared: [(Preprocessing.Prepared, Int)]
        var baseline: BaselineComputed?
    }
    struct BaselineComputed: Sendable {
        var windows: [HeadInputs.Window]
        /// Empty unless a served head reads the embedding.
        var embeddings: [Float]
        var usable: Int
        var heartRate: Double?
    }

    /// Preprocesses the baseline recording, grades its windows, and refuses one that is too
    /// short (422 baseline_too_short) or has fewer than 3 usable windows (422 baseline_unusable).
    func prepareBaseline(_ b: BaselineInput) throws -> (Preprocessing.Prepared, [HeadInputs.Window]) {
        let seconds = Double(b.samples.count) / b.fs
        guard seconds >= HeadInputs.minimumBaselineSeconds else {
            throw HTTPError(.baselineTooShort, "the baseline is \(String(format: "%.1f", seconds)) s; a resting recording of at least \(Int(HeadInputs.minimumBaselineSeconds)) s is needed")
        }
        let p: Preprocessing.Prepared
        do {
            p = try pipeline.prepare(b.samples, fs: b.fs)
        } catch {
            throw HTTPError(.baselineUnprocessable, "baseline: \(error)")
        }
        let wins = (0..<p.count).map { k in
            let f = Self.windowFeatures(p.windows[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)])
            return HeadInputs.Window(recording: 0, index: k, usable: f.quality.isUsable, features: f)
        }
        let usable = wins.filter(\.usable).count
        guard usable >= HeadInputs.minimumBaselineWindows else {
            throw HTTPError(.baselineUnusable, "the baseline has \(usable) usable 10 s windows of \(wins.count); at least \(HeadInputs.minimumBaselineWindows) are needed (a still, resting recording of ECG)")
        }
        return (p, wins)
    }

    /// Preprocesses a checked input, grades each window, queues the windows, and answers
    /// with `build(service, computed)` once every window is computed.
    /// Returns the cancel action for the connection (nil when it answered already).
    func run(_ input: Input, respond: @escaping @Sendable (HTTPResponse) -> Void,
             build: @escaping @Sendable (ECGService, Computed) -> HTTPResponse) -> (@Sendable () -> Void)? {
        var prepared: [(Preprocessing.Prepared, Int)] = []
        var baseline: (Preprocessing.Prepared, [HeadInputs.Window])?
        do {
            var total = 0
            for (i, rec) in input.recordings.enumerated() {
                do {
                    let p = try pipeline.prepare(rec, fs: input.fs, preprocessed: input.preprocessed)
                    total += p.count
                    guard total <= config.maxWindows else {
                        throw HTTPError(.tooManyWindows, "more than \(config.maxWindows) windows in one request")
                    }
                    prepared.append((p, i))
                } catch let e as PreprocessingError {
                    let code: ErrorCode
                    switch e {
                    case .badSampleRate: code = .badFs
                    case .tooShort: code = .tooShort
                    case .nonFinite: code = .nonFinite
                    default: code = .unprocessable
                    }
                    throw HTTPError(code, "recording \(i): \(e)")
                }
            }
            if let b = input.baseline {
                baseline = try prepareBaseline(b)
                guard total + baseline!.0.count <= config.maxWindows else {
                    throw HTTPError(.tooManyWindows, "more than \(config.maxWindows) windows in one request (baseline included)")
                }
            }
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch {
            respond(.error(HTTPError(.`internal`, "\(error)"))); return nil
        }
        var windows = [Float]()
        var spans: [Span] = []
        for (p, i) in prepared {
            windows.append(contentsOf: p.windows)
            for k in 0..<p.count {
                let f = Self.windowFeatures(p.windows[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)])
                spans.append(Span(recording: i, start: Double(k) * 10, quality: f.quality, index: k, features: f))
            }
        }
        let count = spans.count
        // The baseline's windows go through the encoder too when a served head reads the embedding.
        let baselineEmbedded = baseline != nil && servedHeads(baseline: true).contains { $0.inputs?.needsEmbedding ?? false }
        if let (p, _) = baseline, baselineEmbedded { windows.append(contentsOf: p.windows) }
        let total = windows.count / EncoderGeometry.windowLength
        let (spansC, preparedC, baselineC) = (spans, prepared, baseline?.1)
        let job = InferenceJob(windows: windows, count: total) { [self, spans = spansC, prepared = preparedC, baseline = baselineC] job in
            let all = job.embeddings
            let e = Array(all[0..<(count * 128)])
            if let bad = e.firstIndex(where: { !$0.isFinite }) {
                var resp = HTTPResponse.error(HTTPError(.nonFiniteOutput, "window \(bad / 128) drives the network beyond float32 range; scale the input (e.g. to mV)"))
                resp.windows = count
                respond(resp); return
            }
            var b: BaselineComputed?
            if let wins = baseline {
                let used = wins.filter(\.usable)
                let hrs = used.compactMap(\.features.heartRate)
                b = BaselineComputed(windows: wins, embeddings: baselineEmbedded ? Array(all[(count * 128)...]) : [], usable: used.count,
                                     heartRate: hrs.isEmpty ? nil : hrs.reduce(0, +) / Double(hrs.count))
            }
            var resp = build(self, Computed(embeddings: e, spans: spans, prepared: prepared, baseline: b))
            resp.windows = total
            respond(resp)
        }
        guard total <= queue.capacity else {
            var e = HTTPResponse.error(HTTPError(.tooManyWindows,
                                                 "\(total) windows exceed the inference queue (--queue-capacity \(queue.capacity)): this request can never be queued; send fewer windows"))
            e.windows = total
            respond(e)
            return nil
        }
        guard queue.submit(job) else {
            var e = HTTPResponse.error(HTTPError(.overloaded, "inference queue is full; retry shortly",
                                                 headers: [("Retry-After", "1")]))
            e.windows = total
            respond(e)
            return nil
        }
        let q = queue
        return { [weak job] in if let job { q.cancel(job) } }
    }
}
