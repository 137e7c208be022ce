import Sync
import Testing
@testable import HTTP

/// The router and middleware on request values: no sockets, no server.
@Suite struct RouterRules {
    /// Answers synchronously; returns what was answered (exactly once) and whether a cancel action came back.
    static func answer(_ router: Router, _ r: HTTPRequest) -> (HTTPResponse, cancel: Bool) {
        let got = Locked<[HTTPResponse]>([])
        let cancel = router.handle(r, requestID: "t") { resp in got.withLock { $0.append(resp) } }
        let all = got.withLock { $0 }
        #expect(all.count == 1, "the router must answer exactly once, answered \(all.count) times")
        return (all.first ?? HTTPResponse(status: 0), cancel != nil)
    }

    static func body(_ text: String) -> RouteHandler {
        { _, respond in
            respond(HTTPResponse(status: 200, body: Array(text.utf8))); return nil
        }
    }

    /// Refuses routes marked `authenticated` unless the request says "Authorization: yes".
    struct Gate: Middleware {
        func handle(
            _ r: HTTPRequest, route: Route, respond: @escaping @Sendable (HTTPResponse) -> Void,
            next: (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
        ) throws(HTTPError) -> (@Sendable () -> Void)? {
            if route.authenticated && r.header("authorization") != "yes" { throw HTTPError(.badRequest, "gate closed") }
            return next(r, respond)
        }
    }

    /// Adds a header to every answer that passes through it (a middleware that wraps the responder).
    struct Stamp: Middleware {
        let value: String
        func handle(
            _ r: HTTPRequest, route: Route, respond: @escaping @Sendable (HTTPResponse) -> Void,
            next: (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
        ) throws(HTTPError) -> (@Sendable () -> Void)? {
            let v = value
            return next(r) { resp in
                var x = resp; x.headers.append(("X-Stamp", v)); respond(x)
            }
        }
    }

    let router = Router(
        [
            Route("/health", ["GET"], probe: true, handler: body("ok")),
            Route("/work", ["POST"], authenticated: true) { _, respond in
                respond(HTTPResponse(status: 202)); return {}
            },
            Route("/v9/thing", ["GET"], handler: body("thing")),
        ], middleware: [Stamp(value: "outer"), Gate(), Stamp(value: "inner")], canonical: { $0.replacingOccurrences(of: "/versions/1", with: "") },
        renderError: { r, e in HTTPResponse(status: e.status, headers: e.headers, body: Array("\(r.path) \(e.code)".utf8)) })

    @Test("a route answers its method; GET routes answer HEAD without the body; the handler's cancel action comes back")
    func methods() {
        let (get, _) = Self.answer(router, HTTPRequest("GET", "/health"))
        #expect(get.status == 200 && get.body == Array("ok".utf8) && !get.omitBody)
        let (head, _) = Self.answer(router, HTTPRequest("HEAD", "/health"))
        #expect(head.status == 200 && head.omitBody)
        let (post, cancel) = Self.answer(router, HTTPRequest("POST", "/work", headers: [("authorization", "yes")]))
        #expect(post.status == 202 && cancel)
    }

    @Test("unknown paths get 404 and wrong methods 405 with Allow, in the application's error body; no middleware runs")
    func refusals() {
        let (nf, _) = Self.answer(router, HTTPRequest("GET", "/nope"))
        #expect(nf.status == 404 && nf.body == Array("/nope not_found".utf8))
        #expect(!nf.headers.contains { $0.0 == "X-Stamp" })
        let (na, _) = Self.answer(router, HTTPRequest("DELETE", "/work"))
        #expect(na.status == 405 && na.body == Array("/work method_not_allowed".utf8))
        #expect(na.headers.first { $0.0 == "Allow" }?.1 == "POST")
        let (naGet, _) = Self.answer(router, HTTPRequest("POST", "/health"))
        #expect(naGet.headers.first { $0.0 == "Allow" }?.1 == "GET, HEAD")
    }

    @Test("middleware runs in order around the handler; a refusal thrown by one skips the rest and the handler")
    func middlewareOrder() {
        let (ok, _) = Self.answer(router, HTTPRequest("GET", "/health"))
        // Responders unwind inside-out: the inner stamp is added first.
        #expect(ok.headers.filter { $0.0 == "X-Stamp" }.map(\.1) == ["inner", "outer"])
        let (refused, cancel) = Self.answer(router, HTTPRequest("POST", "/work"))
        #expect(refused.status == 400 && refused.body == Array("/work bad_request".utf8) && !cancel)
        // The refusal goes back out through the middleware before the gate (as an error
        // propagates in hummingbird), not through the one after it.
        #expect(refused.headers.filter { $0.0 == "X-Stamp" }.map(\.1) == ["outer"])
    }

    @Test("aliases reach their canonical route; probe paths and route lists come from the declarations")
    func derived() {
        let (alias, _) = Self.answer(router, HTTPRequest("GET", "/v9/versions/1/thing"))
        #expect(alias.status == 200 && alias.body == Array("thing".utf8))
        #expect(router.probePaths == ["/health"])
        #expect(router.route("/work")?.authenticated == true)
        #expect(router.route("/work")?.methods == ["POST"])
        #expect(router.route("/v9/versions/1/thing")?.path == "/v9/thing")
    }
}
