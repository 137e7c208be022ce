import Dispatch
import Foundation
import HTTP
import Model
import NPY

/// Writes one JSON object per line to stdout. Never given ECG payloads.
/// Sendable because `enabled` is immutable and every write to stdout happens with `lock` held.
final class Logger: @unchecked Sendable {
    private let lock = NSLock()
    let enabled: Bool
    init(enabled: Bool = true) { self.enabled = enabled }

    func log(_ fields: [(String, Any)]) {
        guard enabled else { return }
        var w = JSONWriter()
        w.raw("{\"time\":"); w.string(ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds]))
        for (k, v) in fields {
            w.raw(","); w.string(k); w.raw(":")
            switch v {
            case let s as String: w.string(s)
            case let i as Int: w.raw(String(i))
            case let d as Double: w.raw(String(format: "%.3f", d))
            case let b as Bool: w.raw(b ? "true" : "false")
            default: w.string("\(v)")
            }
        }
        w.raw("}\n")
        lock.lock(); FileHandle.standardOutput.write(Data(w.out)); lock.unlock()
    }
    func info(_ msg: String, _ fields: [(String, Any)] = []) { log([("level", "info"), ("msg", msg)] + fields) }
}

/// A classification head as served: the affect heads of the manifest, and the
/// pre-training transformation-recognition head when the weights carry it.
struct ServedHead: Sendable {
    let name: String
    let labels: [String]
    /// Softmax over labels (affect heads) or independent sigmoids (the pretext heads).
    let multiLabel: Bool
    let run: @Sendable ([Float]) -> [Float]
}

struct ServiceConfig: Sendable {
    var maxWindows = 1024
    var maxRecordings = 1024
    /// Bearer tokens for the model routes (empty: no authentication).
    var apiKeys = APIKeys()
    /// An OpenAPI file to serve instead of the built-in spec ("" = built-in).
    var openapiPath = ""
}

/// The application: routes, request decoding, preprocessing, inference, answers.
final class ECGService: RequestHandler, @unchecked Sendable {
    let network: SSLNetwork
    let manifest: Manifest
    let queue: InferenceQueue
    let metrics: Metrics
    let logger: Logger
    let config: ServiceConfig
    let limits: HTTPLimits
    let heads: [ServedHead]
    let openapi: [UInt8]?
    let modelJSON: [UInt8]
    private let stateLock = NSLock()
    private var ready = false
    private var warmed = false
    private var draining = false

    static var transformationLabels: [String] { EncoderGeometry.transformations }

    init(network: SSLNetwork, manifest: Manifest, affect: [AffectHead], queue: InferenceQueue, metrics: Metrics,
         logger: Logger, config: ServiceConfig, limits: HTTPLimits) {
        self.network = network; self.manifest = manifest; self.queue = queue; self.metrics = metrics
        self.logger = logger; self.config = config; self.limits = limits
        var hs: [ServedHead] = affect.map { h in ServedHead(name: h.name, labels: h.labels, multiLabel: false) { h.probabilities($0) } }
        if !network.tasks.isEmpty {
            let net = network
            hs.append(ServedHead(name: "ssl_transformations", labels: Self.transformationLabels, multiLabel: true) { e in
                net.taskLogits(e).map { 1 / (1 + exp(-$0)) }
            })
        }
        heads = hs
        openapi = config.openapiPath.isEmpty ? Array(OpenAPISpec.yaml.utf8) : FileManager.default.contents(atPath: config.openapiPath).map { [UInt8]($0) }
        var m = (try? JSONSerialization.jsonObject(with: manifest.encoded())) as? [String: Any] ?? [:]
        m["runtime"] = ["kernels": Encoder.kernelName, "r_peak_detector": RPeaks.name, "conv_algorithms": network.encoder.algorithms.map(\.description),
                        "served_heads": hs.map { ["name": $0.name, "labels": $0.labels, "multi_label": $0.multiLabel] as [String: Any] }]
        modelJSON = [UInt8]((try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    func setReady(_ r: Bool) { stateLock.lock(); ready = r; warmed = warmed || r; stateLock.unlock() }
    /// Warmed up: inference is served, also while draining (requests already on open
    /// connections are in flight and get answered).
    var isWarmed: Bool { stateLock.lock(); defer { stateLock.unlock() }; return warmed && (ready || draining) }
    func setDraining() { stateLock.lock(); draining = true; ready = false; stateLock.unlock() }
    var isReady: Bool { stateLock.lock(); defer { stateLock.unlock() }; return ready }
    var isDraining: Bool { stateLock.lock(); defer { stateLock.unlock() }; return draining }

    static let routes: [String: [String]] = [
        "/health": ["GET", "HEAD"], "/ready": ["GET", "HEAD"], "/metrics": ["GET", "HEAD"], "/v1/model": ["GET", "HEAD"],
        "/openapi.yaml": ["GET", "HEAD"], "/embed": ["POST"], "/classify": ["POST"], "/features": ["POST"],
    ]

    func refused(_ e: HTTPError, requestID: String, bytesIn: Int) {
        metrics.request(route: "(parser)", status: e.status, seconds: 0)
        logger.log([("level", "info"), ("msg", "request refused"), ("request_id", requestID), ("status", e.status), ("code", e.code), ("reason", e.message)])
    }

    func log(_ r: HTTPRequest, requestID: String, response: HTTPResponse, bytesOut: Int, started: DispatchTime) {
        let secs = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let route = Self.routes[r.path] != nil ? r.path : "(unknown)"
        metrics.request(route: route, status: response.status, seconds: secs)
        logger.log([("request_id", requestID), ("method", r.method), ("path", route), ("status", response.status),
                    ("bytes_in", r.body.count), ("bytes_out", bytesOut), ("windows", response.windows), ("duration_ms", secs * 1000)])
    }

    func handle(_ r: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        if r.path == "/v2" || r.path.hasPrefix("/v2/") {
            if !config.apiKeys.isEmpty && r.path.hasPrefix("/v2/models") && !config.apiKeys.accepts(r.header("authorization")) {
                var e = Self.v2Error(401, "this route needs an API key: Authorization: Bearer <key>")
                e.headers.append(("WWW-Authenticate", #"Bearer realm="ecg-affect""#))
                respond(e); return nil
            }
            return kserve(r, respond: respond)
        }
        guard let allowed = Self.routes[r.path] else {
            respond(.error(HTTPError(status: 404, code: "not_found", message: "no route \(r.path)")))
            return nil
        }
        if !config.apiKeys.isEmpty && APIKeys.protectedPaths.contains(r.path) && !config.apiKeys.accepts(r.header("authorization")) {
            let given = r.header("authorization") != nil
            respond(.error(HTTPError(status: 401, code: "unauthorized",
                                     message: given ? "the bearer token is not valid" : "this route needs an API key: Authorization: Bearer <key>",
                                     headers: [("WWW-Authenticate", given ? #"Bearer realm="ecg-affect", error="invalid_token""# : #"Bearer realm="ecg-affect""#)])))
            return nil
        }
        guard allowed.contains(r.method) else {
            respond(.error(HTTPError(status: 405, code: "method_not_allowed", message: "\(r.method) is not allowed on \(r.path)",
                                     headers: [("Allow", allowed.joined(separator: ", "))])))
            return nil
        }
        var resp: HTTPResponse
        switch r.path {
        case "/health": resp = .json(200, Array(#"{"status":"ok"}"#.utf8))
        case "/ready":
            let (isReady, draining) = (self.isReady, self.isDraining)
            resp = isReady ? .json(200, Array(#"{"status":"ready"}"#.utf8))
                : .error(HTTPError(status: 503, code: draining ? "draining" : "not_ready",
                                   message: draining ? "shutting down" : "weights loading or warm-up not done", headers: [("Retry-After", "1")]))
        case "/metrics":
            resp = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(metrics.render().utf8))
        case "/v1/model": resp = .json(200, modelJSON)
        case "/openapi.yaml":
            if let o = openapi { resp = HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: o) } else {
                resp = .error(HTTPError(status: 404, code: "not_found", message: "the server was started without its openapi.yaml (see --openapi)"))
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

    struct Input { var recordings: [[Double]]; var fs: Double; var preprocessed: Bool }

    static func unprocessable(_ code: String, _ m: String) -> HTTPError { HTTPError(status: 422, code: code, message: m) }

    func infer(_ r: HTTPRequest, classify: Bool, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let input: Input
        do {
            if !isWarmed { throw HTTPError(status: 503, code: "not_ready", message: "not ready", headers: [("Retry-After", "1")]) }
            if classify && heads.isEmpty {
                throw HTTPError(status: 404, code: "no_heads", message: "these weights have no classification heads (see GET /v1/model)")
            }
            input = try decodeInput(r, try decodeBody(r))
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch {
            respond(.error(HTTPError(status: 500, code: "internal", message: "\(error)"))); return nil
        }
        let wantsNPY = Self.prefersNPY(r.header("accept"))
        return run(input, respond: respond) { service, e, spans, prepared in
            classify ? service.classifyResponse(e, spans: spans, prepared: prepared)
                     : service.embedResponse(e, spans: spans, prepared: prepared, npy: wantsNPY)
        }
    }

    /// Preprocesses a checked input, grades each window, queues the windows, and answers
    /// with `build(service, embeddings, spans, prepared)` once every window is computed.
    /// Returns the cancel action for the connection (nil when it answered already).
    func run(_ input: Input, respond: @escaping @Sendable (HTTPResponse) -> Void,
             build: @escaping @Sendable (ECGService, [Float], [Span], [(Preprocessing.Prepared, Int)]) -> HTTPResponse) -> (@Sendable () -> Void)? {
        var prepared: [(Preprocessing.Prepared, Int)] = []
        do {
            let pre = manifest.input.preprocessing
            var total = 0
            for (i, rec) in input.recordings.enumerated() {
                do {
                    let p = try Preprocessing.prepare(rec, fs: input.fs, filter: pre.filter, normalization: pre.normalization,
                                                      preprocessed: input.preprocessed)
                    total += p.count
                    guard total <= config.maxWindows else {
                        throw HTTPError(status: 413, code: "too_many_windows", message: "more than \(config.maxWindows) windows in one request")
                    }
                    prepared.append((p, i))
                } catch let e as PreprocessingError {
                    let code: String
                    switch e {
                    case .badSampleRate: code = "bad_fs"
                    case .tooShort: code = "too_short"
                    case .nonFinite: code = "non_finite"
                    default: code = "unprocessable"
                    }
                    throw Self.unprocessable(code, "recording \(i): \(e)")
                }
            }
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch {
            respond(.error(HTTPError(status: 500, code: "internal", message: "\(error)"))); return nil
        }
        var windows = [Float]()
        var spans: [Span] = []
        for (p, i) in prepared {
            windows.append(contentsOf: p.windows)
            for k in 0..<p.count {
                let q = Self.windowQuality(p.windows[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)])
                spans.append(Span(recording: i, start: Double(k) * 10, quality: q))
            }
        }
        let count = spans.count
        let (spansC, preparedC) = (spans, prepared)
        let job = InferenceJob(windows: windows, count: count) { [self, spans = spansC, prepared = preparedC] job in
            let e = job.embeddings
            if let bad = e.firstIndex(where: { !$0.isFinite }) {
                var resp = HTTPResponse.error(Self.unprocessable("non_finite_output", "window \(bad / 128) drives the network beyond float32 range; scale the input (e.g. to mV)"))
                resp.windows = count
                respond(resp); return
            }
            var resp = build(self, e, spans, prepared)
            resp.windows = count
            respond(resp)
        }
        guard queue.submit(job) else {
            var e = HTTPResponse.error(HTTPError(status: 503, code: "overloaded", message: "inference queue is full; retry shortly",
                                                 headers: [("Retry-After", "1")]))
            e.windows = count
            respond(e)
            return nil
        }
        let q = queue
        return { [weak job] in if let job { q.cancel(job) } }
    }

    func decodeBody(_ r: HTTPRequest) throws -> [UInt8] {
        guard let enc = r.header("content-encoding")?.lowercased().trimmingCharacters(in: .whitespaces), enc != "identity" else { return r.body }
        guard enc == "gzip" || enc == "x-gzip" else {
            throw HTTPError(status: 415, code: "unsupported_encoding", message: "Content-Encoding '\(enc)' is not supported (gzip or identity)")
        }
        return try gunzip(r.body, limit: limits.maxBodyBytes)
    }

    func decodeInput(_ r: HTTPRequest, _ body: [UInt8]) throws -> Input {
        if let d = r.duplicateQuery.first {
            throw HTTPError(status: 400, code: "bad_request", message: "query parameter '\(d)' is given more than once")
        }
        let ct = (r.header("content-type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch ct {
        case "application/json":
            let j: JSON
            do { j = try JSONParser.parse(body) } catch let e as JSONError {
                throw HTTPError(status: 400, code: "bad_json", message: "invalid JSON at byte \(e.offset): \(e.message)")
            }
            guard case let .object(kv) = j else { throw HTTPError(status: 400, code: "bad_request", message: "the body must be a JSON object") }
            for (k, _) in kv where !["ecg", "fs", "preprocessed"].contains(k) {
                throw HTTPError(status: 400, code: "bad_request", message: "unknown field '\(k)' (ecg, fs, preprocessed)")
            }
            for k in ["fs", "preprocessed"] where r.query[k] != nil {
                throw HTTPError(status: 400, code: "bad_request",
                                message: "query parameter '\(k)' is for application/x-npy bodies; with JSON put \"\(k)\" in the body")
            }
            var fs: Double?, pre = false
            if let f = j["fs"] {
                guard case let .number(v) = f else { throw HTTPError(status: 400, code: "bad_request", message: "'fs' must be a number (Hz)") }
                fs = v
            }
            if let p = j["preprocessed"] {
                guard case let .bool(v) = p else { throw HTTPError(status: 400, code: "bad_request", message: "'preprocessed' must be true or false") }
                pre = v
            }
            guard let ecg = j["ecg"] else { throw HTTPError(status: 400, code: "bad_request", message: "missing field 'ecg'") }
            var recs: [[Double]]
            switch ecg {
            case let .numbers(a): recs = a.isEmpty ? [] : [a]
            case let .array(items):
                recs = try items.enumerated().map { i, it in
                    guard case let .numbers(a) = it else {
                        throw HTTPError(status: 400, code: "bad_request", message: "'ecg' must be an array of numbers or an array of arrays of numbers (item \(i) is not)")
                    }
                    return a
                }
            default: throw HTTPError(status: 400, code: "bad_request", message: "'ecg' must be an array of numbers or an array of arrays of numbers")
            }
            return try checked(recs, fs: fs, preprocessed: pre, how: "\"fs\": 500 in the body")
        case "application/x-npy":
            let a: NPYArray
            do { a = try NPY.decode(body) } catch let e as NPYError {
                throw HTTPError(status: 400, code: "bad_npy", message: "invalid .npy body: \(e)")
            }
            guard a.dtype != .b1 else { throw Self.unprocessable("bad_dtype", "a bool array is not an ECG") }
            let d = a.doubles()
            var recs: [[Double]]
            switch a.shape.count {
            case 1: recs = d.isEmpty ? [] : [d]
            case 2:
                let n = a.shape[1]
                recs = (0..<a.shape[0]).map { Array(d[($0 * n)..<(($0 + 1) * n)]) }
            default: throw Self.unprocessable("bad_shape", ".npy must be 1-D (one recording) or 2-D (rows are recordings); got shape \(a.shape)")
            }
            var fs: Double?, pre = false
            if let f = r.query["fs"] {
                guard let v = Double(f), v.isFinite else { throw HTTPError(status: 400, code: "bad_request", message: "query parameter fs must be a number") }
                fs = v
            }
            if let p = r.query["preprocessed"] {
                switch p.lowercased() {
                case "true", "1": pre = true
                case "false", "0": pre = false
                default: throw HTTPError(status: 400, code: "bad_request", message: "query parameter preprocessed must be true or false")
                }
            }
            return try checked(recs, fs: fs, preprocessed: pre, how: "?fs=500 in the URL")
        case "":
            throw HTTPError(status: 415, code: "unsupported_media_type", message: "Content-Type is required: application/json or application/x-npy")
        default:
            throw HTTPError(status: 415, code: "unsupported_media_type", message: "Content-Type '\(ct)' is not supported (application/json or application/x-npy)")
        }
    }

    /// Largest sample magnitude accepted. Any unit fits (ADC counts, mV, µV); beyond it the
    /// float32 network would overflow.
    static let maxSampleMagnitude = 1e15

    /// The sampling-rate rule: raw recordings need their rate; preprocessed windows are 256 Hz.
    func checked(_ recs: [[Double]], fs: Double?, preprocessed: Bool, how: String) throws -> Input {
        let rate: Double
        switch (fs, preprocessed) {
        case let (f?, _): rate = f
        case (nil, true): rate = Preprocessing.targetRate
        case (nil, false):
            throw Self.unprocessable("missing_fs", "the sampling rate is required for raw recordings: send \(how) (or preprocessed: true for 256 Hz windows)")
        }
        return try checked(Input(recordings: recs, fs: rate, preprocessed: preprocessed))
    }

    func checked(_ i: Input) throws -> Input {
        guard !i.recordings.isEmpty else { throw Self.unprocessable("empty", "'ecg' holds no samples") }
        for (k, rec) in i.recordings.enumerated() {
            if let bad = rec.firstIndex(where: { $0.isFinite && abs($0) > Self.maxSampleMagnitude }) {
                throw Self.unprocessable("out_of_range", "recording \(k): sample \(bad) is \(rec[bad]); samples must be within ±1e15")
            }
        }
        guard i.recordings.count <= config.maxRecordings else {
            throw HTTPError(status: 413, code: "too_many_recordings", message: "more than \(config.maxRecordings) recordings in one request")
        }
        if let e = i.recordings.firstIndex(where: { $0.isEmpty }) { throw Self.unprocessable("empty", "recording \(e) is empty") }
        guard Preprocessing.ratio(from: i.fs) != nil else { throw Self.unprocessable("bad_fs", "fs \(i.fs) Hz is out of range (50 Hz to 10 kHz)") }
        if i.preprocessed && i.fs != 256 { throw Self.unprocessable("bad_fs", "with preprocessed: true, fs must be 256") }
        return i
    }

    // MARK: responses

    /// Content negotiation (RFC 9110 §12.5.1): npy when application/x-npy has a q-value
    /// above 0 and not below that of application/json (or of a wildcard covering it).
    static func prefersNPY(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var npy = 0.0, json = 0.0, wildcard = -1.0
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            var q = 1.0
            for p in parts.dropFirst() where p.hasPrefix("q=") { q = Double(p.dropFirst(2)) ?? 0 }
            switch type {
            case "application/x-npy": npy = max(npy, q)
            case "application/json": json = max(json, q)
            case "*/*", "application/*": wildcard = max(wildcard, q)
            default: break
            }
        }
        if json == 0 && wildcard > 0 && !accept.lowercased().contains("application/json") { json = wildcard }
        return npy > 0 && npy >= json
    }

    /// What each recording gave: its windows and the seconds at its end that did not fill one.
    func remaindersJSON(_ w: inout JSONWriter, _ prepared: [(Preprocessing.Prepared, Int)]) {
        w.raw("\"remainders\":[")
        for (k, (p, i)) in prepared.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{\"recording\":\(i),\"windows\":\(p.count),\"remainder_s\":"); w.double((p.remainderSeconds * 1000).rounded() / 1000); w.raw("}")
        }
        w.raw("]")
    }

    /// One window of a request: its recording, start and signal quality.
    struct Span: Sendable { var recording: Int; var start: Double; var quality: String }

    /// Signal quality of a preprocessed 256 Hz window: the heart-rate rule of
    /// `HRVFeatures` on its Pan-Tompkins R peaks. Flat lines, noise and non-ECG input give
    /// "unusable" (no physiological rhythm) or "poor" (beats unlike each other).
    static func windowQuality(_ w: ArraySlice<Float>) -> String {
        let x = w.map(Double.init)
        return HRVFeatures(peaks: RPeaks.detect(x, fs: 256), fs: 256, start: 0, end: x.count, signal: x).quality
    }

    static func windowsJSON(_ w: inout JSONWriter, _ spans: [Span]) {
        w.raw("\"windows\":[")
        for (k, s) in spans.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{\"recording\":\(s.recording),\"start_s\":\(Int(s.start)),\"quality\":"); w.string(s.quality); w.raw("}")
        }
        w.raw("]")
    }

    func embedResponse(_ e: [Float], spans: [Span], prepared: [(Preprocessing.Prepared, Int)], npy: Bool) -> HTTPResponse {
        if npy {
            // The metadata of the JSON answer, in headers: row k of the array is window k.
            let rem = prepared.map { p, i in "\(i):\(p.count):\((p.remainderSeconds * 1000).rounded() / 1000)" }.joined(separator: ",")
            return HTTPResponse(status: 200, headers: [
                ("Content-Type", "application/x-npy"), ("X-Model", manifest.encoder.sha256),
                ("X-Window-Recordings", spans.map { String($0.recording) }.joined(separator: ",")),
                ("X-Window-Starts", spans.map { String(Int($0.start)) }.joined(separator: ",")),
                ("X-Window-Quality", spans.map(\.quality).joined(separator: ",")),
                ("X-Remainders", rem),
            ], body: NPY.encode(NPYArray(floats: e, shape: [spans.count, 128])))
        }
        var w = JSONWriter()
        w.out.reserveCapacity(spans.count * 128 * 12 + 256)
        w.raw("{\"model\":"); w.string(manifest.encoder.sha256); w.raw(",\"embeddings\":[")
        for k in 0..<spans.count { if k > 0 { w.raw(",") }; w.floats(e[(k * 128)..<((k + 1) * 128)]) }
        w.raw("],")
        Self.windowsJSON(&w, spans)
        w.raw(",")
        remaindersJSON(&w, prepared)
        w.raw("}")
        return .json(200, w.out)
    }

    func classifyResponse(_ e: [Float], spans: [Span], prepared: [(Preprocessing.Prepared, Int)]) -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"model\":"); w.string(manifest.encoder.sha256); w.raw(",\"heads\":{")
        var probs: [[Float]] = []
        for (hi, h) in heads.enumerated() {
            let p = h.run(e)
            probs.append(p)
            if hi > 0 { w.raw(",") }
            w.string(h.name); w.raw(":{\"labels\":[")
            for (li, l) in h.labels.enumerated() { if li > 0 { w.raw(",") }; w.string(l) }
            w.raw("],\"multi_label\":\(h.multiLabel),\"probabilities\":[")
            let c = h.labels.count
            for k in 0..<spans.count { if k > 0 { w.raw(",") }; w.floats(p[(k * c)..<((k + 1) * c)]) }
            w.raw("]}")
        }
        w.raw("},")
        Self.windowsJSON(&w, spans)
        w.raw(",\"recordings\":[")
        // Per recording. Affect heads: the label with the highest mean probability over the
        // windows whose quality is not "unusable" (none: label and probability null).
        // Multi-label heads: the mean of each independent probability over all windows.
        var first = 0
        for (k, (p, _)) in prepared.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{")
            for (hi, h) in heads.enumerated() {
                let c = h.labels.count
                let used = (first..<(first + p.count)).filter { h.multiLabel || spans[$0].quality != "unusable" }
                var mean = [Double](repeating: 0, count: c)
                for win in used { for j in 0..<c { mean[j] += Double(probs[hi][win * c + j]) / Double(used.count) } }
                if hi > 0 { w.raw(",") }
                w.string(h.name); w.raw(":{\"windows_used\":\(used.count),")
                if h.multiLabel {
                    w.raw("\"probabilities\":"); w.floats(mean.map(Float.init)[...])
                } else if used.isEmpty {
                    w.raw("\"label\":null,\"probability\":null")
                } else {
                    let best = mean.indices.max { mean[$0] < mean[$1] }!
                    w.raw("\"label\":"); w.string(h.labels[best]); w.raw(",\"probability\":"); w.float(Float(mean[best]))
                }
                w.raw("}")
            }
            w.raw("}")
            first += p.count
        }
        w.raw("],")
        remaindersJSON(&w, prepared)
        w.raw("}")
        return .json(200, w.out)
    }
}

