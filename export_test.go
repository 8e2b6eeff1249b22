package vkinfer

// SetBatchLimit sets the largest batch one run of m takes, as Run does when
// a batch does not fit the device: a test hook to force splits.
func SetBatchLimit(m *Model, n int) { m.batchLimit.Store(int64(n)) }

// BatchLimit returns the largest batch one run of m takes (0: none found).
func BatchLimit(m *Model) int { return int(m.batchLimit.Load()) }
