import Sync

/// A value shared between a test and the threads it starts, read and written only under its
/// lock (a class, so closures capture it by reference). Sendable without an unchecked promise
/// of its own: all its state is the `Locked` box.
public final class Shared<Value: Sendable>: Sendable {
    private let box: Locked<Value>
    public init(_ value: Value) { box = Locked(value) }

    @discardableResult
    public func withLock<R: Sendable>(_ body: (inout Value) throws -> R) rethrows -> R {
        try box.withLock { v in try body(&v) }
    }

    /// A copy of the value, read under the lock.
    public var current: Value { withLock { $0 } }
}
