package tokenizer

// llama.cpp's vocabulary loader has two behaviours that hang on libstdc++ internals:
//
//   - it picks the EOT/EOM/FIM tokens by text while iterating over its
//     std::unordered_map<std::string, llama_token> token_to_id, so when a vocabulary has several
//     candidates (Qwen has both <|endoftext|> and <|im_end|>) the first in the hash table's
//     iteration order wins;
//   - it orders the special-token cache with std::sort (not stable) by text length, and the
//     order of equal-length tokens decides which of two overlapping specials is split out first.
//
// The pinned libllama is built with GCC 11 against libstdc++; the functions below reproduce
// libstdc++'s algorithms (std::_Hash_bytes, _Hashtable with _Prime_rehash_policy, std::sort's
// introsort) so that we choose exactly what llama.cpp chooses. They are reimplemented from the
// documented behaviour of libstdc++ (GPL-3.0 with the runtime exception) and checked against
// programs compiled with g++ (see libstdcxx_test.go).

// stdHash is std::hash<std::string> of libstdc++ on LP64: std::_Hash_bytes(p, n, 0xc70f6907),
// a MurmurHash2-style 64-bit hash.
func stdHash(s string) uint64 {
	const mul = uint64(0xc6a4a793)<<32 + 0x5bd1e995
	shiftMix := func(v uint64) uint64 { return v ^ v>>47 }
	n := len(s)
	aligned := n &^ 7
	h := uint64(0xc70f6907) ^ uint64(n)*mul
	for p := 0; p < aligned; p += 8 {
		data := shiftMix(le64(s, p)*mul) * mul
		h ^= data
		h *= mul
	}
	if r := n & 7; r != 0 {
		var data uint64
		for i := r - 1; i >= 0; i-- {
			data = data<<8 + uint64(s[aligned+i])
		}
		h ^= data
		h *= mul
	}
	h = shiftMix(h) * mul
	return shiftMix(h)
}

func le64(s string, p int) uint64 {
	return uint64(s[p]) | uint64(s[p+1])<<8 | uint64(s[p+2])<<16 | uint64(s[p+3])<<24 |
		uint64(s[p+4])<<32 | uint64(s[p+5])<<40 | uint64(s[p+6])<<48 | uint64(s[p+7])<<56
}

// stdPrimes is the head of libstdc++'s std::__detail::__prime_list (src/shared/hashtable-aux.cc),
// enough for hash tables of up to 50 million elements.
var stdPrimes = []uint64{
	2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
	103, 109, 113, 127, 137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257, 277, 293, 313,
	337, 359, 383, 409, 439, 467, 503, 541, 577, 619, 661, 709, 761, 823, 887, 953, 1031, 1109,
	1193, 1289, 1381, 1493, 1613, 1741, 1879, 2029, 2179, 2357, 2549, 2753, 2971, 3209, 3469, 3739,
	4027, 4349, 4703, 5087, 5503, 5953, 6427, 6949, 7517, 8123, 8783, 9497, 10273, 11113, 12011,
	12983, 14033, 15173, 16411, 17749, 19183, 20753, 22447, 24281, 26267, 28411, 30727, 33223,
	35933, 38873, 42043, 45481, 49201, 53201, 57557, 62233, 67307, 72817, 78779, 85229, 92203,
	99733, 107897, 116731, 126271, 136607, 147793, 159871, 172933, 187091, 202409, 218971, 236897,
	256279, 277261, 299951, 324503, 351061, 379787, 410857, 444487, 480881, 520241, 562841, 608903,
	658753, 712697, 771049, 834181, 902483, 976369, 1056323, 1142821, 1236397, 1337629, 1447153,
	1565659, 1693859, 1832561, 1982627, 2144977, 2320627, 2510653, 2716249, 2938679, 3179303,
	3439651, 3721303, 4026031, 4355707, 4712381, 5098259, 5515729, 5967347, 6456007, 6984629,
	7556579, 8175383, 8844859, 9569143, 10352717, 11200489, 12117689, 13109983, 14183539,
	15345007, 16601593, 17961079, 19431899, 21023161, 22744717, 24607243, 26622317, 28802401,
	31160981, 33712729, 36473443, 39460231, 42691603, 46187573, 49969847, 54061849,
}

// primeRehash is libstdc++'s _Prime_rehash_policy with max_load_factor 1.
type primeRehash struct{ nextResize uint64 }

func (p *primeRehash) nextBkt(n uint64) uint64 {
	fast := [...]uint64{2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13}
	if n < uint64(len(fast)) {
		if n == 0 {
			return 1
		}
		p.nextResize = fast[n]
		return fast[n]
	}
	lo, hi := 6, len(stdPrimes)-1 // lower_bound over [6, last) as libstdc++ excludes the last prime
	for lo < hi {
		m := (lo + hi) / 2
		if stdPrimes[m] < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	p.nextResize = stdPrimes[lo]
	return stdPrimes[lo]
}

func (p *primeRehash) needRehash(nBkt, nElt, nIns uint64) (bool, uint64) {
	if nElt+nIns <= p.nextResize {
		return false, 0
	}
	minBkts := nElt + nIns
	if p.nextResize == 0 && minBkts < 11 {
		minBkts = 11
	}
	if minBkts >= nBkt {
		want := minBkts + 1
		if g := nBkt * 2; g > want {
			want = g
		}
		return true, p.nextBkt(want)
	}
	p.nextResize = nBkt
	return false, 0
}

// unorderedMapRank returns, for each key inserted in order with operator[] into a
// std::unordered_map<std::string, ...> (libstdc++, default-constructed), its position in the
// map's iteration order; keys already present (duplicates) get -1.
func unorderedMapRank(keys []string) []int32 {
	const (
		none        = -2 // empty bucket
		beforeBegin = -1 // the bucket's first node follows _M_before_begin
	)
	n := len(keys)
	next := make([]int32, n)
	hashes := make([]uint64, n)
	rank := make([]int32, n)
	seen := make(map[string]struct{}, n)
	head := int32(-1) // _M_before_begin._M_nxt
	buckets := []int32{none}
	var pol primeRehash
	var count uint64

	rehash := func(nb uint64) {
		nbk := make([]int32, nb)
		for i := range nbk {
			nbk[i] = none
		}
		p := head
		head = -1
		var bbeginBkt uint64
		for p >= 0 {
			nx := next[p]
			b := hashes[p] % nb
			if nbk[b] == none {
				next[p] = head
				head = p
				nbk[b] = beforeBegin
				if next[p] >= 0 {
					nbk[bbeginBkt] = p
				}
				bbeginBkt = b
			} else {
				prev := nbk[b]
				if prev == beforeBegin {
					next[p] = head
					head = p
				} else {
					next[p] = next[prev]
					next[prev] = p
				}
			}
			p = nx
		}
		buckets = nbk
	}

	for i, k := range keys {
		rank[i] = -1
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		hashes[i] = stdHash(k)
		if ok, nb := pol.needRehash(uint64(len(buckets)), count, 1); ok {
			rehash(nb)
		}
		b := hashes[i] % uint64(len(buckets))
		node := int32(i)
		if prev := buckets[b]; prev != none {
			if prev == beforeBegin {
				next[node] = head
				head = node
			} else {
				next[node] = next[prev]
				next[prev] = node
			}
		} else {
			next[node] = head
			head = node
			if next[node] >= 0 {
				buckets[hashes[next[node]]%uint64(len(buckets))] = node
			}
			buckets[b] = beforeBegin
		}
		count++
	}
	r := int32(0)
	for p := head; p >= 0; p = next[p] {
		rank[p] = r
		r++
	}
	return rank
}

// stdSort sorts a in place exactly as libstdc++'s std::sort (introsort with a threshold of 16,
// median-of-three pivot, heapsort fallback, final insertion sort) does with the comparator less,
// so that the resulting order of equivalent elements is the same.
func stdSort(a []int32, less func(x, y int32) bool) {
	n := len(a)
	if n < 2 {
		return
	}
	lg := 0
	for v := n; v > 1; v >>= 1 {
		lg++
	}
	introsortLoop(a, 0, n, 2*lg, less)
	finalInsertionSort(a, 0, n, less)
}

const stdSortThreshold = 16

func introsortLoop(a []int32, first, last, depth int, less func(x, y int32) bool) {
	for last-first > stdSortThreshold {
		if depth == 0 {
			heapSelectSort(a, first, last, less)
			return
		}
		depth--
		cut := unguardedPartitionPivot(a, first, last, less)
		introsortLoop(a, cut, last, depth, less)
		last = cut
	}
}

func moveMedianToFirst(a []int32, result, x, y, z int, less func(x, y int32) bool) {
	switch {
	case less(a[x], a[y]):
		switch {
		case less(a[y], a[z]):
			a[result], a[y] = a[y], a[result]
		case less(a[x], a[z]):
			a[result], a[z] = a[z], a[result]
		default:
			a[result], a[x] = a[x], a[result]
		}
	case less(a[x], a[z]):
		a[result], a[x] = a[x], a[result]
	case less(a[y], a[z]):
		a[result], a[z] = a[z], a[result]
	default:
		a[result], a[y] = a[y], a[result]
	}
}

func unguardedPartitionPivot(a []int32, first, last int, less func(x, y int32) bool) int {
	mid := first + (last-first)/2
	moveMedianToFirst(a, first, first+1, mid, last-1, less)
	// __unguarded_partition(first+1, last, first)
	lo, hi := first+1, last
	pivot := first
	for {
		for less(a[lo], a[pivot]) {
			lo++
		}
		hi--
		for less(a[pivot], a[hi]) {
			hi--
		}
		if !(lo < hi) {
			return lo
		}
		a[lo], a[hi] = a[hi], a[lo]
		lo++
	}
}

func finalInsertionSort(a []int32, first, last int, less func(x, y int32) bool) {
	if last-first > stdSortThreshold {
		insertionSort(a, first, first+stdSortThreshold, less)
		for i := first + stdSortThreshold; i < last; i++ {
			unguardedLinearInsert(a, i, less)
		}
		return
	}
	insertionSort(a, first, last, less)
}

func insertionSort(a []int32, first, last int, less func(x, y int32) bool) {
	if first == last {
		return
	}
	for i := first + 1; i < last; i++ {
		if less(a[i], a[first]) {
			v := a[i]
			copy(a[first+1:i+1], a[first:i])
			a[first] = v
		} else {
			unguardedLinearInsert(a, i, less)
		}
	}
}

func unguardedLinearInsert(a []int32, last int, less func(x, y int32) bool) {
	v := a[last]
	next := last - 1
	for less(v, a[next]) {
		a[last] = a[next]
		last = next
		next--
	}
	a[last] = v
}

// heapSelectSort is std::__partial_sort(first, last, last): make_heap then sort_heap.
func heapSelectSort(a []int32, first, last int, less func(x, y int32) bool) {
	h := a[first:last]
	n := len(h)
	if n >= 2 {
		for parent := (n - 2) / 2; ; parent-- {
			adjustHeap(h, parent, n, h[parent], less)
			if parent == 0 {
				break
			}
		}
	}
	for m := n; m > 1; {
		m--
		v := h[m]
		h[m] = h[0]
		adjustHeap(h, 0, m, v, less)
	}
}

func adjustHeap(h []int32, hole, n int, v int32, less func(x, y int32) bool) {
	top := hole
	child := hole
	for child < (n-1)/2 {
		child = 2 * (child + 1)
		if less(h[child], h[child-1]) {
			child--
		}
		h[hole] = h[child]
		hole = child
	}
	if n&1 == 0 && child == (n-2)/2 {
		child = 2 * (child + 1)
		h[hole] = h[child-1]
		hole = child - 1
	}
	// __push_heap
	parent := (hole - 1) / 2
	for hole > top && less(h[parent], v) {
		h[hole] = h[parent]
		hole = parent
		parent = (hole - 1) / 2
	}
	h[hole] = v
}
