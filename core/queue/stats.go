package queue

// Stats are a few of Pebble's own numbers, for the metrics endpoint (the
// queue is the only package that sees Pebble).
type Stats struct {
	DiskBytes        uint64
	WALBytes         uint64
	WALBytesWritten  uint64
	MemtableBytes    uint64
	BlockCacheBytes  int64
	BlockCacheHits   int64
	BlockCacheMisses int64
	Compactions      int64
	CompactionDebt   uint64
	Flushes          int64
	ReadAmp          int
	L0Files          int64
	Tables           int64
}

// Stats reads Pebble's metrics; all zero once the queue is closed.
func (s *Store) Stats() Stats {
	if s.enter() != nil {
		return Stats{}
	}
	defer s.leave()
	m := s.db.Metrics()
	t := m.Total()
	return Stats{
		DiskBytes:        m.DiskSpaceUsage(),
		WALBytes:         m.WAL.Size,
		WALBytesWritten:  m.WAL.BytesWritten,
		MemtableBytes:    m.MemTable.Size,
		BlockCacheBytes:  m.BlockCache.Size,
		BlockCacheHits:   m.BlockCache.Hits,
		BlockCacheMisses: m.BlockCache.Misses,
		Compactions:      m.Compact.Count,
		CompactionDebt:   m.Compact.EstimatedDebt,
		Flushes:          m.Flush.Count,
		ReadAmp:          m.ReadAmp(),
		L0Files:          m.Levels[0].TablesCount,
		Tables:           t.TablesCount,
	}
}
