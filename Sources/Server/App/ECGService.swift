import Sync
import Dispatch
import Foundation
import HTTP
import Model
import NPY
import Inference

/// The application over the inference engine: its routes (declared once, in `router`), the
/// native API's and the Open Inference Protocol's adapters (decode a body into an
/// `InferenceRequest`, encode `Computed` as an answer), the lifecycle flags the probes
/// report. `AccessLog` logs and counts every request.
///
/// Every stored property is a `let` of a Sendable type set in `init`; the lifecycle flags
/// (`ready`, `warmed`, `draining`) live behind one mutex.
final class ECGService: Sendable {
    let engine: InferenceEngine
    let manifest: Manifest
    let metrics: Metrics
    let logger: Logger
    let config: ServerConfiguration
    let limits: HTTPLimits
    /// The API keys in force (SIGHUP reloads them from --api-keys-file).
    let keys: KeyStore
    let openapi: [UInt8]?
    let modelJSON: [UInt8]
    private struct Lifecycle { var ready = false, warmed = false, draining = false }
    private let lifecycle = Locked(Lifecycle())

    var heads: [ServedHead] { engine.heads }
    var memory: MemoryBudget { engine.memory }
    var queue: InferenceQueue { engine.queue }

    init(engine: InferenceEngine, manifest: Manifest, metrics: Metrics, logger: Logger, config: ServerConfiguration, apiKeys: APIKeys, limits: HTTPLimits) {
        self.engine = engine; self.manifest = manifest; self.metrics = metrics
        self.logger = logger; self.config = config; self.limits = limits
        keys = KeyStore(apiKeys)
        openapi = config.openapi.isEmpty ? PackageResources.openapi_yaml : FileManager.default.contents(atPath: config.openapi).map { [UInt8]($0) }
        var m = (try? JSONSerialization.jsonObject(with: manifest.encoded())) as? [String: Any] ?? [:]
        m["runtime"] = [
            "kernels": Encoder.kernelName, "r_peak_detector": RPeaks.name, "conv_algorithms": engine.network.encoder.algorithms.map(\.description),
            "served_heads": engine.heads.map {
                ["name": $0.name, "labels": $0.labels, "multi_label": $0.multiLabel, "needs_baseline": $0.needsBaseline] as [String: Any]
            },
        ]
        modelJSON = [UInt8]((try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    func setReady(_ r: Bool) {
        lifecycle.withLock {
            $0.ready = r; $0.warmed = $0.warmed || r
        }
    }
    /// Warmed up: inference is served, also while draining (requests already on open
    /// connections are in flight and get answered).
    var isWarmed: Bool { lifecycle.withLock { $0.warmed && ($0.ready || $0.draining) } }
    func setDraining() {
        lifecycle.withLock {
            $0.draining = true; $0.ready = false
        }
    }
    var isReady: Bool { lifecycle.withLock { $0.ready } }
    var isDraining: Bool { lifecycle.withLock { $0.draining } }

    /// Every route of the server, declared once: the native API, then the Open Inference
    /// Protocol's (`kserve`); the router derives probe paths, `Allow`, authentication and
    /// metric labels from this list.
    var routeList: [Route] {
        let native: [Route] = [
            Route("/health", ["GET"], probe: true) { [self] r, respond in
                respond(health()); return nil
            },
            Route("/ready", ["GET"], probe: true) { [self] r, respond in
                respond(readiness()); return nil
            },
            Route("/metrics", ["GET"], probe: true) { [self] r, respond in
                respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(metrics.render().utf8)))
                return nil
            },
            Route("/v1/model", ["GET"], authenticated: true) { [self] r, respond in
                respond(.json(200, modelJSON)); return nil
            },
            Route("/openapi.yaml", ["GET"]) { [self] r, respond in
                respond(
                    openapi.map { HTTPResponse(status: 200, headers: [("Content-Type", "application/yaml")], body: $0) }
                        ?? .error(HTTPError(.notFound, "the server was started without its openapi.yaml (see --openapi)")))
                return nil
            },
            Route("/embed", ["POST"], authenticated: true) { [self] r, respond in infer(r, classify: false, respond: respond) },
            Route("/classify", ["POST"], authenticated: true) { [self] r, respond in infer(r, classify: true, respond: respond) },
            Route("/features", ["POST"], authenticated: true) { [self] r, respond in features(r, respond: respond) },
        ]
        return native + kserveRoutes
    }

    /// The request router: routes, then the API-key middleware.
    func router() -> Router {
        Router(
            routeList, middleware: [APIKeyMiddleware(keys: keys)], canonical: Self.v2Path,
            notFound: { r in
                let model = "/v2/models/\(Self.kserveModel)"
                if r.path.hasPrefix("/v2/models/") && !r.path.hasPrefix(model) {
                    return HTTPError(.notFound, "unknown model; this server serves '\(Self.kserveModel)'")
                }
                return HTTPError(.notFound, Self.isV2(r.path) ? "no route \(r.method) \(r.path)" : "no route \(r.path)")
            },
            renderError: { r, e in Self.isV2(r.path) ? Self.v2Error(e) : .error(e) })
    }

    static func isV2(_ p: String) -> Bool { p == "/v2" || p.hasPrefix("/v2/") }

    /// A v2 path without its "/versions/1" (the same route).
    static func v2Path(_ p: String) -> String {
        let m = "/v2/models/\(kserveModel)/versions/1"
        return p.hasPrefix(m) ? "/v2/models/\(kserveModel)" + p.dropFirst(m.count) : p
    }

    func health() -> HTTPResponse { .json(200, Array(#"{"status":"ok"}"#.utf8)) }

    func readiness() -> HTTPResponse {
        let (isReady, draining) = (self.isReady, self.isDraining)
        return isReady
            ? .json(200, Array(#"{"status":"ready"}"#.utf8))
            : .error(
                HTTPError(draining ? .draining : .notReady, draining ? "shutting down" : "weights loading or warm-up not done", headers: [("Retry-After", "1")])
            )
    }

    /// The annotation an answer carries for the log line: windows the request became.
    static let windowsAnnotation = "windows"

    // MARK: inference requests

    // MARK: inference requests

    /// 503 memory_busy: the request's working set does not fit beside the others'.
    static func memoryBusy() -> HTTPError {
        HTTPError(.memoryBusy, "the server's memory budget is held by other requests; retry shortly", headers: [("Retry-After", "1")])
    }

    /// The answer to an engine's refusal, in the adapter's error format, with the windows
    /// the request had become for the log line.
    static func response(_ e: InferenceError, _ render: (HTTPError) -> HTTPResponse) -> HTTPResponse {
        var r = render(HTTPError(e))
        if e.windows > 0 { r.annotations[windowsAnnotation] = e.windows }
        return r
    }

    /// Submits a checked request to the engine and answers with `build(computed)` once
    /// every window is computed; refusals and failures are rendered by `render` (each
    /// protocol's error body). `held`: memory reservations released with the job.
    func submit(
        _ input: InferenceRequest, held: [Reservation], render: @escaping @Sendable (HTTPError) -> HTTPResponse,
        respond: @escaping @Sendable (HTTPResponse) -> Void, build: @escaping @Sendable (Computed) -> HTTPResponse
    ) -> (@Sendable () -> Void)? {
        do {
            return try engine.submit(input) { result in
                withExtendedLifetime(held) {
                    switch result {
                    case .success(let c):
                        var resp = build(c)
                        resp.annotations[Self.windowsAnnotation] = c.windowsComputed
                        respond(resp)
                    case .failure(let e):
                        respond(Self.response(e, render))
                    }
                }
            }
        } catch {
            respond(Self.response(error, render))
            return nil
        }
    }

    /// POST /embed and /classify: decode, reserve memory, submit, answer JSON or npy.
    func infer(_ r: HTTPRequest, classify: Bool, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let input: InferenceRequest
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
            guard memory.grow(first, by: MemoryBudget.estimate(bodyBytes: 0, json: json, samplesAt256: input.samplesAt256)) else { throw Self.memoryBusy() }
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
        return submit(input, held: reservation, render: { .error($0) }, respond: respond) { [self] c in
            classify ? classifyResponse(c) : embedResponse(c.embeddings, spans: c.spans, prepared: c.prepared, npy: wantsNPY)
        }
    }
}
