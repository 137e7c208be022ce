import Sync
import Dispatch
import CSystem
import Foundation
import Model
import Synchronization

/// What the inference workers report (the server's Prometheus metrics implement it).
package protocol InferenceMetrics: AnyObject, Sendable {
    /// What waits for a worker: windows to encode, and requests to preprocess (one call, so
    /// one lock of the metrics per change of the queue).
    func setWaiting(windows: Int, requests: Int)
    /// Work (a batch of windows or a task) an idle worker took while polling (--spin-us), without parking.
    func spinPickup()
    /// A batch that ran `n` windows through the encoder.
    func observeBatch(_ n: Int)
    /// One window computed: seconds it waited in the queue, seconds the encoder took.
    func windowComputed(queued: Double, computed: Double)
}

/// One request's windows on their way through the encoder.
///
/// Its mutable state is behind one mutex; `windows` is immutable.
/// The completion is released as soon as it has run or the job is cancelled, so a
/// finished job holds nothing of its connection (the leak of issue #8 was a cycle
/// through it).
package final class InferenceJob: Sendable {
    /// (count × 2560) windows, ready for the network.
    package let windows: [Float]
    package let count: Int
    private struct State {
        /// (count × 128), filled by the workers; read by the completion.
        var embeddings: [Float]
        var remaining: Int
        var cancelled = false
        var completion: (@Sendable (InferenceJob) -> Void)?
    }
    private let state: Locked<State>

    package init(windows: [Float], count: Int, completion: @escaping @Sendable (InferenceJob) -> Void) {
        self.windows = windows; self.count = count
        state = Locked(State(embeddings: [Float](repeating: 0, count: count * EncoderGeometry.embeddingSize), remaining: count, completion: completion))
    }

    package var embeddings: [Float] { state.withLock { $0.embeddings } }

    /// The client went away: queued windows are dropped, the completion never runs.
    package func cancel() {
        state.withLock {
            $0.cancelled = true; $0.completion = nil
        }
    }
    package var isCancelled: Bool { state.withLock { $0.cancelled } }

    func finish(window i: Int, _ e: UnsafePointer<Float>) {
        let done: (@Sendable (InferenceJob) -> Void)? = state.withLock { s in
            s.embeddings.withUnsafeMutableBufferPointer { p in
                (p.baseAddress! + i * EncoderGeometry.embeddingSize).update(from: e, count: EncoderGeometry.embeddingSize)
            }
            s.remaining -= 1
            guard s.remaining == 0 && !s.cancelled else { return nil }
            defer { s.completion = nil }
            return s.completion
        }
        done?(self)
    }
}

/// A bounded queue of windows drained by inference workers (one thread each, one core
/// each) that gather windows from concurrent requests into batches.
///
/// Sendable because `items`, `tasks`, `busy`, `stopping` and `paused` are only
/// touched with `cond` locked (`publishDepth`, `take` and `waitForWork` are called with it
/// held); `pending` is an atomic; `threads` and the rest are set in init and never changed.
package final class InferenceQueue: @unchecked Sendable {
    /// A window of a job, with the time it was queued (DispatchTime nanoseconds).
    struct Item { let job: InferenceJob; let index: Int; let queued: UInt64 }

    package let encoder: Encoder
    /// The process's cores, shared by the workers: more workers than cores wait for one.
    package let cores: CoreBudget
    package let workers: Int
    package let capacity: Int
    package let maxBatch: Int
    let batchWait: Double
    let metrics: any InferenceMetrics
    private let cond = NSCondition()
    /// Pending windows, oldest first (a taken window's slot is cleared at once).
    private var items = FIFO<Item>()
    private var busy = 0
    private var stopping = false
    /// Workers take no windows while set (tests hold the queue full with it); tasks still run.
    private var paused = false
    /// Work that makes windows (a request's preprocessing and grading), run by the workers
    /// before the windows queued behind them, one core each like the encoder.
    private var tasks = FIFO<@Sendable () -> Void>()
    private var threads: [Thread] = []
    /// How long an idle worker polls `pending` before it parks on `cond` (nanoseconds).
    let spinNanoseconds: UInt64
    /// Windows and tasks queued, written with `cond` locked, read without it by spinning workers.
    private let pending = Atomic<Int>(0)

    package init(
        encoder: Encoder, workers: Int, capacity: Int, maxBatch: Int, batchWaitMs: Double, spinMicroseconds: Double = 0,
        metrics: any InferenceMetrics, cores: CoreBudget = CoreBudget(cores: ProcessInfo.processInfo.activeProcessorCount)
    ) {
        self.encoder = encoder; self.cores = cores; self.workers = workers; self.capacity = capacity; self.maxBatch = maxBatch
        batchWait = batchWaitMs / 1000; self.metrics = metrics
        spinNanoseconds = UInt64(max(0, spinMicroseconds) * 1000)
        for i in 0..<workers {
            let t = Thread { [self] in
                // The OS thread name (what `top -H` and /proc/PID/task/*/comm show).
                _ = ecg_set_thread_name("inference-\(i)")
                self.work()
            }
            t.name = "inference-\(i)"
            t.stackSize = 1 << 20
            threads.append(t)
        }
        for t in threads { t.start() }
    }

    package var depth: Int { cond.lock(); defer { cond.unlock() }; return items.count }

    /// The client went away: marks the job cancelled and removes its queued windows,
    /// so the queue depth (and its gauge) follows at once.
    package func cancel(_ job: InferenceJob) {
        job.cancel()
        cond.lock(); defer { cond.unlock() }
        if items.removeAll(where: { $0.job === job }) > 0 { publishDepth() }
    }

    /// Enqueues every window of the job, or none: false when they do not fit.
    package func submit(_ job: InferenceJob) -> Bool {
        cond.lock(); defer { cond.unlock() }
        guard items.count + job.count <= capacity else { return false }
        let now = DispatchTime.now().uptimeNanoseconds
        for i in 0..<job.count { items.append(Item(job: job, index: i, queued: now)) }
        publishDepth()
        cond.signal()
        return true
    }

    /// Queues a task for the workers (a request's preprocessing); false when as many tasks
    /// wait as the queue holds windows (the server is saturated: 503).
    package func submitTask(_ task: @escaping @Sendable () -> Void) -> Bool {
        cond.lock(); defer { cond.unlock() }
        guard tasks.count < capacity else { return false }
        tasks.append(task)
        publishDepth()
        cond.signal()
        return true
    }

    /// Tasks waiting for a worker.
    package var tasksWaiting: Int { cond.lock(); defer { cond.unlock() }; return tasks.count }

    /// The queue depth to the gauge and to spinning workers, after every change of it
    /// (submit, cancel, take); `cond` must be locked.
    private func publishDepth() {
        metrics.setWaiting(windows: items.count, requests: tasks.count)
        pending.store(items.count + tasks.count, ordering: .releasing)
    }

    /// An idle worker's wait: poll for up to `spinNanoseconds` (a window that arrives
    /// meanwhile starts without a futex wake-up of a parked thread), then park on `cond`.
    /// Called and returns with `cond` locked.
    private func waitForWork(_ batch: inout [Item]) {
        if spinNanoseconds > 0 {
            cond.unlock()
            let until = DispatchTime.now().uptimeNanoseconds + spinNanoseconds
            var seen = false
            while !seen && DispatchTime.now().uptimeNanoseconds < until { seen = pending.load(ordering: .acquiring) > 0 }
            cond.lock()
            if seen {
                if !tasks.isEmpty { metrics.spinPickup(); return }
                take(into: &batch)
                if !batch.isEmpty { metrics.spinPickup(); return }
            }
            if stopping || !items.isEmpty || !tasks.isEmpty { return }
        }
        cond.wait()
    }

    package func stop() { cond.lock(); stopping = true; cond.broadcast(); cond.unlock() }

    /// Holds the workers (they finish the batch in hand and take nothing more) until
    /// `setPaused(false)`; for tests that need a full queue.
    package func setPaused(_ p: Bool) { cond.lock(); paused = p; cond.broadcast(); cond.unlock() }

    /// Takes this worker's share of the queue: at most maxBatch windows, and no more than
    /// an even split across workers, so idle workers are not left without work.
    private func take(into batch: inout [Item]) {
        let share = max(1, min(maxBatch, (items.count + workers - 1) / workers))
        let limit = min(batch.count + share, maxBatch)
        while batch.count < limit, let it = items.popFirst() {
            if !it.job.isCancelled { batch.append(it) }
        }
        publishDepth()
    }

    private func work() {
        let ws = encoder.makeWorkspace()
        var x = [Float](repeating: 0, count: maxBatch * EncoderGeometry.windowLength)
        var out = [Float](repeating: 0, count: maxBatch * EncoderGeometry.embeddingSize)
        while true {
            var batch: [Item] = []
            var task: (@Sendable () -> Void)?
            cond.lock()
            while true {
                if stopping { cond.unlock(); return }
                if let t = tasks.popFirst() {
                    task = t
                    publishDepth()
                    break
                }
                if paused { cond.wait(); continue }
                take(into: &batch)
                if !batch.isEmpty { break }
                waitForWork(&batch)
                if !batch.isEmpty { break }
            }
            if let task {
                // A task takes a core of the budget like an encoder window does.
                busy += 1
                cond.unlock()
                let got = cores.acquire(upTo: 1)
                task()
                cores.release(got)
                cond.lock(); busy -= 1; cond.unlock()
                continue
            }
            // Under load (another worker busy), wait briefly for the batch to fill; a
            // lone request on an idle server is not held back.
            if batch.count < maxBatch && busy > 0 && batchWait > 0 {
                let deadline = Date().addingTimeInterval(batchWait)
                while batch.count < maxBatch && Date() < deadline {
                    _ = cond.wait(until: deadline)
                    take(into: &batch)
                }
            }
            busy += 1
            cond.unlock()

            for (k, it) in batch.enumerated() {
                it.job.windows.withUnsafeBufferPointer { src in
                    x.withUnsafeMutableBufferPointer { dst in
                        (dst.baseAddress! + k * EncoderGeometry.windowLength).update(
                            from: src.baseAddress! + it.index * EncoderGeometry.windowLength, count: EncoderGeometry.windowLength)
                    }
                }
            }
            // The engine works window by window; each result goes out as soon as it is ready,
            // so a window never waits for the rest of its batch.
            var computed = 0
            defer { metrics.observeBatch(computed) }
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    for (k, it) in batch.enumerated() {
                        if it.job.isCancelled { continue }
                        let start = DispatchTime.now().uptimeNanoseconds
                        encoder.embed(
                            UnsafeBufferPointer(rebasing: xp[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)]), count: 1,
                            into: UnsafeMutableBufferPointer(rebasing: op[(k * EncoderGeometry.embeddingSize)..<((k + 1) * EncoderGeometry.embeddingSize)]),
                            threads: 1, workspaces: [ws], budget: cores)
                        let end = DispatchTime.now().uptimeNanoseconds
                        metrics.windowComputed(queued: Double(start &- it.queued) / 1e9, computed: Double(end &- start) / 1e9)
                        it.job.finish(window: it.index, op.baseAddress! + k * EncoderGeometry.embeddingSize)
                        computed += 1
                    }
                }
            }
            cond.lock(); busy -= 1; cond.unlock()
        }
    }
}
