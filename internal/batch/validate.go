package batch

// ValidateOptions configures Validate.
type ValidateOptions struct {
	// MaxBytes, when > 0, rejects batches whose total size exceeds it with
	// ErrTooLarge (Kafka's max.message.bytes).
	MaxBytes int
	// AllowControl accepts control batches (attributes bit 5). Producers
	// never send them; only a transaction coordinator writes them.
	AllowControl bool
	// DeepCompressed also decompresses a compressed batch and walks its
	// records, as is always done for an uncompressed one. It costs the
	// decompression; without it a compressed batch's records section is
	// trusted on the strength of its CRC.
	DeepCompressed bool
	// MaxDecompressed bounds the decompressed size for DeepCompressed, in
	// bytes; 0 means DefaultMaxDecompressed.
	MaxDecompressed int
}

// Validate checks batch b, exactly one batch (see Next), as a broker must
// before storing what a producer sent, and returns its header. In order, it
// requires that:
//
//   - the total size is at most opts.MaxBytes, if that is > 0 (ErrTooLarge);
//   - batchLength equals len(b)-12 (ErrCorrupt);
//   - magic is 2 (ErrUnsupported);
//   - batchLength is at least 49, a whole header (ErrCorrupt);
//   - crc equals the CRC-32C of bytes 21 to the end (ErrCorrupt);
//   - the compression codec is one of the five defined (ErrUnsupported);
//   - recordCount is at least 1: an empty batch produces nothing (ErrInvalid);
//   - lastOffsetDelta is recordCount-1 (ErrInvalid);
//   - maxTimestamp >= baseTimestamp, unless LogAppendTime (ErrInvalid);
//   - it is no control batch, unless opts.AllowControl (ErrInvalid);
//   - a transactional batch has a producerId >= 0 (ErrInvalid);
//   - if uncompressed, or compressed and opts.DeepCompressed: exactly
//     recordCount records fill the records section, every length fits
//     (ErrCorrupt), and the offset deltas are 0, 1, ... recordCount-1 in
//     order (ErrInvalid).
//
// Errors are *ValidationError values naming the field and the bad value.
// Validating an uncompressed batch does not allocate.
func Validate(b []byte, opts ValidateOptions) (Header, error) {
	if opts.MaxBytes > 0 && len(b) > opts.MaxBytes {
		return Header{}, errf(ErrTooLarge, "batchLength",
			"batch of %d bytes (batchLength %d) exceeds the limit of %d bytes",
			len(b), len(b)-LogOverhead, opts.MaxBytes)
	}
	h, err := checkFrame(b)
	if err != nil {
		return h, err
	}
	if err := checkCRC(b, h); err != nil {
		return h, err
	}
	if err := checkCodec(h); err != nil {
		return h, err
	}
	if h.NumRecords < 1 {
		return h, errf(ErrInvalid, "recordCount",
			"recordCount %d: a produced batch must hold at least one record", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, errf(ErrInvalid, "lastOffsetDelta",
			"lastOffsetDelta %d does not match recordCount %d (want %d)",
			h.LastOffsetDelta, h.NumRecords, h.NumRecords-1)
	}
	if !h.LogAppendTime() && h.MaxTimestamp < h.FirstTimestamp {
		return h, errf(ErrInvalid, "maxTimestamp",
			"maxTimestamp %d is before baseTimestamp %d", h.MaxTimestamp, h.FirstTimestamp)
	}
	if h.Control() && !opts.AllowControl {
		return h, errf(ErrInvalid, "attributes",
			"attributes 0x%04x: control batches may not be produced", uint16(h.Attributes))
	}
	if h.Transactional() && h.ProducerID < 0 {
		return h, errf(ErrInvalid, "producerId",
			"producerId %d: a transactional batch needs a producer id", h.ProducerID)
	}
	section := b[HeaderSize:]
	if c := h.Compression(); c != None {
		if !opts.DeepCompressed {
			return h, nil
		}
		st := getDecodeState()
		defer putDecodeState(st)
		st.buf, err = decompress(c, st.buf[:0], section, opts.MaxDecompressed)
		if err != nil {
			return h, err
		}
		section = st.buf
	}
	return h, walkRecords(section, h.NumRecords)
}

// walkRecords checks that section holds exactly count records, each well
// formed, with offset deltas 0..count-1 in order.
func walkRecords(section []byte, count int32) error {
	var raw rawRecord
	i := 0
	var err error
	for n := int32(0); n < count; n++ {
		if i, err = readRecord(section, i, n, &raw); err != nil {
			return err
		}
		if raw.offsetDelta != n {
			return errf(ErrInvalid, "records",
				"records: record %d has offsetDelta %d, want %d", n, raw.offsetDelta, n)
		}
	}
	if i != len(section) {
		return errf(ErrCorrupt, "records",
			"records: %d bytes after the last of recordCount %d records", len(section)-i, count)
	}
	return nil
}
