import Testing
import TestSupport
@testable import Inference

/// The worker queue's FIFO (windows and tasks) against a plain array used as a queue
/// (`append`, `removeFirst`, `removeAll(where:)`), over a seeded random mix of operations long
/// enough to pass its compaction (1024 taken slots) and its reset (emptied) many times.
@Suite struct FIFORules {
    final class Box { let v: Int; init(_ v: Int) { self.v = v } }

    @Test("FIFO equals a plain array queue over 200 000 random appends, pops and removals; taken elements are released")
    func againstArray() {
        var g = SeededRandom(#function)
        var fifo = FIFO<Int>()
        var ref: [Int] = []
        var next = 0
        for step in 0..<200_000 {
            let r = Int.random(in: 0..<100, using: &g)
            // Phases that grow the queue to thousands and drain it again.
            let appendBias = (step / 20_000) % 2 == 0 ? 55 : 40
            if r < appendBias {
                fifo.append(next); ref.append(next); next += 1
            } else if r < 99 {
                let got = fifo.popFirst()
                let want = ref.isEmpty ? nil : ref.removeFirst()
                #expect(got == want, "step \(step): popFirst gave \(String(describing: got)), the array \(String(describing: want))")
                if got != want { return }
            } else {
                let m = Int.random(in: 2...7, using: &g)
                let removed = fifo.removeAll { $0 % m == 0 }
                let before = ref.count
                ref.removeAll { $0 % m == 0 }
                #expect(removed == before - ref.count, "step \(step)")
            }
            #expect(fifo.count == ref.count && fifo.isEmpty == ref.isEmpty)
            if fifo.count != ref.count { return }
        }
        while let x = fifo.popFirst() { #expect(x == ref.removeFirst()) }
        #expect(ref.isEmpty && fifo.isEmpty)
    }

    @Test("a taken element is not kept alive by the queue")
    func releases() {
        var fifo = FIFO<Box>()
        weak var first: Box?
        do {
            let b = Box(1)
            first = b
            fifo.append(b)
            fifo.append(Box(2))
        }
        #expect(first != nil)
        _ = fifo.popFirst()
        #expect(first == nil, "the FIFO still holds the element it gave away")
        #expect(fifo.count == 1 && fifo.popFirst()?.v == 2)
    }
}
