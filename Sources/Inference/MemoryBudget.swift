import Sync
import Synchronization

/// The server-wide memory budget for request working sets (issue #19): every inference
/// request reserves what it will hold, estimated from sizes alone before anything is decoded
/// or resampled, and gives it back when its answer is done or its client leaves. A request
/// that does not fit while others hold the budget gets 503 with Retry-After; one that does
/// not fit even alone is admitted when nothing else is reserved (the window and body limits
/// bound it), so a large legal request is never refused forever.
///
/// The estimate (bytes), measured on the debug and release servers with bench/hostile.py's
/// memory phase (1,000 windows of JSON at 256 Hz peaked 155 MiB above idle):
///   body bytes × 12 for JSON (numbers parsed into doubles, twice) or × 3 for npy,
///   + 64 × the samples the request becomes at 256 Hz (resampling, filtering, windows,
///     per-window grading, embeddings).
/// Pod memory: idle RSS (about 55 MiB) + --memory-budget-mib + bodies being read
/// (--max-connections × --max-body-bytes at worst; the reads are the HTTP layer's) — see
/// docs/RELIABILITY.md.
package final class MemoryBudget: Sendable {
    package let limit: Int
    private let used = Locked<Int>(0)

    package init(bytes: Int) { limit = bytes }

    package var reserved: Int { used.withLock { $0 } }

    /// A reservation of `n` bytes, or nil when it does not fit now.
    package func reserve(_ n: Int) -> Reservation? {
        let ok = used.withLock { u -> Bool in
            guard u == 0 || u + n <= limit else { return false }
            u += n
            return true
        }
        return ok ? Reservation(self, n) : nil
    }

    /// Grows `r` by `n` bytes if that fits (or if `r` is all that is reserved); false otherwise.
    package func grow(_ r: Reservation, by n: Int) -> Bool {
        used.withLock { u -> Bool in
            let mine = r.bytes
            guard u == mine || u + n <= limit else { return false }
            u += n
            r.add(n)
            return true
        }
    }

    fileprivate func release(_ n: Int) { used.withLock { $0 -= n } }

    package static func estimate(bodyBytes: Int, json: Bool, samplesAt256: Int) -> Int {
        bodyBytes * (json ? 12 : 3) + 64 * samplesAt256
    }
}

/// Bytes held against the budget until the last reference goes (the job's completion, or
/// the job itself when its client leaves and it is dropped).
package final class Reservation: Sendable {
    private let held: Atomic<Int>
    private let budget: MemoryBudget
    fileprivate init(_ b: MemoryBudget, _ n: Int) { budget = b; held = Atomic(n) }
    package var bytes: Int { held.load(ordering: .relaxed) }
    /// Called by `MemoryBudget.grow` with the budget's lock held.
    fileprivate func add(_ n: Int) { held.add(n, ordering: .relaxed) }
    deinit { budget.release(bytes) }
}
