// The BPE model over raw bytes: whole-piece lookup (`ignore_merges`), a per-worker cache, and merging
// by rank with a binary heap, step for step as the Hugging Face BPE model merges (lowest rank first,
// leftmost on ties). Initial symbols are bytes (byte-level vocabularies) or Unicode scalars with
// byte fallback (SentencePiece-style vocabularies).

/// Vocabulary and merges of a BPE model, keyed by raw bytes (not by their alphabet spelling).
final class BytePairEncoder {
    let vocabulary: ByteStringTable
    let merges: MergeTable
    /// The id of each single-byte token, or -1.
    let byteTokens: [Int32]
    let ignoreMerges: Bool
    let unknownTokenId: Int32?
    let fuseUnknown: Bool
    /// Symbols are Unicode scalars (looked up by their UTF-8) rather than single bytes.
    let unicodeSymbols: Bool
    /// The <0xXX> token of each byte, for scalars outside the vocabulary (byte_fallback).
    let byteFallbackTokens: [Int32]?

    init(vocabulary: ByteStringTable, merges: MergeTable, ignoreMerges: Bool, unknownTokenId: Int32?, fuseUnknown: Bool,
         unicodeSymbols: Bool = false, byteFallbackTokens: [Int32]? = nil) {
        self.vocabulary = vocabulary
        self.merges = merges
        self.ignoreMerges = ignoreMerges
        self.unknownTokenId = unknownTokenId
        self.fuseUnknown = fuseUnknown
        self.unicodeSymbols = unicodeSymbols
        self.byteFallbackTokens = byteFallbackTokens
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteTokens[b] = vocabulary.lookup([UInt8(b)]) }
        self.byteTokens = byteTokens
    }

    /// Appends the ids of the piece `p[0..<count]` to `out`.
    @inline(__always) func encode(_ p: UnsafePointer<UInt8>, _ count: Int, into out: inout [Int32], scratch: BPEScratch) {
        if count == 0 { return }
        if ignoreMerges {
            let id = vocabulary.lookup(p, count)
            if id >= 0 { out.append(id); return }
        }
        if count == 1 && !unicodeSymbols {
            let id = byteTokens[Int(p[0])]
            if id >= 0 { out.append(id) } else if let unk = unknownTokenId { out.append(unk) }
            return
        }
        if scratch.cache.lookup(p, count, into: &out) { return }
        let first = out.count
        merge(p, count, into: &out, scratch: scratch)
        scratch.cache.insert(p, count, ids: out, from: first)
    }

    /// Splits the piece into byte symbols and applies merges by rank.
    private func merge(_ p: UnsafePointer<UInt8>, _ count: Int, into out: inout [Int32], scratch: BPEScratch) {
        scratch.reserve(count)
        let ids = scratch.ids, next = scratch.next, prev = scratch.prev
        // Initial symbols, with unknown bytes mapped (and fused) as the HF model does.
        var n = 0
        var pendingUnknown = false
        @inline(__always) func add(_ id: Int32) {
            ids[n] = id
            n += 1
        }
        var k = 0
        while k < count {
            // One symbol: a byte, or a scalar's UTF-8 (the text is valid UTF-8).
            let length = unicodeSymbols ? min(count - k, UTF8Scalars.length(lead: p[k])) : 1
            let id = unicodeSymbols ? vocabulary.lookup(p + k, length) : byteTokens[Int(p[k])]
            if id >= 0 {
                if pendingUnknown { add(unknownTokenId!); pendingUnknown = false }
                add(id)
            } else if let fallback = byteFallbackTokens {
                // As the library does: byte tokens go in without flushing a pending unknown.
                for j in k..<(k + length) { add(fallback[Int(p[j])]) }
            } else if unknownTokenId != nil {
                if pendingUnknown && !fuseUnknown { add(unknownTokenId!) }
                pendingUnknown = true
            }
            k += length
        }
        if pendingUnknown { add(unknownTokenId!) }
        if n == 0 { return }
        for k in 0..<n {
            prev[k] = Int32(k - 1)
            next[k] = k + 1 < n ? Int32(k + 1) : -1
        }
        // Heap of rank << 32 | position.
        let heap = scratch.heap
        var heapCount = 0
        @inline(__always) func push(_ v: UInt64) {
            var i = heapCount
            heapCount += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if heap[parent] <= v { break }
                heap[i] = heap[parent]
                i = parent
            }
            heap[i] = v
        }
        @inline(__always) func pop() -> UInt64 {
            let top = heap[0]
            heapCount -= 1
            if heapCount > 0 {
                let v = heap[heapCount]
                var i = 0
                while true {
                    var child = 2 * i + 1
                    if child >= heapCount { break }
                    if child + 1 < heapCount && heap[child + 1] < heap[child] { child += 1 }
                    if heap[child] >= v { break }
                    heap[i] = heap[child]
                    i = child
                }
                heap[i] = v
            }
            return top
        }
        for k in 0..<(n - 1) {
            let m = merges.lookup(left: ids[k], right: ids[k + 1])
            if m != UInt64.max { push(m & 0xFFFF_FFFF_0000_0000 | UInt64(k)) }
        }
        while heapCount > 0 {
            let top = pop()
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            if ids[pos] < 0 { continue }               // removed by an earlier merge
            let right = Int(next[pos])
            if right < 0 { continue }
            let m = merges.lookup(left: ids[pos], right: ids[right])
            if m == UInt64.max || m >> 32 != rank { continue }   // stale entry
            ids[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            ids[right] = -1
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let before = Int(prev[pos])
            if before >= 0 {
                let mb = merges.lookup(left: ids[before], right: ids[pos])
                if mb != UInt64.max { push(mb & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            }
            if after >= 0 {
                let ma = merges.lookup(left: ids[pos], right: ids[Int(after)])
                if ma != UInt64.max { push(ma & 0xFFFF_FFFF_0000_0000 | UInt64(pos)) }
            }
        }
        var at = 0
        while at >= 0 {
            out.append(ids[at])
            at = Int(next[at])
        }
    }
}

/// Working memory of one encoding call: merge symbols, the heap, and the cache of merged pieces.
/// Not shared between threads (the tokenizer keeps a pool).
final class BPEScratch {
    private(set) var capacity = 0
    private(set) var ids = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var next = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var prev = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var heap = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    let cache = PieceCache()

    func reserve(_ count: Int) {
        if count <= capacity { return }
        var c = max(64, capacity)
        while c < count { c *= 2 }
        ids.deallocate(); next.deallocate(); prev.deallocate(); heap.deallocate()
        ids = .allocate(capacity: c)
        next = .allocate(capacity: c)
        prev = .allocate(capacity: c)
        heap = .allocate(capacity: 3 * c)
        capacity = c
    }

    deinit { ids.deallocate(); next.deallocate(); prev.deallocate(); heap.deallocate() }
}

/// A bounded cache from piece bytes to their ids; it is emptied when full. Pieces longer than
/// `maximumKeyLength` bytes are not cached.
final class PieceCache {
    static let maximumKeyLength = 256
    private static let slotCount = 1 << 15
    private static let entryLimit = slotCount / 2
    private static let byteLimit = 1 << 20
    private static let idLimit = 1 << 18

    private let slots = UnsafeMutablePointer<UInt32>.allocate(capacity: slotCount)
    private let slotHash = UnsafeMutablePointer<UInt32>.allocate(capacity: slotCount)
    private let keyStart = UnsafeMutablePointer<UInt32>.allocate(capacity: entryLimit)
    private let keyLength = UnsafeMutablePointer<UInt32>.allocate(capacity: entryLimit)
    private let idStart = UnsafeMutablePointer<UInt32>.allocate(capacity: entryLimit)
    private let idCount = UnsafeMutablePointer<UInt32>.allocate(capacity: entryLimit)
    private let keyBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: byteLimit)
    private let idValues = UnsafeMutablePointer<Int32>.allocate(capacity: idLimit)
    private var entries = 0
    private var bytesUsed = 0
    private var idsUsed = 0

    init() { slots.initialize(repeating: 0, count: PieceCache.slotCount) }

    deinit {
        slots.deallocate(); slotHash.deallocate(); keyStart.deallocate(); keyLength.deallocate()
        idStart.deallocate(); idCount.deallocate(); keyBytes.deallocate(); idValues.deallocate()
    }

    private func clear() {
        slots.update(repeating: 0, count: PieceCache.slotCount)
        entries = 0; bytesUsed = 0; idsUsed = 0
    }

    /// Appends the cached ids of the piece to `out` and returns true, or returns false.
    @inline(__always) func lookup(_ p: UnsafePointer<UInt8>, _ count: Int, into out: inout [Int32]) -> Bool {
        if count > PieceCache.maximumKeyLength { return false }
        let h = prefixAndHash(p, count).hash
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var slot = Int(truncatingIfNeeded: h) & (PieceCache.slotCount - 1)
        while true {
            let s = slots[slot]
            if s == 0 { return false }
            let e = Int(s) - 1
            if slotHash[slot] == tag && Int(keyLength[e]) == count && memoryEqual(keyBytes + Int(keyStart[e]), p, count) {
                out.append(contentsOf: UnsafeBufferPointer(start: idValues + Int(idStart[e]), count: Int(idCount[e])))
                return true
            }
            slot = (slot + 1) & (PieceCache.slotCount - 1)
        }
    }

    /// Remembers `ids[from...]` as the encoding of the piece.
    func insert(_ p: UnsafePointer<UInt8>, _ count: Int, ids: [Int32], from: Int) {
        let n = ids.count - from
        if count > PieceCache.maximumKeyLength || n > 4096 { return }
        if entries == PieceCache.entryLimit || bytesUsed + count > PieceCache.byteLimit || idsUsed + n > PieceCache.idLimit {
            clear()
        }
        let h = prefixAndHash(p, count).hash
        var slot = Int(truncatingIfNeeded: h) & (PieceCache.slotCount - 1)
        while slots[slot] != 0 { slot = (slot + 1) & (PieceCache.slotCount - 1) }
        (keyBytes + bytesUsed).update(from: p, count: count)
        if n > 0 { ids.withUnsafeBufferPointer { b in (idValues + idsUsed).update(from: b.baseAddress! + from, count: n) } }
        keyStart[entries] = UInt32(bytesUsed); keyLength[entries] = UInt32(count)
        idStart[entries] = UInt32(idsUsed); idCount[entries] = UInt32(n)
        slots[slot] = UInt32(entries + 1)
        slotHash[slot] = UInt32(truncatingIfNeeded: h >> 32)
        entries += 1; bytesUsed += count; idsUsed += n
    }
}
