package layers

// SetChainLocalSize sets the workgroup size c records with, so tests run
// the wide-workgroup path (GPUs) on CPU drivers too.
func SetChainLocalSize(c *DenseChain, n int) { c.ls = n }
