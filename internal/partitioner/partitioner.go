// Package partitioner picks the partition of a keyed record the way Kafka's
// default partitioner does, so that a key lands in the same partition
// whether it was produced over HTTP or by any Kafka client:
//
//	partition = (murmur2(key) & 0x7fffffff) % partitions
//
// murmur2 is the 32-bit MurmurHash2 variant of Kafka's
// org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c, blocks read
// little-endian). Records without a key are not hashed; callers spread them.
package partitioner

import "encoding/binary"

const (
	seed = 0x9747b28c
	m    = 0x5bd1e995
	r    = 24
)

// Murmur2 returns Kafka's murmur2 hash of b.
func Murmur2(b []byte) uint32 {
	n := len(b)
	h := uint32(seed) ^ uint32(n)
	for len(b) >= 4 {
		k := binary.LittleEndian.Uint32(b)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// ForKey returns the partition, in [0, partitions), of a record with key
// key in a topic of partitions partitions. partitions must be positive.
func ForKey(key []byte, partitions int32) int32 {
	return int32((Murmur2(key) & 0x7fffffff) % uint32(partitions))
}
