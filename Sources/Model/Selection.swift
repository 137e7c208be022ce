/// k-th order statistic in place (introselect: quickselect with a median-of-three pivot,
/// falling back to a full sort of the remaining range when the partitions stop shrinking,
/// so that no input, however chosen, costs more than O(n log n)). The values are finite
/// (callers have refused NaN), so `<` is a total order.
enum Selection {
    /// Reorders `a[range]` so that `a[rank]` holds the value of that rank in sorted order,
    /// everything in `range.lowerBound..<rank` is ≤ it and everything in `rank + 1..<range.upperBound` ≥ it.
    static func select(_ a: UnsafeMutableBufferPointer<Float>, rank: Int, in range: Range<Int>) {
        precondition(range.contains(rank) && range.upperBound <= a.count)
        var lo = range.lowerBound, hi = range.upperBound - 1  // closed [lo, hi]
        var budget = 2 * (Int.bitWidth - range.count.leadingZeroBitCount) + 4
        while hi - lo > 16 {
            if budget == 0 {
                var rest = UnsafeMutableBufferPointer(rebasing: a[lo...hi])
                rest.sort()
                return
            }
            budget -= 1
            // Median of three to a[lo]; Hoare partition around it.
            let mid = lo + (hi - lo) / 2
            if a[mid] < a[lo] { a.swapAt(mid, lo) }
            if a[hi] < a[lo] { a.swapAt(hi, lo) }
            if a[hi] < a[mid] { a.swapAt(hi, mid) }
            let pivot = a[mid]
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while pivot < a[j] { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            // Now a[lo...j] ≤ pivot, a[i...hi] ≥ pivot, and j < k < i holds the pivot's value.
            if rank <= j { hi = j } else if rank >= i { lo = i } else { return }
        }
        // Short range: insertion sort.
        if hi > lo {
            for k in (lo + 1)...hi {
                let v = a[k]
                var m = k - 1
                while m >= lo && v < a[m] { a[m + 1] = a[m]; m -= 1 }
                a[m + 1] = v
            }
        }
    }
}
