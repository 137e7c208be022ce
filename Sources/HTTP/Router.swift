/// Answers a request now or later, from any thread; calls the responder exactly once.
/// Returns a cancel action for work still in progress (the client went away), if any.
package typealias RouteHandler = @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?

/// One route: a path, the methods it answers (GET implies HEAD), and its handler, declared
/// once; everything else that needs the routes (probe-only connections, authentication,
/// metric labels, `Allow`) asks the router.
package struct Route: Sendable {
    package let path: String
    package let methods: [String]
    /// Served on a probe-only connection (one admitted on a slot reserved for probes).
    package let probe: Bool
    /// Needs credentials when the application configures them (see `Middleware`).
    package let authenticated: Bool
    package let handler: RouteHandler

    package init(_ path: String, _ methods: [String], probe: Bool = false, authenticated: Bool = false, handler: @escaping RouteHandler) {
        self.path = path; self.methods = methods.contains("GET") && !methods.contains("HEAD") ? methods + ["HEAD"] : methods
        self.probe = probe; self.authenticated = authenticated; self.handler = handler
    }
}

/// Runs before a route's handler, in order (hummingbird's `RouterMiddleware`): it refuses
/// by throwing (the router renders the error in the application's format), or passes the
/// request on with `next`, possibly with a wrapped responder.
package protocol Middleware: Sendable {
    func handle(
        _ r: HTTPRequest, route: Route, respond: @escaping @Sendable (HTTPResponse) -> Void,
        next: (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
    ) throws(HTTPError) -> (@Sendable () -> Void)?
}

/// Finds a request's route, refuses unknown paths (404) and methods (405 with `Allow`),
/// runs the middleware, then the handler; answers HEAD like GET without the body.
/// A pure value over requests: tested without sockets.
package struct Router: RequestHandler {
    private let table: [String: Route]
    package let routes: [Route]
    package let middleware: [any Middleware]
    /// The route a path stands for when it is spelled another way (e.g. a versioned alias).
    private let canonical: @Sendable (String) -> String
    /// The application's error body (it may differ by path, e.g. per protocol).
    package let renderError: @Sendable (HTTPRequest, HTTPError) -> HTTPResponse
    /// What an unknown path is told (the application may say more than "no route").
    private let notFound: @Sendable (HTTPRequest) -> HTTPError

    package init(
        _ routes: [Route], middleware: [any Middleware] = [], canonical: @escaping @Sendable (String) -> String = { $0 },
        notFound: @escaping @Sendable (HTTPRequest) -> HTTPError = { HTTPError(.notFound, "no route \($0.path)") },
        renderError: @escaping @Sendable (HTTPRequest, HTTPError) -> HTTPResponse = { HTTPResponse.plainError($1) }
    ) {
        var t: [String: Route] = [:]
        for r in routes {
            precondition(t[r.path] == nil, "route \(r.path) declared twice")
            t[r.path] = r
        }
        table = t; self.routes = routes; self.middleware = middleware; self.canonical = canonical
        self.notFound = notFound; self.renderError = renderError
    }

    /// The route `path` stands for, if any.
    package func route(_ path: String) -> Route? { table[canonical(path)] }

    /// What probe-only connections may ask.
    package var probePaths: Set<String> { Set(routes.filter(\.probe).map(\.path)) }

    package func handle(_ r: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let render = renderError
        guard let route = route(r.path) else { respond(render(r, notFound(r))); return nil }
        guard route.methods.contains(r.method) else {
            respond(
                render(r, HTTPError(.methodNotAllowed, "\(r.method) is not allowed on \(r.path)", headers: [("Allow", route.methods.joined(separator: ", "))])))
            return nil
        }
        guard r.method == "HEAD" else { return chain(middleware[...], r, route, respond) }
        return chain(middleware[...], r, route) { response in
            var x = response
            x.omitBody = true
            respond(x)
        }
    }

    private func chain(
        _ mw: ArraySlice<any Middleware>, _ r: HTTPRequest, _ route: Route,
        _ respond: @escaping @Sendable (HTTPResponse) -> Void
    ) -> (@Sendable () -> Void)? {
        guard let first = mw.first else { return route.handler(r, respond) }
        do {
            return try first.handle(r, route: route, respond: respond) { r2, respond2 in chain(mw.dropFirst(), r2, route, respond2) }
        } catch {
            respond(renderError(r, error))
            return nil
        }
    }
}

extension ErrorCode {
    /// 404
    package static let notFound = ErrorCode("not_found", status: 404)
    /// 405
    package static let methodNotAllowed = ErrorCode("method_not_allowed", status: 405)
}
