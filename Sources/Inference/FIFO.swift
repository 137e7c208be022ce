/// A first-in first-out queue: `append` at the back, `popFirst` from the front, both O(1)
/// amortised. A taken slot is cleared at once, so nothing keeps a taken element (a finished
/// request) alive; the storage is compacted once at least half of it is consumed, or reset
/// when it is empty (its capacity kept up to 4096 slots).
struct FIFO<Element> {
    private var slots: [Element?] = []
    private var head = 0

    var count: Int { slots.count - head }
    var isEmpty: Bool { head == slots.count }

    mutating func append(_ e: Element) { slots.append(e) }

    mutating func popFirst() -> Element? {
        guard head < slots.count else { return nil }
        let e = slots[head]
        slots[head] = nil
        head += 1
        if head == slots.count {
            slots.removeAll(keepingCapacity: slots.capacity <= 4096)
            head = 0
        } else if head >= 1024 && head * 2 >= slots.count {
            slots.removeFirst(head)
            head = 0
        }
        return e
    }

    /// Removes the elements that match, keeping the others in order; how many went.
    @discardableResult
    mutating func removeAll(where match: (Element) -> Bool) -> Int {
        let before = count
        var kept: [Element?] = []
        kept.reserveCapacity(before)
        for case let e? in slots[head...] where !match(e) { kept.append(e) }
        if kept.count != before { slots = kept; head = 0 }
        return before - kept.count
    }
}
