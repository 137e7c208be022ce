import Synchronization

/// A value shared between a test and the threads it starts, read and written only under its
/// mutex (a class, so closures capture it by reference; `Mutex` itself cannot be copied).
/// Sendable without any unchecked promise: all its state is the `Mutex`.
public final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }

    @discardableResult
    public func withLock<R: Sendable>(_ body: (inout Value) throws -> R) rethrows -> R {
        try mutex.withLock { v in try body(&v) }
    }

    /// A copy of the value, read under the mutex.
    public var current: Value { withLock { $0 } }
}
