import Foundation

/// A value read and written only inside `withLock`, behind a pthread mutex (`NSLock`): the
/// project's one lock type (after swift-nio's `NIOLockedValueBox`).
///
/// Why not `Synchronization.Mutex`: on Linux its lock is a futex driven by atomics inside the
/// Swift runtime, which ThreadSanitizer does not instrument, so TSan cannot see the ordering
/// it creates and reports every contended `Mutex` as a data race (CI's TSan run failed on
/// `Metrics` under two inference workers, session 8). TSan intercepts pthread mutexes, so a
/// race that TSan reports through `Locked` is a real one.
///
/// Invariant (why `@unchecked Sendable` is sound): `value` is touched only inside
/// `withLock`, with `lock` held, and no reference to it escapes the closure (`inout`).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
