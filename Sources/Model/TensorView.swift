/// A layer's floats: `count` floats at `offset` in a `[Float]` buffer that may hold other
/// tensors too. A loaded layer owns its buffer (offset 0); the pre-training network's
/// 54 tensors all point into the trainer's one parameter buffer (`ParameterLayout.network`,
/// as llm.c's `malloc_and_point_parameters`), so building the network copies nothing.
///
/// The buffer is an ordinary copy-on-write array: a view keeps it alive and sees it as it was
/// when the view was made; whoever mutates the buffer (Adam) while a view still exists gets a
/// copy, so the trainer drops its views before each update (`Pretrainer.run`).
public struct TensorView: Sendable, RandomAccessCollection, Equatable {
    /// The whole buffer this tensor is part of.
    public let storage: [Float]
    /// Where the tensor starts in `storage`.
    public let offset: Int
    public let count: Int

    /// A tensor owning its floats.
    public init(_ floats: [Float]) { storage = floats; offset = 0; count = floats.count }

    /// The floats `range` of `storage`, without copying them.
    public init(_ storage: [Float], range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= storage.count, "tensor range \(range) outside a buffer of \(storage.count)")
        self.storage = storage; offset = range.lowerBound; count = range.count
    }

    // Inlinable: the trainer's head loops index kernels element by element from another module.
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable
    public subscript(i: Int) -> Float {
        precondition(i >= 0 && i < count, "index \(i) outside a tensor of \(count)")
        return storage[offset + i]
    }

    /// The tensor's floats, contiguous.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[offset..<(offset + count)])) }
    }

    /// Equal floats (wherever they are stored).
    public static func == (a: TensorView, b: TensorView) -> Bool { a.elementsEqual(b) }
}
