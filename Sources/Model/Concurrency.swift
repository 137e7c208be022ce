import Dispatch
import Foundation

// The project's audited escape hatches from Swift's concurrency checking. Code elsewhere
// that runs work on several threads goes through these functions; each states the
// invariant that makes it sound. Everything here is exercised under ThreadSanitizer in CI
// (scripts/sanitizers.sh).

/// A value carried across a concurrency boundary that the compiler cannot check
/// (after hummingbird's `UnsafeTransfer`).
///
/// Invariant (the caller's promise): while the value is shared, every thread touches a
/// disjoint part of what it points to, or only reads it, and the memory outlives every
/// use (e.g. the transfer happens inside the `withUnsafe…` closure that owns it and all
/// users finish before that closure returns, as with `concurrentPerform`).
public struct UnsafeTransfer<Value>: @unchecked Sendable {
    public let value: Value
    @inlinable public init(_ value: Value) { self.value = value }
}

/// Runs `body(w)` for `w` in `0..<count`, concurrently when `count` > 1, and returns the
/// results in order of `w`.
///
/// Invariant: slot `w` of the result buffer is written exactly once, by iteration `w`
/// only, through a pointer (no copy-on-write container is shared), and it is read only
/// after `concurrentPerform` has returned, which happens after every iteration. The
/// buffer is allocated and freed here, so no pointer outlives it.
public func parallelMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    precondition(count >= 0)
    if count == 0 { return [] }
    if count == 1 { return [body(0)] }
    let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
    slots.initialize(repeating: nil)
    defer { slots.deinitialize(); slots.deallocate() }
    let out = UnsafeTransfer(slots)
    DispatchQueue.concurrentPerform(iterations: count) { w in
        out.value[w] = body(w)
    }
    return slots.map { $0! }
}

/// Runs `body(w)` for `w` in `0..<iterations` on up to that many threads and returns when
/// every call has returned. `body` need not be `Sendable`: it may capture raw pointers.
///
/// Invariant (the caller's promise): the calls write disjoint memory (what iteration `w`
/// owns) and read only memory no call writes; everything `body` captures outlives this
/// call (it cannot escape: `withoutActuallyEscaping` checks that it is not retained).
public func concurrently(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 0 { return }
    if iterations == 1 { body(0); return }
    withoutActuallyEscaping(body) { body in
        let b = UnsafeTransfer(body)
        DispatchQueue.concurrentPerform(iterations: iterations) { w in b.value(w) }
    }
}

/// `body(lo, hi)` on `parts` contiguous, disjoint ranges covering `0..<count`, concurrently
/// (`concurrently`'s invariant: each call writes only what its range owns).
public func concurrentRanges(_ count: Int, parts: Int, _ body: (Int, Int) -> Void) {
    let parts = max(1, min(parts, count))
    if parts == 1 { body(0, count); return }
    concurrently(parts) { s in body(count * s / parts, count * (s + 1) / parts) }
}
