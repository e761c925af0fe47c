// Open-addressing hash tables for the encoder's hot path: byte strings → ids (the vocabulary), and
// id pairs → merge rank and result (the merges). Keys live in unmanaged memory, so lookups neither
// allocate nor retain.

/// The first (up to) 8 bytes of a key, little-endian and zero-padded, and the key's hash.
@inline(__always) func prefixAndHash(_ p: UnsafePointer<UInt8>, _ count: Int) -> (prefix: UInt64, hash: UInt64) {
    let raw = UnsafeRawPointer(p)
    var prefix: UInt64 = 0
    if count >= 8 {
        prefix = raw.loadUnaligned(as: UInt64.self)
    } else {
        var shift: UInt64 = 0
        for i in 0..<count {
            prefix |= UInt64(p[i]) << shift
            shift += 8
        }
    }
    var h = (0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count) ^ prefix) &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 31
    if count > 8 {
        var i = 8
        while i + 8 <= count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(p[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    }
    h ^= h >> 29
    h = h &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 32
    return (prefix, h)
}

/// An immutable map from byte strings to `Int32` values, built once. A slot holds a hash tag and the
/// entry index; an entry holds the key's first 8 bytes inline, so most lookups touch two cache lines.
final class ByteStringTable {
    private struct Entry {
        var prefix: UInt64
        var start: UInt32
        var length: UInt32
        var value: Int32
    }
    private let arena: UnsafeMutablePointer<UInt8>
    private let entries: UnsafeMutablePointer<Entry>
    /// 0: empty; else tag << 32 | (entry index + 1).
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int
    let count: Int

    /// Builds the table from keys laid end to end in `arena` (key k is `arena[offsets[k] ..< offsets[k + 1]]`);
    /// a key given twice keeps its last value.
    init(arena input: [UInt8], offsets: [Int], values inputValues: [Int32]) {
        precondition(offsets.count == inputValues.count + 1)
        let keyCount = inputValues.count
        let arena = UnsafeMutablePointer<UInt8>.allocate(capacity: max(input.count, 1))
        if !input.isEmpty { input.withUnsafeBufferPointer { arena.initialize(from: $0.baseAddress!, count: input.count) } }
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: max(keyCount, 1))
        var capacity = 16
        while capacity < keyCount * 2 { capacity <<= 1 }
        let mask = capacity - 1
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        var used = 0
        for k in 0..<keyCount {
            let start = offsets[k], n = offsets[k + 1] - offsets[k]
            let (prefix, h) = prefixAndHash(arena + start, n)
            let tag = h >> 32
            var slot = Int(truncatingIfNeeded: h) & mask
            var replaced = false
            while slots[slot] != 0 {
                let e = Int(slots[slot] & 0xFFFF_FFFF) - 1
                if slots[slot] >> 32 == tag && Int(entries[e].length) == n && entries[e].prefix == prefix
                    && memoryEqual(arena + Int(entries[e].start), arena + start, n) {
                    entries[e].value = inputValues[k]
                    replaced = true
                    break
                }
                slot = (slot + 1) & mask
            }
            if replaced { continue }
            (entries + used).initialize(to: Entry(prefix: prefix, start: UInt32(start), length: UInt32(n), value: inputValues[k]))
            slots[slot] = tag << 32 | UInt64(used + 1)
            used += 1
        }
        self.arena = arena
        self.entries = entries
        self.slots = slots
        self.mask = mask
        self.count = used
    }

    deinit {
        arena.deallocate()
        entries.deallocate()
        slots.deallocate()
    }

    /// The value of the `count` bytes at `p`, or -1.
    @inline(__always) func lookup(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
        let (prefix, h) = prefixAndHash(p, count)
        let tag = h >> 32
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[slot]
            if s == 0 { return -1 }
            if s >> 32 == tag {
                let e = entries[Int(s & 0xFFFF_FFFF) - 1]
                if Int(e.length) == count && e.prefix == prefix
                    && (count <= 8 || memoryEqual(arena + Int(e.start) + 8, p + 8, count - 8)) {
                    return e.value
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The value of `bytes`, or nil.
    func lookupIfPresent(_ bytes: [UInt8]) -> Int32? {
        let id = lookup(bytes)
        return id >= 0 ? id : nil
    }

    func lookup(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else {
                var zero: UInt8 = 0
                return withUnsafePointer(to: &zero) { lookup($0, 0) }
            }
            return lookup(base, b.count)
        }
    }
}

@inline(__always) func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= count {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// An immutable map from (left id, right id) to (merge rank, merged id).
final class MergeTable {
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    private static let empty = UInt64.max
    let count: Int

    /// `merges[i]` = (left, right, merged) has rank i; a pair listed twice keeps its last rank, as the
    /// Hugging Face library does when it collects the list into a map.
    init(merges: [(left: Int32, right: Int32, merged: Int32)]) {
        var capacity = 16
        while capacity < merges.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: MergeTable.empty, count: capacity)
        values = .allocate(capacity: capacity)
        values.initialize(repeating: 0, count: capacity)
        var n = 0
        for (rank, m) in merges.enumerated() {
            let key = UInt64(UInt32(bitPattern: m.left)) << 32 | UInt64(UInt32(bitPattern: m.right))
            var slot = MergeTable.slot(key) & mask
            while keys[slot] != MergeTable.empty && keys[slot] != key { slot = (slot + 1) & mask }
            if keys[slot] == MergeTable.empty { n += 1 }
            keys[slot] = key
            values[slot] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(bitPattern: m.merged))
        }
        count = n
    }

    deinit { keys.deallocate(); values.deallocate() }

    @inline(__always) private static func slot(_ key: UInt64) -> Int {
        var h = key &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    /// `rank << 32 | merged id` of the pair, or `UInt64.max` when the pair does not merge.
    @inline(__always) func lookup(left: Int32, right: Int32) -> UInt64 {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var slot = MergeTable.slot(key) & mask
        while true {
            let k = keys[slot]
            if k == key { return values[slot] }
            if k == MergeTable.empty { return UInt64.max }
            slot = (slot + 1) & mask
        }
    }
}
